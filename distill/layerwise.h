// Layer-wise distillation losses: the student matches the teacher's intermediate tensors, read from
// the taps record both models fill during forward (nn/taps.h), so no model code knows it is being
// distilled. Teacher tensors are always detached: gradient reaches the student (and the learned
// projections) only.
//
// TinyBERT (Jiao et al., Findings of EMNLP 2020, arXiv 1909.10351, §3.1; PAPERS.md §12):
//   g(m): student layer m -> teacher layer; g(0) = 0 (embeddings), g(M+1) = N+1 (prediction layer),
//         uniform in between, g(m) = m·N/M                                              §3.1 eq. (6)
//   L_attn = (1/h) Σ_i MSE(A_i^S, A_i^T), A = QKᵀ/√d_k before the softmax               eq. (8)
//   L_hidn = MSE(H^S W_h, H^T), W_h a learned d_S × d_T projection                       eq. (9)
//   L_embd = MSE(E^S W_e, E^T)                                                          eq. (10)
//   L_pred = −softmax(z^T / t) · log softmax(z^S / t), t = 1                            eq. (11)
// MobileBERT (Sun et al., ACL 2020, arXiv 2004.02984, §3.5; PAPERS.md §11):
//   L_FMT = (1/(T·N)) Σ_t Σ_n (H^tr_{t,n} − H^st_{t,n})²                                 eq. (1)
//   L_AT  = (1/(T·A)) Σ_t Σ_a KL(a^tr_{t,a} ‖ a^st_{t,a})                               eq. (2)
//   Optional moment terms. The public code adds terms matching each token's feature mean and
//   variance; PAPERS.md only says so. Our reading, with μ_t and σ²_t the mean and the population
//   variance of token t's N features:
//     L_mean = (1/T) Σ_t (μ^tr_t − μ^st_t)²,   L_var = (1/T) Σ_t (σ²^tr_t − σ²^st_t)²
//     L_FMT' = L_FMT + w_mean · L_mean + w_var · L_var      (both weights 0 by default: off)
//
// Letters: B batch, T tokens, H heads, D_S/D_T student/teacher width, M/N student/teacher layers.
// Padding: token_mask (B,T) holds 1 for real tokens and 0 for padding (undefined = all real).
// Padded tokens add nothing to any sum and do not count in any mean; an attention entry counts
// only when its query and its key are both real tokens. The attention taps hold −1e9 at padded keys;
// those entries are dropped before subtracting, so −1e9 never enters a loss or its gradient.
// Means are over all counted entries of the batch (for one sequence that is the paper's per-head
// mean, since every head has the same entries).
#pragma once
#include <cstdint>
#include <memory>

#include "nn/layers.h"
#include "nn/taps.h"

namespace moegrad::distill {

// TinyBERT's uniform layer map g(m) for m in [0, M+1]; integer division when M does not divide N.
std::int64_t tinybert_layer_map(std::int64_t m, std::int64_t student_layers, std::int64_t teacher_layers);

// MSE(H^S W_h, H^T) over real tokens and the D_T features: student (B,T,D_S), teacher (B,T,D_T).
// projection may be null when D_S = D_T (then it is MobileBERT's L_FMT).
Tensor hidden_state_mse(const Tensor& student, const Tensor& teacher, nn::Linear* projection,
                        const Tensor& token_mask = Tensor());

// TinyBERT L_attn on pre-softmax scores (B,H,T,T), averaged over heads and (query, key) pairs of
// real tokens. Throws if a score of −1e9 or less sits among the counted entries (a mask the caller
// did not pass, e.g. a causal one): it would swamp the loss.
Tensor attention_score_mse(const Tensor& student_scores, const Tensor& teacher_scores,
                           const Tensor& token_mask = Tensor());

// MobileBERT's optional FMT terms: the weights of L_mean and L_var (0 leaves a term out).
struct FeatureMomentWeights {
  double mean = 0.0;
  double variance = 0.0;
};

// MobileBERT L_FMT: MSE of same-width feature maps (B,T,D) over real tokens, plus the moment terms
// when their weights are not 0.
Tensor feature_map_transfer(const Tensor& student, const Tensor& teacher, const Tensor& token_mask = Tensor(),
                            FeatureMomentWeights moment_weights = {});

// L_mean and L_var above, each a mean over real tokens.
struct FeatureMomentLoss {
  Tensor mean;
  Tensor variance;
};
FeatureMomentLoss feature_moment_transfer(const Tensor& student, const Tensor& teacher,
                                          const Tensor& token_mask = Tensor());

// MobileBERT L_AT: KL(teacher probs ‖ student probs) over the real keys of each head and real query,
// averaged over heads and real queries. probs (B,H,T,T).
Tensor attention_transfer(const Tensor& student_probs, const Tensor& teacher_probs, const Tensor& token_mask = Tensor());

// The learned projections W_e and W_h (one per student layer m = 1..M, in hidden[m − 1]); no bias,
// as in the paper's equations. When the widths are equal there is nothing to learn and the module
// holds no parameters.
class TinyBertProjections : public nn::Module {
 public:
  TinyBertProjections(std::int64_t student_layers, std::int64_t student_dim, std::int64_t teacher_dim,
                      Generator& generator = default_generator());
  nn::Linear* embedding_projection();              // null when the widths are equal
  nn::Linear* hidden_projection(std::int64_t m);   // student layer m in 1..M; null when widths equal
  std::int64_t student_layers;
  std::shared_ptr<nn::Linear> embedding;
  std::shared_ptr<nn::ModuleList<nn::Linear>> hidden;
};

struct TinyBertLoss {
  Tensor embedding;   // L_embd (m = 0)
  Tensor attention;   // Σ_{m=1..M} L_attn
  Tensor hidden;      // Σ_{m=1..M} L_hidn
  Tensor prediction;  // L_pred (m = M+1), undefined without logits
  Tensor total;       // the sum of the above (the paper's λ_m = 1)
};

// TinyBERT's loss from two taps records ("embeddings", "layers.i.attention.scores",
// "layers.i.trunk"; layer m is "layers.{m−1}"). Logits (..., C) are optional: the paper distils the
// intermediate layers first and the prediction layer in a second stage, so pass them in that stage.
TinyBertLoss tinybert_loss(const nn::Taps& student, const nn::Taps& teacher, TinyBertProjections& projections,
                           std::int64_t teacher_layers, const Tensor& token_mask = Tensor(),
                           const Tensor& student_logits = Tensor(), const Tensor& teacher_logits = Tensor());

}  // namespace moegrad::distill
