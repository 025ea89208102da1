// CUDA reductions, the twins of tensor/cpu/reduce.cpp: x contiguous seen as (outer, length, inner),
// reduced over the middle axis into out (outer, inner); and the running sum along that axis.
// float32 sums accumulate in double. max/min/argmax/argmin: the first extreme wins, a NaN wins over
// everything (the first NaN), as on the CPU.
//
// Two shapes of work: rows (inner == 1) get one block each, threads striding the row and a block
// reduction at the end; columns (inner > 1) get one thread per output, looping down the length,
// neighbouring threads reading neighbouring addresses.
#include "cuda/kernel_common.cuh"

namespace moegrad {

namespace {

using namespace cuda_kernels;

// (value, position) candidates of max/min: is `a` the better one? NaN beats numbers; among equals
// (and among NaNs) the lower position wins, so the result is the CPU's "first extreme".
template <class T>
__device__ bool better(T a, std::int64_t ia, T b, std::int64_t ib, bool want_max) {
  bool a_nan = is_nan(a), b_nan = is_nan(b);
  if (a_nan || b_nan) return a_nan && (!b_nan || ia < ib);
  if (a == b) return ia < ib;
  return want_max ? a > b : a < b;
}

template <class T>
__global__ void sum_columns_kernel(const T* x, T* out, std::int64_t outer, std::int64_t length, std::int64_t inner) {
  std::int64_t outputs = outer * inner;
  for (std::int64_t j = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; j < outputs;
       j += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t o = j / inner, i = j % inner;
    const T* column = x + o * length * inner + i;
    Accumulator<T> total = 0;
    for (std::int64_t l = 0; l < length; ++l) total += column[l * inner];
    out[j] = static_cast<T>(total);
  }
}

template <class T>
__global__ void sum_rows_kernel(const T* x, T* out, std::int64_t length) {
  __shared__ Accumulator<T> shared[32];
  const T* row = x + blockIdx.x * length;
  Accumulator<T> total = 0;
  for (std::int64_t l = threadIdx.x; l < length; l += blockDim.x) total += row[l];
  total = block_sum(total, shared);
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<T>(total);
}

template <class T>
__global__ void extreme_columns_kernel(const T* x, T* values, std::int64_t* indices, std::int64_t outer,
                                       std::int64_t length, std::int64_t inner, bool want_max) {
  std::int64_t outputs = outer * inner;
  for (std::int64_t j = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; j < outputs;
       j += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t o = j / inner, i = j % inner;
    const T* column = x + o * length * inner + i;
    T best = column[0];
    std::int64_t best_index = 0;
    for (std::int64_t l = 1; l < length && !is_nan(best); ++l) {
      T v = column[l * inner];
      if (is_nan(v) || (want_max ? v > best : v < best)) {
        best = v;
        best_index = l;
      }
    }
    if (values) values[j] = best;
    if (indices) indices[j] = best_index;
  }
}

template <class T>
__global__ void extreme_rows_kernel(const T* x, T* values, std::int64_t* indices, std::int64_t length, bool want_max) {
  __shared__ T shared_values[1024];
  __shared__ std::int64_t shared_indices[1024];
  const T* row = x + blockIdx.x * length;
  T best = row[0];
  std::int64_t best_index = 0;
  for (std::int64_t l = threadIdx.x; l < length; l += blockDim.x) {
    if (better(row[l], l, best, best_index, want_max)) {
      best = row[l];
      best_index = l;
    }
  }
  shared_values[threadIdx.x] = best;
  shared_indices[threadIdx.x] = best_index;
  __syncthreads();
  for (unsigned step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) {
      unsigned other = threadIdx.x + step;
      if (better(shared_values[other], shared_indices[other], shared_values[threadIdx.x], shared_indices[threadIdx.x],
                 want_max)) {
        shared_values[threadIdx.x] = shared_values[other];
        shared_indices[threadIdx.x] = shared_indices[other];
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (values) values[blockIdx.x] = shared_values[0];
    if (indices) indices[blockIdx.x] = shared_indices[0];
  }
}

template <class T>
__global__ void cumsum_kernel(const T* x, T* out, std::int64_t outer, std::int64_t length, std::int64_t inner) {
  std::int64_t columns = outer * inner;
  for (std::int64_t j = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; j < columns;
       j += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t o = j / inner, i = j % inner;
    const T* source = x + o * length * inner + i;
    T* target = out + o * length * inner + i;
    Accumulator<T> running = 0;
    for (std::int64_t l = 0; l < length; ++l) {
      running += source[l * inner];
      target[l * inner] = static_cast<T>(running);
    }
  }
}

// Row blocks: a power of two (the tree reduction halves it), at most 256 threads.
int reduce_row_threads(std::int64_t length) { return row_threads(length) > 256 ? 256 : row_threads(length); }

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
                         Tensor& out) {
  const char* name = reduce_op_name(op);
  std::int64_t outputs = outer * inner;
  if (outputs == 0) return;
  bool arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  bool want_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    if (length == 0) {  // only sums reach here with length 0 (the op checks); the empty sum is 0
      check_cuda_status(cudaMemsetAsync(out.data<T>(), 0, outputs * sizeof(T), stream()), name, "cudaMemsetAsync");
      return;
    }
    bool rows = inner == 1 && outer <= 2147483647;
    if (op == ReduceOp::Sum) {
      if (rows) {
        sum_rows_kernel<T><<<static_cast<unsigned>(outer), reduce_row_threads(length), 0, stream()>>>(
            in, out.data<T>(), length);
      } else {
        sum_columns_kernel<T><<<blocks_for(outputs), kThreads, 0, stream()>>>(in, out.data<T>(), outer, length, inner);
      }
      return;
    }
    T* values = arg ? nullptr : out.data<T>();
    std::int64_t* indices = arg ? out.data<std::int64_t>() : nullptr;
    if (rows) {
      extreme_rows_kernel<T><<<static_cast<unsigned>(outer), reduce_row_threads(length), 0, stream()>>>(
          in, values, indices, length, want_max);
    } else {
      extreme_columns_kernel<T>
          <<<blocks_for(outputs), kThreads, 0, stream()>>>(in, values, indices, outer, length, inner, want_max);
    }
  });
  check_launch(name);
}

void CudaBackend::cumsum(const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner, Tensor& out) {
  if (outer * inner == 0 || length == 0) return;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cumsum_kernel<T>
        <<<blocks_for(outer * inner), kThreads, 0, stream()>>>(x.data<T>(), out.data<T>(), outer, length, inner);
  });
  check_launch("cumsum");
}

}  // namespace moegrad
