// LayerNorm forward/backward on the GPU, the twin of tensor/cpu/layer_norm.cpp (whose comment has
// the formulas). Forward: one block per row, the mean and then the variance of the centred values
// (accumulated in double for float32). Backward: dx one block per row; dweight and dbias are sums
// down the rows, done in two deterministic steps — column partial sums over chunks of rows, then
// the sum of the chunks — instead of atomics, so the bits do not change from run to run.
#include "cuda/kernel_common.cuh"

namespace moegrad {

namespace {

using namespace cuda_kernels;

template <class T>
__global__ void layer_norm_forward_kernel(const T* x, const T* weight, const T* bias, double eps, std::int64_t columns,
                                          T* out, T* mean_out, T* rstd_out) {
  using Acc = Accumulator<T>;
  __shared__ Acc shared[32];
  const T* row = x + blockIdx.x * columns;
  T* row_out = out + blockIdx.x * columns;

  Acc total = 0;
  for (std::int64_t c = threadIdx.x; c < columns; c += blockDim.x) total += row[c];
  Acc mean = block_sum(total, shared) / static_cast<Acc>(columns);

  Acc squares = 0;
  for (std::int64_t c = threadIdx.x; c < columns; c += blockDim.x) {
    Acc centred = row[c] - mean;
    squares += centred * centred;
  }
  Acc rstd = 1 / sqrt(block_sum(squares, shared) / static_cast<Acc>(columns) + static_cast<Acc>(eps));

  for (std::int64_t c = threadIdx.x; c < columns; c += blockDim.x) {
    Acc normalized = (row[c] - mean) * rstd;
    if (weight) normalized *= weight[c];
    if (bias) normalized += bias[c];
    row_out[c] = static_cast<T>(normalized);
  }
  if (threadIdx.x == 0) {
    mean_out[blockIdx.x] = static_cast<T>(mean);
    rstd_out[blockIdx.x] = static_cast<T>(rstd);
  }
}

// dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g * weight
template <class T>
__global__ void layer_norm_grad_x_kernel(const T* grad_out, const T* x, const T* weight, const T* means,
                                         const T* rstds, std::int64_t columns, T* grad_x) {
  using Acc = Accumulator<T>;
  __shared__ Acc shared[32];
  std::int64_t offset = blockIdx.x * columns;
  const T* g = grad_out + offset;
  const T* row = x + offset;
  Acc mean = means[blockIdx.x], rstd = rstds[blockIdx.x];
  Acc dxhat_total = 0, dxhat_xhat_total = 0;
  for (std::int64_t c = threadIdx.x; c < columns; c += blockDim.x) {
    Acc xhat = (row[c] - mean) * rstd;
    Acc dxhat = weight ? Acc(g[c]) * weight[c] : Acc(g[c]);
    dxhat_total += dxhat;
    dxhat_xhat_total += dxhat * xhat;
  }
  Acc dxhat_mean = block_sum(dxhat_total, shared) / static_cast<Acc>(columns);
  Acc dxhat_xhat_mean = block_sum(dxhat_xhat_total, shared) / static_cast<Acc>(columns);
  for (std::int64_t c = threadIdx.x; c < columns; c += blockDim.x) {
    Acc xhat = (row[c] - mean) * rstd;
    Acc dxhat = weight ? Acc(g[c]) * weight[c] : Acc(g[c]);
    grad_x[offset + c] = static_cast<T>(rstd * (dxhat - dxhat_mean - xhat * dxhat_xhat_mean));
  }
}

constexpr std::int64_t kRowsPerChunk = 64;  // grows past 64 only beyond 65,535 chunks (the grid's y limit)

// partial[chunk, c] = Σ over the chunk's rows of (g xhat, g), for the column c of this thread
template <class T>
__global__ void layer_norm_param_partials_kernel(const T* grad_out, const T* x, const T* means, const T* rstds,
                                                 std::int64_t rows, std::int64_t columns, std::int64_t rows_per_chunk,
                                                 Accumulator<T>* weight_partial, Accumulator<T>* bias_partial) {
  using Acc = Accumulator<T>;
  std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= columns) return;
  std::int64_t first = blockIdx.y * rows_per_chunk;
  std::int64_t last = first + rows_per_chunk < rows ? first + rows_per_chunk : rows;
  Acc weight_sum = 0, bias_sum = 0;
  for (std::int64_t r = first; r < last; ++r) {
    Acc g = grad_out[r * columns + c];
    weight_sum += g * ((x[r * columns + c] - Acc(means[r])) * Acc(rstds[r]));
    bias_sum += g;
  }
  weight_partial[blockIdx.y * columns + c] = weight_sum;
  bias_partial[blockIdx.y * columns + c] = bias_sum;
}

template <class T>
__global__ void layer_norm_param_totals_kernel(const Accumulator<T>* weight_partial,
                                               const Accumulator<T>* bias_partial, std::int64_t chunks,
                                               std::int64_t columns, T* grad_weight, T* grad_bias) {
  std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= columns) return;
  Accumulator<T> weight_sum = 0, bias_sum = 0;
  for (std::int64_t k = 0; k < chunks; ++k) {
    weight_sum += weight_partial[k * columns + c];
    bias_sum += bias_partial[k * columns + c];
  }
  if (grad_weight) grad_weight[c] = static_cast<T>(weight_sum);
  if (grad_bias) grad_bias[c] = static_cast<T>(bias_sum);
}

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

