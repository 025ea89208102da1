#include "nn/attention.h"

#include "nn/config_checks.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::nn {

namespace {
// -1e9 rather than -inf: a row whose keys are all masked then gets uniform weights, not NaN.
constexpr double kMasked = -1e9;
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

  // scores (B,H,T,T) = q kᵀ / √Dh, then the masks
  Tensor scores = matmul(q, transpose(k, -1, -2)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  if (padding_mask.defined()) {
    Tensor padded_keys = eq(padding_mask.to(x.dtype()), scalar_like(x, 0.0)).reshape({batch, 1, 1, tokens});
    scores = masked_fill(scores, padded_keys, kMasked);
  }
  if (causal) scores = scores + causal_mask(tokens, x.dtype(), x.device());
  record_tap(taps, "scores", scores);

  Tensor probs = softmax(scores, -1);
  record_tap(taps, "probs", probs);

  // context (B,H,T,Dh) -> (B,T,H,Dh) -> (B,T,D), then the output projection
  Tensor context = matmul(attention_dropout->forward(probs), v);
  record_tap(taps, "context", context);
  Tensor merged = context.permute({0, 2, 1, 3}).reshape({batch, tokens, dim});
  return output->forward(merged);
}

}  // namespace moegrad::nn
