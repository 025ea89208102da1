// CUDA elementwise kernels, the twins of tensor/cpu/elementwise.cpp: fill, copy (with dtype cast),
// unary math, binary arithmetic and comparisons, where. Every view may be strided; broadcast inputs
// arrive with stride 0. One kernel per dtype with the op as a runtime switch (uniform across a
// warp, so it costs no divergence), which keeps the number of compiled kernels small.
#include <string>

#include "cuda/kernel_common.cuh"
#include "tensor/errors.h"

namespace moegrad {

namespace cuda_kernels {

void throw_too_many_dims(const char* op, std::size_t dims) {
  throw ShapeError("[" + std::string(op) + "] the CUDA kernels take views of at most " + std::to_string(kMaxDims) +
                   " non-mergeable axes, got " + std::to_string(dims) + "; call contiguous() first");
}

}  // namespace cuda_kernels

namespace {

using namespace cuda_kernels;

constexpr double kSqrtHalf = 0.70710678118654752440;

template <class F>
__device__ F sigmoid_of(F x) {
  if (x >= 0) return F(1) / (F(1) + exp(-x));
  F e = exp(x);
  return e / (F(1) + e);
}

// Exact floor division; integer rules as on the CPU (x / -1 wraps, a zero divisor gives 0).
template <class T>
__device__ T floor_divide(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    return floor(x / y);
  } else {
    if (y == 0) return 0;
    if (y == -1) return static_cast<T>(0 - static_cast<unsigned long long>(x));
    T quotient = x / y;
    if (x % y != 0 && ((x < 0) != (y < 0))) --quotient;
    return quotient;
  }
}

template <class T>
__device__ T apply_unary(UnaryOp op, T v, double p0, double p1) {
  // Integer tensors only reach neg, abs, sign, square, clamp and step (the ops check); the others
  // go through double so that every case compiles for them.
  using F = std::conditional_t<std::is_floating_point_v<T>, T, double>;
  const F x = static_cast<F>(v);
  switch (op) {
    case UnaryOp::Neg: return -v;
    case UnaryOp::Exp: return static_cast<T>(exp(x));
    case UnaryOp::Log: return static_cast<T>(log(x));
    case UnaryOp::Sqrt: return static_cast<T>(sqrt(x));
    case UnaryOp::Abs: return v < 0 ? -v : v;
    case UnaryOp::Tanh: return static_cast<T>(tanh(x));
    case UnaryOp::Sigmoid: return static_cast<T>(sigmoid_of(x));
    case UnaryOp::Relu: return v > 0 ? v : T(0);
    case UnaryOp::GeluErf: return static_cast<T>(F(0.5) * x * (F(1) + erf(x * F(kSqrtHalf))));
    case UnaryOp::GeluTanh: {
      const F k = F(0.7978845608028654);  // sqrt(2/pi)
      return static_cast<T>(F(0.5) * x * (F(1) + tanh(k * (x + F(0.044715) * x * x * x))));
    }
    case UnaryOp::Softplus: return static_cast<T>((x > F(0) ? x : F(0)) + log1p(exp(-fabs(x))));
    case UnaryOp::Erf: return static_cast<T>(erf(x));
    case UnaryOp::NormalCdf: return static_cast<T>(F(0.5) * erfc(-x * F(kSqrtHalf)));
    case UnaryOp::Square: return v * v;
    case UnaryOp::Sign: return T((v > 0) - (v < 0));
    case UnaryOp::Clamp: {
      const T low = static_cast<T>(p0), high = static_cast<T>(p1);
      return v < low ? low : (v > high ? high : v);
    }
    case UnaryOp::PowScalar: return static_cast<T>(pow(x, F(p0)));
    case UnaryOp::Reciprocal: return static_cast<T>(F(1) / x);
    case UnaryOp::Step: return v > 0 ? T(1) : T(0);
    case UnaryOp::Floor: return static_cast<T>(floor(x));
    case UnaryOp::Ceil: return static_cast<T>(ceil(x));
  }
  return v;
}

template <class T>
__device__ T apply_binary(BinaryOp op, T x, T y) {
  using F = std::conditional_t<std::is_floating_point_v<T>, T, double>;
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) return x / y;
      else return floor_divide(x, y);
    case BinaryOp::FloorDivide: return floor_divide(x, y);
    case BinaryOp::Pow: return static_cast<T>(pow(F(x), F(y)));
    case BinaryOp::Maximum: return (is_nan(x) || x > y) ? x : y;  // NaN wins, as in PyTorch
    case BinaryOp::Minimum: return (is_nan(x) || x < y) ? x : y;
    case BinaryOp::Eq: return T(x == y);
    case BinaryOp::Ne: return T(x != y);
    case BinaryOp::Lt: return T(x < y);
    case BinaryOp::Le: return T(x <= y);
    case BinaryOp::Gt: return T(x > y);
    case BinaryOp::Ge: return T(x >= y);
  }
  return x;
}

