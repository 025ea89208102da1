// Shapes, strides and broadcasting rules, shared by every op.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moegrad {

using Shape = std::vector<std::int64_t>;
using Strides = std::vector<std::int64_t>;  // in elements, not bytes

std::int64_t numel_of(const Shape& shape);
Strides contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2,3]"

// NumPy/PyTorch broadcasting: align from the right, sizes must match or be 1.
// Throws ShapeError naming `op` when they do not.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Turns a possibly negative axis into 0..ndim-1; throws IndexError naming `op` when out of range.
std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t ndim);

// Sorted, de-duplicated, normalized axes; an empty list means "all axes".
std::vector<std::int64_t> normalize_axes(const char* op, const std::vector<std::int64_t>& axes, std::int64_t ndim);

}  // namespace moegrad
