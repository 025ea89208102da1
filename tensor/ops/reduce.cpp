// Reductions over any set of axes (sum, mean, max, min, var, logsumexp), argmax/argmin over one,
// and cumsum. The kernel reduces the middle axis of (outer, length, inner); a set of axes that is
// not one block is first permuted to the end (one copy).
#include <cmath>
#include <limits>

#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

struct Reduction3D {
  Tensor input;  // contiguous, detached
  std::int64_t outer = 1, length = 1, inner = 1;
  Shape kept_shape;    // reduced axes left as 1 (keepdim = true)
  Shape result_shape;  // what the op returns
  std::vector<std::int64_t> axes;
};

Reduction3D plan_reduction(const char* op, const Tensor& x, const std::vector<std::int64_t>& requested, bool keepdim) {
  detail::check_defined(op, x);
  Reduction3D plan;
  plan.axes = normalize_axes(op, requested, x.dim());
  const Shape& shape = x.shape();
  std::vector<bool> reduced(shape.size(), false);
  for (auto axis : plan.axes) reduced[axis] = true;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    plan.kept_shape.push_back(reduced[i] ? 1 : shape[i]);
    if (!reduced[i] || keepdim) plan.result_shape.push_back(reduced[i] ? 1 : shape[i]);
  }
  bool one_block = plan.axes.empty() || plan.axes.back() - plan.axes.front() + 1 == static_cast<std::int64_t>(plan.axes.size());
  if (one_block) {
    plan.input = x.detach().contiguous();
    std::int64_t first = plan.axes.empty() ? 0 : plan.axes.front();
    std::int64_t last = plan.axes.empty() ? -1 : plan.axes.back();
    for (std::int64_t i = 0; i < x.dim(); ++i) {
      if (i < first) plan.outer *= shape[i];
      else if (i <= last) plan.length *= shape[i];
      else plan.inner *= shape[i];
    }
    return plan;
  }
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (!reduced[i]) {
      order.push_back(i);
      plan.outer *= shape[i];
    }
  }
  for (auto axis : plan.axes) {
    order.push_back(axis);
    plan.length *= shape[axis];
  }
  plan.input = permute(x.detach(), order).contiguous();
  return plan;
}

Tensor run_reduction(ReduceOp op, const Reduction3D& plan, DType out_dtype) {
  Tensor out = Tensor::empty(plan.result_shape, out_dtype, plan.input.device());
  backend_for(plan.input.device()).reduce(op, plan.input, plan.outer, plan.length, plan.inner, out);
  return out;
}

// max and min: the gradient goes to the elements equal to the result, split evenly among ties.
Tensor extreme(const char* name, ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  Reduction3D plan = plan_reduction(name, x, axes, keepdim);
  if (plan.length == 0) {
    throw ShapeError(fmt::format("[{}] cannot reduce over an empty axis (shape {})", name, shape_str(x.shape())));
  }
  Tensor out = run_reduction(op, plan, x.dtype());
  Tensor saved = out.detach();
  return record(name, out, {x}, [x, saved, plan](const Tensor& g) {
    Tensor winners = eq(x, reshape(saved, plan.kept_shape));
    Tensor count = sum(winners, plan.axes, true);
    return std::vector<Tensor>{mul(div(reshape(g, plan.kept_shape), count), winners)};
  });
}

std::int64_t reduced_count(const Tensor& x, const std::vector<std::int64_t>& axes) {
  std::int64_t count = 1;
  for (auto axis : normalize_axes("mean", axes, x.dim())) count *= x.shape()[axis];
  return count;
}

}  // namespace

// out = Σ x over axes;  dx = g broadcast back over the reduced axes
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  Reduction3D plan = plan_reduction("sum", x, axes, keepdim);
  Tensor out = run_reduction(ReduceOp::Sum, plan, x.dtype());
  Shape input_shape = x.shape(), kept_shape = plan.kept_shape;
  return record("sum", out, {x}, [input_shape, kept_shape](const Tensor& g) {
    return std::vector<Tensor>{expand(reshape(g, kept_shape), input_shape)};
  });
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  detail::check_defined("mean", x);
  detail::check_floating("mean", x);
  return sum(x, axes, keepdim) / static_cast<double>(reduced_count(x, axes));
}

Tensor max(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  return extreme("max", ReduceOp::Max, x, axes, keepdim);
}
Tensor min(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  return extreme("min", ReduceOp::Min, x, axes, keepdim);
}

// var = Σ (x - mean)² / (n - correction)
Tensor var(const Tensor& x, const std::vector<std::int64_t>& axes, std::int64_t correction, bool keepdim) {
  detail::check_defined("var", x);
  detail::check_floating("var", x);
  std::int64_t n = reduced_count(x, axes);
  if (n - correction <= 0) {
    throw ShapeError(fmt::format("[var] {} elements with correction {} leave no degrees of freedom (shape {})", n,
                                 correction, shape_str(x.shape())));
  }
  Tensor centered = sub(x, mean(x, axes, true));
  return sum(square(centered), axes, keepdim) / static_cast<double>(n - correction);
}

namespace {
Tensor arg_extreme(const char* name, ReduceOp op, const Tensor& x, std::int64_t axis, bool keepdim) {
  detail::check_defined(name, x);
  std::int64_t a = normalize_axis(name, axis, x.dim());
  Reduction3D plan = plan_reduction(name, x, x.dim() == 0 ? std::vector<std::int64_t>{} : std::vector<std::int64_t>{a}, keepdim);
  if (plan.length == 0) {
    throw ShapeError(fmt::format("[{}] cannot reduce over an empty axis (shape {})", name, shape_str(x.shape())));
  }
  return run_reduction(op, plan, kInt64);
}
}  // namespace

Tensor argmax(const Tensor& x, std::int64_t axis, bool keepdim) { return arg_extreme("argmax", ReduceOp::ArgMax, x, axis, keepdim); }
Tensor argmin(const Tensor& x, std::int64_t axis, bool keepdim) { return arg_extreme("argmin", ReduceOp::ArgMin, x, axis, keepdim); }

// log Σ exp(x) = m + log Σ exp(x - m) with m = max(x) held constant (it cancels in the gradient,
// which is softmax(x)); an infinite m is replaced by 0 so that -inf rows give -inf, not NaN.
Tensor logsumexp(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  detail::check_defined("logsumexp", x);
  detail::check_floating("logsumexp", x);
  Tensor m = max(x.detach(), axes, true);
  m = where(eq(abs(m), scalar_like(m, std::numeric_limits<double>::infinity())), zeros_like(m), m);
  Tensor out = add(log(sum(exp(sub(x, m)), axes, true)), m);
  if (keepdim) return out;
  Reduction3D plan = plan_reduction("logsumexp", x.detach(), axes, false);
  return reshape(out, plan.result_shape);
}

// out_i = Σ_{j<=i} x_j;  dx_j = Σ_{i>=j} g_i = Σ g - cumsum(g)_j + g_j
Tensor cumsum(const Tensor& x, std::int64_t axis) {
  detail::check_defined("cumsum", x);
  std::int64_t a = normalize_axis("cumsum", axis, x.dim());
  Tensor input = x.detach().contiguous();
  std::int64_t outer = 1, length = x.dim() == 0 ? 1 : x.shape()[a], inner = 1;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i < a) outer *= x.shape()[i];
    if (i > a) inner *= x.shape()[i];
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).cumsum(input, outer, length, inner, out);
  return record("cumsum", out, {x}, [a](const Tensor& g) {
    return std::vector<Tensor>{add(sub(sum(g, {a}, true), cumsum(g, a)), g)};
  });
}

}  // namespace moegrad