int norm_threads(std::int64_t columns) { return row_threads(columns) > 512 ? 512 : row_threads(columns); }

}  // namespace

void CudaBackend::layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                     Tensor& out, Tensor& mean, Tensor& rstd) {
  if (x.numel() == 0) return;
  std::int64_t columns = x.shape().back();
  std::int64_t rows = x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    layer_norm_forward_kernel<T><<<static_cast<unsigned>(rows), norm_threads(columns), 0, stream()>>>(
        x.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), eps, columns, out.data<T>(), mean.data<T>(),
        rstd.data<T>());
  });
  check_launch("layer_norm");
}

void CudaBackend::layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                      const Tensor& mean, const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight,
                                      Tensor& grad_bias) {
  std::int64_t columns = x.shape().back();
  std::int64_t rows = columns == 0 ? 0 : x.numel() / columns;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using Acc = Accumulator<T>;
    if (rows > 0) {
      layer_norm_grad_x_kernel<T><<<static_cast<unsigned>(rows), norm_threads(columns), 0, stream()>>>(
          grad_out.data<T>(), x.data<T>(), data_or_null<T>(weight), mean.data<T>(), rstd.data<T>(), columns,
          grad_x.data<T>());
      check_launch("layer_norm_backward");
    }
    if (!grad_weight.defined() && !grad_bias.defined()) return;
    if (columns == 0) return;
    if (rows == 0) {  // sums over no rows
      if (grad_weight.defined()) fill(grad_weight, 0.0);
      if (grad_bias.defined()) fill(grad_bias, 0.0);
      return;
    }
    std::int64_t rows_per_chunk = std::max<std::int64_t>(kRowsPerChunk, (rows + 65534) / 65535);
    std::int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
    Scratch weight_partial(*this, chunks * columns * sizeof(Acc)), bias_partial(*this, chunks * columns * sizeof(Acc));
    dim3 grid(static_cast<unsigned>((columns + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
    layer_norm_param_partials_kernel<T><<<grid, kThreads, 0, stream()>>>(
        grad_out.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), rows, columns, rows_per_chunk, weight_partial.as<Acc>(),
        bias_partial.as<Acc>());
    check_launch("layer_norm_backward");
    layer_norm_param_totals_kernel<T><<<static_cast<unsigned>((columns + kThreads - 1) / kThreads), kThreads, 0,
                                        stream()>>>(weight_partial.as<Acc>(), bias_partial.as<Acc>(), chunks, columns,
                                                    data_or_null<T>(grad_weight), data_or_null<T>(grad_bias));
    check_launch("layer_norm_backward");
  });
}

}  // namespace moegrad
