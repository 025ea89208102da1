// The dense softmax router: every token uses every expert. See moe/dense_router.cpp.
#pragma once
#include "moe/router.h"

namespace moegrad::moe {

struct DenseRouterConfig {
  std::int64_t dim = 0;
  std::int64_t experts = 0;
  double init_scale = 0.1;  // Switch's router init, std √(0.1/D)
};

// The dense mixture from gating logits (T,E): slot j of every token is expert j with gate softmax_j.
RoutingDecision dense_route_from_logits(const Tensor& logits);

class DenseRouter : public Router {
 public:
  explicit DenseRouter(const DenseRouterConfig& config, Generator& generator = default_generator());
  RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                        const RandomDraws& draws = {}) override;
  std::int64_t num_experts() const override { return config.experts; }

  DenseRouterConfig config;
  Tensor gate_weight;  // (D,E)
};

}  // namespace moegrad::moe
