// MoEBERT, continued (Zuo et al., NAACL 2022, arXiv 2204.07675, §3.2–3.3; PAPERS.md §12): the
// experts of distill/moebert.h put to work. A dense BERT's FFN in every layer is replaced in place by
// an MoE layer holding the split, routed by hash (Roller et al. 2021: a fixed token id -> expert map
// made before training, moe/hash_router.h), and the MoE model is distilled from the dense one:
//
//   L = L_task + λ · ( Σ_{l=0}^{L} MSE(H_l^S, H_l^T) + KL(p^T ‖ p^S) )            §3.3 eq. (5)
//
// H_l is layer l's output (l = 0: the embedding output), p the prediction distribution (softmax of
// the logits, T = 1); S the MoE student, T the dense teacher, which is detached. The paper uses
// λ = 1 to 5 (5 for MNLI). With top-1 hash routing the gate is 1, so a token sent to expert e gets
// exactly the dense FFN restricted to the shared neurons and expert e's own (plus b2).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "distill/moebert.h"
#include "moe/moe_layer.h"
#include "nn/bert.h"
#include "nn/taps.h"

namespace moegrad::distill {

// Copies a split's expert weights into an MoE layer of the same shapes (E,D,H_e) etc. Throws
// ShapeError naming the tensor whose shape differs.
void load_split(moe::MoELayer& layer, const ExpertSplit& split);

// The adapted layer: an MoE layer of the split's width holding its experts, routed by `router`
// (which must have the split's E), dropless (no capacity limit: every token reaches its expert, as
// in the dense FFN), no z-loss, the dense FFN's activation.
std::shared_ptr<moe::MoELayer> adapted_moe_layer(const ExpertSplit& split, std::shared_ptr<moe::Router> router);

// MoEBERT's adaptation of a whole encoder, in place: layer i's dense FFN is split by importance[i]
// (H) into `experts` experts sharing the top `shared` neurons, and replaced by the adapted layer
// with a hash router over expert_of_token (V) (one map for every layer). Returns the splits.
// Throws if a layer's FFN is not a dense nn::FeedForward or importance has the wrong count.
std::vector<ExpertSplit> adapt_encoder_to_moe(nn::BertEncoder& encoder, const std::vector<Tensor>& importance,
                                              std::int64_t experts, std::int64_t shared,
                                              const Tensor& expert_of_token);

struct MoebertLoss {
  Tensor hidden;      // Σ_{l=0}^{L} MSE(H_l^S, H_l^T)
  Tensor prediction;  // KL(p^T ‖ p^S), mean over rows
  Tensor total;       // task + λ (hidden + prediction)
};

// KL(softmax(z_t) ‖ softmax(z_s)) = Σ_i p^T_i (log p^T_i − log p^S_i), mean over rows; logits (..., C).
Tensor prediction_kl(const Tensor& student_logits, const Tensor& teacher_logits);

// Eq. (5) from the two taps records ("embeddings" and "layers.{l−1}.trunk" for l = 1..layers, both
// models of the same width), the logits (..., C) and the task loss (0-d) the caller computed.
// MSE is over the real tokens of token_mask (B,T) (undefined: all real) and the D features.
MoebertLoss moebert_loss(const nn::Taps& student, const nn::Taps& teacher, std::int64_t layers,
                         const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& task_loss,
                         double lambda, const Tensor& token_mask = Tensor());

}  // namespace moegrad::distill
