// Knowledge distillation (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network",
// arXiv 1503.02531, 2015; PAPERS.md §9). One idea: a student learns more from the teacher's whole
// softened distribution than from the one-hot label, because the small probabilities the teacher
// gives wrong classes say which classes it thinks are alike ("dark knowledge").
//
//   q_i = exp(z_i / T) / Σ_j exp(z_j / T)                         softened softmax, §2
//   L   = α · T² · CE(q_t, q_s) + (1 − α) · CE(y, softmax(z_s))     §2, the weighted average
//
// We use the cross-entropy form CE(q_t, q_s) = −Σ_i q_t,i log q_s,i. PAPERS.md writes the KL form;
// KL(q_t ‖ q_s) = CE(q_t, q_s) − H(q_t), and the teacher's entropy H(q_t) is a constant for the
// student, so both forms have the same gradient and differ only in the loss's value.
// The T² factor (§2, end): ∂CE/∂z_s,i = (1/T)(q_s,i − q_t,i), which for large T is about
// (z_s,i − z_t,i)/(N T²); multiplying by T² keeps the soft term's weight the same as T changes.
//
// Letters: N rows (examples, or tokens), C classes. Logits are (..., C); every axis but the last is
// a row, and each loss is the mean over rows. Teacher logits are detached: no gradient reaches the
// teacher. The paper fixes no T or α (it tries T from 1 to 20), so both are arguments.
#pragma once
#include <cstdint>

#include "tensor/ops.h"

namespace moegrad::distill {

// The soft term without T²: mean over rows of −Σ_i softmax(z_t/T)_i · log softmax(z_s/T)_i.
// Its gradient in a row is (1/T)(q_s − q_t) / N.
Tensor soft_cross_entropy(const Tensor& student_logits, const Tensor& teacher_logits, double temperature);

struct DistillationLoss {
  Tensor total;  // α T² soft + (1 − α) hard
  Tensor soft;   // soft_cross_entropy at T (without T²)
  Tensor hard;   // cross-entropy with the labels at T = 1
};

// student_logits, teacher_logits (..., C), labels (...) int64 (−100 = ignored in the hard term).
DistillationLoss distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                                   double temperature, double alpha);

}  // namespace moegrad::distill
