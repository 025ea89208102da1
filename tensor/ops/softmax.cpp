// softmax and log_softmax along any axis. The kernel works on rows of the last axis, so another
// axis is first swapped to the end (one copy), and the result is swapped back as a view.
// Both backward rules need only the output y, saved detached. scaled_masked_softmax is attention's
// scale + mask + softmax as one op, its scale and mask applied inside the row kernel.
#include <algorithm>
#include <cmath>

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

// The mask of scaled_masked_softmax: floating, on x's device, a constant, and broadcastable to x
// without growing it. Returns it as a view of x's shape and dtype (stride 0 on broadcast axes).
Tensor checked_mask(const char* op, const Tensor& x, const Tensor& mask) {
  detail::check_floating(op, mask);
  detail::check_same_device(op, x, mask);
  if (mask.requires_grad() && grad_enabled()) {
    throw AutogradError(fmt::format("[{}] mask {} requires grad, but the op takes it as a constant and computes no "
                                    "gradient for it; detach it, or add a learned bias to x before a plain softmax",
                                    op, detail::describe(mask)));
  }
  bool fits = mask.dim() <= x.dim();
  for (std::int64_t d = 1; fits && d <= mask.dim(); ++d) {
    std::int64_t size = mask.shape()[mask.dim() - d];
    fits = size == 1 || size == x.shape()[x.dim() - d];
  }
  if (!fits) {
    throw ShapeError(fmt::format("[{}] mask {} must broadcast to the scores {} (each axis equal or 1)", op,
                                 shape_str(mask.shape()), shape_str(x.shape())));
  }
  return broadcast_to(mask.detach().to(x.dtype()), x.shape());
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

// y = softmax(z) along the last axis, z = scale·x + mask (mask broadcast to x: (B,H,T,T) scores
// take a (B,1,1,T) padding mask, a (1,1,T,T) causal one, or their sum)
// dz = y (g - Σ_last g y) as for softmax; dx = scale · dz; the mask is a constant.
// The row kernels (Backend::scaled_masked_softmax) read x once and keep only y for the backward.
Tensor scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask) {
  const char* op = "scaled_masked_softmax";
  detail::check_defined(op, x);
  detail::check_floating(op, x);
  if (x.dim() == 0) throw ShapeError(fmt::format("[{}] needs scores with a last (key) axis, got a 0-d tensor", op));
  if (!std::isfinite(scale)) throw Error(fmt::format("[{}] scale must be finite, got {}", op, scale));
  Tensor mask_view = mask.defined() ? checked_mask(op, x, mask) : Tensor();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).scaled_masked_softmax(x.detach().contiguous(), scale, mask_view, out);
  Tensor y = out.detach();
  return record(op, out, {x}, [y, scale](const Tensor& g) {
    Tensor grad = Tensor::empty(y.shape(), y.dtype(), y.device());
    backend_for(y.device()).scaled_masked_softmax_backward(y, g.contiguous(), scale, grad);
    return std::vector<Tensor>{grad};
  });
}

}  // namespace moegrad
