// Sorting along one axis: topk, sort and argsort. The kernels sort the rows of a contiguous
// (rows, length) block, so an axis that is not the last is first swapped to the end (one copy) and
// the results are swapped back.
//
// Order (tensor/cpu/sort.cpp): NaN counts as the largest value, and equal values keep their
// original order, so ties go to the lower index. Values of any dtype sort; only floating values
// carry a gradient, which flows back to the places the values came from.
#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

std::int64_t check_sortable(const char* op, const Tensor& x, std::int64_t axis) {
  detail::check_defined(op, x);
  if (x.dim() == 0) {
    throw ShapeError(fmt::format("[{}] expects a tensor with at least one axis, got {}", op, detail::describe(x)));
  }
  return normalize_axis(op, axis, x.dim());
}

// The first k values along `axis` in sorted order (largest first when `largest_first`) and where
// they were, with no graph yet. `full_sort` picks the sort kernel over topk.
ValuesIndices sort_along_axis(const Tensor& x, std::int64_t axis, std::int64_t k, bool largest_first, bool full_sort) {
  std::int64_t last = x.dim() - 1;
  Tensor moved = transpose(x.detach(), axis, last).contiguous();
  std::int64_t length = moved.shape()[last], rows = 1;
  for (std::int64_t d = 0; d < last; ++d) rows *= moved.shape()[d];

  Shape result_shape = moved.shape();
  result_shape[last] = k;
  Tensor values = Tensor::empty(result_shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(result_shape, kInt64, x.device());

  // the kernels see (rows, length) -> (rows, k): views of the same buffers
  Tensor row_block = reshape(moved, {rows, length});
  Tensor value_rows = reshape(values, {rows, k}), index_rows = reshape(indices, {rows, k});
  Backend& backend = backend_for(x.device());
  if (full_sort) backend.sort(row_block, largest_first, value_rows, index_rows);
  else backend.topk(row_block, k, largest_first, value_rows, index_rows);

  return {transpose(values, axis, last).contiguous(), transpose(indices, axis, last).contiguous()};
}

// values = x at `indices` along axis;  dx = zeros(x) with g added at those places
Tensor record_selection(const char* op, const Tensor& values, const Tensor& x, std::int64_t axis,
                        const Tensor& indices) {
  Shape input_shape = x.shape();
  return record(op, values, {x}, [input_shape, axis, indices](const Tensor& g) {
    return std::vector<Tensor>{scatter_add(zeros(input_shape, g.dtype(), g.device()), axis, indices, g)};
  });
}

}  // namespace

// The k largest (or smallest) values along axis, largest (smallest) first, and their positions.
ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t axis, bool largest) {
  std::int64_t a = check_sortable("topk", x, axis);
  std::int64_t length = x.shape()[a];
  if (k < 0 || k > length) {
    throw ShapeError(fmt::format("[topk] k = {} is out of range for axis {} of size {} (shape {}); "
                                 "expected 0 <= k <= {}",
                                 k, a, length, shape_str(x.shape()), length));
  }
  ValuesIndices result = sort_along_axis(x, a, k, largest, false);
  result.values = record_selection("topk", result.values, x, a, result.indices);
  return result;
}

// Every value along axis in ascending (descending) order, and the permutation that sorts them.
ValuesIndices sort(const Tensor& x, std::int64_t axis, bool descending) {
  std::int64_t a = check_sortable("sort", x, axis);
  ValuesIndices result = sort_along_axis(x, a, x.shape()[a], descending, true);
  result.values = record_selection("sort", result.values, x, a, result.indices);
  return result;
}

Tensor argsort(const Tensor& x, std::int64_t axis, bool descending) {
  check_sortable("argsort", x, axis);
  return sort(x.detach(), axis, descending).indices;
}

}  // namespace moegrad
