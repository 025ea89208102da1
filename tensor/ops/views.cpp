// Shape ops. Most are views: a new (shape, strides, offset) over the same storage, no copy.
// Their backward rules move the gradient back to the input's layout.
#include <numeric>
#include <optional>

#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// Strides that let `new_shape` view the same elements in the same order as (shape, strides), if any.
// Axes of the old tensor are grouped into runs that are contiguous with each other; each run must be
// covered exactly by consecutive new axes, whose strides then step within the run.
std::optional<Strides> view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape) {
  if (shape.empty() || numel_of(shape) == 0) return contiguous_strides(new_shape);
  Strides result(new_shape.size());
  std::int64_t new_axis = static_cast<std::int64_t>(new_shape.size()) - 1;
  std::int64_t run_stride = strides.back();  // stride of the innermost axis of the current run
  std::int64_t run_elements = 1, covered = 1;
  for (std::int64_t axis = static_cast<std::int64_t>(shape.size()) - 1; axis >= 0; --axis) {
    run_elements *= shape[axis];
    bool run_ends = axis == 0 || (shape[axis - 1] != 1 && strides[axis - 1] != run_elements * run_stride);
    if (!run_ends) continue;
    while (new_axis >= 0 && (covered < run_elements || new_shape[new_axis] == 1)) {
      result[new_axis] = covered * run_stride;
      covered *= new_shape[new_axis];
      --new_axis;
    }
    if (covered != run_elements) return std::nullopt;
    if (axis > 0) {
      run_stride = strides[axis - 1];
      run_elements = 1;
      covered = 1;
    }
  }
  if (new_axis != -1) return std::nullopt;
  return result;
}

Shape infer_shape(const char* op, const Tensor& x, const Shape& requested) {
  Shape shape = requested;
  std::int64_t known = 1, unknown_axis = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (unknown_axis >= 0) throw ShapeError(fmt::format("[{}] shape {} has more than one -1", op, shape_str(requested)));
      unknown_axis = static_cast<std::int64_t>(i);
    } else if (shape[i] < 0) {
      throw ShapeError(fmt::format("[{}] shape {} has a negative size", op, shape_str(requested)));
    } else if (__builtin_mul_overflow(known, shape[i], &known)) {
      throw ShapeError(fmt::format("[{}] shape {} has more elements than fit in a 64-bit count", op,
                                   shape_str(requested)));
    }
  }
  if (unknown_axis >= 0) {
    if (known == 0 || x.numel() % known != 0) {
      throw ShapeError(fmt::format("[{}] cannot reshape {} ({} elements) into {}", op, shape_str(x.shape()), x.numel(),
                                   shape_str(requested)));
    }
    shape[static_cast<std::size_t>(unknown_axis)] = x.numel() / known;
  }
  if (numel_of(shape) != x.numel()) {
    throw ShapeError(fmt::format("[{}] cannot reshape {} ({} elements) into {} ({} elements)", op, shape_str(x.shape()),
                                 x.numel(), shape_str(requested), numel_of(shape)));
  }
  return shape;
}

// A view of x with a new layout, whose gradient is reshaped back to x's shape.
Tensor reshaped_view(const char* op, const Tensor& x, const Shape& shape, const Strides& strides) {
  Tensor out = x.as_strided(shape, strides, x.offset());
  Shape input_shape = x.shape();
  return record(op, out, {x}, [input_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, input_shape)}; });
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& requested) {
  detail::check_defined("reshape", x);
  Shape shape = infer_shape("reshape", x, requested);
  if (auto strides = view_strides(x.shape(), x.strides(), shape)) return reshaped_view("reshape", x, shape, *strides);
  Tensor copied = contiguous(x);
  return reshaped_view("reshape", copied, shape, contiguous_strides(shape));
}

