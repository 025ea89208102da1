#include "tensor/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "tensor/errors.h"

namespace moegrad {

std::int64_t numel_of(const Shape& shape) {
  std::int64_t n = 1;
  for (auto size : shape) n *= size;
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<std::int64_t>(shape[i], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  std::size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (std::size_t i = 0; i < ndim; ++i) {
    std::int64_t size_a = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
    std::int64_t size_b = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
    if (size_a != size_b && size_a != 1 && size_b != 1) {
      throw ShapeError(fmt::format(
          "[{}] shapes {} and {} cannot be broadcast: dimension {} (from the right) is {} vs {}, "
          "expected equal sizes or one of them 1",
          op, shape_str(a), shape_str(b), ndim - i, size_a, size_b));
    }
    out[i] = size_a == 1 ? size_b : size_a;
  }
  return out;
}

std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t ndim) {
  std::int64_t lowest = ndim == 0 ? -1 : -ndim, highest = ndim == 0 ? 0 : ndim - 1;
  if (axis < lowest || axis > highest) {
    throw IndexError(fmt::format("[{}] axis {} is out of range for a tensor with {} dimensions "
                                 "(expected {}..{})",
                                 op, axis, ndim, lowest, highest));
  }
  if (ndim == 0) return 0;
  return axis < 0 ? axis + ndim : axis;
}

std::vector<std::int64_t> normalize_axes(const char* op, const std::vector<std::int64_t>& axes,
                                         std::int64_t ndim) {
  std::vector<std::int64_t> out;
  if (axes.empty()) {
    for (std::int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (auto axis : axes) out.push_back(ndim == 0 ? normalize_axis(op, axis, 0) : normalize_axis(op, axis, ndim));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    throw IndexError(fmt::format("[{}] axes [{}] name the same axis twice", op, fmt::join(axes, ",")));
  }
  if (ndim == 0) out.clear();
  return out;
}

}  // namespace moegrad
