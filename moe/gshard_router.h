// GShard's top-2 gating (Lepikhin et al. 2020). See moe/gshard_router.cpp.
#pragma once
#include "moe/router.h"

namespace moegrad::moe {

struct GShardRouterConfig {
  std::int64_t dim = 0;
  std::int64_t experts = 0;
  // weight on E² · ℓ_aux, the reference code's scale (the paper gives none): 1 at uniform routing
  double aux_loss_weight = 1e-2;
  double init_scale = 0.1;  // the paper gives no router init; we use Switch's (std √(0.1/D))
  // false: plain top-2, every token sent to both its experts (no 2·g2 > u test, no draws made);
  // the gates are still renormalised over the two and first choices still placed first.
  bool random_second_choice = true;
  // Float32 is ST-MoE's selective precision (the default); BFloat16 runs the router in bfloat16.
  RouterPrecision precision = RouterPrecision::Float32;
};

// Algorithm 1 from gating logits (T,E) on: softmax, top-2 normalised by g1 + g2, the random test
// 2·g2 > u with u (T) handed in, and the aux loss (weight on E²·ℓ_aux) over the real tokens of the
// mask ((T) or undefined). Every second choice takes a capacity place (capacity_mask), sent or not.
RoutingDecision gshard_route_from_logits(const Tensor& logits, const Tensor& uniform_draws, const Tensor& token_mask,
                                         double aux_loss_weight);

class GShardRouter : public Router {
 public:
  explicit GShardRouter(const GShardRouterConfig& config, Generator& generator = default_generator());
  RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                        const RandomDraws& draws = {}) override;
  // The same with the uniform draws of the random second-expert test handed in (T).
  RoutingDecision route_with_uniform(const Tensor& x, const Tensor& uniform_draws, const TokenContext& context = {});
  std::int64_t num_experts() const override { return config.experts; }

  GShardRouterConfig config;
  Tensor gate_weight;  // w_g (D,E)
};

}  // namespace moegrad::moe
