// Typed wrappers around cblas ?gemm (row-major), so float32 and float64 kernels share one call.
// C = A·B + beta·C with A, B read through their Trans flags.
//
// Threads: the Makefile links OpenBLAS's OpenMP build where it is installed (its run path), so GEMMs
// run on OpenMP's pool, the one moegrad's kernels use. With the pthread build BLAS keeps a second
// pool, and each pool's idle threads spin while the other's work: on a quiet 2-core machine a
// bert_dense step took 2.05 s with the pthread build, 1.30 s with OMP_WAIT_POLICY=PASSIVE and 1.18 s
// with the OpenMP build. (On a machine oversubscribed by other jobs the order reverses: a team that
// waits at a barrier for a descheduled thread loses more than yielding BLAS threads do; measured
// 2.2x slower at load average 20-30.) OneBlasThread below works with either build.
#pragma once
#include <cblas.h>
#include <omp.h>

#include <optional>

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

// OpenBLAS on one thread for the lifetime of this object; OpenMP's thread count stays as it was.
// (OpenBLAS's OpenMP build sets OpenMP's count along with its own, so that count is put back too;
// that build also runs on one thread by itself inside a parallel region.)
class OneBlasThread {
 public:
  OneBlasThread() : previous_blas_(openblas_get_num_threads()), previous_omp_(omp_get_max_threads()) {
    if (previous_blas_ == 1) return;
    openblas_set_num_threads(1);
    omp_set_num_threads(previous_omp_);
  }
  ~OneBlasThread() {
    if (previous_blas_ == 1) return;
    openblas_set_num_threads(previous_blas_);
    omp_set_num_threads(previous_omp_);
  }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int previous_blas_, previous_omp_;
};

// In deterministic mode, OpenBLAS on one thread for the lifetime of this object (see
// tensor/determinism.h); the caller's thread counts come back afterwards.
class BlasThreadsForDeterminism {
 public:
  BlasThreadsForDeterminism() {
    if (deterministic()) one_thread_.emplace();
  }

 private:
  std::optional<OneBlasThread> one_thread_;
};

}  // namespace moegrad
