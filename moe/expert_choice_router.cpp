// Expert-choice routing (Zhou, Lei, Liu, Du, Huang, Zhao, Dai, Chen, Le, Laudon, "Mixture-of-Experts
// with Expert Choice Routing", NeurIPS 2022, arXiv 2202.09368).
//
// The idea: turn the choice around. Instead of each token picking its top-k experts (and some
// experts overflowing while others idle), each expert picks its top-k_e tokens. Every expert is
// exactly full, so the load is balanced by construction and no balance loss is needed; a token
// may be taken by zero, one or many experts.
//
//   S = Softmax(X · W_g)              (T,E), softmax over experts for each token   eq. (1)
//   G, I = TopK(Sᵀ, k_e)              each expert's k_e best tokens and their scores
//   k_e = n · c / E                   c the capacity factor (we round up), n the tokens
//   y_t = Σ_{e that took t} S_{t,e} · E_e(x_t)                                    eq. (2)
// Padding tokens are never picked. In the decision every token has E slots (slot e = expert e),
// dispatched where expert e picked the token. The MoE layer's own capacity should be unlimited
// (capacity factor 0) with this router: the capacity is already c.
//
// Letters: T tokens (n), D width, E experts.
#include "moe/expert_choice_router.h"

#include <algorithm>
#include <cmath>

#include "nn/init.h"
#include "tensor/creation.h"

namespace moegrad::moe {

ExpertChoiceRouter::ExpertChoiceRouter(const ExpertChoiceRouterConfig& config, Generator& generator)
    : config(config) {
  double std = std::sqrt(config.init_scale / static_cast<double>(config.dim));
  gate_weight = register_parameter("gate_weight", nn::truncated_normal({config.dim, config.experts}, std, generator));
}

std::int64_t ExpertChoiceRouter::tokens_per_expert(std::int64_t real_tokens) const {
  double k = std::ceil(static_cast<double>(real_tokens) * config.capacity_factor / static_cast<double>(config.experts));
  return std::min<std::int64_t>(static_cast<std::int64_t>(k), real_tokens);
}

RoutingDecision ExpertChoiceRouter::route(const Tensor& x, Generator& generator, const TokenContext& context,
                                 const RandomDraws& draws) {
  detail::check_router_input("ExpertChoiceRouter", x, config.dim, context);
  DType dtype = detail::router_dtype(x);
  std::int64_t tokens = x.size(0);
  Tensor mask = detail::token_mask_or_ones(context, tokens, dtype, x.device());  // (T)
  // k_e depends on how many tokens are real: the one host read of this router (topk needs its k)
  std::int64_t k_e = tokens_per_expert(static_cast<std::int64_t>(sum(mask).item()));
  return expert_choice_route_from_logits(matmul(x.to(dtype), gate_weight.to(dtype)), mask, k_e);
}

RoutingDecision expert_choice_route_from_logits(const Tensor& logits, const Tensor& token_mask, std::int64_t k_e) {
  std::int64_t tokens = logits.size(0), E = logits.size(1);
  Tensor mask = token_mask.defined() ? token_mask.to(logits.dtype()) : ones({tokens}, logits.dtype(), logits.device());

  // 1. S = softmax(X W_g) over experts: (T,E)
  Tensor S = softmax(logits, 1);

  // 2. each expert takes its k_e highest-scoring real tokens (padding scores -1, below any
  //    probability): indices (k_e,E) along the token axis
  Tensor scores = where(reshape(mask, {tokens, 1}), S.detach(), scalar_like(S, -1.0));
  Tensor picked = topk(scores, k_e, 0).indices;

  // 3. slot e of token t is used when expert e picked t: (T,E) 0/1
  Tensor chosen = scatter_add(zeros({tokens, E}, kInt64, logits.device()), 0, picked,
                              ones({k_e, E}, kInt64, logits.device()));

  RoutingDecision decision;
  decision.expert_index = expand(reshape(arange(E, kInt64, logits.device()), {1, E}), {tokens, E}).contiguous();
  decision.gates = S;  // the combine weight is the score S_{t,e}
  decision.dispatch_mask = chosen;
  decision.probabilities = S;
  decision.logits = logits;
  return decision;
}

}  // namespace moegrad::moe