Tensor view(const Tensor& x, const Shape& requested) {
  detail::check_defined("view", x);
  Shape shape = infer_shape("view", x, requested);
  auto strides = view_strides(x.shape(), x.strides(), shape);
  if (!strides) {
    throw ShapeError(fmt::format("[view] a tensor of shape {} with strides {} cannot be viewed as {} without a copy; "
                                 "use reshape() or call contiguous() first",
                                 shape_str(x.shape()), shape_str(x.strides()), shape_str(shape)));
  }
  return reshaped_view("view", x, shape, *strides);
}

// out = x with axes reordered;  dx = g with the inverse order
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& axes) {
  detail::check_defined("permute", x);
  if (static_cast<std::int64_t>(axes.size()) != x.dim()) {
    throw ShapeError(fmt::format("[permute] {} axes given for a tensor of shape {}", axes.size(), shape_str(x.shape())));
  }
  normalize_axes("permute", axes, x.dim());  // throws on a repeated axis
  Shape shape(axes.size());
  Strides strides(axes.size());
  std::vector<std::int64_t> inverse(axes.size());
  for (std::size_t i = 0; i < axes.size(); ++i) {
    std::int64_t from = normalize_axis("permute", axes[i], x.dim());
    shape[i] = x.shape()[from];
    strides[i] = x.strides()[from];
    inverse[from] = static_cast<std::int64_t>(i);
  }
  Tensor out = x.as_strided(shape, strides, x.offset());
  return record("permute", out, {x}, [inverse](const Tensor& g) { return std::vector<Tensor>{permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1) {
  detail::check_defined("transpose", x);
  std::vector<std::int64_t> axes(x.dim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[normalize_axis("transpose", axis0, x.dim())], axes[normalize_axis("transpose", axis1, x.dim())]);
  return permute(x, axes);
}

// out = x[..., start:end:step, ...];  dx = zeros with g written back into the same places
Tensor slice(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t end, std::int64_t step) {
  detail::check_defined("slice", x);
  axis = normalize_axis("slice", axis, x.dim());
  std::int64_t size = x.shape()[axis];
  if (step <= 0) throw Error(fmt::format("[slice] step must be positive, got {}", step));
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<std::int64_t>(start, 0, size);
  end = std::clamp<std::int64_t>(end, start, size);
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape[axis] = (end - start + step - 1) / step;
  strides[axis] *= step;
  Tensor out = x.as_strided(shape, strides, x.offset() + start * x.strides()[axis]);
  Shape input_shape = x.shape();
  return record("slice", out, {x}, [input_shape, axis, start, step](const Tensor& g) {
    Tensor grad = zeros(input_shape, g.dtype(), g.device());
    Strides window_strides = grad.strides();
    window_strides[axis] *= step;
    Tensor window = grad.as_strided(g.shape(), window_strides, start * grad.strides()[axis]);
    backend_for(g.device()).copy(g, window);
    return std::vector<Tensor>{grad};
  });
}

Tensor narrow(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t length) {
  detail::check_defined("narrow", x);
  std::int64_t a = normalize_axis("narrow", axis, x.dim());
  std::int64_t size = x.shape()[a];
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start + length > size) {
    throw IndexError(fmt::format("[narrow] start {} and length {} do not fit axis {} of size {} (shape {})", start,
                                 length, axis, size, shape_str(x.shape())));
  }
  return slice(x, a, start, start + length, 1);
}

Tensor select(const Tensor& x, std::int64_t axis, std::int64_t index) {
  detail::check_defined("select", x);
  std::int64_t a = normalize_axis("select", axis, x.dim());
  std::int64_t size = x.shape()[a];
  if (index < -size || index >= size) {
    throw IndexError(fmt::format("[select] index {} is out of range for axis {} of size {} (shape {})", index, axis,
                                 size, shape_str(x.shape())));
  }
  return squeeze(narrow(x, a, index < 0 ? index + size : index, 1), a);
}

// out = x repeated along size-1 axes (stride 0);  dx = g summed back to x's shape
Tensor expand(const Tensor& x, const Shape& requested) {
  detail::check_defined("expand", x);
  if (requested.size() < x.shape().size()) {
    throw ShapeError(fmt::format("[expand] cannot expand {} to fewer dimensions {}", shape_str(x.shape()),
                                 shape_str(requested)));
  }
  std::size_t lead = requested.size() - x.shape().size();
  Shape shape(requested.size());
  Strides strides(requested.size(), 0);
  for (std::size_t i = 0; i < requested.size(); ++i) {
    if (i < lead) {
      if (requested[i] < 0) throw ShapeError(fmt::format("[expand] new leading axis {} cannot be -1", i));
      shape[i] = requested[i];
      continue;
    }
    std::int64_t have = x.shape()[i - lead];
    std::int64_t want = requested[i] == -1 ? have : requested[i];
    if (have != want && have != 1) {
      throw ShapeError(fmt::format("[expand] cannot expand {} to {}: axis {} has size {}, expected {} or 1",
                                   shape_str(x.shape()), shape_str(requested), i, have, want));
    }
    shape[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  if (shape == x.shape()) return x;
  Tensor out = x.as_strided(shape, strides, x.offset());
  Shape input_shape = x.shape();
  return record("expand", out, {x}, [input_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, input_shape)}; });
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  detail::check_defined("broadcast_to", x);
  if (broadcast_shapes("broadcast_to", x.shape(), shape) != shape) {
    throw ShapeError(fmt::format("[broadcast_to] {} cannot be broadcast to {}", shape_str(x.shape()), shape_str(shape)));
  }
  return expand(x, shape);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  std::size_t lead = x.shape().size() - shape.size();
  std::vector<std::int64_t> axes;
  for (std::size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) axes.push_back(static_cast<std::int64_t>(i));
  }
  Tensor summed = sum(x, axes, true);
  return reshape(summed, shape);
}

Tensor unsqueeze(const Tensor& x, std::int64_t axis) {
  detail::check_defined("unsqueeze", x);
  std::int64_t a = normalize_axis("unsqueeze", axis, x.dim() + 1);
  Shape shape = x.shape();
  shape.insert(shape.begin() + a, 1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, std::int64_t axis) {
  detail::check_defined("squeeze", x);
  std::int64_t a = normalize_axis("squeeze", axis, x.dim());
  if (x.shape()[a] != 1) {
    throw ShapeError(fmt::format("[squeeze] axis {} of shape {} has size {}, expected 1", axis, shape_str(x.shape()),
                                 x.shape()[a]));
  }
  Shape shape = x.shape();
  shape.erase(shape.begin() + a);
  return reshape(x, shape);
}

Tensor flatten(const Tensor& x, std::int64_t start_axis, std::int64_t end_axis) {
  detail::check_defined("flatten", x);
  if (x.dim() == 0) return reshape(x, {1});
  std::int64_t start = normalize_axis("flatten", start_axis, x.dim()), end = normalize_axis("flatten", end_axis, x.dim());
  if (start > end) throw Error(fmt::format("[flatten] start axis {} comes after end axis {}", start_axis, end_axis));
  Shape shape(x.shape().begin(), x.shape().begin() + start);
  std::int64_t merged = 1;
  for (std::int64_t i = start; i <= end; ++i) merged *= x.shape()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + end + 1, x.shape().end());
  return reshape(x, shape);
}

// A row-major copy when x is not one already;  dx = g
Tensor contiguous(const Tensor& x) {
  detail::check_defined("contiguous", x);
  if (x.is_contiguous()) return x;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).copy(x, out);
  return record("contiguous", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor detach(const Tensor& x) { return x.detach(); }

// Casts; differentiable between floating dtypes (the gradient is cast back).
Tensor to_dtype(const Tensor& x, DType dtype) {
  detail::check_defined("to", x);
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  backend_for(x.device()).copy(x, out);
  if (!is_floating(dtype)) return out;
  DType from = x.dtype();
  return record("to_dtype", out, {x}, [from](const Tensor& g) { return std::vector<Tensor>{to_dtype(g, from)}; });
}

}  // namespace moegrad
