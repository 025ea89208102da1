// CPU sorting kernels: sort and topk along the last axis of x (rows, length), one row per loop
// iteration and rows split over threads. Each row sorts an array of positions 0..length-1 by the
// values they point at, so the values and their indices come out together.
//
// Order: NaN counts as larger than every number (as in PyTorch), so it comes first when the largest
// come first and last otherwise. Equal values keep their original order (lower index first), which
// makes the result unique: the same as a stable sort, and a tie in topk goes to the lower index.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"

namespace moegrad {

namespace {

template <class T>
bool greater_with_nan_largest(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

// Writes the first `k` positions of `row` in sorted order (largest first when `largest_first`),
// and the values there. `order` is the thread's scratch array.
template <class T>
void sort_row(const T* row, std::int64_t length, std::int64_t k, bool largest_first, std::vector<std::int64_t>& order,
              T* values, std::int64_t* indices) {
  order.resize(static_cast<std::size_t>(length));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  auto comes_before = [&](std::int64_t a, std::int64_t b) {
    if (greater_with_nan_largest(row[a], row[b])) return largest_first;
    if (greater_with_nan_largest(row[b], row[a])) return !largest_first;
    return a < b;  // equal values: the lower index first
  };
  if (k < length) std::partial_sort(order.begin(), order.begin() + k, order.end(), comes_before);
  else std::sort(order.begin(), order.end(), comes_before);
  for (std::int64_t j = 0; j < k; ++j) {
    indices[j] = order[j];
    values[j] = row[order[j]];
  }
}

// x (rows, length) -> values, indices (rows, k)
void sort_rows(const Tensor& x, std::int64_t k, bool largest_first, Tensor& values, Tensor& indices) {
  std::int64_t length = x.shape().back();
  if (length == 0 || k == 0) return;  // nothing to write
  std::int64_t rows = x.numel() / length;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* out_values = values.data<T>();
    std::int64_t* out_indices = indices.data<std::int64_t>();
    std::int64_t work = length * std::max<std::int64_t>(1, static_cast<std::int64_t>(std::log2(length + 1)));
    parallel_for(rows, std::max<std::int64_t>(1, kParallelGrain / work), [&](std::int64_t begin, std::int64_t end) {
      std::vector<std::int64_t> order;
      for (std::int64_t r = begin; r < end; ++r) {
        sort_row<T>(in + r * length, length, k, largest_first, order, out_values + r * k, out_indices + r * k);
      }
    });
  });
}

}  // namespace

void CpuBackend::topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices) {
  sort_rows(x, k, largest, values, indices);
}

void CpuBackend::sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices) {
  sort_rows(x, x.shape().back(), descending, values, indices);
}

}  // namespace moegrad
