// MobileBERT's knowledge transfer (Sun et al., ACL 2020, arXiv 2004.02984, §3.5-3.6; PAPERS.md §11):
// how a bottleneck student learns from an inverted-bottleneck teacher of the same inter width.
//
//   layer l:  L_l = L_FMT^l + L_AT^l                 feature maps (eq. 1) and attention (eq. 2),
//                                                    distill/layerwise.h, read from the taps
//   L_PD = α · L_MLM + (1 − α) · L_KD                pre-training distillation, §3.5 eq. (3), α = 0.5;
//                                                    L_KD the soft cross-entropy against the teacher's
//                                                    MLM distribution (T = 1). The paper adds L_NSP;
//                                                    we train no NSP (the brief's choice).
// Three strategies (§3.6, Figure 2), each a function below, each taking exactly total_steps
// optimiser steps so they compare at equal cost in steps:
//   auxiliary    every step: L_PD + Σ_l L_l                              (all at once)
//   joint        first K steps Σ_l L_l, then the rest L_PD               (layers first)
//   progressive  L stages of K/L steps, stage l: L_l with layers below l frozen (the paper's
//                "frozen" option; it also mentions 0.1× lr), then the rest L_PD with all layers free
// K = layer_share · total_steps. The paper trains each progressive stage as long as the
// auxiliary/joint runs train; here the budget is shared, which is what "equal total steps" asks.
// Stage 1 also trains the embeddings: they sit below layer 1 and have no other stage.
// Each phase starts a fresh AdamW (constant lr, gradient clipping); the teacher runs without a graph.
//
// Letters: B batch, T tokens, P masked (labelled) positions, V vocabulary, L layers.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "distill/layerwise.h"
#include "distill/mobilebert.h"

namespace moegrad::distill {

struct LayerTransferLoss {
  Tensor feature_map;  // Σ over the layers of L_FMT^l
  Tensor attention;    // Σ over the layers of L_AT^l
  Tensor total;        // their sum
};

// Σ_{l in [first, last)} (L_FMT^l + L_AT^l) from two taps records ("layers.l.trunk",
// "layers.l.attention.probs"); layers are 0-based as the taps name them.
LayerTransferLoss layer_transfer_loss(const nn::Taps& student, const nn::Taps& teacher, std::int64_t first,
                                      std::int64_t last, const Tensor& token_mask,
                                      FeatureMomentWeights moment_weights = {});

struct PreTrainingDistillationLoss {
  Tensor mlm;    // cross-entropy with the masked tokens' labels
  Tensor kd;     // soft cross-entropy against the teacher's MLM distribution, T = 1
  Tensor total;  // α · mlm + (1 − α) · kd
};

// student_logits, teacher_logits (P,V) at the masked positions, labels (P).
PreTrainingDistillationLoss pre_training_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                                                           const Tensor& labels, double alpha = 0.5);

// One MLM batch: input_ids with masks applied, labels (−100 where not masked), (B,T) each.
struct MlmBatch {
  Tensor input_ids, segment_ids, attention_mask, labels;
};
// The batch for optimiser step s (0-based, over the whole run): every strategy sees the same
// batches in the same order, so runs of one seed differ only by the strategy.
using MlmBatchSource = std::function<MlmBatch(std::int64_t step)>;

struct TransferSchedule {
  std::int64_t total_steps = 1000;
  double layer_share = 0.5;  // joint and progressive: share of the steps spent on layer-wise losses
  double alpha = 0.5;        // L_PD's MLM weight (§3.5)
  double lr = 1e-3;
  double weight_decay = 0.01;
  double clip = 1.0;  // gradient-norm clip; 0 turns it off
  FeatureMomentWeights moment_weights;  // L_FMT's optional terms (off)
};

// What each step reports: its 0-based step, the phase ("auxiliary", "layers", "layer 3", "pd"), and
// the losses it trained on (layer undefined -> NAN).
struct TransferStep {
  std::int64_t step = 0;
  std::string phase;
  double loss = 0.0, layer_loss = 0.0, pd_loss = 0.0;
};
using TransferCallback = std::function<void(const TransferStep&)>;

void train_auxiliary(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                     const TransferSchedule& schedule, const TransferCallback& after_step = nullptr);
void train_joint(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                 const TransferSchedule& schedule, const TransferCallback& after_step = nullptr);
void train_progressive(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                       const TransferSchedule& schedule, const TransferCallback& after_step = nullptr);

// Steps of the layer-wise phase (K) and of progressive stage l (K/L, the last stage taking the rest).
std::int64_t layer_phase_steps(const TransferSchedule& schedule);
std::int64_t progressive_stage_steps(const TransferSchedule& schedule, std::int64_t layers, std::int64_t stage);

}  // namespace moegrad::distill
