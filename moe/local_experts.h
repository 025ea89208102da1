// Adaptive mixtures of local experts (Jacobs, Jordan, Nowlan & Hinton, Neural Computation 3(1), 1991).
//
// The one idea: E expert networks and a gating network see the same case; the gate's softmax says how
// much each expert counts. Which loss trains them decides whether the experts cooperate on every case
// or compete for cases, so that each ends up owning a region of the input space.
//
//   gate        p_i = exp(x_i) / Σ_j exp(x_j)             x = gating network's logits for the case
//   mixture     y   = Σ_i p_i o_i                          o_i = expert i's output, d = the target
//   cooperative E^c = ‖d − Σ_i p_i o_i‖²                   experts co-adapt, many used per case
//   competitive E^c = Σ_i p_i ‖d − o_i‖²                   each expert judged alone, one per region
//   log form    E^c = −log Σ_i p_i exp(−½‖d − o_i‖²)       the loss the paper trains with: the negative
//                                                          log-likelihood of a mixture of unit Gaussians
//   posterior   h_i = p_i exp(−½‖d − o_i‖²) / Σ_j p_j exp(−½‖d − o_j‖²)
//
// Under the log form, ∂E^c/∂o_i = −h_i (d − o_i) and ∂E^c/∂x_i = −(h_i − p_i): each expert learns in
// proportion to how much the posterior credits it, and the gate moves its prior p toward h.
//
// Legend: N cases (rows), D input features, E experts, F output features (the paper's d and o_i).
#pragma once
#include <memory>

#include "nn/layers.h"
#include "nn/module.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad::moe {

struct LocalExpertsConfig {
  std::int64_t input_features = 0;   // D
  std::int64_t output_features = 0;  // F
  // The paper used 4 or 8 experts on its vowel task (PAPERS.md section 1).
  std::int64_t num_experts = 4;  // E
  // 0: each expert is one Linear D -> F (the paper's experts were "very simple" networks);
  // > 0: Linear D -> hidden, ReLU, Linear hidden -> F.
  std::int64_t expert_hidden = 0;
  // The same choice for the gating network, whose output is E logits.
  std::int64_t gate_hidden = 0;
};

// Everything one forward pass computes, by the paper's names.
struct LocalExpertsOutput {
  Tensor gate_logits;         // x (N,E), before the softmax: the log form's stable input
  Tensor gate_probabilities;  // p (N,E), rows sum to 1
  Tensor expert_outputs;      // o (N,E,F), expert i's output for case n at [n, i, :]
  Tensor mixture;             // Σ_i p_i o_i (N,F): the system's answer for each case
};

class LocalExperts : public nn::Module {
 public:
  explicit LocalExperts(const LocalExpertsConfig& config, Generator& generator = default_generator());

  // x (N,D) -> every expert and the gate on every case (the mixture is dense: no expert is skipped).
  LocalExpertsOutput forward(const Tensor& x);
  LocalExpertsOutput operator()(const Tensor& x) { return forward(x); }

  LocalExpertsConfig config;
  std::shared_ptr<nn::ModuleList<nn::Sequential>> experts;  // E networks D -> F
  std::shared_ptr<nn::Sequential> gate;                     // D -> E logits
};

// ---------------- the three losses ----------------
// Every loss takes the target d (N,F), the gate logits x (N,E) (p = softmax(x) is taken inside, so
// one signature fits all three and the log form can use log_softmax) and the expert outputs
// o (N,E,F). The *_per_case form returns E^c for each case (N); the plain form returns the mean
// over the N cases (0-d). Mismatched shapes, an empty batch or non-floating inputs throw.

// Cooperative (Jacobs et al. 1991): E^c = ‖d − Σ_i p_i o_i‖².
Tensor cooperative_loss_per_case(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);
Tensor cooperative_loss(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);

// Competitive (Jacobs et al. 1991): E^c = Σ_i p_i ‖d − o_i‖².
Tensor competitive_loss_per_case(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);
Tensor competitive_loss(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);

// Log-sum-exp form (Jacobs et al. 1991, the loss the paper trains with):
//   E^c = −log Σ_i p_i exp(−½‖d − o_i‖²), computed as −logsumexp_i(log p_i − ½‖d − o_i‖²) with log p from
//   log_softmax(x), so that squared errors of 1e4 do not underflow to log 0.
Tensor log_mixture_loss_per_case(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);
Tensor log_mixture_loss(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);

// The posterior h (N,E): how much each expert is credited with each case once d is known; rows sum
// to 1. Differentiable; detach it to read or plot which expert owns which region.
Tensor expert_posterior(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs);

}  // namespace moegrad::moe
