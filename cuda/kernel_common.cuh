// What the kernel files share: launch sizes, strided layouts for elementwise kernels, block
// reductions and the float32 -> double accumulator rule of the CPU kernels. Device code only sees
// raw pointers, sizes and strides (the kernel contract); the Tensor is unpacked by the launcher.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "cuda/cuda_backend.h"
#include "tensor/tensor.h"

namespace moegrad::cuda_kernels {

constexpr int kThreads = 256;
// Grid-stride loops cap the grid; 65,535 blocks of 256 threads cover 16M elements per pass.
inline unsigned blocks_for(std::int64_t count, int threads = kThreads) {
  std::int64_t blocks = (count + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks));
}

inline cudaStream_t stream_of(CudaBackend& backend) { return backend.stream(); }

// float32 sums accumulate in double, as on the CPU.
template <class T>
using Accumulator = std::conditional_t<std::is_same_v<T, float>, double, T>;

// ---------------- strided layouts ----------------

constexpr int kMaxDims = 10;

// N views of one shape: element i (row-major over sizes) sits at offsets[k] of view k. Built on the
// host by make_layout, which drops size-1 axes and merges axes that are contiguous in every view,
// so a contiguous tensor is one axis of stride 1.
template <int N>
struct Layout {
  int dims = 0;
  bool contiguous = true;  // every view has stride 1 on its single axis: offset = i
  std::int64_t sizes[kMaxDims];
  std::int64_t strides[N][kMaxDims];
};

template <int N>
__host__ __device__ inline void layout_offsets(const Layout<N>& layout, std::int64_t i, std::int64_t (&offsets)[N]) {
  if (layout.contiguous) {
    for (int k = 0; k < N; ++k) offsets[k] = i;
    return;
  }
  for (int k = 0; k < N; ++k) offsets[k] = 0;
  for (int d = layout.dims - 1; d >= 0; --d) {
    std::int64_t size = layout.sizes[d];
    std::int64_t at = i % size;
    i /= size;
    for (int k = 0; k < N; ++k) offsets[k] += at * layout.strides[k][d];
  }
}

// Throws ShapeError naming op when more than kMaxDims axes remain after merging.
void throw_too_many_dims(const char* op, std::size_t dims);

template <int N>
Layout<N> make_layout(const char* op, const Shape& shape, const std::array<const Strides*, N>& views) {
  Layout<N> layout;
  // innermost first while merging
  std::int64_t sizes[64];
  std::int64_t strides[N][64];
  int dims = 0;
  for (std::size_t a = shape.size(); a-- > 0;) {
    if (shape[a] == 1) continue;
    bool merge = dims > 0;
    for (int k = 0; k < N && merge; ++k) {
      merge = (*views[k])[a] == strides[k][dims - 1] * sizes[dims - 1];
    }
    if (merge) {
      sizes[dims - 1] *= shape[a];
      continue;
    }
    if (dims == 64) throw_too_many_dims(op, shape.size());
    sizes[dims] = shape[a];
    for (int k = 0; k < N; ++k) strides[k][dims] = (*views[k])[a];
    ++dims;
  }
  if (dims > kMaxDims) throw_too_many_dims(op, static_cast<std::size_t>(dims));
  layout.dims = dims;
  for (int d = 0; d < dims; ++d) {  // back to outermost first
    layout.sizes[d] = sizes[dims - 1 - d];
    for (int k = 0; k < N; ++k) layout.strides[k][d] = strides[k][dims - 1 - d];
  }
  layout.contiguous = dims == 0 || (dims == 1 && [&] {
                        for (int k = 0; k < N; ++k) {
                          if (layout.strides[k][0] != 1) return false;
                        }
                        return true;
                      }());
  return layout;
}

// ---------------- block reductions ----------------

// Sums v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
// `shared` needs 32 entries.
template <class T>
__device__ inline T block_sum(T v, T* shared) {
  for (int step = 16; step > 0; step /= 2) v += __shfl_xor_sync(0xffffffffu, v, step);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T total = 0;
  for (int w = 0; w < warps; ++w) total += shared[w];  // same order in every thread: same bits
  return total;
}

// Threads per block for a row of `columns` values: a multiple of 32, at most 1024.
inline int row_threads(std::int64_t columns) {
  std::int64_t threads = 32;
  while (threads < columns && threads < 1024) threads *= 2;
  return static_cast<int>(threads);
}

template <class T>
__device__ inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  return false;
}

}  // namespace moegrad::cuda_kernels
