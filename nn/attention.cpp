#include "nn/attention.h"

#include "nn/config_checks.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::nn {

namespace {
// -1e9 rather than -inf: a row whose keys are all masked stays finite, not NaN (in float32 the -1e9
// swamps any score below 32 in size, so such a row gets uniform weights).
constexpr double kMasked = -1e9;

// The additive mask of the scores, 0 to keep and -1e9 to mask: padded keys (B,1,1,T), the causal
// mask (1,1,T,T), their sum (B,1,T,T), or undefined when there is neither.
Tensor score_mask(const Tensor& padding_mask, bool causal, const Tensor& x) {
  const std::int64_t batch = x.size(0), tokens = x.size(1);
  Tensor mask;
  if (padding_mask.defined()) {
    Tensor padded_keys = eq(padding_mask.to(x.dtype()), scalar_like(x, 0.0));
    mask = (padded_keys * kMasked).reshape({batch, 1, 1, tokens});
  }
  if (causal) {
    Tensor future_keys = causal_mask(tokens, x.dtype(), x.device());
    mask = mask.defined() ? mask + future_keys : future_keys;
  }
  return mask;
}
}  // namespace

MultiHeadAttention::MultiHeadAttention(std::int64_t dim, std::int64_t heads, double dropout, Generator& generator)
    : dim(dim), heads(heads) {
  config_checks::heads_divide("MultiHeadAttention", "dim", dim, "heads", heads);
  config_checks::probability("MultiHeadAttention", "dropout", dropout);
  query = register_module("query", std::make_shared<Linear>(dim, dim, true, generator));
  key = register_module("key", std::make_shared<Linear>(dim, dim, true, generator));
  value = register_module("value", std::make_shared<Linear>(dim, dim, true, generator));
  output = register_module("output", std::make_shared<Linear>(dim, dim, true, generator));
  attention_dropout = register_module("attention_dropout", std::make_shared<Dropout>(dropout, generator));
}

Tensor causal_mask(std::int64_t tokens, DType dtype, Device device) {
  Tensor row = arange(0.0, static_cast<double>(tokens), 1.0, dtype, device);
  Tensor above_diagonal = gt(row.reshape({1, tokens}), row.reshape({tokens, 1}));  // key > query
  return (above_diagonal * kMasked).reshape({1, 1, tokens, tokens});
}

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& padding_mask, bool causal, Taps* taps) {
  if (x.dim() != 3 || x.size(2) != dim) {
    throw ShapeError(fmt::format("[MultiHeadAttention] input must be (B,T,{}), got {}", dim, shape_str(x.shape())));
  }
  const std::int64_t batch = x.size(0), tokens = x.size(1), head_dim = dim / heads;
  if (padding_mask.defined() && padding_mask.shape() != Shape{batch, tokens}) {
    throw ShapeError(fmt::format("[MultiHeadAttention] padding mask must be (B,T) = {}, got {}",
                                 shape_str({batch, tokens}), shape_str(padding_mask.shape())));
  }
  TapScope scope(taps, "attention");

  // project and split heads: (B,T,D) -> (B,T,H,Dh) -> (B,H,T,Dh)
  auto heads_of = [&](const Tensor& t) { return t.reshape({batch, tokens, heads, head_dim}).permute({0, 2, 1, 3}); };
  Tensor q = heads_of(query->forward(x)), k = heads_of(key->forward(x)), v = heads_of(value->forward(x));
  record_tap(taps, "q", q);
  record_tap(taps, "k", k);
  record_tap(taps, "v", v);

  // scores (B,H,T,T) = q kᵀ / √Dh + mask, probs = their softmax over the keys; the scale, the mask
  // and the softmax are one fused op (the tapped scores are computed only when a tap asks for them)
  Tensor scores = matmul(q, transpose(k, -1, -2));
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  Tensor mask = score_mask(padding_mask, causal, x);
  record_tap(taps, "scores", [&] { return mask.defined() ? scores * scale + mask : scores * scale; });

  Tensor probs = scaled_masked_softmax(scores, scale, mask);
  record_tap(taps, "probs", probs);

  // context (B,H,T,Dh) -> (B,T,H,Dh) -> (B,T,D), then the output projection
  Tensor context = matmul(attention_dropout->forward(probs), v);
  record_tap(taps, "context", context);
  Tensor merged = context.permute({0, 2, 1, 3}).reshape({batch, tokens, dim});
  return output->forward(merged);
}

}  // namespace moegrad::nn
