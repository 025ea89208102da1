// Softmax and log-softmax over the last axis on the GPU, the twin of tensor/cpu/softmax.cpp (whose
// comment has the formulas): one block per row, three passes — the row maximum, Σ exp(x - max)
// (accumulated in double for float32), then the outputs. A NaN anywhere in a row makes the whole row
// NaN, and an all -inf row is NaN, as on the CPU.
#include "cuda/kernel_common.cuh"

namespace moegrad {

namespace {

using namespace cuda_kernels;

template <class T>
__global__ void softmax_kernel(const T* x, T* out, std::int64_t columns, bool log_output) {
  __shared__ T shared_max[32];
  __shared__ Accumulator<T> shared_sum[32];
  const T* row = x + blockIdx.x * columns;
  T* row_out = out + blockIdx.x * columns;

  // the row maximum (NaNs skipped here; they reach the sum below and poison it)
  T local_max = row[0];
  for (std::int64_t j = threadIdx.x; j < columns; j += blockDim.x) local_max = row[j] > local_max ? row[j] : local_max;
  for (int step = 16; step > 0; step /= 2) {
    T other = __shfl_xor_sync(0xffffffffu, local_max, step);
    local_max = other > local_max ? other : local_max;
  }
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) shared_max[warp] = local_max;
  __syncthreads();
  T row_max = shared_max[0];
  for (int w = 1; w < warps; ++w) row_max = shared_max[w] > row_max ? shared_max[w] : row_max;

  // Σ exp(x - max)
  Accumulator<T> local_sum = 0;
  for (std::int64_t j = threadIdx.x; j < columns; j += blockDim.x) local_sum += exp(row[j] - row_max);
  Accumulator<T> total = block_sum(local_sum, shared_sum);

  // the outputs
  if (log_output) {
    T log_total = static_cast<T>(log(total));
    for (std::int64_t j = threadIdx.x; j < columns; j += blockDim.x) row_out[j] = row[j] - row_max - log_total;
  } else {
    T inverse_total = static_cast<T>(1.0 / total);
    for (std::int64_t j = threadIdx.x; j < columns; j += blockDim.x) row_out[j] = exp(row[j] - row_max) * inverse_total;
  }
}

}  // namespace

void CudaBackend::softmax(const Tensor& x, Tensor& out, bool log) {
  if (x.numel() == 0) return;
  std::int64_t columns = x.dim() == 0 ? 1 : x.shape().back();
  std::int64_t rows = x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    int threads = row_threads(columns) > 512 ? 512 : row_threads(columns);
    softmax_kernel<T><<<static_cast<unsigned>(rows), threads, 0, stream()>>>(x.data<T>(), out.data<T>(), columns, log);
  });
  check_launch(log ? "log_softmax" : "softmax");
}

}  // namespace moegrad
