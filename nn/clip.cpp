// Global-norm gradient clipping (see nn/clip.h).
#include "nn/clip.h"

#include <cmath>

#include <fmt/format.h>

#include "tensor/graph.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad::nn {

double clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm) {
  if (!(max_norm >= 0.0)) {
    throw Error(fmt::format("[clip_grad_norm] max_norm must be >= 0, got {}", max_norm));
  }
  NoGradGuard no_grad;

  // Σ g² per tensor, kept on the gradients' device and summed there, so the host reads one number.
  std::vector<Tensor> squared_sums;
  for (const Tensor& parameter : parameters) {
    Tensor gradient = parameter.grad();
    if (!gradient.defined()) continue;
    Tensor squared_sum = sum(square(gradient.to(kFloat64)));
    if (!squared_sums.empty()) squared_sum = squared_sum.to(squared_sums.front().device());
    squared_sums.push_back(squared_sum);
  }
  if (squared_sums.empty()) return 0.0;
  double total_norm = std::sqrt(sum(stack(squared_sums)).item());

  // No epsilon in the divisor (PyTorch adds 1e-6): we only divide when total_norm > max_norm >= 0.
  if (!std::isfinite(total_norm) || total_norm <= max_norm) return total_norm;
  double scale = max_norm / total_norm;
  for (Tensor parameter : parameters) {  // a handle: set_grad changes the shared tensor
    Tensor gradient = parameter.grad();
    if (gradient.defined()) parameter.set_grad(gradient * scale);
  }
  return total_norm;
}

}  // namespace moegrad::nn
