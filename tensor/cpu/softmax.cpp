// Softmax and log-softmax over the last axis: x contiguous, seen as R rows of C values.
//
// Numerically stable: with m = max_j x_j, softmax_i = exp(x_i - m) / Σ_j exp(x_j - m), so the largest
// exponent is exp(0) = 1 and nothing overflows however large the logits; log_softmax_i =
// x_i - m - log Σ_j exp(x_j - m). A -inf entry (a masked position) gets exp(-inf) = 0.
// A row that is entirely -inf has no maximum to subtract: -inf - (-inf) is NaN, so the whole row
// comes out NaN, as in PyTorch. We keep that rather than invent a distribution for "no choices".
// float32 sums of exponentials accumulate in double, over eight fixed lanes (element j into lane
// j mod 8, the lanes added in order at the end), so the loop vectorises and every row's sum is the
// same whatever the thread count; float32 exponentials come from fast::exp_float.
//
// The backward kernels are one pass over each row too (tensor/cpu/row_math.h has the row sums):
//   softmax:     dx = y (g - Σ_c g y)
//   log_softmax: dx = g - exp(y) Σ_c g
#include <algorithm>
#include <cmath>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/row_math.h"

namespace moegrad {

namespace {

template <class T>
void softmax_row(const T* x, T* out, std::int64_t columns, bool log) {
  // find the row maximum (NaNs are skipped here and propagate through the sum below)
  T row_max = x[0];
  for (std::int64_t j = 1; j < columns; ++j) row_max = x[j] > row_max ? x[j] : row_max;

  // exponentiate into `out` (for log_softmax only as scratch) and sum
  for (std::int64_t j = 0; j < columns; ++j) out[j] = row_exp(x[j] - row_max);
  auto total = lane_sum(out, columns);

  // normalize
  if (log) {
    T log_total = static_cast<T>(std::log(total));
    for (std::int64_t j = 0; j < columns; ++j) out[j] = x[j] - row_max - log_total;
  } else {
    T inverse_total = static_cast<T>(1.0 / total);
    for (std::int64_t j = 0; j < columns; ++j) out[j] *= inverse_total;
  }
}

template <class T>
void softmax_backward_row(const T* y, const T* g, T* grad, std::int64_t columns, bool log) {
  if (log) {
    T total = static_cast<T>(lane_sum(g, columns));
    for (std::int64_t j = 0; j < columns; ++j) grad[j] = g[j] - row_exp(y[j]) * total;
  } else {
    T dot = static_cast<T>(lane_dot(g, y, columns));
    for (std::int64_t j = 0; j < columns; ++j) grad[j] = y[j] * (g[j] - dot);
  }
}

// body(rows_begin, rows_end) over the R rows of C columns, parallel when the rows are many.
template <class Body>
void for_rows(std::int64_t rows, std::int64_t columns, Body&& body) {
  parallel_for(rows, std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(columns, 1)), body);
}

}  // namespace

void CpuBackend::softmax(const Tensor& x, Tensor& out, bool log) {
  if (x.numel() == 0) return;
  std::int64_t columns = x.dim() == 0 ? 1 : x.shape().back();
  std::int64_t rows = x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* result = out.data<T>();
    for_rows(rows, columns, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) softmax_row<T>(in + r * columns, result + r * columns, columns, log);
    });
  });
}

void CpuBackend::softmax_backward(const Tensor& y, const Tensor& grad_out, Tensor& grad_in, bool log) {
  if (y.numel() == 0) return;
  std::int64_t columns = y.dim() == 0 ? 1 : y.shape().back();
  std::int64_t rows = y.numel() / columns;
  dispatch_floating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* out = y.data<T>();
    const T* g = grad_out.data<T>();
    T* result = grad_in.data<T>();
    for_rows(rows, columns, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        softmax_backward_row<T>(out + r * columns, g + r * columns, result + r * columns, columns, log);
      }
    });
  });
}

}  // namespace moegrad
