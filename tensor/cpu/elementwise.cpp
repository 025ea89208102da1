// CPU elementwise kernels: fill, copy (with dtype cast), unary math, binary arithmetic and
// comparisons, where. Every view may be strided; broadcast inputs arrive with stride 0.
#include <cmath>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"

namespace moegrad {

namespace {

// GELU, both forms, value and derivative. float64 goes through the C library; float32 through the
// branch-free versions of tensor/cpu/fast_math.h, so its loops vectorise. For float32 the tanh form
// is written as x σ(2u), the same function since ½(1 + tanh u) = σ(2u), and its derivative as
// σ(2u) + 2x σ(2u)(1 - σ(2u)) u'(x), since ½(1 - tanh²u) = 2σ(2u)(1 - σ(2u)). The float32 versions are
// forced inline: a loop that calls them out of line is neither vectorised nor branch-free.
constexpr double kSqrt2OverPi = 0.7978845608028654;  // √(2/π)
constexpr double kGeluCubic = 0.044715;
constexpr double kInverseSqrt2Pi = 0.3989422804014327;  // 1/√(2π)

double gelu_erf(double x) { return 0.5 * x * std::erfc(-x * M_SQRT1_2); }
[[gnu::always_inline]] inline float gelu_erf(float x) { return x * fast::normal_cdf_pair(x).cdf; }
double gelu_tanh(double x) { return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x))); }
[[gnu::always_inline]] inline float gelu_tanh(float x) {
  float u = static_cast<float>(kSqrt2OverPi) * (x + static_cast<float>(kGeluCubic) * x * x * x);
  return x * fast::sigmoid_of_twice(u).s;
}

// d/dx x Φ(x) = Φ(x) + x φ(x)
double gelu_erf_derivative(double x) { return 0.5 * std::erfc(-x * M_SQRT1_2) + x * kInverseSqrt2Pi * std::exp(-0.5 * x * x); }
[[gnu::always_inline]] inline float gelu_erf_derivative(float x) {
  return fast::normal_cdf_pair(x).cdf + x * static_cast<float>(kInverseSqrt2Pi) * fast::exp_float(-0.5f * x * x);
}
// d/dx ½x(1 + tanh u) = ½(1 + tanh u) + ½x(1 - tanh²u) u',  u' = √(2/π)(1 + 3·0.044715 x²)
double gelu_tanh_derivative(double x) {
  double t = std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
  double du = kSqrt2OverPi * (1.0 + 3.0 * kGeluCubic * x * x);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}
