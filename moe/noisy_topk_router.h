// Shazeer et al.'s noisy top-k gating (2017). See moe/noisy_topk_router.cpp.
#pragma once
#include "moe/router.h"

namespace moegrad::moe {

struct NoisyTopKRouterConfig {
  std::int64_t dim = 0;
  std::int64_t experts = 0;
  std::int64_t k = 4;                // the flat MoE of §5 / appendix C
  double importance_weight = 0.1;    // w_importance, appendix C.1
  double load_weight = 0.1;          // w_load, appendix C.1
  double min_noise_std = 1e-2;       // added to Softplus(x W_noise) in the reference code
};

// Noisy top-k from its logits on: clean (T,E) = x·W_g, noisy (T,E) = H(x) (equal to clean without
// noise), noise_std (T,E) = Softplus(x·W_noise) + min (undefined without noise): KeepTopK, the
// softmax over the kept values, the importance loss and, with noise, the load loss, over the real
// tokens of the mask ((T) or undefined).
RoutingDecision noisy_topk_route_from_logits(const Tensor& clean_logits, const Tensor& noisy_logits,
                                             const Tensor& noise_std, const Tensor& token_mask,
                                             const NoisyTopKRouterConfig& config);

class NoisyTopKRouter : public Router {
 public:
  explicit NoisyTopKRouter(const NoisyTopKRouterConfig& config);
  RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                        const RandomDraws& draws = {}) override;
  // The same with the StandardNormal() draws handed in (T,E); undefined means no noise (eval).
  RoutingDecision route_with_noise(const Tensor& x, const Tensor& noise, const TokenContext& context = {});
  std::int64_t num_experts() const override { return config.experts; }

  NoisyTopKRouterConfig config;
  Tensor gate_weight;   // W_g (D,E), zero at the start
  Tensor noise_weight;  // W_noise (D,E), zero at the start
};

}  // namespace moegrad::moe
