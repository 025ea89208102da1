// layer_norm: one fused kernel each way (tensor/cpu/layer_norm.cpp). Composed from public ops it
// would take about ten nodes and as many full-size temporaries; the forward kernel instead saves
// only the per-row mean and rstd for the backward pass.
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// weight and bias are optional; when given they must be (C) and match x's dtype and device.
void check_affine(const Tensor& x, const Tensor& parameter, const char* what) {
  if (!parameter.defined()) return;
  detail::check_same_device("layer_norm", x, parameter);
  std::int64_t features = x.shape().back();
  if (parameter.shape() != Shape{features}) {
    throw ShapeError(fmt::format("[layer_norm] {} must have shape [{}] (the last axis of input {}), got {}", what,
                                 features, detail::describe(x), detail::describe(parameter)));
  }
  if (parameter.dtype() != x.dtype()) {
    throw DTypeError(fmt::format("[layer_norm] {} must have the input's dtype: input is {}, {} is {}", what,
                                 detail::describe(x), what, detail::describe(parameter)));
  }
}

Tensor detached_contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

}  // namespace

// x (...,C), weight (C), bias (C) -> out (...,C); each row of C features is normalised on its own:
//   out = (x - mean) / sqrt(var + eps) * weight + bias   (var: the population variance)
// The backward is the fused kernel: with xhat = (x - mean) rstd and dxhat = g weight,
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dweight = Σ_rows g xhat,  dbias = Σ_rows g.
// Because that rule is a kernel and not a composition of ops, it is not itself differentiable:
// layer_norm supports first derivatives only (no double backward).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  detail::check_defined("layer_norm", x);
  detail::check_floating("layer_norm", x);
  if (x.dim() == 0 || x.shape().back() == 0) {
    throw ShapeError(fmt::format("[layer_norm] normalises over the last axis, which must be non-empty; got {}",
                                 detail::describe(x)));
  }
  check_affine(x, weight, "weight");
  check_affine(x, bias, "bias");
  if (!(eps >= 0.0)) throw Error(fmt::format("[layer_norm] eps must be >= 0, got {}", eps));

  std::int64_t features = x.shape().back();
  std::int64_t rows = x.numel() / features;
  Tensor input = x.detach().contiguous();
  Tensor scale = detached_contiguous_or_undefined(weight);
  Tensor shift = detached_contiguous_or_undefined(bias);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({rows}, x.dtype(), x.device());
  Tensor rstd = Tensor::empty({rows}, x.dtype(), x.device());
  backend_for(x.device()).layer_norm_forward(input, scale, shift, eps, out, mean, rstd);

  return record("layer_norm", out, {x, weight, bias}, [x, weight, bias, input, scale, mean, rstd](const Tensor& g) {
    bool want_weight = weight.defined() && weight.requires_grad();
    bool want_bias = bias.defined() && bias.requires_grad();
    Tensor grad_x = Tensor::empty(input.shape(), input.dtype(), input.device());
    Tensor grad_weight = want_weight ? Tensor::empty(weight.shape(), input.dtype(), input.device()) : Tensor();
    Tensor grad_bias = want_bias ? Tensor::empty(bias.shape(), input.dtype(), input.device()) : Tensor();
    backend_for(input.device())
        .layer_norm_backward(g.contiguous(), input, scale, mean, rstd, grad_x, grad_weight, grad_bias);
    return std::vector<Tensor>{x.requires_grad() ? grad_x : Tensor(), grad_weight, grad_bias};
  });
}

}  // namespace moegrad
