// The base Backend's fused kernels, composed from the backend's plain kernels through public ops
// (with gradient recording off). A backend that has no one-pass version of a fused kernel (the CUDA
// one, so far) runs these: slower, several temporaries, the same numbers up to rounding. The CPU
// backend overrides every one of them (tensor/cpu/elementwise.cpp, softmax.cpp, cross_entropy.cpp).
#include <cmath>

#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {
// Writes `value` into the kernel's output tensor, which the caller allocated.
void write_into(Backend& backend, const Tensor& value, Tensor& out) { backend.copy(value.contiguous(), out); }
}  // namespace

// erf form:  d gelu = Φ(x) + x φ(x)
// tanh form: d gelu = ½(1 + tanh u) + ½x(1 - tanh²u) √(2/π)(1 + 3·0.044715x²), u = √(2/π)(x + 0.044715x³)
void Backend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& grad_out, Tensor& grad_in) {
  if (op != UnaryOp::GeluErf && op != UnaryOp::GeluTanh) {
    throw Error(fmt::format("[{}] has no fused backward kernel", unary_op_name(op)));
  }
  NoGradGuard no_grad;
  Tensor derivative;
  if (op == UnaryOp::GeluErf) {
    Tensor pdf = exp(square(x) * -0.5) * (1.0 / std::sqrt(2.0 * M_PI));
    derivative = normal_cdf(x) + x * pdf;
  } else {
    const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
    Tensor t = tanh((x + pow(x, 3.0) * c) * k);
    derivative = (1.0 + t) * 0.5 + (x * 0.5) * (1.0 - square(t)) * ((square(x) * (3.0 * c) + 1.0) * k);
  }
  write_into(*this, grad_out * derivative, grad_in);
}

void Backend::softmax_backward(const Tensor& y, const Tensor& grad_out, Tensor& grad_in, bool log) {
  NoGradGuard no_grad;
  Tensor result = log ? grad_out - exp(y) * sum(grad_out, {-1}, true) : y * (grad_out - sum(grad_out * y, {-1}, true));
  write_into(*this, result, grad_in);
}

void Backend::scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask, Tensor& out) {
  NoGradGuard no_grad;
  Tensor scores = x * scale;
  if (mask.defined()) scores = scores + mask;
  write_into(*this, moegrad::softmax(scores, -1), out);
}

void Backend::scaled_masked_softmax_backward(const Tensor& y, const Tensor& grad_out, double scale, Tensor& grad_in) {
  NoGradGuard no_grad;
  write_into(*this, y * (grad_out - sum(grad_out * y, {-1}, true)) * scale, grad_in);
}

void Backend::cross_entropy_forward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                    Tensor& losses, Tensor& log_sum_exp) {
  NoGradGuard no_grad;
  const std::int64_t rows = logits.shape()[0];
  Tensor label_column = reshape(target, {rows, 1});
  Tensor ignored = eq(label_column, scalar_like(label_column, static_cast<double>(ignore_index)));
  Tensor lse = logsumexp(logits, {1}, true);                                     // (N,1)
  Tensor picked = moegrad::gather(logits, 1, masked_fill(label_column, ignored, 0.0));  // (N,1)
  Tensor result = moegrad::where(ignored, scalar_like(picked, 0.0), lse - picked);
  write_into(*this, reshape(result, {rows}), losses);
  write_into(*this, reshape(lse, {rows}), log_sum_exp);
}

void Backend::cross_entropy_backward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                     const Tensor& log_sum_exp, const Tensor& row_grad, Tensor& grad_logits) {
  NoGradGuard no_grad;
  const std::int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  Tensor label_column = reshape(target, {rows, 1});
  Tensor onehot = eq(reshape(arange(classes, kInt64, logits.device()), {1, classes}), label_column).to(logits.dtype());
  Tensor probabilities = exp(logits - reshape(log_sum_exp, {rows, 1}));
  Tensor ignored = eq(label_column, scalar_like(label_column, static_cast<double>(ignore_index)));
  Tensor gradient = (probabilities - onehot) * reshape(row_grad, {rows, 1});
  write_into(*this, moegrad::where(ignored, scalar_like(gradient, 0.0), gradient), grad_logits);
}

}  // namespace moegrad
