// matmul on cuBLAS, the twin of tensor/cpu/matmul.cpp: a (B,M,K) @ b (B,K,N) -> out (B,M,N) in one
// strided-batched GEMM; transposed operands and a shared operand (batch stride 0) are passed as
// flags and strides, never copied. float32 runs in full FP32 unless TF32 is asked for (cuda/cuda.h).
#include <stdexcept>

#include "cuda/cublas_gemm.cuh"
#include "cuda/kernel_common.cuh"
#include "tensor/errors.h"
#include "tensor/gemm_layout.h"

namespace moegrad {

using namespace cuda_kernels;

void CudaBackend::matmul(const Tensor& a, const Tensor& b, Tensor& out) {
  auto left = gemm_operand(a), right = gemm_operand(b);
  if (!left || !right) throw Error("[matmul] internal: operand layout not readable by cuBLAS");
  std::int64_t batch = out.shape()[0], m = out.shape()[1], n = out.shape()[2], k = a.shape()[2];
  if (batch * m * n == 0) return;
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (k == 0) {  // the empty sum: cuBLAS would leave C untouched
      check_cuda_status(cudaMemsetAsync(out.data<T>(), 0, batch * m * n * sizeof(T), stream()), "matmul",
                        "cudaMemsetAsync");
      return;
    }
    // cuBLAS wants each leading dimension >= the rows it reads, even for a single row or column
    std::int64_t lda = left->leading, ldb = right->leading;
    gemm_row_major(cublas_for(*this, "matmul"), "matmul", left->transposed, right->transposed, m, n, k, a.data<T>(),
                   lda, left->batch_stride, b.data<T>(), ldb, right->batch_stride, T(0), out.data<T>(),
                   std::max<std::int64_t>(n, 1), m * n, batch);
  });
}

}  // namespace moegrad