[[gnu::always_inline]] inline float gelu_tanh_derivative(float x) {
  const float k = static_cast<float>(kSqrt2OverPi), c = static_cast<float>(kGeluCubic);
  fast::SigmoidPair s = fast::sigmoid_of_twice(k * (x + c * x * x * x));
  float du = k * (1.0f + 3.0f * c * x * x);
  return s.s + 2.0f * x * s.s * s.one_minus_s * du;
}
// The GELU loops over contiguous float32: compute-bound, so built for each vector width.
MOEGRAD_ISA_CLONES void gelu_values(UnaryOp op, const float* x, float* out, std::int64_t n) {
  if (op == UnaryOp::GeluErf) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = gelu_erf(x[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = gelu_tanh(x[i]);
  }
}
MOEGRAD_ISA_CLONES void gelu_gradients(UnaryOp op, const float* x, const float* g, float* out, std::int64_t n) {
  if (op == UnaryOp::GeluErf) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * gelu_erf_derivative(x[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * gelu_tanh_derivative(x[i]);
  }
}

template <class T>
T softplus(T x) {  // max(x,0) + log1p(exp(-|x|)): no overflow for large x, no log(1) rounding for small
  return std::max(x, static_cast<T>(0)) + std::log1p(std::exp(-std::abs(x)));
}
template <class T>
T sigmoid(T x) {
  if (x >= 0) return static_cast<T>(1) / (static_cast<T>(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (static_cast<T>(1) + e);
}
template <class T>
T normal_cdf(T x) {  // erfc keeps precision in the lower tail, where 1 + erf(x) would cancel
  return static_cast<T>(0.5) * std::erfc(-x * static_cast<T>(M_SQRT1_2));
}

// Exact floor division. Integers: C++ truncates toward zero, so step down when the signs differ
// and there is a remainder; x / -1 is negation with wrap-around (INT64_MIN / -1 would trap);
// a zero divisor gives 0 here, but floor_divide refuses it before reaching the kernel.
template <class T>
T floor_divide(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::floor(x / y);
  } else {
    if (y == 0) return 0;
    if (y == -1) return static_cast<T>(0 - static_cast<std::uint64_t>(x));
    T quotient = x / y;
    if (x % y != 0 && ((x < 0) != (y < 0))) --quotient;
    return quotient;
  }
}

template <class T, class F>
void map_unary(const Tensor& x, Tensor& out, F f) {
  const T* in = x.data<T>();
  T* result = out.data<T>();
  for_each_run<2>(x.shape(), {&x.strides(), &out.strides()},
                  [&](const std::array<std::int64_t, 2>& at, std::int64_t run, const std::array<std::int64_t, 2>& step) {
                    const T* source = in + at[0];
                    T* target = result + at[1];
                    if (step[0] == 1 && step[1] == 1) {
                      for (std::int64_t i = 0; i < run; ++i) target[i] = f(source[i]);
                    } else {
                      for (std::int64_t i = 0; i < run; ++i) target[i * step[1]] = f(source[i * step[0]]);
                    }
                  });
}

template <class T, class F>
void map_binary(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const T* left = a.data<T>();
  const T* right = b.data<T>();
  T* result = out.data<T>();
  for_each_run<3>(out.shape(), {&a.strides(), &b.strides(), &out.strides()},
                  [&](const std::array<std::int64_t, 3>& at, std::int64_t run, const std::array<std::int64_t, 3>& step) {
                    const T* x = left + at[0];
                    const T* y = right + at[1];
                    T* z = result + at[2];
                    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
                      for (std::int64_t i = 0; i < run; ++i) z[i] = f(x[i], y[i]);
                    } else if (step[0] == 1 && step[1] == 0 && step[2] == 1) {  // tensor op scalar/row
                      const T y0 = y[0];
                      for (std::int64_t i = 0; i < run; ++i) z[i] = f(x[i], y0);
                    } else if (step[0] == 0 && step[1] == 1 && step[2] == 1) {  // scalar/row op tensor
                      const T x0 = x[0];
                      for (std::int64_t i = 0; i < run; ++i) z[i] = f(x0, y[i]);
                    } else {
                      for (std::int64_t i = 0; i < run; ++i) z[i * step[2]] = f(x[i * step[0]], y[i * step[1]]);
                    }
                  });
}

}  // namespace

// fill and copy move values without computing on them, so they are the kernels that read and
// write bfloat16 natively (static_cast rounds to nearest-even into bfloat16, exactly out of it).
void CpuBackend::fill(Tensor& out, double value) {
  dispatch_storage_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = out.data<T>();
    const T v = static_cast<T>(value);
    for_each_run<1>(out.shape(), {&out.strides()},
                    [&](const std::array<std::int64_t, 1>& at, std::int64_t run, const std::array<std::int64_t, 1>& step) {
                      for (std::int64_t i = 0; i < run; ++i) data[at[0] + i * step[0]] = v;
                    });
  });
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  dispatch_storage_dtype(src.dtype(), [&](auto source_tag) {
    using Source = decltype(source_tag);
    dispatch_storage_dtype(dst.dtype(), [&](auto target_tag) {
      using Target = decltype(target_tag);
      const Source* in = src.data<Source>();
      Target* out = dst.data<Target>();
      for_each_run<2>(src.shape(), {&src.strides(), &dst.strides()},
                      [&](const std::array<std::int64_t, 2>& at, std::int64_t run, const std::array<std::int64_t, 2>& step) {
                        for (std::int64_t i = 0; i < run; ++i) {
                          out[at[1] + i * step[1]] = static_cast<Target>(in[at[0] + i * step[0]]);
                        }
                      });
    });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& out, double p0, double p1) {
  const bool gelu = op == UnaryOp::GeluErf || op == UnaryOp::GeluTanh;
  if (gelu && x.dtype() == kFloat32 && x.is_contiguous() && out.is_contiguous()) {
    const float* in = x.data<float>();
    float* result = out.data<float>();
    parallel_for(x.numel(), kParallelGrain,
                 [&](std::int64_t begin, std::int64_t end) { gelu_values(op, in + begin, result + begin, end - begin); });
    return;
  }
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Integer tensors only reach neg, abs, sign, square, clamp and step (the ops check); the
    // casts below keep the floating formulas compiling for them.
    using F = std::conditional_t<std::is_floating_point_v<T>, T, double>;
    auto as = [](auto v) { return static_cast<T>(v); };
    const T low = as(p0), high = as(p1);
    switch (op) {
      case UnaryOp::Neg: map_unary<T>(x, out, [](T v) { return -v; }); break;
      case UnaryOp::Exp: map_unary<T>(x, out, [&](T v) { return as(std::exp(F(v))); }); break;
      case UnaryOp::Log: map_unary<T>(x, out, [&](T v) { return as(std::log(F(v))); }); break;
      case UnaryOp::Sqrt: map_unary<T>(x, out, [&](T v) { return as(std::sqrt(F(v))); }); break;
      case UnaryOp::Abs: map_unary<T>(x, out, [](T v) { return v < 0 ? -v : v; }); break;
      case UnaryOp::Tanh: map_unary<T>(x, out, [&](T v) { return as(std::tanh(F(v))); }); break;
      case UnaryOp::Sigmoid: map_unary<T>(x, out, [&](T v) { return as(sigmoid(F(v))); }); break;
      case UnaryOp::Relu: map_unary<T>(x, out, [](T v) { return v > 0 ? v : T(0); }); break;
      case UnaryOp::GeluErf: map_unary<T>(x, out, [&](T v) { return as(gelu_erf(F(v))); }); break;
      case UnaryOp::GeluTanh: map_unary<T>(x, out, [&](T v) { return as(gelu_tanh(F(v))); }); break;
      case UnaryOp::Softplus: map_unary<T>(x, out, [&](T v) { return as(softplus(F(v))); }); break;
      case UnaryOp::Erf: map_unary<T>(x, out, [&](T v) { return as(std::erf(F(v))); }); break;
      case UnaryOp::NormalCdf: map_unary<T>(x, out, [&](T v) { return as(normal_cdf(F(v))); }); break;
      case UnaryOp::Square: map_unary<T>(x, out, [](T v) { return v * v; }); break;
      case UnaryOp::Sign: map_unary<T>(x, out, [](T v) { return T((v > 0) - (v < 0)); }); break;
      case UnaryOp::Clamp: map_unary<T>(x, out, [=](T v) { return v < low ? low : (v > high ? high : v); }); break;
      case UnaryOp::PowScalar: map_unary<T>(x, out, [&](T v) { return as(std::pow(F(v), F(p0))); }); break;
      case UnaryOp::Reciprocal: map_unary<T>(x, out, [&](T v) { return as(F(1) / F(v)); }); break;
      case UnaryOp::Step: map_unary<T>(x, out, [](T v) { return v > 0 ? T(1) : T(0); }); break;
      case UnaryOp::Floor: map_unary<T>(x, out, [](T v) { return std::floor(v); }); break;
      case UnaryOp::Ceil: map_unary<T>(x, out, [](T v) { return std::ceil(v); }); break;
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using F = std::conditional_t<std::is_floating_point_v<T>, T, double>;
    switch (op) {
      case BinaryOp::Add: map_binary<T>(a, b, out, [](T x, T y) { return x + y; }); break;
      case BinaryOp::Sub: map_binary<T>(a, b, out, [](T x, T y) { return x - y; }); break;
      case BinaryOp::Mul: map_binary<T>(a, b, out, [](T x, T y) { return x * y; }); break;
      case BinaryOp::Div:
        // div hands integers over as float32; were an int64 pair to arrive, divide exactly rather
        // than cast an out-of-range double back (undefined for 7/0)
        if constexpr (std::is_floating_point_v<T>) {
          map_binary<T>(a, b, out, [](T x, T y) { return x / y; });
        } else {
          map_binary<T>(a, b, out, [](T x, T y) { return floor_divide(x, y); });
        }
        break;
      case BinaryOp::FloorDivide: map_binary<T>(a, b, out, [](T x, T y) { return floor_divide(x, y); }); break;
      case BinaryOp::Pow: map_binary<T>(a, b, out, [](T x, T y) { return static_cast<T>(std::pow(F(x), F(y))); }); break;
      case BinaryOp::Maximum:
        map_binary<T>(a, b, out, [](T x, T y) { return (x != x || x > y) ? x : y; });  // NaN wins, as in PyTorch
        break;
      case BinaryOp::Minimum: map_binary<T>(a, b, out, [](T x, T y) { return (x != x || x < y) ? x : y; }); break;
      case BinaryOp::Eq: map_binary<T>(a, b, out, [](T x, T y) { return T(x == y); }); break;
      case BinaryOp::Ne: map_binary<T>(a, b, out, [](T x, T y) { return T(x != y); }); break;
      case BinaryOp::Lt: map_binary<T>(a, b, out, [](T x, T y) { return T(x < y); }); break;
      case BinaryOp::Le: map_binary<T>(a, b, out, [](T x, T y) { return T(x <= y); }); break;
      case BinaryOp::Gt: map_binary<T>(a, b, out, [](T x, T y) { return T(x > y); }); break;
      case BinaryOp::Ge: map_binary<T>(a, b, out, [](T x, T y) { return T(x >= y); }); break;
    }
  });
}

