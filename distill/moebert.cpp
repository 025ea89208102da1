// MoEBERT's importance scores and the split of a dense FFN into experts (see moebert.h).
#include "distill/moebert.h"

#include <fmt/format.h>

#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/shape.h"

namespace moegrad::distill {

Tensor neuron_importance(const nn::FeedForward& ffn) {
  const Tensor& w1 = ffn.w1->weight;  // (H,D): row j is w¹_j
  const Tensor& w2 = ffn.w2->weight;  // (D,H): column j is w²_j
  if (!w1.grad().defined() || !w2.grad().defined()) {
    throw AutogradError("[neuron_importance] the FFN's weights have no gradient: run backward on the task loss first");
  }
  // (w¹_j)ᵀ∇w¹_j summed over D (H), plus (w²_j)ᵀ∇w²_j summed over D (H), then |·|.
  Tensor input_side = sum(detach(w1) * w1.grad(), {1});
  Tensor output_side = sum(detach(w2) * w2.grad(), {0});
  return abs(input_side + output_side);
}

ExpertSplit split_into_experts(const nn::FeedForward& ffn, const Tensor& importance, std::int64_t experts,
                               std::int64_t shared) {
  const Tensor& w1 = ffn.w1->weight;  // (H,D)
  const std::int64_t hidden = w1.shape()[0];
  if (importance.shape() != Shape{hidden}) {
    throw ShapeError(fmt::format("[split_into_experts] importance {} must be (H) = ({})", shape_str(importance.shape()),
                                 hidden));
  }
  if (experts < 1 || shared < 0 || shared > hidden || (hidden - shared) % experts != 0) {
    throw Error(fmt::format("[split_into_experts] need E >= 1, 0 <= s <= H and E dividing H - s; got E = {}, s = {}, "
                            "H = {}",
                            experts, shared, hidden));
  }

  // Neurons by importance, most important first (H).
  std::vector<std::int64_t> ranked = argsort(detach(importance), -1, true).to_vector<std::int64_t>();

  // Expert e: the top s (shared), then ranks s+e, s+e+E, ... (round-robin).  (E,H_e)
  const std::int64_t own = (hidden - shared) / experts;
  std::vector<std::int64_t> neurons;
  for (std::int64_t e = 0; e < experts; ++e) {
    for (std::int64_t r = 0; r < shared; ++r) neurons.push_back(ranked[r]);
    for (std::int64_t k = 0; k < own; ++k) neurons.push_back(ranked[shared + e + k * experts]);
  }
  ExpertSplit split;
  split.shared = shared;
  // MoELayer's experts are GELU (either form); a ReLU FFN has no expert layout to go to.
  if (ffn.activation == nn::Activation::ReLU) throw Error("[split_into_experts] needs a GELU FeedForward, got ReLU");
  split.activation = ffn.activation == nn::Activation::GeluTanh ? GeluApproximation::Tanh : GeluApproximation::Erf;
  split.neurons = from_vector(neurons, {experts, shared + own});
  Tensor flat = reshape(split.neurons, {-1});  // (E·H_e)

  // Copy each expert's rows of W1 and b1, and columns of W2; b2 whole. No gradient to the dense FFN.
  const std::int64_t width = shared + own, dim = w1.shape()[1];
  split.w1 = reshape(index_select(detach(w1), 0, flat), {experts, width, dim}).transpose(1, 2).contiguous();
  split.b1 = reshape(index_select(detach(ffn.w1->bias), 0, flat), {experts, width});
  split.w2 = reshape(index_select(transpose(detach(ffn.w2->weight), 0, 1), 0, flat), {experts, width, dim});
  split.b2 = expand(unsqueeze(detach(ffn.w2->bias), 0), {experts, dim}).contiguous();
  return split;
}

}  // namespace moegrad::distill
