// GShard top-2 gating (Lepikhin, Lee, Xu, Chen, Firat, Huang, Krikun, Shazeer, Chen, "GShard: Scaling
// Giant Models with Conditional Computation and Automatic Sharding", 2020, arXiv 2006.16668).
//
// The idea: each token goes to its best two experts, but a weak second choice is often skipped at
// random ("random routing"), which saves capacity; a cheap auxiliary loss keeps the load even.
//
// Algorithm 1, for one group of S tokens:
//   g_{s,e} = softmax(w_g · x_s)                       over all E experts
//   (g1,e1), (g2,e2) = top-2 of g_s;  g1 ← g1/(g1+g2), g2 ← g2/(g1+g2)    normalise BEFORE any capacity test
//   first pass:  x_s -> e1 with weight g1 while c_{e1} < C
//   second pass: keep e2 only if 2·g2 > u, u ~ U[0,1) (probability min(1, 2·g2));
//                x_s -> e2 with weight g2 while c_{e2} < C
//   ℓ_aux = (1/E) Σ_e (c_e/S) · m_e,  m_e = (1/S) Σ_s g_{s,e}             gshard_aux_loss in aux_losses.h
// Every first choice is placed before any second choice: the MoE layer's priority order. The paper's
// pseudocode increments c_{e2} for every token, also when the random test rejected e2; we follow
// the paper (capacity_mask = 1 on every second slot), where mesh-tensorflow and fairseq count only
// kept second choices. The random test runs in evaluation too: Algorithm 1 has no other mode.
// Groups and capacity live in the MoE layer (group_size; GShard's C = 2S/E is capacity factor 2
// there); the aux loss here is over the whole batch.
// Trained loss: 1e-2 · E² · ℓ_aux, the reference code's weight (1e-2 at uniform routing).
//
// Letters: T tokens (the paper's S), D width, E experts.
#include "moe/gshard_router.h"

#include <fmt/format.h>

#include <cmath>

#include "moe/aux_losses.h"
#include "nn/init.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

GShardRouter::GShardRouter(const GShardRouterConfig& config, Generator& generator) : config(config) {
  if (config.experts < 2) throw ShapeError("[GShardRouter] top-2 gating needs at least 2 experts");
  double std = std::sqrt(config.init_scale / static_cast<double>(config.dim));
  gate_weight = register_parameter("gate_weight", nn::truncated_normal({config.dim, config.experts}, std, generator));
}

RoutingDecision GShardRouter::route(const Tensor& x, Generator& generator, const TokenContext& context,
                                 const RandomDraws& draws) {
  detail::check_router_input("GShardRouter", x, config.dim, context);
  const DType dtype = detail::router_dtype(x, config.precision);
  if (!config.random_second_choice) {  // plain top-2: u = −1 passes 2·g2 > u for every gate, even an underflowed 0
    return route_with_uniform(x, full({x.size(0)}, -1.0, dtype, x.device()), context);
  }
  Tensor u = draws.uniform.defined() ? draws.uniform : rand({x.size(0)}, generator, dtype, x.device());
  return route_with_uniform(x, u, context);
}

RoutingDecision GShardRouter::route_with_uniform(const Tensor& x, const Tensor& uniform_draws,
                                                 const TokenContext& context) {
  detail::check_router_input("GShardRouter", x, config.dim, context);
  std::int64_t tokens = x.size(0);
  if (!uniform_draws.defined() || uniform_draws.shape() != Shape{tokens}) {
    throw ShapeError(fmt::format("[GShardRouter] uniform draws must be ({}), got {}", tokens,
                                 uniform_draws.defined() ? shape_str(uniform_draws.shape()) : std::string("undefined")));
  }
  DType dtype = detail::router_dtype(x, config.precision);
  Tensor logits = matmul(x.to(dtype), gate_weight.to(dtype));
  return gshard_route_from_logits(logits, uniform_draws, detail::token_mask_or_ones(context, tokens, dtype, x.device()),
                                  config.aux_loss_weight);
}

RoutingDecision gshard_route_from_logits(const Tensor& logits, const Tensor& uniform_draws, const Tensor& token_mask,
                                         double aux_loss_weight) {
  std::int64_t tokens = logits.size(0), E = logits.size(1);
  DType dtype = logits.dtype();
  if (E < 2 || !uniform_draws.defined() || uniform_draws.shape() != Shape{tokens}) {
    throw ShapeError(fmt::format("[gshard_route_from_logits] needs logits (T,E) with E >= 2 and uniform draws (T), got "
                                 "{} and {}", shape_str(logits.shape()),
                                 uniform_draws.defined() ? shape_str(uniform_draws.shape()) : std::string("undefined")));
  }

  // 1. g = softmax(w_g · x) over all experts: (T,E)
  Tensor g = softmax(logits, 1);

  // 2. top-2 and the normalisation by g1 + g2: (T,2), column 0 = (g1,e1), column 1 = (g2,e2)
  ValuesIndices top = topk(g, 2, 1);
  Tensor gates = top.values / sum(top.values, {1}, true);

  // 3. random routing: keep the second expert when 2·g2 > u, i.e. with probability min(1, 2·g2)
  Tensor second_kept = gt(narrow(gates, 1, 1, 1).detach() * 2.0, reshape(uniform_draws.to(dtype), {tokens, 1}));
  Tensor dispatch = concat({ones({tokens, 1}, kInt64, logits.device()), second_kept.to(kInt64)}, 1);  // (T,2)

  // 4. the auxiliary loss over real tokens, at the reference code's scale
  Tensor aux = gshard_aux_loss(g, token_mask) * (aux_loss_weight * static_cast<double>(E * E));

  RoutingDecision decision;
  decision.expert_index = top.indices;
  decision.gates = gates;
  decision.dispatch_mask = dispatch;
  decision.capacity_mask = detail::all_slots(tokens, 2, logits.device());  // the paper counts every second choice
  decision.probabilities = g;
  decision.logits = logits;
  decision.aux_loss = aux;
  return decision;
}

}  // namespace moegrad::moe
