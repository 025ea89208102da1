// Expert-choice routing (Zhou et al. 2022): experts pick tokens. See expert_choice_router.cpp.
#pragma once
#include "moe/router.h"

namespace moegrad::moe {

struct ExpertChoiceRouterConfig {
  std::int64_t dim = 0;
  std::int64_t experts = 0;
  double capacity_factor = 2.0;  // c: the paper's main setting "EC-CF2" (§4)
  double init_scale = 0.1;       // the paper gives none here; Switch's router init, std √(0.1/D)
};

// Expert choice from gating logits (T,E): S = softmax over experts, each expert takes its k_e
// highest-scoring real tokens (mask (T) or undefined); slot e of token t is expert e.
RoutingDecision expert_choice_route_from_logits(const Tensor& logits, const Tensor& token_mask,
                                                std::int64_t tokens_per_expert);

class ExpertChoiceRouter : public Router {
 public:
  explicit ExpertChoiceRouter(const ExpertChoiceRouterConfig& config, Generator& generator = default_generator());
  RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                        const RandomDraws& draws = {}) override;
  std::int64_t num_experts() const override { return config.experts; }
  // k_e = ceil(n · c / E) for n real tokens, at most n
  std::int64_t tokens_per_expert(std::int64_t real_tokens) const;

  ExpertChoiceRouterConfig config;
  Tensor gate_weight;  // W_g (D,E)
};

}  // namespace moegrad::moe
