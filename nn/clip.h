// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (Pascanu et al., 2013,
// "On the difficulty of training recurrent neural networks", Algorithm 2).
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace moegrad::nn {

// The L2 norm of all gradients together, ‖g‖ = √(Σ over tensors Σ over elements g²), computed in
// float64; parameters without a gradient are skipped. When ‖g‖ > max_norm every gradient is
// multiplied by max_norm / ‖g‖ (a new gradient tensor is set, the old one is not written), so the
// direction is kept and the norm becomes max_norm. Returns the norm before clipping.
//
// A non-finite norm (an inf or NaN somewhere in the gradients) leaves the gradients as they are
// and is returned as is: scaling would turn every gradient into NaN. Callers that want to skip
// such a step check std::isfinite on the result.
double clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm);

}  // namespace moegrad::nn
