// Typed cuBLAS calls for row-major operands, shared by cuda/matmul.cu and cuda/grouped_matmul.cu.
//
// cuBLAS is column-major; a row-major (m,n) matrix is the column-major (n,m) matrix of its
// transpose. So row-major C = A·B is computed as column-major Cᵀ = Bᵀ·Aᵀ: the operands swap
// places, and each keeps its own "transposed" flag (a row-major operand is handed over as it is,
// CUBLAS_OP_N; one stored column-major, gemm_operand's `transposed`, as CUBLAS_OP_T).
#pragma once
#include <cublas_v2.h>

#include <cstdint>

#include "cuda/cuda_backend.h"

namespace moegrad::cuda_kernels {

inline cublasOperation_t op_of(bool transposed) { return transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Row-major C (m,n) = A (m,k) · B (k,n) + beta·C, batched with element strides (0 = shared).
inline void gemm_row_major(cublasHandle_t handle, const char* op, bool a_transposed, bool b_transposed,
                           std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                           std::int64_t stride_a, const float* b, std::int64_t ldb, std::int64_t stride_b, float beta,
                           float* c, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
  const float one = 1.0f;
  check_cublas_status(cublasSgemmStridedBatched(handle, op_of(b_transposed), op_of(a_transposed), static_cast<int>(n),
                                                static_cast<int>(m), static_cast<int>(k), &one, b, static_cast<int>(ldb),
                                                stride_b, a, static_cast<int>(lda), stride_a, &beta, c,
                                                static_cast<int>(ldc), stride_c, static_cast<int>(batch)),
                      op, "cublasSgemmStridedBatched");
}

inline void gemm_row_major(cublasHandle_t handle, const char* op, bool a_transposed, bool b_transposed,
                           std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
                           std::int64_t stride_a, const double* b, std::int64_t ldb, std::int64_t stride_b,
                           double beta, double* c, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
  const double one = 1.0;
  check_cublas_status(cublasDgemmStridedBatched(handle, op_of(b_transposed), op_of(a_transposed), static_cast<int>(n),
                                                static_cast<int>(m), static_cast<int>(k), &one, b, static_cast<int>(ldb),
                                                stride_b, a, static_cast<int>(lda), stride_a, &beta, c,
                                                static_cast<int>(ldc), stride_c, static_cast<int>(batch)),
                      op, "cublasDgemmStridedBatched");
}

// The handle with the math mode the caller asked for: TF32 tensor cores only with cuda_tf32().
inline cublasHandle_t cublas_for(CudaBackend& backend, const char* op) {
  cublasHandle_t handle = backend.cublas(op);
  check_cublas_status(cublasSetMathMode(handle, cuda_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), op,
                      "cublasSetMathMode");
  return handle;
}

}  // namespace moegrad::cuda_kernels
