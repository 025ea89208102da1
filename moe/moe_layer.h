// The MoE layer: a router and E expert FFNs stored as batched weights, with capacity, a dispatch
// plan built from tensor ops, the experts as one grouped matmul, gate-weighted combine, optional
// shared experts, and the routing returned as a record the caller owns.
// Letters: T tokens, D width, E experts, H expert width, k slots per token, C capacity per expert.
#pragma once
#include <memory>
#include <vector>

#include "moe/dispatch_plan.h"
#include "moe/router.h"
#include "nn/layers.h"

namespace moegrad::moe {

struct MoELayerConfig {
  std::int64_t dim = 0;
  std::int64_t expert_hidden = 0;  // H: its own parameter, so experts can be fine-grained (DeepSeekMoE)
  // capacity C = round(real tokens / E × capacity factor); 0 means dropless (no token is ever
  // dropped). 1.25 in training and 2.0 in evaluation are ST-MoE's values (§3, Table 1 of Switch).
  double capacity_factor_train = 1.25;
  double capacity_factor_eval = 2.0;
  std::int64_t capacity = 0;  // > 0: a fixed C per expert (per group) instead of the factors
  CapacityRounding capacity_rounding = CapacityRounding::Up;  // see moe/dispatch_plan.h for the sources
  // GShard splits the batch into groups of S consecutive tokens, each with its own capacity and
  // counters; 0 makes the whole batch one group (Switch). The losses are over the whole batch.
  std::int64_t group_size = 0;
  std::int64_t shared_experts = 0;  // DeepSeekMoE's K_s always-on experts, of width expert_hidden
  double z_loss_weight = 1e-3;      // ST-MoE's c_z; 0 leaves the z-loss out of aux_loss
  double expert_dropout = 0.0;      // dropout on expert hidden units; ST-MoE fine-tunes with 0.4
  GeluApproximation activation = GeluApproximation::Erf;
  double init_scale = 0.1;          // expert weights ~ truncated normal std √(0.1/fan_in), Switch §2.4
};

// What one forward of one MoE layer did. Every field is a tensor (nothing is copied to the host
// until someone prints it); the losses are 0-d, over real tokens only, and differentiable.
struct RoutingInfo {
  Tensor expert_index;       // (T,k) int64, the router's choices
  Tensor gates;              // (T,k)
  Tensor dispatched;         // (T,k) int64, 1 where the router sent a real token's slot (kept or then dropped)
  Tensor dropped;            // (T,k) int64, 1 where a dispatched slot found its expert full
  Tensor token_dropped;      // (T) int64, 1 for a real token that no expert processed (output 0)
  Tensor capacity;           // (G) int64, C of each token group; 0 when dropless (no limit)
  Tensor tokens_per_expert;  // (E) int64, tokens each expert processed
  DispatchPlan plan;         // the sorted rows the experts saw (plan.row_token, plan.group_offsets)
  Tensor probabilities;      // (T,E)
  Tensor router_loss;        // the router's own paper loss, weighted (0 when it has none)
  Tensor balance_loss;       // Switch's N Σ f_i P_i with α = 1 (1 at uniform routing), for reading
  Tensor importance_loss;    // CV(Σ gates)², unweighted, for reading
  Tensor z_loss;             // ST-MoE's router z-loss, unweighted (0 for hash routing)
  Tensor aux_loss;           // router_loss + z_loss_weight · z_loss: add this to the training loss
  Tensor entropy;            // mean over real tokens of −Σ p log p (log E: uniform, 0: one-hot)
  Tensor mean_log_z;         // mean over real tokens of logsumexp(logits): how large the logits are
};

struct MoEOutput {
  Tensor output;        // (...,D)
  RoutingInfo routing;  // what this call did
};

class MoELayer : public nn::FfnModule {
 public:
  MoELayer(const MoELayerConfig& config, std::shared_ptr<Router> router, Generator& generator = default_generator());
  // x (...,D) -> (...,D) and its routing. context: token ids and padding mask of shape (...).
  // Random draws come from `draws` where given (moe/router.h), else from the construction generator.
  MoEOutput apply(const Tensor& x, const TokenContext& context = {}, const RandomDraws& draws = {});
  // The FFN slot of a Transformer layer: apply, then report the routing into the caller's record
  // under "<prefix>routing" (e.g. "layers.1.ffn.routing"); moe::total_aux_loss(record) sums them.
  Tensor forward(const Tensor& x, const TokenContext& context, nn::Taps* record) override;
  // Copies a dense FFN into every expert (and shared expert): sparse upcycling. The router is left
  // as it is. Needs ffn's hidden width to equal expert_hidden.
  void upcycle_from(const nn::FeedForward& ffn);
  std::int64_t num_experts() const { return router->num_experts(); }
  // The capacity rule this layer uses now (training or evaluation factor).
  CapacityRule capacity_rule() const;

  MoELayerConfig config;
  std::shared_ptr<Router> router;
  Tensor w1, b1, w2, b2;  // (E,D,H), (E,H), (E,H,D), (E,D)
  Tensor shared_w1, shared_b1, shared_w2, shared_b2;  // the same for the shared experts (undefined if none)

 private:
  Generator* generator_;
};

// Throws Error naming the field unless every MoELayerConfig field is in range (at construction).
void check_moe_config(const MoELayerConfig& config);

}  // namespace moegrad::moe
