// CUDA sorting kernels, the twins of tensor/cpu/sort.cpp: sort and topk along the last axis of x
// (rows, length), values and int64 indices. The order is the CPU's: NaN counts as larger than every
// number, and equal values keep their original order (lower index first) — a stable sort.
//
// Short rows (the MoE router's topk over its experts, up to kRankLength values) use ranks: thread
// (r, i) counts the elements that come before element i, which is where i lands; this is exact
// and needs no shared memory. Longer rows (the dispatch plan's argsort over every token's expert)
// use CUB's radix sort, which is stable, on keys where every NaN is made the same positive NaN
// (above +inf) and -0.0 is made +0.0 (the comparison sees them as equal, the bits would not).
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <climits>
#include <string>

#include "cuda/kernel_common.cuh"
#include "tensor/errors.h"

namespace moegrad {

namespace {

using namespace cuda_kernels;

constexpr std::int64_t kRankLength = 1024;

template <class T>
__device__ bool greater_with_nan_largest(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (is_nan(a)) return !is_nan(b);
    if (is_nan(b)) return false;
  }
  return a > b;
}

// Does position a come before position b of `row`?
template <class T>
__device__ bool comes_before(const T* row, std::int64_t a, std::int64_t b, bool largest_first) {
  if (greater_with_nan_largest(row[a], row[b])) return largest_first;
  if (greater_with_nan_largest(row[b], row[a])) return !largest_first;
  return a < b;
}

// Element i of each row goes to place rank(i) when that is among the first k.
template <class T>
__global__ void rank_sort_kernel(const T* x, std::int64_t rows, std::int64_t length, std::int64_t k,
                                 bool largest_first, T* values, std::int64_t* indices) {
  std::int64_t count = rows * length;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t r = e / length, i = e % length;
    const T* row = x + r * length;
    std::int64_t rank = 0;
    for (std::int64_t j = 0; j < length; ++j) rank += comes_before(row, j, i, largest_first) ? 1 : 0;
    if (rank < k) {
      values[r * k + rank] = row[i];
      indices[r * k + rank] = i;
    }
  }
}

template <class T>
__device__ T canonical_key(T v) {
  if constexpr (std::is_same_v<T, float>) {
    if (v != v) return __int_as_float(0x7fc00000);
    return v == 0.0f ? 0.0f : v;
  } else if constexpr (std::is_same_v<T, double>) {
    if (v != v) return __longlong_as_double(0x7ff8000000000000LL);
    return v == 0.0 ? 0.0 : v;
  } else {
    return v;
  }
}

// keys = canonical copies of x, positions = 0..length-1 in every row, segment starts r*length
template <class T>
__global__ void prepare_sort_kernel(const T* x, std::int64_t rows, std::int64_t length, T* keys, std::int64_t* positions,
                                    int* segment_starts) {
  std::int64_t count = rows * length;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    keys[e] = canonical_key(x[e]);
    positions[e] = e % length;
    if (e % length == 0) segment_starts[e / length] = static_cast<int>(e);
    if (e == 0) segment_starts[rows] = static_cast<int>(count);
  }
}

// The first k of every sorted row: indices, and the values read from x (not from the keys, whose
// NaNs and zeros were made canonical).
template <class T>
__global__ void take_first_kernel(const T* x, const std::int64_t* sorted_positions, std::int64_t rows,
                                  std::int64_t length, std::int64_t k, T* values, std::int64_t* indices) {
  std::int64_t count = rows * k;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t r = e / k, j = e % k;
    std::int64_t at = sorted_positions[r * length + j];
    indices[e] = at;
    values[e] = x[r * length + at];
  }
}

