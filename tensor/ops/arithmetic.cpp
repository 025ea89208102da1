// Binary arithmetic with broadcasting, comparisons, where/masked_fill, clamp.
// Inputs are promoted and broadcast first (broadcast_to is its own node whose backward sums back
// to the input's shape), so every rule here sees gradients of the output's shape.
#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

using detail::check_floating;
using detail::promote_and_broadcast;

namespace detail {

std::pair<Tensor, Tensor> promote_and_broadcast(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a, "first input");
  check_defined(op, b, "second input");
  check_same_device(op, a, b);
  DType dtype = promote_types(a.dtype(), b.dtype());
  Shape shape = broadcast_shapes(op, a.shape(), b.shape());
  return {broadcast_to(a.to(dtype), shape), broadcast_to(b.to(dtype), shape)};
}


}  // namespace detail

void check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what) {
  if (index.numel() == 0) return;
  backend_for(index.device()).check_index_range(op, index.contiguous(), size, what);
}

namespace {
Tensor run_binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend_for(a.device()).binary(op, a, b, out);
  return out;
}
}  // namespace

// An integer tensor meeting a fractional scalar promotes to float32, as in PyTorch (x * 0.5).
Tensor scalar_like(const Tensor& like, double value) {
  bool fractional = value != static_cast<double>(static_cast<std::int64_t>(value));
  DType dtype = like.dtype() == kInt64 && fractional ? kFloat32 : like.dtype();
  return full({}, value, dtype, like.device());
}

// out = a + b;  da = g, db = g
Tensor add(const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast("add", a, b);
  Tensor out = run_binary(BinaryOp::Add, x, y);
  return record("add", out, {x, y}, [](const Tensor& g) { return std::vector<Tensor>{g, g}; });
}

// out = a - b;  da = g, db = -g
Tensor sub(const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast("sub", a, b);
  Tensor out = run_binary(BinaryOp::Sub, x, y);
  return record("sub", out, {x, y}, [](const Tensor& g) { return std::vector<Tensor>{g, neg(g)}; });
}

// out = a * b;  da = g b, db = g a
Tensor mul(const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast("mul", a, b);
  Tensor out = run_binary(BinaryOp::Mul, x, y);
  return record("mul", out, {x, y}, [x, y](const Tensor& g) {
    return std::vector<Tensor>{x.requires_grad() ? mul(g, y) : Tensor(), y.requires_grad() ? mul(g, x) : Tensor()};
  });
}

// out = a / b;  da = g / b, db = -g a / b²
// Integers are divided as float32 (PyTorch's true division): through double, 7/0 was an undefined
// cast and 2^53+1 lost its last bit; floor_divide is the exact integer division.
Tensor div(const Tensor& a, const Tensor& b) {
  const bool both_integer = a.defined() && b.defined() && !is_floating(a.dtype()) && !is_floating(b.dtype());
  if (both_integer) return div(a.to(kFloat32), b.to(kFloat32));
  auto [x, y] = promote_and_broadcast("div", a, b);
  Tensor out = run_binary(BinaryOp::Div, x, y);
  return record("div", out, {x, y}, [x, y](const Tensor& g) {
    return std::vector<Tensor>{x.requires_grad() ? div(g, y) : Tensor(),
                               y.requires_grad() ? neg(div(mul(g, x), mul(y, y))) : Tensor()};
  });
}

// out = floor(a / b). Outside the graph, like comparisons: the derivative is 0 wherever it exists.
// PyTorch raises ZeroDivisionError for an integer division by zero; so do we, before any work.
Tensor floor_divide(const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast("floor_divide", a.detach(), b.detach());
  if (!is_floating(y.dtype()) && y.numel() > 0) {
    NoGradGuard no_grad;
    if (sum(eq(y, zeros_like(y))).item() > 0) {
      throw Error(fmt::format("[floor_divide] integer division by zero: the divisor of shape {} holds a 0",
                              shape_str(b.shape())));
    }
  }
  return run_binary(BinaryOp::FloorDivide, x, y);
}