void CpuBackend::where(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* c = condition.data<T>();
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    T* z = out.data<T>();
    for_each_run<4>(out.shape(), {&condition.strides(), &a.strides(), &b.strides(), &out.strides()},
                    [&](const std::array<std::int64_t, 4>& at, std::int64_t run, const std::array<std::int64_t, 4>& step) {
                      for (std::int64_t i = 0; i < run; ++i) {
                        z[at[3] + i * step[3]] =
                            c[at[0] + i * step[0]] != T(0) ? x[at[1] + i * step[1]] : y[at[2] + i * step[2]];
                      }
                    });
  });
}

// One pass: grad_in = g · gelu'(x), parallel over elements, vectorised for float32.
void CpuBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& grad_out, Tensor& grad_in) {
  if (op != UnaryOp::GeluErf && op != UnaryOp::GeluTanh) {
    Backend::unary_backward(op, x, grad_out, grad_in);  // the composed version names the op in its error
    return;
  }
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    const T* g = grad_out.data<T>();
    T* result = grad_in.data<T>();
    parallel_for(x.numel(), kParallelGrain, [&](std::int64_t begin, std::int64_t end) {
      if constexpr (std::is_same_v<T, float>) {
        gelu_gradients(op, in + begin, g + begin, result + begin, end - begin);
      } else if (op == UnaryOp::GeluErf) {
        for (std::int64_t i = begin; i < end; ++i) result[i] = g[i] * gelu_erf_derivative(in[i]);
      } else {
        for (std::int64_t i = begin; i < end; ++i) result[i] = g[i] * gelu_tanh_derivative(in[i]);
      }
    });
  });
}

}  // namespace moegrad
