// Hinton et al. 2015 knowledge distillation: the soft term and its mix with the hard labels.
#include "distill/kd.h"

#include <fmt/format.h>

#include "tensor/errors.h"
#include "tensor/shape.h"

namespace moegrad::distill {

Tensor soft_cross_entropy(const Tensor& student_logits, const Tensor& teacher_logits, double temperature) {
  if (student_logits.shape() != teacher_logits.shape() || student_logits.dim() == 0) {
    throw ShapeError(fmt::format("[soft_cross_entropy] student logits {} and teacher logits {} must have the same "
                                 "shape with a class axis",
                                 shape_str(student_logits.shape()), shape_str(teacher_logits.shape())));
  }
  if (!(temperature > 0.0)) throw Error(fmt::format("[soft_cross_entropy] temperature must be > 0, got {}", temperature));

  // Soft targets q_t (..., C) from the detached teacher; log q_s through log_softmax (stable).
  Tensor teacher_probs = softmax(detach(teacher_logits) / temperature, -1);
  Tensor student_log_probs = log_softmax(student_logits / temperature, -1);
  // −Σ_i q_t,i log q_s,i per row (...), then the mean over rows.
  Tensor per_row = -sum(teacher_probs * student_log_probs, {-1});
  return mean(per_row);
}

DistillationLoss distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                                   double temperature, double alpha) {
  if (alpha < 0.0 || alpha > 1.0) throw Error(fmt::format("[distillation_loss] alpha must be in [0, 1], got {}", alpha));
  std::int64_t classes = student_logits.dim() > 0 ? student_logits.shape().back() : 0;
  if (labels.numel() * classes != student_logits.numel()) {
    throw ShapeError(fmt::format("[distillation_loss] labels {} do not give one label per row of logits {}",
                                 shape_str(labels.shape()), shape_str(student_logits.shape())));
  }
  DistillationLoss loss;
  loss.soft = soft_cross_entropy(student_logits, teacher_logits, temperature);
  // The hard term at T = 1, as the paper does ("the same logits, but with a temperature of 1").
  loss.hard = cross_entropy(reshape(student_logits, {-1, classes}), reshape(labels, {-1}));
  loss.total = loss.soft * (alpha * temperature * temperature) + loss.hard * (1.0 - alpha);
  return loss;
}

}  // namespace moegrad::distill
