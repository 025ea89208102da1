// The dense softmax mixture: the gating network of Jacobs et al. (1991) put in front of FFN
// experts, y = Σ_i p_i(x) E_i(x) with p = softmax(x · W_g). Every expert runs on every token, so
// it costs E dense FFNs: the baseline the sparse routers save compute against. With unlimited
// capacity, a top-k router with k = E gives exactly this mixture.
//
// Letters: T tokens, D width, E experts (k = E slots per token, slot j is expert j).
#include "moe/dense_router.h"

#include <cmath>

#include "nn/init.h"
#include "tensor/creation.h"

namespace moegrad::moe {

DenseRouter::DenseRouter(const DenseRouterConfig& config, Generator& generator) : config(config) {
  double std = std::sqrt(config.init_scale / static_cast<double>(config.dim));
  gate_weight = register_parameter("gate_weight", nn::truncated_normal({config.dim, config.experts}, std, generator));
}

RoutingDecision DenseRouter::route(const Tensor& x, Generator& generator, const TokenContext& context,
                                 const RandomDraws& draws) {
  detail::check_router_input("DenseRouter", x, config.dim, context);
  DType dtype = detail::router_dtype(x);
  return dense_route_from_logits(matmul(x.to(dtype), gate_weight.to(dtype)));
}

RoutingDecision dense_route_from_logits(const Tensor& logits) {
  std::int64_t tokens = logits.size(0), E = logits.size(1);
  // p = softmax(x · W_g): (T,E), and slot j of every token is expert j with gate p_j
  Tensor probabilities = softmax(logits, 1);

  RoutingDecision decision;
  decision.expert_index = expand(reshape(arange(E, kInt64, logits.device()), {1, E}), {tokens, E}).contiguous();
  decision.gates = probabilities;
  decision.dispatch_mask = detail::all_slots(tokens, E, logits.device());
  decision.probabilities = probabilities;
  decision.logits = logits;
  return decision;
}

}  // namespace moegrad::moe
