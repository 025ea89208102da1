// Switch Transformer top-1 router (Fedus, Zoph, Shazeer 2022). See moe/switch_router.cpp.
#pragma once
#include "moe/router.h"

namespace moegrad::moe {

struct SwitchRouterConfig {
  std::int64_t dim = 0;
  std::int64_t experts = 0;
  double jitter_epsilon = 1e-2;  // ST-MoE Table 3 (the Switch paper gives no value); 0 turns jitter off
  double balance_alpha = 1e-2;   // α of eq. (4), Switch §2.2 and ST-MoE's c_B
  double init_scale = 0.1;       // std = √(init_scale / D), Switch §2.4
};

// Switch routing from router logits (T,E) on: softmax, top-1 with the probability as the gate, and
// the balance loss α·N·Σ f_i P_i over the tokens the mask marks real ((T) or undefined: all real).
// A reader or a test feeds exact logits here.
RoutingDecision switch_route_from_logits(const Tensor& logits, const Tensor& token_mask, double balance_alpha);

class SwitchRouter : public Router {
 public:
  explicit SwitchRouter(const SwitchRouterConfig& config, Generator& generator = default_generator());
  RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                        const RandomDraws& draws = {}) override;
  // The same with the jitter handed in: (T,D) multipliers, or undefined for none.
  RoutingDecision route_with_jitter(const Tensor& x, const Tensor& jitter, const TokenContext& context = {});
  std::int64_t num_experts() const override { return config.experts; }

  SwitchRouterConfig config;
  Tensor router_weight;  // W_r (D,E)
};

}  // namespace moegrad::moe
