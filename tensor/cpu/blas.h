// Typed wrappers around cblas ?gemm (row-major), so float32 and float64 kernels share one call.
// C = A·B + beta·C with A, B read through their Trans flags.
#pragma once
#include <cblas.h>

#include "tensor/determinism.h"

namespace moegrad {

inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// In deterministic mode, OpenBLAS on one thread for the lifetime of this object (see
// tensor/determinism.h); the caller's thread count comes back afterwards.
class BlasThreadsForDeterminism {
 public:
  BlasThreadsForDeterminism() {
    if (!deterministic()) return;
    previous_ = openblas_get_num_threads();
    if (previous_ != 1) openblas_set_num_threads(1);
  }
  ~BlasThreadsForDeterminism() {
    if (previous_ > 1) openblas_set_num_threads(previous_);
  }
  BlasThreadsForDeterminism(const BlasThreadsForDeterminism&) = delete;
  BlasThreadsForDeterminism& operator=(const BlasThreadsForDeterminism&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace moegrad
