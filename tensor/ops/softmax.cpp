// softmax and log_softmax along any axis. The kernel works on rows of the last axis, so another
// axis is first swapped to the end (one copy), and the result is swapped back as a view.
// Both backward rules need only the output y, saved detached.
#include <algorithm>

#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// Runs the row kernel along `axis` of x; returns a tensor of x's shape with no graph attached.
Tensor softmax_along(const Tensor& x, std::int64_t axis, bool log) {
  std::int64_t last = std::max<std::int64_t>(x.dim() - 1, 0);
  Tensor rows = x.detach();
  if (axis != last) rows = transpose(rows, axis, last);
  rows = rows.contiguous();
  Tensor out = Tensor::empty(rows.shape(), x.dtype(), x.device());
  backend_for(x.device()).softmax(rows, out, log);
  return axis == last ? out : transpose(out, axis, last);
}

std::int64_t checked_axis(const char* op, const Tensor& x, std::int64_t axis) {
  detail::check_defined(op, x);
  detail::check_floating(op, x);
  return normalize_axis(op, axis, x.dim());
}

// The backward of either, as one row kernel along the last axis (Backend::softmax_backward); like
// the forward, another axis is swapped to the end first. A kernel rule, so first derivatives only.
Tensor softmax_backward_along(const Tensor& y, const Tensor& g, std::int64_t axis, bool log) {
  std::int64_t last = std::max<std::int64_t>(y.dim() - 1, 0);
  Tensor out_rows = axis == last ? y : transpose(y, axis, last);
  Tensor grad_rows = axis == last ? g : transpose(g, axis, last);
  out_rows = out_rows.contiguous();
  Tensor grad = Tensor::empty(out_rows.shape(), y.dtype(), y.device());
  backend_for(y.device()).softmax_backward(out_rows, grad_rows.contiguous(), grad, log);
  return axis == last ? grad : transpose(grad, axis, last);
}

}  // namespace

// y_i = exp(x_i) / Σ_j exp(x_j) along axis
// dy_i/dx_k = y_i (δ_ik - y_k), so dx = y * (g - Σ_axis g y)
Tensor softmax(const Tensor& x, std::int64_t axis) {
  std::int64_t a = checked_axis("softmax", x, axis);
  Tensor out = softmax_along(x, a, false);
  Tensor y = out.detach();
  return record("softmax", out, {x}, [y, a](const Tensor& g) {
    return std::vector<Tensor>{softmax_backward_along(y, g, a, false)};
  });
}

// y_i = x_i - log Σ_j exp(x_j) along axis
// dy_i/dx_k = δ_ik - softmax_k, so dx = g - exp(y) * Σ_axis g
Tensor log_softmax(const Tensor& x, std::int64_t axis) {
  std::int64_t a = checked_axis("log_softmax", x, axis);
  Tensor out = softmax_along(x, a, true);
  Tensor y = out.detach();
  return record("log_softmax", out, {x}, [y, a](const Tensor& g) {
    return std::vector<Tensor>{softmax_backward_along(y, g, a, true)};
  });
}

}  // namespace moegrad
