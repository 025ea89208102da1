// The grouped matmul on OpenBLAS: one gemm per group of consecutive rows, each with its own weight
// matrix. MoE experts run this way on the rows the dispatch plan sorted by expert, so no expert's
// weights are ever sliced out or copied, and the backward touches each weight once.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "tensor/cpu/blas.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/errors.h"
#include "tensor/gemm_layout.h"

namespace moegrad {

namespace {

// The group boundaries, checked: 0 <= offsets[0] <= ... <= offsets[G] <= rows. The CPU reads them
// in place; a bad plan is refused here instead of reading out of bounds.
std::vector<std::int64_t> read_offsets(const Tensor& offsets, std::int64_t rows) {
  const std::int64_t* data = offsets.data<std::int64_t>();
  std::vector<std::int64_t> bounds(data, data + offsets.numel());
  for (std::size_t g = 0; g < bounds.size(); ++g) {
    std::int64_t low = g == 0 ? 0 : bounds[g - 1];
    if (bounds[g] < low || bounds[g] > rows) {
      throw IndexError(fmt::format("[grouped_matmul] group offsets must be non-decreasing within [0, {}], got "
                                   "offset {} = {} after {}", rows, g, bounds[g], low));
    }
  }
  return bounds;
}

// Below this many rows per group on average, a threaded BLAS spends its time waking threads for
// tiny gemms (an MoE with hundreds of experts gives each a few dozen rows): there the groups are
// spread over the OpenMP threads instead, each gemm on one BLAS thread. Bigger groups run one at
// a time on BLAS's own threads. Either way each group is one gemm, so the bits do not depend on
// the thread count when BLAS runs on one thread (deterministic mode, tensor/determinism.h).
constexpr std::int64_t kSmallGroupRows = 256;

template <class Body>
void for_each_group(std::int64_t groups, std::int64_t rows, Body&& body) {
  bool spread = groups > 1 && rows < kSmallGroupRows * groups && omp_get_max_threads() > 1 && !omp_in_parallel();
  if (!spread) {
    BlasThreadsForDeterminism threads;
    for (std::int64_t g = 0; g < groups; ++g) body(g);
    return;
  }
  OneBlasThread one_blas_thread;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t g = 0; g < groups; ++g) body(g);
}

}  // namespace

// out rows of group g = x rows of group g @ w[g] (+ bias[g]); rows in no group are 0
void CpuBackend::grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias,
                                Tensor& out) {
  auto weight = gemm_operand(w);
  if (!weight) throw Error("[grouped_matmul] internal: weight layout not readable by BLAS");
  std::int64_t N = x.shape()[0], K = x.shape()[1], M = w.shape()[2], G = w.shape()[0];
  std::vector<std::int64_t> bounds = read_offsets(offsets, N);
  std::int64_t weight_stride = w.strides()[0];  // not gemm_operand's, which is 0 when G = 1
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    const T* weights = w.data<T>();
    T* result = out.data<T>();
    std::fill(result, result + bounds[0] * M, T(0));
    std::fill(result + bounds[G] * M, result + N * M, T(0));
    for_each_group(G, bounds[G] - bounds[0], [&](std::int64_t g) {
      std::int64_t first = bounds[g], rows = bounds[g + 1] - bounds[g];
      if (rows == 0) return;
      T* block = result + first * M;
      // the bias goes in first and the gemm adds onto it (beta = 1): one pass over the block
      for (std::int64_t r = 0; r < rows; ++r) {
        if (bias.defined()) std::copy_n(bias.data<T>() + g * M, M, block + r * M);
        else std::fill_n(block + r * M, M, T(0));
      }
      if (K == 0 || M == 0) return;
      gemm(CblasNoTrans, weight->transposed ? CblasTrans : CblasNoTrans, static_cast<int>(rows), static_cast<int>(M),
           static_cast<int>(K), in + first * K, static_cast<int>(K), weights + g * weight_stride,
           static_cast<int>(weight->leading), T(1), block, static_cast<int>(M));
    });
  });
}

// dw[g] = x_gᵀ dy_g, db[g] = Σ_rows dy_g
void CpuBackend::grouped_matmul_weight_grad(const Tensor& x, const Tensor& dy, const Tensor& offsets, Tensor& dw,
                                            Tensor& db) {
  std::int64_t N = x.shape()[0], K = x.shape()[1], M = dy.shape()[1], G = dw.shape()[0];
  std::vector<std::int64_t> bounds = read_offsets(offsets, N);
  dispatch_floating(dw.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    const T* grad = dy.data<T>();
    T* weight_grad = dw.data<T>();
    for_each_group(G, bounds[G] - bounds[0], [&](std::int64_t g) {
      std::int64_t first = bounds[g], rows = bounds[g + 1] - bounds[g];
      T* block = weight_grad + g * K * M;
      if (rows == 0 || K == 0 || M == 0) {
        std::fill_n(block, K * M, T(0));
      } else {
        gemm(CblasTrans, CblasNoTrans, static_cast<int>(K), static_cast<int>(M), static_cast<int>(rows),
             in + first * K, static_cast<int>(K), grad + first * M, static_cast<int>(M), T(0), block,
             static_cast<int>(M));
      }
      if (!db.defined()) return;
      T* bias_grad = db.data<T>() + g * M;
      std::fill_n(bias_grad, M, T(0));
      for (std::int64_t r = first; r < first + rows; ++r) {
        for (std::int64_t m = 0; m < M; ++m) bias_grad[m] += grad[r * M + m];
      }
    });
  });
}

}  // namespace moegrad