template <class T>
__global__ void fill_kernel(T* out, Layout<1> layout, std::int64_t count, T value) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t at[1];
    layout_offsets(layout, i, at);
    out[at[0]] = value;
  }
}

template <class Source, class Target>
__global__ void copy_kernel(const Source* in, Target* out, Layout<2> layout, std::int64_t count) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t at[2];
    layout_offsets(layout, i, at);
    out[at[1]] = static_cast<Target>(in[at[0]]);
  }
}

template <class T>
__global__ void unary_kernel(UnaryOp op, const T* in, T* out, Layout<2> layout, std::int64_t count, double p0,
                             double p1) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t at[2];
    layout_offsets(layout, i, at);
    out[at[1]] = apply_unary(op, in[at[0]], p0, p1);
  }
}

template <class T>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, T* out, Layout<3> layout, std::int64_t count) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t at[3];
    layout_offsets(layout, i, at);
    out[at[2]] = apply_binary(op, a[at[0]], b[at[1]]);
  }
}

template <class T>
__global__ void where_kernel(const T* condition, const T* a, const T* b, T* out, Layout<4> layout, std::int64_t count) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t at[4];
    layout_offsets(layout, i, at);
    out[at[3]] = condition[at[0]] != T(0) ? a[at[1]] : b[at[2]];
  }
}

}  // namespace

void CudaBackend::fill(Tensor& out, double value) {
  std::int64_t count = out.numel();
  if (count == 0) return;
  auto layout = make_layout<1>("fill", out.shape(), {&out.strides()});
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(out.data<T>(), layout, count, static_cast<T>(value));
  });
  check_launch("fill");
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  std::int64_t count = src.numel();
  if (count == 0) return;
  auto layout = make_layout<2>("copy", src.shape(), {&src.strides(), &dst.strides()});
  dispatch_dtype(src.dtype(), [&](auto source_tag) {
    using Source = decltype(source_tag);
    dispatch_dtype(dst.dtype(), [&](auto target_tag) {
      using Target = decltype(target_tag);
      copy_kernel<Source, Target>
          <<<blocks_for(count), kThreads, 0, stream()>>>(src.data<Source>(), dst.data<Target>(), layout, count);
    });
  });
  check_launch("copy");
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, Tensor& out, double p0, double p1) {
  std::int64_t count = x.numel();
  if (count == 0) return;
  auto layout = make_layout<2>(unary_op_name(op), x.shape(), {&x.strides(), &out.strides()});
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    unary_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(op, x.data<T>(), out.data<T>(), layout, count, p0, p1);
  });
  check_launch(unary_op_name(op));
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  std::int64_t count = out.numel();
  if (count == 0) return;
  auto layout = make_layout<3>(binary_op_name(op), out.shape(), {&a.strides(), &b.strides(), &out.strides()});
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    binary_kernel<T>
        <<<blocks_for(count), kThreads, 0, stream()>>>(op, a.data<T>(), b.data<T>(), out.data<T>(), layout, count);
  });
  check_launch(binary_op_name(op));
}

void CudaBackend::where(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out) {
  std::int64_t count = out.numel();
  if (count == 0) return;
  auto layout = make_layout<4>("where", out.shape(),
                               {&condition.strides(), &a.strides(), &b.strides(), &out.strides()});
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(condition.data<T>(), a.data<T>(), b.data<T>(),
                                                                  out.data<T>(), layout, count);
  });
  check_launch("where");
}

}  // namespace moegrad
