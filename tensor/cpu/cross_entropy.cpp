// Cross-entropy over the classes, fused: logits (N,C) contiguous, target (N) int64, one row per
// sample. With m = max_c x_c and lse = m + log Σ_c exp(x_c - m) (stable for any logit size):
//   forward:  loss_n = lse_n - x_n[t_n]                         (0 where t_n == ignore_index)
//   backward: dx_n = (exp(x_n - lse_n) - onehot(t_n)) · g_n      (0 on ignored rows)
// Each is one pass over a row (two for the forward: the maximum, then the sum of exponentials),
// parallel over rows; nothing of size (N,C) is stored between them but the logits themselves.
// Composed from log_softmax and gather, the same loss made and kept a full (N,C) log-probability
// tensor and four more (N,C) temporaries in the backward.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/row_math.h"

namespace moegrad {

namespace {

// log Σ_c exp(x_c), shifted by the row maximum. NaNs skipped there propagate through the sum; an
// infinite maximum makes the row NaN, as log_softmax does (PyTorch too).
template <class T>
[[gnu::always_inline]] inline T row_log_sum_exp(const T* x, std::int64_t columns) {
  const T row_max = lane_max(x, columns);
  return row_max + static_cast<T>(std::log(lane_sum_exp(x, columns, row_max)));
}

// dx_c = exp(x_c - lse) · g for one row (the caller subtracts g at the target)
template <class T>
[[gnu::always_inline]] inline void row_softmax_times(const T* x, T shift, T scale, T* out, std::int64_t columns) {
  for (std::int64_t c = 0; c < columns; ++c) out[c] = row_exp(x[c] - shift) * scale;
}

// The float32 rows, built per vector width (a vocabulary row is thousands of exponentials).
MOEGRAD_ISA_CLONES float row_log_sum_exp_float(const float* x, std::int64_t columns) {
  return row_log_sum_exp(x, columns);
}
MOEGRAD_ISA_CLONES void row_softmax_times_float(const float* x, float shift, float scale, float* out,
                                                std::int64_t columns) {
  row_softmax_times(x, shift, scale, out, columns);
}
template <class T>
T log_sum_exp_of_row(const T* x, std::int64_t columns) {
  if constexpr (std::is_same_v<T, float>) {
    return row_log_sum_exp_float(x, columns);
  } else {
    return row_log_sum_exp(x, columns);
  }
}
template <class T>
void softmax_times_of_row(const T* x, T shift, T scale, T* out, std::int64_t columns) {
  if constexpr (std::is_same_v<T, float>) {
    row_softmax_times_float(x, shift, scale, out, columns);
  } else {
    row_softmax_times(x, shift, scale, out, columns);
  }
}

template <class Body>
void for_rows(std::int64_t rows, std::int64_t columns, Body&& body) {
  parallel_for(rows, std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(columns, 1)), body);
}

}  // namespace

void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                       Tensor& losses, Tensor& log_sum_exp) {
  const std::int64_t rows = logits.shape()[0], columns = logits.shape()[1];
  const std::int64_t* labels = target.data<std::int64_t>();
  dispatch_floating(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = logits.data<T>();
    T* loss = losses.data<T>();
    T* lse = log_sum_exp.data<T>();
    for_rows(rows, columns, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) {
        const T* row = x + n * columns;
        lse[n] = log_sum_exp_of_row(row, columns);
        loss[n] = labels[n] == ignore_index ? T(0) : lse[n] - row[labels[n]];
      }
    });
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                        const Tensor& log_sum_exp, const Tensor& row_grad, Tensor& grad_logits) {
  const std::int64_t rows = logits.shape()[0], columns = logits.shape()[1];
  const std::int64_t* labels = target.data<std::int64_t>();
  dispatch_floating(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = logits.data<T>();
    const T* lse = log_sum_exp.data<T>();
    const T* g = row_grad.data<T>();
    T* grad = grad_logits.data<T>();
    for_rows(rows, columns, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) {
        const T* row = x + n * columns;
        T* out = grad + n * columns;
        if (labels[n] == ignore_index) {
          std::fill(out, out + columns, T(0));
          continue;
        }
        const T shift = lse[n], scale = g[n];
        softmax_times_of_row(row, shift, scale, out, columns);
        out[labels[n]] -= scale;
      }
    });
  });
}

}  // namespace moegrad
