// Elementwise math. Each op: the forward kernel, then its derivative in the comment and the rule.
#include <cmath>

#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

using detail::run_unary;

namespace {
Tensor floating_unary(const char* name, UnaryOp op, const Tensor& x) {
  detail::check_defined(name, x);
  detail::check_floating(name, x);
  return run_unary(op, x);
}
// φ(x) = exp(-x²/2) / √(2π), the standard normal density
Tensor normal_pdf(const Tensor& x) { return exp(mul(square(x), scalar_like(x, -0.5))) * (1.0 / std::sqrt(2.0 * M_PI)); }
}  // namespace

// d exp(x) = exp(x)
Tensor exp(const Tensor& x) {
  Tensor out = floating_unary("exp", UnaryOp::Exp, x);
  Tensor saved = out.detach();
  return record("exp", out, {x}, [saved](const Tensor& g) { return std::vector<Tensor>{mul(g, saved)}; });
}

// d log(x) = 1/x
Tensor log(const Tensor& x) {
  Tensor out = floating_unary("log", UnaryOp::Log, x);
  return record("log", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{div(g, x)}; });
}

// d √x = 1 / (2√x)
Tensor sqrt(const Tensor& x) {
  Tensor out = floating_unary("sqrt", UnaryOp::Sqrt, x);
  Tensor saved = out.detach();
  return record("sqrt", out, {x}, [saved](const Tensor& g) {
    return std::vector<Tensor>{div(g, mul(saved, scalar_like(saved, 2.0)))};
  });
}

// d |x| = sign(x) (0 at 0, as in PyTorch)
Tensor abs(const Tensor& x) {
  detail::check_defined("abs", x);
  Tensor out = run_unary(UnaryOp::Abs, x);
  return record("abs", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, sign(x))}; });
}

// d x² = 2x
Tensor square(const Tensor& x) {
  detail::check_defined("square", x);
  Tensor out = run_unary(UnaryOp::Square, x);
  return record("square", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, x * 2.0)}; });
}

// d tanh(x) = 1 - tanh²(x)
Tensor tanh(const Tensor& x) {
  Tensor out = floating_unary("tanh", UnaryOp::Tanh, x);
  Tensor saved = out.detach();
  return record("tanh", out, {x}, [saved](const Tensor& g) {
    return std::vector<Tensor>{mul(g, 1.0 - square(saved))};
  });
}

// d σ(x) = σ(x)(1 - σ(x))
Tensor sigmoid(const Tensor& x) {
  Tensor out = floating_unary("sigmoid", UnaryOp::Sigmoid, x);
  Tensor saved = out.detach();
  return record("sigmoid", out, {x}, [saved](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(saved, 1.0 - saved))};
  });
}

// d relu(x) = 1 for x > 0, else 0 (0 at 0, like PyTorch; max(x,0) written as a maximum would give ½)
Tensor relu(const Tensor& x) {
  detail::check_defined("relu", x);
  Tensor out = run_unary(UnaryOp::Relu, x);
  return record("relu", out, {x}, [x](const Tensor& g) {
    return std::vector<Tensor>{mul(g, run_unary(UnaryOp::Step, x))};
  });
}

// erf form:  gelu(x) = x Φ(x),  d = Φ(x) + x φ(x)
// tanh form: gelu(x) = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³),
//            d = ½(1 + tanh u) + ½x(1 - tanh²u) √(2/π)(1 + 3·0.044715x²)
// The backward is one kernel, g · d(x) in a single pass (Backend::unary_backward): composed from ops
// it took about a dozen full-size temporaries. Like layer_norm, it supports first derivatives only.
Tensor gelu(const Tensor& x, GeluApproximation approximation) {
  const bool erf_form = approximation == GeluApproximation::Erf;
  const char* name = erf_form ? "gelu" : "gelu_tanh";
  const UnaryOp op = erf_form ? UnaryOp::GeluErf : UnaryOp::GeluTanh;
  Tensor out = floating_unary(name, op, x);
  Tensor input = x.detach().contiguous();
  return record(name, out, {x}, [input, op](const Tensor& g) {
    Tensor grad = Tensor::empty(input.shape(), input.dtype(), input.device());
    backend_for(input.device()).unary_backward(op, input, g.contiguous(), grad);
    return std::vector<Tensor>{grad};
  });
}

// softplus(x) = log(1 + eˣ),  d = σ(x)
Tensor softplus(const Tensor& x) {
  Tensor out = floating_unary("softplus", UnaryOp::Softplus, x);
  return record("softplus", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, sigmoid(x))}; });
}

// d erf(x) = 2/√π · exp(-x²)
Tensor erf(const Tensor& x) {
  Tensor out = floating_unary("erf", UnaryOp::Erf, x);
  return record("erf", out, {x}, [x](const Tensor& g) {
    return std::vector<Tensor>{mul(g, exp(neg(square(x))) * (2.0 / std::sqrt(M_PI)))};
  });
}

// Φ(x) = ½(1 + erf(x/√2)),  d = φ(x)
Tensor normal_cdf(const Tensor& x) {
  Tensor out = floating_unary("normal_cdf", UnaryOp::NormalCdf, x);
  return record("normal_cdf", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, normal_pdf(x))}; });
}

Tensor sign(const Tensor& x) {
  detail::check_defined("sign", x);
  return run_unary(UnaryOp::Sign, x.detach());
}

Tensor floor(const Tensor& x) {
  detail::check_defined("floor", x);
  detail::check_floating("floor", x);
  return run_unary(UnaryOp::Floor, x.detach());
}

Tensor ceil(const Tensor& x) {
  detail::check_defined("ceil", x);
  detail::check_floating("ceil", x);
  return run_unary(UnaryOp::Ceil, x.detach());
}

}  // namespace moegrad
