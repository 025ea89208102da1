// CUDA indexing kernels, the twins of tensor/cpu/indexing.cpp: gather / scatter_add (one index per
// element) and index_select / index_add (one index per slice), every tensor contiguous and read as
// (outer, length, inner) around the indexed axis; and the index range check.
//
// The range check is a kernel that writes the index's (min, max) to a slot the host reads at the
// next sync point (cuda/runtime.cpp), so an op never waits for it. Until then the kernels
// below may meet a bad index: they skip it (read 0, add nothing) rather than touch memory out of
// bounds, which would poison the whole CUDA context.
//
// The accumulations use atomicAdd: repeated indices add up correctly, but the order of float
// additions into one element varies from run to run (the CPU's is fixed), so float32 results may
// differ in the last bits between runs.
#include "cuda/kernel_common.cuh"

namespace moegrad {

namespace {

using namespace cuda_kernels;

struct AxisSplit {
  std::int64_t outer = 1, length = 1, inner = 1;
};

AxisSplit split_at(const Shape& shape, std::int64_t axis) {
  AxisSplit split;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
    if (d < axis) split.outer *= shape[d];
    else if (d == axis) split.length = shape[d];
    else split.inner *= shape[d];
  }
  return split;
}

template <class T>
__device__ void atomic_add(T* target, T value) {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(target), static_cast<unsigned long long>(value));
  } else {
    atomicAdd(target, value);
  }
}

// out[o, j, i] = x[o, index[o, j, i], i]
template <class T>
__global__ void gather_kernel(const T* x, const std::int64_t* index, T* out, std::int64_t count, std::int64_t picks,
                              std::int64_t length, std::int64_t inner) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t i = e % inner, o = e / inner / picks, at = index[e];
    out[e] = (at >= 0 && at < length) ? x[(o * length + at) * inner + i] : T(0);
  }
}

// out[o, index[o, j, i], i] += src[o, j, i]
template <class T>
__global__ void scatter_add_kernel(T* out, const std::int64_t* index, const T* src, std::int64_t count,
                                   std::int64_t picks, std::int64_t length, std::int64_t inner) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t i = e % inner, o = e / inner / picks, at = index[e];
    if (at >= 0 && at < length) atomic_add(out + (o * length + at) * inner + i, src[e]);
  }
}

// out[o, j, :] = x[o, index[j], :]
template <class T>
__global__ void index_select_kernel(const T* x, const std::int64_t* index, T* out, std::int64_t count,
                                    std::int64_t picks, std::int64_t length, std::int64_t inner) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t i = e % inner, row = e / inner, o = row / picks, at = index[row % picks];
    out[e] = (at >= 0 && at < length) ? x[(o * length + at) * inner + i] : T(0);
  }
}

// out[o, index[j], :] += src[o, j, :]
template <class T>
__global__ void index_add_kernel(T* out, const std::int64_t* index, const T* src, std::int64_t count,
                                 std::int64_t picks, std::int64_t length, std::int64_t inner) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t i = e % inner, row = e / inner, o = row / picks, at = index[row % picks];
    if (at >= 0 && at < length) atomic_add(out + (o * length + at) * inner + i, src[e]);
  }
}

// slot[0] = min(index), slot[1] = max(index): one block, so no atomics and no initialisation.
constexpr int kMinMaxThreads = 512;
__global__ void index_min_max_kernel(const std::int64_t* index, std::int64_t count, std::int64_t* slot) {
  __shared__ std::int64_t lows[kMinMaxThreads], highs[kMinMaxThreads];
  std::int64_t low = index[0], high = index[0];
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    low = index[e] < low ? index[e] : low;
    high = index[e] > high ? index[e] : high;
  }
  lows[threadIdx.x] = low;
  highs[threadIdx.x] = high;
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) {
      lows[threadIdx.x] = lows[threadIdx.x + step] < lows[threadIdx.x] ? lows[threadIdx.x + step] : lows[threadIdx.x];
      highs[threadIdx.x] =
          highs[threadIdx.x + step] > highs[threadIdx.x] ? highs[threadIdx.x + step] : highs[threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    slot[0] = lows[0];
    slot[1] = highs[0];
  }
}

}  // namespace

void launch_index_min_max(CudaBackend& backend, const std::int64_t* index, std::int64_t count, std::int64_t* slot) {
  index_min_max_kernel<<<1, kMinMaxThreads, 0, backend.stream()>>>(index, count, slot);
  backend.check_launch("check_index_range");
}

void CudaBackend::gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
  AxisSplit source = split_at(x.shape(), dim);
  std::int64_t picks = index.shape()[dim], count = out.numel();
  if (count == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    gather_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(
        x.data<T>(), index.data<std::int64_t>(), out.data<T>(), count, picks, source.length, source.inner);
  });
  check_launch("gather");
}

void CudaBackend::scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) {
  AxisSplit target = split_at(out.shape(), dim);
  std::int64_t picks = index.shape()[dim], count = index.numel();
  if (count == 0) return;
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    scatter_add_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(
        out.data<T>(), index.data<std::int64_t>(), src.data<T>(), count, picks, target.length, target.inner);
  });
  check_launch("scatter_add");
}

void CudaBackend::index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
  AxisSplit source = split_at(x.shape(), dim);
  std::int64_t picks = index.numel(), count = out.numel();
  if (count == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    index_select_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(
        x.data<T>(), index.data<std::int64_t>(), out.data<T>(), count, picks, source.length, source.inner);
  });
  check_launch("index_select");
}

void CudaBackend::index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) {
  AxisSplit target = split_at(out.shape(), dim);
  std::int64_t picks = index.numel(), count = src.numel();
  if (count == 0) return;
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    index_add_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(
        out.data<T>(), index.data<std::int64_t>(), src.data<T>(), count, picks, target.length, target.inner);
  });
  check_launch("index_add");
}

}  // namespace moegrad
