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
//
// Attention's scaled_masked_softmax is the same row softmax of z = scale·x + mask, each z_j formed
// as the composed ops form it (x_j·scale rounded, then + mask_j rounded), so the fused kernel gives
// the bits of scale, add and softmax run one after another, with one read of x instead of five
// passes and two (B,H,T,T) temporaries. Its backward is scale · y (g - Σ_c g y), rounded as the
// softmax backward followed by the multiply.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/row_math.h"

namespace moegrad {

namespace {

template <class T>
[[gnu::always_inline]] inline void softmax_row(const T* x, T* out, std::int64_t columns, bool log) {
  // find the row maximum (NaNs are skipped here and propagate through the sum below)
  const T row_max = lane_max(x, columns);

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

// z = scale·x + mask along one row (mask_step 0 broadcasts one value; mask null: no mask), then
// the row softmax of z into out.
template <class T>
[[gnu::always_inline]] inline void scaled_masked_softmax_row(const T* x, T scale, const T* mask, std::int64_t mask_step, T* out,
                               std::int64_t columns) {
  // scale and mask into `out`, which then holds z
  if (mask == nullptr) {
    for (std::int64_t j = 0; j < columns; ++j) out[j] = x[j] * scale;
  } else {
    for (std::int64_t j = 0; j < columns; ++j) {
      T scaled = x[j] * scale;
      out[j] = scaled + mask[j * mask_step];
    }
  }
  softmax_row<T>(out, out, columns, false);  // reads each z_j before it overwrites it
}

template <class T>
[[gnu::always_inline]] inline void softmax_backward_row(const T* y, const T* g, T* grad, std::int64_t columns, bool log) {
  if (log) {
    T total = static_cast<T>(lane_sum(g, columns));
    for (std::int64_t j = 0; j < columns; ++j) grad[j] = g[j] - row_exp(y[j]) * total;
  } else {
    T dot = static_cast<T>(lane_dot(g, y, columns));
    for (std::int64_t j = 0; j < columns; ++j) grad[j] = y[j] * (g[j] - dot);
  }
}

// The float32 rows, built per vector width (MOEGRAD_ISA_CLONES); other dtypes take the templates.
MOEGRAD_ISA_CLONES void softmax_row_float(const float* x, float* out, std::int64_t columns, bool log) {
  softmax_row<float>(x, out, columns, log);
}
MOEGRAD_ISA_CLONES void scaled_masked_softmax_row_float(const float* x, float scale, const float* mask,
                                                        std::int64_t mask_step, float* out, std::int64_t columns) {
  scaled_masked_softmax_row<float>(x, scale, mask, mask_step, out, columns);
}
MOEGRAD_ISA_CLONES void softmax_backward_row_float(const float* y, const float* g, float* grad, std::int64_t columns,
                                                   bool log, float factor) {
  softmax_backward_row<float>(y, g, grad, columns, log);
  if (factor != 1.0f) {
    for (std::int64_t j = 0; j < columns; ++j) grad[j] *= factor;
  }
}
template <class T>
void softmax_of_row(const T* x, T* out, std::int64_t columns, bool log) {
  if constexpr (std::is_same_v<T, float>) {
    softmax_row_float(x, out, columns, log);
  } else {
    softmax_row<T>(x, out, columns, log);
  }
}
template <class T>
void scaled_masked_softmax_of_row(const T* x, T scale, const T* mask, std::int64_t mask_step, T* out,
                                  std::int64_t columns) {
  if constexpr (std::is_same_v<T, float>) {
    scaled_masked_softmax_row_float(x, scale, mask, mask_step, out, columns);
  } else {
    scaled_masked_softmax_row<T>(x, scale, mask, mask_step, out, columns);
  }
}
// grad = factor · (the softmax backward of the row); factor 1 leaves it as it is
template <class T>
void softmax_backward_of_row(const T* y, const T* g, T* grad, std::int64_t columns, bool log, T factor) {
  if constexpr (std::is_same_v<T, float>) {
    softmax_backward_row_float(y, g, grad, columns, log, factor);
  } else {
    softmax_backward_row<T>(y, g, grad, columns, log);
    if (factor != T(1)) {
      for (std::int64_t j = 0; j < columns; ++j) grad[j] *= factor;
    }
  }
}

// Where row `row` of a view with `shape` starts, given the view's strides: the row number split
// into indices over the leading axes (all but the last).
std::int64_t row_offset(std::int64_t row, const Shape& shape, const Strides& strides) {
  std::int64_t offset = 0;
  for (std::int64_t axis = static_cast<std::int64_t>(shape.size()) - 2; axis >= 0; --axis) {
    offset += (row % shape[axis]) * strides[axis];
    row /= shape[axis];
  }
  return offset;
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
      for (std::int64_t r = begin; r < end; ++r) softmax_of_row<T>(in + r * columns, result + r * columns, columns, log);
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
        softmax_backward_of_row<T>(out + r * columns, g + r * columns, result + r * columns, columns, log, T(1));
      }
    });
  });
}

void CpuBackend::scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask, Tensor& out) {
  if (x.numel() == 0) return;
  std::int64_t columns = x.shape().back();
  std::int64_t rows = x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    const T* mask_data = mask.defined() ? mask.data<T>() : nullptr;
    const std::int64_t mask_step = mask.defined() ? mask.strides().back() : 0;
    T* result = out.data<T>();
    for_rows(rows, columns, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        const T* mask_row = mask_data ? mask_data + row_offset(r, mask.shape(), mask.strides()) : nullptr;
        scaled_masked_softmax_of_row<T>(in + r * columns, static_cast<T>(scale), mask_row, mask_step,
                                        result + r * columns, columns);
      }
    });
  });
}

void CpuBackend::scaled_masked_softmax_backward(const Tensor& y, const Tensor& grad_out, double scale,
                                                Tensor& grad_in) {
  if (y.numel() == 0) return;
  std::int64_t columns = y.shape().back();
  std::int64_t rows = y.numel() / columns;
  dispatch_floating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* out = y.data<T>();
    const T* g = grad_out.data<T>();
    T* result = grad_in.data<T>();
    const T factor = static_cast<T>(scale);
    for_rows(rows, columns, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        softmax_backward_of_row<T>(out + r * columns, g + r * columns, result + r * columns, columns, false, factor);
      }
    });
  });
}

}  // namespace moegrad
