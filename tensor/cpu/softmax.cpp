// Softmax and log-softmax over the last axis: x contiguous, seen as R rows of C values.
//
// Numerically stable: with m = max_j x_j, softmax_i = exp(x_i - m) / Σ_j exp(x_j - m), so the largest
// exponent is exp(0) = 1 and nothing overflows however large the logits; log_softmax_i =
// x_i - m - log Σ_j exp(x_j - m). A -inf entry (a masked position) gets exp(-inf) = 0.
// A row that is entirely -inf has no maximum to subtract: -inf - (-inf) is NaN, so the whole row
// comes out NaN, as in PyTorch. We keep that rather than invent a distribution for "no choices".
// float32 sums of exponentials accumulate in double.
#include <cmath>
#include <type_traits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"

namespace moegrad {

namespace {

template <class T>
using Accumulator = std::conditional_t<std::is_same_v<T, float>, double, T>;

template <class T>
void softmax_row(const T* x, T* out, std::int64_t columns, bool log) {
  // find the row maximum (NaNs are skipped here and propagate through the sum below)
  T row_max = x[0];
  for (std::int64_t j = 1; j < columns; ++j) row_max = x[j] > row_max ? x[j] : row_max;

  // exponentiate and sum; softmax keeps the exponentials in `out` for the last step
  Accumulator<T> total = 0;
  for (std::int64_t j = 0; j < columns; ++j) {
    T shifted_exp = std::exp(x[j] - row_max);
    if (!log) out[j] = shifted_exp;
    total += shifted_exp;
  }

  // normalize
  if (log) {
    T log_total = static_cast<T>(std::log(total));
    for (std::int64_t j = 0; j < columns; ++j) out[j] = x[j] - row_max - log_total;
  } else {
    T inverse_total = static_cast<T>(1.0 / total);
    for (std::int64_t j = 0; j < columns; ++j) out[j] *= inverse_total;
  }
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
    std::int64_t rows_per_grain = std::max<std::int64_t>(1, kParallelGrain / columns);
    parallel_for(rows, rows_per_grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) softmax_row<T>(in + r * columns, result + r * columns, columns, log);
    });
  });
}

}  // namespace moegrad
