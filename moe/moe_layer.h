// The MoE layer: a router and E expert FFNs stored as batched weights, with capacity, sorted
// dispatch, gate-weighted combine, optional shared experts, and a readable record of the routing.
// Letters: T tokens, D width, E experts, H expert width, k slots per token, C capacity per expert.
#pragma once
#include <memory>
#include <vector>

#include "moe/router.h"
#include "nn/layers.h"

namespace moegrad::moe {

struct MoELayerConfig {
  std::int64_t dim = 0;
  std::int64_t expert_hidden = 0;  // H: its own parameter, so experts can be fine-grained (DeepSeekMoE)
  // capacity C = ceil(real tokens / E × capacity_factor); 0 means dropless (no token is ever
  // dropped). 1.25 in training and 2.0 in evaluation are ST-MoE's values (§3, Table 1 of Switch).
  double capacity_factor_train = 1.25;
  double capacity_factor_eval = 2.0;
  // GShard splits the batch into groups of S consecutive tokens, each with its own capacity and
  // counters; 0 makes the whole batch one group (Switch). The losses are over the whole batch.
  std::int64_t group_size = 0;
  std::int64_t shared_experts = 0;  // DeepSeekMoE's K_s always-on experts, of width expert_hidden
  double z_loss_weight = 1e-3;      // ST-MoE's c_z; 0 leaves the z-loss out of aux_loss
  double expert_dropout = 0.0;      // dropout on expert hidden units; ST-MoE fine-tunes with 0.4
  GeluApproximation activation = GeluApproximation::Erf;
  double init_scale = 0.1;          // expert weights ~ truncated normal std √(0.1/fan_in), Switch §2.4
  bool log_load = false;            // append each training forward's load to MoELayer::load_history
};

// One training step's load on one layer, for plots of expert load over training.
struct LoadRecord {
  std::vector<std::int64_t> tokens_per_expert;  // (E)
  std::int64_t real_tokens = 0;
  std::int64_t dropped_tokens = 0;  // real tokens no expert processed
};

// What one forward did, for a training loop to add and a student to print.
struct RoutingInfo {
  Tensor expert_index;    // (T,k) int64, the router's choices
  Tensor gates;           // (T,k)
  Tensor dispatched;      // (T,k) int64, 1 where the router sent a real token's slot (kept or then dropped)
  Tensor dropped;         // (T,k) int64, 1 where a dispatched slot found its expert full
  Tensor token_dropped;   // (T) int64, 1 for a real token that no expert processed (output 0)
  std::int64_t capacity = 0;  // C, slots per expert (per group: the largest); 0 when dropless (no limit)
  std::vector<std::int64_t> tokens_per_expert;          // (E) tokens each expert processed
  std::vector<std::vector<std::int64_t>> expert_tokens;  // per expert, the token rows it saw, in order
  Tensor probabilities;   // (T,E)
  // the losses, each over real tokens only; all 0-d and differentiable
  Tensor router_loss;     // the router's own paper loss, weighted (0 when it has none)
  Tensor balance_loss;    // Switch's N Σ f_i P_i with α = 1 (1 at uniform routing), for reading
  Tensor importance_loss; // CV(Σ gates)², unweighted, for reading
  Tensor z_loss;          // ST-MoE's router z-loss, unweighted (0 for hash routing)
  Tensor aux_loss;        // router_loss + z_loss_weight · z_loss: add this to the training loss
  double entropy = 0.0;   // mean over real tokens of −Σ p log p (log E: uniform, 0: one-hot)
  double mean_log_z = 0.0;  // mean over real tokens of logsumexp(logits): how large the logits are
};

class MoELayer : public nn::UnaryModule {
 public:
  MoELayer(const MoELayerConfig& config, std::shared_ptr<Router> router, Generator& generator = default_generator());
  // x (...,D) -> (...,D). Random draws (router noise, expert dropout) come from the generator given
  // at construction.
  // Inside a model the layer is called as a plain UnaryModule: it then reads the context set by
  // set_token_context (moe/layouts.h has TokenContextScope to set it on every MoE layer of a model).
  Tensor forward(const Tensor& x) override { return forward(x, pending_context_); }
  // The same with per-token ids and padding mask of shape (...) (hash routing needs the ids).
  Tensor forward(const Tensor& x, const TokenContext& context);
  const RoutingInfo& last_routing() const { return last_routing_; }
  // Copies a dense FFN into every expert (and shared expert): sparse upcycling. The router is left
  // as it is. Needs ffn's hidden width to equal expert_hidden.
  void upcycle_from(const nn::FeedForward& ffn);
  std::int64_t num_experts() const { return router->num_experts(); }
  void set_token_context(const TokenContext& context) { pending_context_ = context; }

  // Filled when config.log_load is set: one record per forward in training mode.
  std::vector<LoadRecord> load_history;

  MoELayerConfig config;
  std::shared_ptr<Router> router;
  Tensor w1, b1, w2, b2;  // (E,D,H), (E,H), (E,H,D), (E,D)
  Tensor shared_w1, shared_b1, shared_w2, shared_b2;  // the same for the shared experts (undefined if none)

 private:
  // expert e of the batched weights on its rows (m,D) -> (m,D)
  Tensor run_expert(const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
                    std::int64_t e, const Tensor& rows);
  Generator* generator_;
  RoutingInfo last_routing_;
  TokenContext pending_context_;
};

}  // namespace moegrad::moe