// CUB's two-call protocol: the first call (no storage) sizes the scratch, the second sorts.
template <class T>
void radix_sort_rows(CudaBackend& backend, const T* keys_in, T* keys_out, const std::int64_t* positions_in,
                     std::int64_t* positions_out, std::int64_t rows, std::int64_t length, const int* segment_starts,
                     bool descending) {
  int items = static_cast<int>(rows * length), segments = static_cast<int>(rows);
  std::size_t scratch_bytes = 0;
  auto run = [&](void* scratch) {
    if (rows == 1) {
      return descending ? cub::DeviceRadixSort::SortPairsDescending(scratch, scratch_bytes, keys_in, keys_out,
                                                                    positions_in, positions_out, items, 0,
                                                                    int(sizeof(T) * 8), backend.stream())
                        : cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, keys_in, keys_out, positions_in,
                                                          positions_out, items, 0, int(sizeof(T) * 8),
                                                          backend.stream());
    }
    return descending ? cub::DeviceSegmentedRadixSort::SortPairsDescending(
                            scratch, scratch_bytes, keys_in, keys_out, positions_in, positions_out, items, segments,
                            segment_starts, segment_starts + 1, 0, int(sizeof(T) * 8), backend.stream())
                      : cub::DeviceSegmentedRadixSort::SortPairs(scratch, scratch_bytes, keys_in, keys_out,
                                                                 positions_in, positions_out, items, segments,
                                                                 segment_starts, segment_starts + 1, 0,
                                                                 int(sizeof(T) * 8), backend.stream());
  };
  check_cuda_status(run(nullptr), "sort", "cub radix sort (sizing)");
  CudaBackend::Scratch scratch(backend, scratch_bytes);
  check_cuda_status(run(scratch.as<void>()), "sort", "cub radix sort");
}

void sort_rows(CudaBackend& backend, const char* op, const Tensor& x, std::int64_t k, bool largest_first,
               Tensor& values, Tensor& indices) {
  std::int64_t length = x.dim() == 0 ? 1 : x.shape().back();
  if (length == 0 || k == 0) return;  // nothing to write
  std::int64_t rows = x.numel() / length;
  if (rows == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (length <= kRankLength) {
      rank_sort_kernel<T><<<blocks_for(rows * length), kThreads, 0, backend.stream()>>>(
          x.data<T>(), rows, length, k, largest_first, values.data<T>(), indices.data<std::int64_t>());
      backend.check_launch(op);
      return;
    }
    if (rows * length > INT_MAX) {
      throw ShapeError("[" + std::string(op) + "] the CUDA sort takes at most " + std::to_string(INT_MAX) +
                       " elements, got " + std::to_string(rows * length));
    }
    std::int64_t count = rows * length;
    CudaBackend::Scratch keys(backend, count * sizeof(T)), sorted_keys(backend, count * sizeof(T));
    CudaBackend::Scratch positions(backend, count * sizeof(std::int64_t));
    CudaBackend::Scratch sorted_positions(backend, count * sizeof(std::int64_t));
    CudaBackend::Scratch segment_starts(backend, (rows + 1) * sizeof(int));
    prepare_sort_kernel<T><<<blocks_for(count), kThreads, 0, backend.stream()>>>(
        x.data<T>(), rows, length, keys.as<T>(), positions.as<std::int64_t>(), segment_starts.as<int>());
    backend.check_launch(op);
    radix_sort_rows<T>(backend, keys.as<T>(), sorted_keys.as<T>(), positions.as<std::int64_t>(),
                       sorted_positions.as<std::int64_t>(), rows, length, segment_starts.as<int>(), largest_first);
    take_first_kernel<T><<<blocks_for(rows * k), kThreads, 0, backend.stream()>>>(
        x.data<T>(), sorted_positions.as<std::int64_t>(), rows, length, k, values.data<T>(),
        indices.data<std::int64_t>());
    backend.check_launch(op);
  });
}

}  // namespace

void CudaBackend::topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices) {
  sort_rows(*this, "topk", x, k, largest, values, indices);
}

void CudaBackend::sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices) {
  sort_rows(*this, "sort", x, x.dim() == 0 ? 1 : x.shape().back(), descending, values, indices);
}

}  // namespace moegrad
