// Hash routing (Roller et al. 2021, used by MoEBERT): a fixed token-id -> expert map. See hash_router.cpp.
#pragma once
#include "moe/router.h"

namespace moegrad::moe {

class HashRouter : public Router {
 public:
  // A random map: each of the `vocabulary` ids gets an expert uniformly at random.
  HashRouter(std::int64_t vocabulary, std::int64_t experts, Generator& generator = default_generator());
  // A given map: expert_of_token (V) int64 with values in [0, experts).
  HashRouter(const Tensor& expert_of_token, std::int64_t experts);
  // The balanced variant: a random permutation of the ids dealt round-robin, so loads differ by ≤ 1.
  static Tensor balanced_map(std::int64_t vocabulary, std::int64_t experts, Generator& generator);

  // Needs context.token_ids (T); x only fixes T and the dtype.
  RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                        const RandomDraws& draws = {}) override;
  std::int64_t num_experts() const override { return experts_; }

  Tensor expert_of_token;  // (V) int64, a buffer: saved, never trained

 private:
  std::int64_t experts_;
};

}  // namespace moegrad::moe
