// matmul on OpenBLAS: one cblas_?gemm per batch entry, transposes passed as flags.
#include <fmt/format.h>

#include "tensor/cpu/blas.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/determinism.h"
#include "tensor/errors.h"
#include "tensor/gemm_layout.h"

namespace moegrad {

// a (B,M,K) @ b (B,K,N) -> out (B,M,N)
void CpuBackend::matmul(const Tensor& a, const Tensor& b, Tensor& out) {
  auto left = gemm_operand(a), right = gemm_operand(b);
  if (!left || !right) throw Error("[matmul] internal: operand layout not readable by BLAS");
  std::int64_t batch = out.shape()[0], m = out.shape()[1], n = out.shape()[2], k = a.shape()[2];
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* a_data = a.data<T>();
    const T* b_data = b.data<T>();
    T* c_data = out.data<T>();
    if (k == 0) {  // BLAS leaves C untouched when K = 0 with beta = 0 only on some builds
      for (std::int64_t i = 0; i < batch * m * n; ++i) c_data[i] = T(0);
      return;
    }
    BlasThreadsForDeterminism threads;
    for (std::int64_t i = 0; i < batch; ++i) {
      gemm(left->transposed ? CblasTrans : CblasNoTrans, right->transposed ? CblasTrans : CblasNoTrans,
           static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a_data + i * left->batch_stride,
           static_cast<int>(left->leading), b_data + i * right->batch_stride, static_cast<int>(right->leading), T(0),
           c_data + i * m * n, static_cast<int>(std::max<std::int64_t>(n, 1)));
    }
  });
}

}  // namespace moegrad
