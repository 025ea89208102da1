// LayerNorm over the last axis as a forward/backward kernel pair, llm.c style.
// x (R,C): R rows (every leading axis flattened) of C features; weight, bias (C) or undefined
// (then 1 and 0); mean, rstd (R) are written by the forward and read by the backward pass.
//
// forward:  mean = Σ_c x_c / C,  var = Σ_c (x_c - mean)² / C  (the population variance),
//           rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd,  out = xhat * weight + bias
// backward: dxhat = g * weight
//           dx = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat))
//           dweight = Σ_rows g * xhat,  dbias = Σ_rows g
// float32 statistics and sums accumulate in double; the variance is a second pass over the
// centred values, so a large common offset in a row does not cancel its digits away.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"

namespace moegrad {

namespace {

template <class T>
using Accumulator = std::conditional_t<std::is_same_v<T, float>, double, T>;

// Pointer to the data of an optional tensor, nullptr when it is undefined.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
void layer_norm_forward_row(const T* x, const T* weight, const T* bias, double eps, std::int64_t columns, T* out,
                            T* mean_out, T* rstd_out) {
  using Acc = Accumulator<T>;
  // the mean
  Acc total = 0;
  for (std::int64_t c = 0; c < columns; ++c) total += x[c];
  Acc mean = total / static_cast<Acc>(columns);

  // the population variance, from the centred values
  Acc squares = 0;
  for (std::int64_t c = 0; c < columns; ++c) {
    Acc centred = x[c] - mean;
    squares += centred * centred;
  }
  Acc rstd = 1 / std::sqrt(squares / static_cast<Acc>(columns) + static_cast<Acc>(eps));

  // normalise, scale and shift
  for (std::int64_t c = 0; c < columns; ++c) {
    Acc normalized = (x[c] - mean) * rstd;
    if (weight) normalized *= weight[c];
    if (bias) normalized += bias[c];
    out[c] = static_cast<T>(normalized);
  }
  // cache the statistics for the backward pass
  *mean_out = static_cast<T>(mean);
  *rstd_out = static_cast<T>(rstd);
}

template <class T>
void layer_norm_backward_row(const T* grad_out, const T* x, const T* weight, Accumulator<T> mean,
                             Accumulator<T> rstd, std::int64_t columns, T* grad_x) {
  using Acc = Accumulator<T>;
  // the two row means the formula needs: mean(dxhat) and mean(dxhat * xhat)
  Acc dxhat_total = 0, dxhat_xhat_total = 0;
  for (std::int64_t c = 0; c < columns; ++c) {
    Acc xhat = (x[c] - mean) * rstd;
    Acc dxhat = weight ? Acc(grad_out[c]) * weight[c] : Acc(grad_out[c]);
    dxhat_total += dxhat;
    dxhat_xhat_total += dxhat * xhat;
  }
  Acc dxhat_mean = dxhat_total / static_cast<Acc>(columns);
  Acc dxhat_xhat_mean = dxhat_xhat_total / static_cast<Acc>(columns);

  // dx, one element at a time
  for (std::int64_t c = 0; c < columns; ++c) {
    Acc xhat = (x[c] - mean) * rstd;
    Acc dxhat = weight ? Acc(grad_out[c]) * weight[c] : Acc(grad_out[c]);
    grad_x[c] = static_cast<T>(rstd * (dxhat - dxhat_mean - xhat * dxhat_xhat_mean));
  }
}

}  // namespace

void CpuBackend::layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                                    Tensor& mean, Tensor& rstd) {
  if (x.numel() == 0) return;
  std::int64_t columns = x.shape().back();
  std::int64_t rows = x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    const T* weight_data = data_or_null<T>(weight);
    const T* bias_data = data_or_null<T>(bias);
    T* result = out.data<T>();
    T* means = mean.data<T>();
    T* rstds = rstd.data<T>();
    parallel_for(rows, std::max<std::int64_t>(1, kParallelGrain / columns), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        layer_norm_forward_row<T>(in + r * columns, weight_data, bias_data, eps, columns, result + r * columns,
                                  means + r, rstds + r);
      }
    });
  });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) {
  std::int64_t columns = x.shape().back();
  std::int64_t rows = columns == 0 ? 0 : x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using Acc = Accumulator<T>;
    const T* g = grad_out.data<T>();
    const T* in = x.data<T>();
    const T* weight_data = data_or_null<T>(weight);
    const T* means = mean.data<T>();
    const T* rstds = rstd.data<T>();
    T* dweight = data_or_null<T>(grad_weight);
    T* dbias = data_or_null<T>(grad_bias);

    // dx: each row is independent, so threads split the rows
    T* dx = grad_x.data<T>();
    parallel_for(rows, std::max<std::int64_t>(1, kParallelGrain / columns), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        layer_norm_backward_row<T>(g + r * columns, in + r * columns, weight_data, means[r], rstds[r], columns,
                                   dx + r * columns);
      }
    });

    // dweight, dbias: sums down the rows. Threads split the columns instead, each walking every
    // row over its own block, so no two threads write one sum and the result is the same for any
    // thread count.
    if (!dweight && !dbias) return;
    parallel_for(columns, std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(rows, 1)),
                 [&](std::int64_t begin, std::int64_t end) {
                   std::vector<Acc> weight_sums(end - begin, 0), bias_sums(end - begin, 0);
                   for (std::int64_t r = 0; r < rows; ++r) {
                     const T* g_row = g + r * columns;
                     const T* x_row = in + r * columns;
                     Acc row_mean = means[r], row_rstd = rstds[r];
                     for (std::int64_t c = begin; c < end; ++c) {
                       weight_sums[c - begin] += Acc(g_row[c]) * ((x_row[c] - row_mean) * row_rstd);
                       bias_sums[c - begin] += g_row[c];
                     }
                   }
                   for (std::int64_t c = begin; c < end; ++c) {
                     if (dweight) dweight[c] = static_cast<T>(weight_sums[c - begin]);
                     if (dbias) dbias[c] = static_cast<T>(bias_sums[c - begin]);
                   }
                 });
  });
}

}  // namespace moegrad
