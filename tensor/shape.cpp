#include "tensor/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstddef>
#include <limits>

#include "tensor/errors.h"

namespace moegrad {

namespace {
// The product of the sizes, each first replaced by max(size, 1) when `skip_zeros` (what strides
// multiply), or a ShapeError naming `op`.
std::int64_t checked_product(const char* op, const Shape& shape, bool skip_zeros) {
  std::int64_t product = 1;
  for (auto size : shape) {
    if (size < 0) throw ShapeError(fmt::format("[{}] shape {} has a negative size", op, shape_str(shape)));
    if (__builtin_mul_overflow(product, skip_zeros ? std::max<std::int64_t>(size, 1) : size, &product)) {
      throw ShapeError(fmt::format("[{}] shape {} has more elements than fit in a 64-bit count", op, shape_str(shape)));
    }
  }
  return product;
}
}  // namespace

std::int64_t numel_of(const Shape& shape) { return checked_product("numel", shape, false); }

Strides contiguous_strides(const Shape& shape) {
  checked_product("strides", shape, true);  // the largest stride times its size: every stride below fits
  Strides strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<std::int64_t>(shape[i], 1);
  }
  return strides;
}

std::size_t checked_nbytes(const char* op, const Shape& shape, std::size_t element_size) {
  checked_product(op, shape, true);  // covers the element count too: it is at most this product
  const auto count = static_cast<std::uint64_t>(checked_product(op, shape, false));
  std::uint64_t bytes = 0;
  // PTRDIFF_MAX, not SIZE_MAX: pointer differences inside the block must stay representable.
  if (__builtin_mul_overflow(count, element_size, &bytes) ||
      bytes > static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max())) {
    throw ShapeError(fmt::format("[{}] shape {} of {}-byte elements needs more bytes than fit in 63 bits", op,
                                 shape_str(shape), element_size));
  }
  return static_cast<std::size_t>(bytes);
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
