// Noisy top-k gating (Shazeer, Mirhoseini, Maziarz, Davis, Le, Hinton, Dean, "Outrageously Large
// Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer", ICLR 2017, arXiv 1701.06538).
//
// The idea: a trainable gate picks k of E experts per token, so compute grows with k while
// parameters grow with E. Learned, per-token noise makes the choice soft enough to balance and to
// estimate the load smoothly.
//
//   H(x)_i = (x·W_g)_i + StandardNormal() · Softplus((x·W_noise)_i)      eq. (4), training only
//   KeepTopK(v,k)_i = v_i if v_i is in the top k of v, else −∞             eq. (5)
//   G(x) = Softmax(KeepTopK(H(x), k))                                      eq. (3): top-k FIRST, then softmax
//   L_importance = w_importance · CV(Σ_x G(x))²                            eq. (6)-(7)
//   L_load = w_load · CV(Σ_x P(x,·))²,  P(x,i) = Φ((x·W_g)_i − kth_excluding(H(x),k,i)) / Softplus((x·W_noise)_i))
//                                                                         eq. (8)-(11), aux_losses.h
// The noise std is Softplus(x·W_noise) + 1e-2, as in the reference code. W_g and W_noise start at
// zero (appendix A): no signal and equal logits, so the start is balanced.
//
// k = 1 pitfall: a softmax over a single kept value is always 1, so the gate would have no gradient
// and the router would never learn. For k = 1 we take the gate from the softmax over ALL E noisy
// logits (the Switch choice): gate = Softmax(H(x))_i for the chosen i.
//
// In eval mode no noise is drawn; the load loss needs the noise, so only the importance loss is
// trained there (the reference code does the same).
//
// Letters: T tokens, D width, E experts, k experts per token.
#include "moe/noisy_topk_router.h"

#include <fmt/format.h>

#include "moe/aux_losses.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

NoisyTopKRouter::NoisyTopKRouter(const NoisyTopKRouterConfig& config) : config(config) {
  if (config.k < 1 || config.k > config.experts) {
    throw ShapeError(fmt::format("[NoisyTopKRouter] needs 1 <= k <= E, got k = {} with E = {}", config.k, config.experts));
  }
  gate_weight = register_parameter("gate_weight", zeros({config.dim, config.experts}));
  noise_weight = register_parameter("noise_weight", zeros({config.dim, config.experts}));
}

RoutingDecision NoisyTopKRouter::route(const Tensor& x, Generator& generator, const TokenContext& context,
                                 const RandomDraws& draws) {
  detail::check_router_input("NoisyTopKRouter", x, config.dim, context);
  Tensor noise = draws.noise;
  if (!noise.defined() && is_training()) noise = randn({x.size(0), config.experts}, generator, detail::router_dtype(x), x.device());
  return route_with_noise(x, noise, context);
}

RoutingDecision NoisyTopKRouter::route_with_noise(const Tensor& x, const Tensor& noise, const TokenContext& context) {
  detail::check_router_input("NoisyTopKRouter", x, config.dim, context);
  DType dtype = detail::router_dtype(x);
  std::int64_t tokens = x.size(0);
  if (noise.defined() && noise.shape() != Shape{tokens, config.experts}) {
    throw ShapeError(fmt::format("[NoisyTopKRouter] noise must be (T,E) = ({},{}), got {}", tokens, config.experts,
                                 shape_str(noise.shape())));
  }
  Tensor input = x.to(dtype);

  // 1. clean logits x·W_g and, in training, H = clean + N(0,1) · (Softplus(x·W_noise) + 1e-2): (T,E)
  Tensor clean_logits = matmul(input, gate_weight.to(dtype));
  Tensor noisy_logits = clean_logits, noise_std;
  if (noise.defined()) {
    noise_std = softplus(matmul(input, noise_weight.to(dtype))) + config.min_noise_std;
    noisy_logits = clean_logits + noise.to(dtype) * noise_std;
  }
  return noisy_topk_route_from_logits(clean_logits, noisy_logits, noise_std,
                                      detail::token_mask_or_ones(context, tokens, dtype, x.device()), config);
}

RoutingDecision noisy_topk_route_from_logits(const Tensor& clean_logits, const Tensor& noisy_logits,
                                             const Tensor& noise_std, const Tensor& mask,
                                             const NoisyTopKRouterConfig& config) {
  std::int64_t tokens = clean_logits.size(0), k = config.k;
  DType dtype = clean_logits.dtype();

  // 2. KeepTopK then Softmax over the k kept values: (T,k). For k = 1, see the header comment.
  ValuesIndices top = topk(noisy_logits, k, 1);
  Tensor all_expert_softmax = softmax(noisy_logits, 1);  // (T,E), the router probabilities
  Tensor gates = k == 1 ? gather(all_expert_softmax, 1, top.indices) : softmax(top.values, 1);

  // 3. G(x) as a (T,E) matrix (zeros off the top k) for the importance loss
  Tensor dense_gates = scatter_add(zeros({tokens, config.experts}, dtype, clean_logits.device()), 1, top.indices, gates);
  Tensor loss = importance_loss(dense_gates, mask, config.importance_weight);

  // 4. the load loss through the normal-CDF estimator (needs noise, and k < E to have a threshold)
  if (noise_std.defined() && k < config.experts) {
    loss = loss + load_loss(clean_logits, noisy_logits, noise_std, k, mask, config.load_weight);
  }

  RoutingDecision decision;
  decision.expert_index = top.indices;
  decision.gates = gates;
  decision.dispatch_mask = detail::all_slots(tokens, k, clean_logits.device());
  decision.probabilities = all_expert_softmax;
  decision.logits = noisy_logits;
  decision.aux_loss = loss;
  return decision;
}

}  // namespace moegrad::moe
