// The grouped matmul on cuBLAS, the twin of tensor/cpu/grouped_matmul.cpp: out rows
// [offsets[g], offsets[g+1]) = x rows @ w[g] + bias[g], one GEMM per group on the rows the dispatch
// plan sorted by expert; and its weight gradient dw[g] = x_gᵀ dy_g, db[g] = Σ rows of dy_g.
//
// The group sizes decide each GEMM's shape, and cuBLAS takes shapes from the host, so the G+1
// offsets are copied to the host (a few bytes, but a stream sync) once per call. The bias rows and
// the bias gradient are kernels that read the offsets on the device. A device-side grouped GEMM
// (one launch, tiles mapped to groups on the GPU) would remove the sync; see README "Devices and
// CUDA".
#include <string>
#include <vector>

#include "cuda/cublas_gemm.cuh"
#include "cuda/kernel_common.cuh"
#include "tensor/errors.h"
#include "tensor/gemm_layout.h"

namespace moegrad {

namespace {

using namespace cuda_kernels;

// The group boundaries, on the host and checked: 0 <= offsets[0] <= ... <= offsets[G] <= rows.
std::vector<std::int64_t> read_offsets(CudaBackend& backend, const Tensor& offsets, std::int64_t rows) {
  std::vector<std::int64_t> bounds(static_cast<std::size_t>(offsets.numel()));
  backend.copy_to_host(bounds.data(), offsets.data<std::int64_t>(), bounds.size() * sizeof(std::int64_t));
  for (std::size_t g = 0; g < bounds.size(); ++g) {
    std::int64_t low = g == 0 ? 0 : bounds[g - 1];
    if (bounds[g] < low || bounds[g] > rows) {
      throw IndexError("[grouped_matmul] group offsets must be non-decreasing within [0, " + std::to_string(rows) +
                       "], got offset " + std::to_string(g) + " = " + std::to_string(bounds[g]) + " after " +
                       std::to_string(low));
    }
  }
  return bounds;
}

// The group of row r, or -1 when r lies in none (offsets are checked non-decreasing).
__device__ std::int64_t group_of(const std::int64_t* offsets, std::int64_t groups, std::int64_t r) {
  if (r < offsets[0] || r >= offsets[groups]) return -1;
  std::int64_t low = 0, high = groups;  // offsets[low] <= r < offsets[high]
  while (high - low > 1) {
    std::int64_t mid = (low + high) / 2;
    if (offsets[mid] <= r) low = mid;
    else high = mid;
  }
  return low;
}

// out[r, :] = bias[group of r] (or 0: no bias, or a row in no group); the GEMMs then add onto it.
template <class T>
__global__ void bias_rows_kernel(T* out, const T* bias, const std::int64_t* offsets, std::int64_t groups,
                                 std::int64_t rows, std::int64_t columns) {
  std::int64_t count = rows * columns;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t r = i / columns, m = i % columns;
    std::int64_t g = group_of(offsets, groups, r);
    out[i] = (g >= 0 && bias != nullptr) ? bias[g * columns + m] : T(0);
  }
}

// db[g, m] = Σ_{r in group g} dy[r, m]
template <class T>
__global__ void bias_grad_kernel(const T* dy, T* db, const std::int64_t* offsets, std::int64_t groups,
                                 std::int64_t columns) {
  std::int64_t count = groups * columns;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t g = i / columns, m = i % columns;
    Accumulator<T> total = 0;
    for (std::int64_t r = offsets[g]; r < offsets[g + 1]; ++r) total += dy[r * columns + m];
    db[i] = static_cast<T>(total);
  }
}

}  // namespace

void CudaBackend::grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias,
                                 Tensor& out) {
  auto weight = gemm_operand(w);
  if (!weight) throw Error("[grouped_matmul] internal: weight layout not readable by cuBLAS");
  std::int64_t N = x.shape()[0], K = x.shape()[1], M = w.shape()[2], G = w.shape()[0];
  std::vector<std::int64_t> bounds = read_offsets(*this, offsets, N);
  std::int64_t weight_stride = w.strides()[0];  // not gemm_operand's, which is 0 when G = 1
  if (N * M == 0) return;
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* result = out.data<T>();
    bias_rows_kernel<T><<<blocks_for(N * M), kThreads, 0, stream()>>>(
        result, bias.defined() ? bias.data<T>() : nullptr, offsets.data<std::int64_t>(), G, N, M);
    check_launch("grouped_matmul");
    if (K == 0) return;
    cublasHandle_t handle = cublas_for(*this, "grouped_matmul");
    for (std::int64_t g = 0; g < G; ++g) {
      std::int64_t first = bounds[g], rows = bounds[g + 1] - bounds[g];
      if (rows == 0) continue;
      gemm_row_major(handle, "grouped_matmul", false, weight->transposed, rows, M, K, x.data<T>() + first * K, K, 0,
                     w.data<T>() + g * weight_stride, weight->leading, 0, T(1), result + first * M, M, 0, 1);
    }
  });
}

void CudaBackend::grouped_matmul_weight_grad(const Tensor& x, const Tensor& dy, const Tensor& offsets, Tensor& dw,
                                             Tensor& db) {
  std::int64_t N = x.shape()[0], K = x.shape()[1], M = dy.shape()[1], G = dw.shape()[0];
  std::vector<std::int64_t> bounds = read_offsets(*this, offsets, N);
  dispatch_floating(dw.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (dw.numel() > 0) {
      check_cuda_status(cudaMemsetAsync(dw.data<T>(), 0, dw.numel() * sizeof(T), stream()), "grouped_matmul",
                        "cudaMemsetAsync");
    }
    if (K > 0 && M > 0) {
      cublasHandle_t handle = cublas_for(*this, "grouped_matmul");
      for (std::int64_t g = 0; g < G; ++g) {
        std::int64_t first = bounds[g], rows = bounds[g + 1] - bounds[g];
        if (rows == 0) continue;
        // dw[g] (K,M) = x_gᵀ (K,rows) · dy_g (rows,M): x_g read through its transpose flag
        gemm_row_major(handle, "grouped_matmul", true, false, K, M, rows, x.data<T>() + first * K, K, 0,
                       dy.data<T>() + first * M, M, 0, T(0), dw.data<T>() + g * K * M, M, 0, 1);
      }
    }
    if (db.defined() && G * M > 0) {
      bias_grad_kernel<T><<<blocks_for(G * M), kThreads, 0, stream()>>>(dy.data<T>(), db.data<T>(),
                                                                        offsets.data<std::int64_t>(), G, M);
      check_launch("grouped_matmul");
    }
  });
}

}  // namespace moegrad