// out = a^b;  da = g b a^(b-1), db = g out log(a)
Tensor pow(const Tensor& base, const Tensor& exponent) {
  auto [x, y] = promote_and_broadcast("pow", base, exponent);
  Tensor out = run_binary(BinaryOp::Pow, x, y);
  Tensor saved = out.detach();
  return record("pow", out, {x, y}, [x, y, saved](const Tensor& g) {
    return std::vector<Tensor>{x.requires_grad() ? mul(g, mul(y, pow(x, sub(y, ones_like(y))))) : Tensor(),
                               y.requires_grad() ? mul(g, mul(saved, log(x))) : Tensor()};
  });
}

// out = x^p;  dx = g p x^(p-1)
Tensor pow(const Tensor& base, double exponent) {
  check_floating("pow", base);
  Tensor out = detail::run_unary(UnaryOp::PowScalar, base, exponent);
  return record("pow", out, {base}, [base, exponent](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(pow(base, exponent - 1.0), scalar_like(g, exponent)))};
  });
}

// Ties split the gradient evenly between a and b (as PyTorch does).
namespace {
Tensor extremum(const char* name, BinaryOp op, BinaryOp wins, const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast(name, a, b);
  Tensor out = run_binary(op, x, y);
  return record(name, out, {x, y}, [x, y, wins](const Tensor& g) {
    Tensor x_wins = run_binary(wins, x, y);
    Tensor share = add(x_wins, mul(eq(x, y), scalar_like(g, 0.5)));
    return std::vector<Tensor>{mul(g, share), mul(g, sub(ones_like(share), share))};
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", BinaryOp::Maximum, BinaryOp::Gt, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", BinaryOp::Minimum, BinaryOp::Lt, a, b); }

// out = -x;  dx = -g
Tensor neg(const Tensor& x) {
  detail::check_defined("neg", x);
  Tensor out = detail::run_unary(UnaryOp::Neg, x);
  return record("neg", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

// ---------------- comparisons: 0/1 in the promoted dtype, outside the graph ----------------

namespace {
Tensor compare(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast(name, a.detach(), b.detach());
  return run_binary(op, x, y);
}
}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", BinaryOp::Ge, a, b); }

// out = condition ? a : b;  da = condition ? g : 0, db = condition ? 0 : g
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  auto [x, y] = promote_and_broadcast("where", a, b);
  detail::check_defined("where", condition, "condition");
  detail::check_same_device("where", condition, x);
  Shape shape = broadcast_shapes("where", condition.shape(), x.shape());
  Tensor c = broadcast_to(condition.detach().to(x.dtype()), shape);
  x = broadcast_to(x, shape);
  y = broadcast_to(y, shape);
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  backend_for(x.device()).where(c, x, y, out);
  return record("where", out, {x, y}, [c](const Tensor& g) {
    Tensor zero = zeros_like(g);
    return std::vector<Tensor>{where(c, g, zero), where(c, zero, g)};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  detail::check_defined("masked_fill", x);
  detail::check_defined("masked_fill", mask, "mask");
  Shape shape = broadcast_shapes("masked_fill", x.shape(), mask.shape());
  if (shape != x.shape()) {
    throw ShapeError(fmt::format("[masked_fill] mask {} must broadcast to the input's shape {}, not enlarge it",
                                 shape_str(mask.shape()), shape_str(x.shape())));
  }
  return where(mask, scalar_like(x, value), x);
}

// out = min(max(x, lo), hi);  dx = g where lo <= x <= hi, else 0
Tensor clamp(const Tensor& x, std::optional<double> min_value, std::optional<double> max_value) {
  detail::check_defined("clamp", x);
  if (min_value && max_value && *min_value > *max_value) {
    throw Error(fmt::format("[clamp] min {} is larger than max {}", *min_value, *max_value));
  }
  double low = min_value.value_or(-std::numeric_limits<double>::infinity());
  double high = max_value.value_or(std::numeric_limits<double>::infinity());
  if (x.dtype() == kInt64) {  // the kernel casts its bounds to the tensor's type; keep infinities out of int64
    low = std::max(low, -9.2e18);
    high = std::min(high, 9.2e18);
  }
  Tensor out = detail::run_unary(UnaryOp::Clamp, x, low, high);
  return record("clamp", out, {x}, [x, low, high](const Tensor& g) {
    Tensor inside = mul(ge(x, scalar_like(x, low)), le(x, scalar_like(x, high)));
    return std::vector<Tensor>{mul(g, inside)};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

}  // namespace moegrad
