// One pass of Adam/AdamW over one parameter tensor: the weight decay, both moment updates and the
// step in a single loop, instead of the ~10 whole-tensor ops (each reading and writing memory, each
// with a fresh buffer) the formula takes when written with public ops (nn/adam.cpp has the formula
// and the papers). Every operation is the one the op-by-op form does, in the same order and the
// tensor's own precision, so both give the same bits.
#pragma once
#include "tensor/tensor.h"

namespace moegrad {

struct AdamStepConstants {
  double lr = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double decoupled_weight_decay = 0.0;  // AdamW: p ← p·(1 − lr·λ) before the step
  double l2_weight_decay = 0.0;         // Adam: g ← g + λ·p
  double bias_correction1 = 1.0;        // 1 − β1^t
  double bias_correction2 = 1.0;        // 1 − β2^t
};

// Updates parameter, exp_avg and exp_avg_sq in place from gradient and returns true, or returns
// false (touching nothing) where no fused kernel handles these tensors: then the caller takes the
// op-by-op path. Handled: all four on the CPU, contiguous, of one floating dtype and one shape.
bool fused_adam_step(Tensor& parameter, const Tensor& gradient, Tensor& exp_avg, Tensor& exp_avg_sq,
                     const AdamStepConstants& constants);

}  // namespace moegrad
