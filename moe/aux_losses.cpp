// The auxiliary losses (see aux_losses.h for the equations and papers). Each masks the padding
// tokens out of its sums first, then follows the paper's formula line by line.
#include "moe/aux_losses.h"

#include <fmt/format.h>

#include "tensor/graph.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

namespace {

void check_token_matrix(const char* op, const Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 2 || !is_floating(t.dtype())) {
    throw ShapeError(fmt::format("[{}] {} must be a floating (T,E) tensor, got {}", op, what,
                                 t.defined() ? fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape()))
                                             : std::string("an undefined tensor")));
  }
}

// The (T) mask as a (T,1) column of `like`'s dtype, all ones when undefined.
Tensor mask_column(const char* op, const Tensor& token_mask, const Tensor& like) {
  std::int64_t tokens = like.size(0);
  if (!token_mask.defined()) return ones({tokens, 1}, like.dtype(), like.device());
  if (token_mask.shape() != Shape{tokens}) {
    throw ShapeError(fmt::format("[{}] token mask must be ({}) for a {} input, got {}", op, tokens,
                                 shape_str(like.shape()), shape_str(token_mask.shape())));
  }
  return reshape(token_mask.detach().to(like.dtype()), {tokens, 1});
}

// Σ over real tokens, at least 1 so an all-padding batch gives 0 instead of 0/0.
Tensor real_token_count(const Tensor& mask) { return clamp(sum(mask), 1.0, std::nullopt); }

}  // namespace

Tensor cv_squared(const Tensor& v) {
  if (!v.defined() || !is_floating(v.dtype()) || v.numel() == 0) {
    throw ShapeError(fmt::format("[cv_squared] expects a non-empty floating tensor, got {}",
                                 v.defined() ? shape_str(v.shape()) : std::string("an undefined tensor")));
  }
  // a single value has no spread: Shazeer's reference code returns 0 there too
  if (v.numel() == 1) return sum(v) * 0.0;
  return var(v, {}, /*correction=*/0) / (square(mean(v)) + 1e-10);
}

Tensor importance_loss(const Tensor& gates, const Tensor& token_mask, double weight) {
  check_token_matrix("importance_loss", gates, "gates");
  Tensor importance = sum(gates * mask_column("importance_loss", token_mask, gates), {0});  // (E)
  return cv_squared(importance) * weight;
}

Tensor load_estimate(const Tensor& clean_logits, const Tensor& noisy_logits, const Tensor& noise_std, std::int64_t k) {
  for (const Tensor* t : {&clean_logits, &noisy_logits, &noise_std}) check_token_matrix("load_estimate", *t, "input");
  if (clean_logits.shape() != noisy_logits.shape() || clean_logits.shape() != noise_std.shape()) {
    throw ShapeError(fmt::format("[load_estimate] clean {}, noisy {} and noise std {} must have one shape",
                                 shape_str(clean_logits.shape()), shape_str(noisy_logits.shape()),
                                 shape_str(noise_std.shape())));
  }
  std::int64_t experts = clean_logits.size(1);
  if (k < 1 || k >= experts) {
    throw ShapeError(fmt::format("[load_estimate] needs 1 <= k < E, got k = {} with E = {}", k, experts));
  }
  // the k-th and (k+1)-th largest noisy values of each token: (T,1) each
  Tensor top = topk(noisy_logits, k + 1, 1).values;               // (T,k+1)
  Tensor threshold_if_in = narrow(top, 1, k, 1);                  // i in the top k: the next one out
  Tensor threshold_if_out = narrow(top, 1, k - 1, 1);             // i outside: the last one in
  Tensor is_in = gt(noisy_logits, threshold_if_in).detach();     // (T,E) 0/1
  Tensor threshold = where(is_in, threshold_if_in, threshold_if_out);  // (T,E)
  // P(x,i) = Φ((clean_i − threshold_i) / std_i)
  return normal_cdf((clean_logits - threshold) / noise_std);
}

Tensor load_loss(const Tensor& clean_logits, const Tensor& noisy_logits, const Tensor& noise_std, std::int64_t k,
                 const Tensor& token_mask, double weight) {
  Tensor probability = load_estimate(clean_logits, noisy_logits, noise_std, k);             // (T,E)
  Tensor load = sum(probability * mask_column("load_loss", token_mask, probability), {0});  // (E)
  return cv_squared(load) * weight;
}

Tensor switch_balance_loss(const Tensor& probabilities, const Tensor& token_mask, double alpha) {
  check_token_matrix("switch_balance_loss", probabilities, "probabilities");
  std::int64_t experts = probabilities.size(1);
  Tensor mask = mask_column("switch_balance_loss", token_mask, probabilities);  // (T,1)
  Tensor tokens = real_token_count(mask);
  // f_i: fraction of real tokens whose argmax is i (a count: no gradient)
  Tensor dispatched = one_hot(argmax(probabilities.detach(), 1), experts, probabilities.dtype());  // (T,E)
  Tensor f = sum(dispatched * mask, {0}) / tokens;                                                // (E)
  // P_i: fraction of router probability given to i, over real tokens
  Tensor P = sum(probabilities * mask, {0}) / tokens;  // (E)
  return sum(f * P) * (alpha * static_cast<double>(experts));
}

Tensor gshard_aux_loss(const Tensor& probabilities, const Tensor& token_mask) {
  check_token_matrix("gshard_aux_loss", probabilities, "probabilities");
  std::int64_t experts = probabilities.size(1);
  Tensor mask = mask_column("gshard_aux_loss", token_mask, probabilities);
  Tensor tokens = real_token_count(mask);
  // c_e / S: first choices per expert over the group's tokens (no gradient); m_e: mean gate
  Tensor first_choice = one_hot(argmax(probabilities.detach(), 1), experts, probabilities.dtype());
  Tensor c_over_S = sum(first_choice * mask, {0}) / tokens;  // (E)
  Tensor m = sum(probabilities * mask, {0}) / tokens;        // (E)
  return sum(c_over_S * m) / static_cast<double>(experts);
}

Tensor router_z_loss(const Tensor& logits, const Tensor& token_mask) {
  check_token_matrix("router_z_loss", logits, "logits");
  Tensor mask = mask_column("router_z_loss", token_mask, logits);        // (T,1)
  Tensor z = logsumexp(logits, {1}, /*keepdim=*/true);                   // (T,1), stable for ±1e4
  return sum(square(z) * mask) / real_token_count(mask);
}

}  // namespace moegrad::moe
