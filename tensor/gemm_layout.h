// How a matrix operand (batch, rows, cols) is handed to BLAS (cblas or cuBLAS) without a copy:
// row-major, or transposed (column-major), each with a leading dimension, plus a batch stride
// (0 when one matrix is shared by the whole batch).
#pragma once
#include <cstdint>
#include <optional>

#include "tensor/tensor.h"

namespace moegrad {

struct GemmOperand {
  bool transposed = false;       // stored column-major: BLAS reads it with the Trans flag
  std::int64_t leading = 1;      // lda: distance between rows (row-major) or columns (transposed)
  std::int64_t batch_stride = 0;
};

// For a 3-D view t (batch, rows, cols); nullopt when BLAS cannot read it as it is (copy it first).
inline std::optional<GemmOperand> gemm_operand(const Tensor& t) {
  std::int64_t rows = t.shape()[1], cols = t.shape()[2];
  std::int64_t row_stride = t.strides()[1], col_stride = t.strides()[2];
  std::int64_t batch_stride = t.shape()[0] == 1 ? 0 : t.strides()[0];
  if (col_stride == 1 || cols == 1) {
    std::int64_t leading = rows == 1 ? std::max<std::int64_t>(cols, 1) : row_stride;
    if (leading >= std::max<std::int64_t>(cols, 1)) return GemmOperand{false, leading, batch_stride};
  }
  if (row_stride == 1 || rows == 1) {
    std::int64_t leading = cols == 1 ? std::max<std::int64_t>(rows, 1) : col_stride;
    if (leading >= std::max<std::int64_t>(rows, 1)) return GemmOperand{true, leading, batch_stride};
  }
  return std::nullopt;
}

}  // namespace moegrad
