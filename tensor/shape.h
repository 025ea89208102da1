// Shapes, strides and broadcasting rules, shared by every op.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moegrad {

using Shape = std::vector<std::int64_t>;
using Strides = std::vector<std::int64_t>;  // in elements, not bytes

// Both throw ShapeError when a size is negative or the product does not fit in int64: every
// allocation's size starts here, and a wrapped product would allocate too little memory.
std::int64_t numel_of(const Shape& shape);
Strides contiguous_strides(const Shape& shape);
// The bytes a contiguous tensor of `shape` needs, checked: the element count, the strides (which
// skip zero sizes, so [0, 2^40, 2^40] is refused too) and the count times `element_size` must all
// fit. The ShapeError names `op` and the shape.
std::size_t checked_nbytes(const char* op, const Shape& shape, std::size_t element_size);
std::string shape_str(const Shape& shape);  // "[2,3]"

// NumPy/PyTorch broadcasting: align from the right, sizes must match or be 1.
// Throws ShapeError naming `op` when they do not.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Turns a possibly negative axis into 0..ndim-1; throws IndexError naming `op` when out of range.
std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t ndim);

// Sorted, de-duplicated, normalized axes; an empty list means "all axes".
std::vector<std::int64_t> normalize_axes(const char* op, const std::vector<std::int64_t>& axes, std::int64_t ndim);

}  // namespace moegrad
