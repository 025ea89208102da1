// Switch Transformer: top-1 routing (Fedus, Zoph, Shazeer, "Switch Transformers: Scaling to Trillion
// Parameter Models with Simple and Efficient Sparsity", JMLR 2022, arXiv 2101.03961).
//
// The idea: send each token to ONE expert. Half the compute of top-2, and it still learns, because
// the expert's output is scaled by the router probability, which carries the gradient.
//
//   h(x) = x · W_r                                  router logits (§2.1)
//   p_i(x) = exp(h(x)_i) / Σ_j exp(h(x)_j)          eq. (1)
//   y = p_i(x) E_i(x),  i = argmax_j p_j(x)          eq. (2): gate = p_i, softmax over ALL experts
//   loss = α · N · Σ_i f_i · P_i                      eq. (4)-(6), switch_balance_loss in aux_losses.h
//
// Selective precision (§2.4): the router runs in float32 whatever the model's dtype. moegrad has
// float32 and float64 only, so float32 input stays float32 and float64 stays float64 (we never
// round a float64 model down: gradchecks run in float64); a future half type is raised to float32.
// Jitter (§2.4, "multiplicative jitter noise"): in training the router INPUT is multiplied by noise
// drawn uniformly from [1−ε, 1+ε].
//
// Letters: T tokens, D width, E experts (the paper's N).
#include "moe/switch_router.h"

#include <fmt/format.h>

#include <cmath>

#include "moe/aux_losses.h"
#include "nn/init.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

SwitchRouter::SwitchRouter(const SwitchRouterConfig& config, Generator& generator) : config(config) {
  // truncated normal with std √(0.1/fan_in): the paper's "reduced initialisation scale"
  double std = std::sqrt(config.init_scale / static_cast<double>(config.dim));
  router_weight = register_parameter("router_weight", nn::truncated_normal({config.dim, config.experts}, std, generator));
}

RoutingDecision SwitchRouter::route(const Tensor& x, Generator& generator, const TokenContext& context,
                                 const RandomDraws& draws) {
  detail::check_router_input("SwitchRouter", x, config.dim, context);
  Tensor jitter = draws.jitter;
  if (!jitter.defined() && is_training() && config.jitter_epsilon > 0.0) {
    jitter = uniform(x.shape(), 1.0 - config.jitter_epsilon, 1.0 + config.jitter_epsilon, generator,
                     detail::router_dtype(x), x.device());
  }
  return route_with_jitter(x, jitter, context);
}

RoutingDecision SwitchRouter::route_with_jitter(const Tensor& x, const Tensor& jitter, const TokenContext& context) {
  detail::check_router_input("SwitchRouter", x, config.dim, context);
  DType dtype = detail::router_dtype(x);
  std::int64_t tokens = x.size(0);
  if (jitter.defined() && jitter.shape() != x.shape()) {
    throw ShapeError(fmt::format("[SwitchRouter] jitter must have x's shape {}, got {}", shape_str(x.shape()),
                                 shape_str(jitter.shape())));
  }

  // 1. logits in float32 (selective precision), jittered input in training: (T,D) @ (D,E) -> (T,E)
  Tensor router_input = x.to(dtype);
  if (jitter.defined()) router_input = router_input * jitter.to(dtype);
  Tensor logits = matmul(router_input, router_weight.to(dtype));
  return switch_route_from_logits(logits, detail::token_mask_or_ones(context, tokens, dtype, x.device()),
                                  config.balance_alpha);
}

RoutingDecision switch_route_from_logits(const Tensor& logits, const Tensor& token_mask, double balance_alpha) {
  std::int64_t tokens = logits.size(0);
  // 2. p = softmax(h), the one softmax of this router: (T,E)
  Tensor probabilities = softmax(logits, 1);

  // 3. top-1: i = argmax p; the gate is p_i itself, so the router gets gradient through it (T,1)
  ValuesIndices top = topk(probabilities, 1, 1);

  // 4. the balance loss over real tokens, eq. (4)
  Tensor balance = switch_balance_loss(probabilities, token_mask, balance_alpha);

  RoutingDecision decision;
  decision.expert_index = top.indices;
  decision.gates = top.values;
  decision.dispatch_mask = detail::all_slots(tokens, 1, logits.device());
  decision.probabilities = probabilities;
  decision.logits = logits;
  decision.aux_loss = balance;
  return decision;
}

}  // namespace moegrad::moe
