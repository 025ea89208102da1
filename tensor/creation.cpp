#include "tensor/creation.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "tensor/backend.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad {

namespace {
Tensor filled(const char* op, const Shape& shape, double value, DType dtype, Device device) {
  Tensor out = Tensor::empty(shape, dtype, device, op);
  backend_for(device).fill(out, value);
  return out;
}
}  // namespace

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  return filled("full", shape, value, dtype, device);
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return filled("zeros", shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return filled("ones", shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), like.dtype(), like.device()); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), like.dtype(), like.device()); }
Tensor full_like(const Tensor& like, double value) { return full(like.shape(), value, like.dtype(), like.device()); }
Tensor scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

namespace {
template <class T>
Tensor tensor_from_host(const std::vector<T>& values, const Shape& requested, DType dtype, Device device) {
  Shape shape = requested.empty() ? Shape{static_cast<std::int64_t>(values.size())} : requested;
  if (numel_of(shape) != static_cast<std::int64_t>(values.size())) {
    throw ShapeError(fmt::format("[from_vector] {} values cannot fill shape {} ({} elements)", values.size(),
                                 shape_str(shape), numel_of(shape)));
  }
  Tensor host = Tensor::empty(shape, dtype, cpu());
  if (!values.empty()) std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(T));
  return host.to(device);
}
}  // namespace

Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return tensor_from_host(values, shape, kFloat32, device);
}
Tensor from_vector(const std::vector<double>& values, const Shape& shape, Device device) {
  return tensor_from_host(values, shape, kFloat64, device);
}
Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape, Device device) {
  return tensor_from_host(values, shape, kInt64, device);
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  if (step == 0.0 || (end - start) / step < 0.0) {
    throw Error(fmt::format("[arange] cannot step from {} to {} by {}", start, end, step));
  }
  const double steps = std::ceil((end - start) / step);
  if (!(steps < 9.0e18)) {  // also catches NaN and infinities; casting those to int64 is undefined
    throw Error(fmt::format("[arange] from {} to {} by {} has too many elements", start, end, step));
  }
  auto count = static_cast<std::int64_t>(steps);
  std::vector<double> values(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) values[static_cast<std::size_t>(i)] = start + static_cast<double>(i) * step;
  return from_vector(values, {count}, cpu()).to(dtype).to(device);
}

Tensor arange(std::int64_t end, DType dtype, Device device) { return arange(0.0, static_cast<double>(end), 1.0, dtype, device); }

// ---------------- random ----------------

namespace {
void check_floating(const char* op, DType dtype) {
  if (!is_floating(dtype)) {
    throw DTypeError(fmt::format("[{}] draws floating values; dtype {} is not floating", op, dtype_name(dtype)));
  }
}
}  // namespace

Tensor uniform(const Shape& shape, double low, double high, Generator& generator, DType dtype, Device device) {
  check_floating("uniform", dtype);
  Tensor out = Tensor::empty(shape, dtype, device, "uniform");
  std::uint64_t offset = generator.advance(static_cast<std::uint64_t>(out.numel()));
  backend_for(device).random_uniform(out, generator.seed(), offset, low, high);
  return out;
}
Tensor rand(const Shape& shape, Generator& generator, DType dtype, Device device) {
  return uniform(shape, 0.0, 1.0, generator, dtype, device);
}

Tensor normal(const Shape& shape, double mean, double std, Generator& generator, DType dtype, Device device) {
  check_floating("normal", dtype);
  Tensor out = Tensor::empty(shape, dtype, device, "normal");
  std::uint64_t offset = generator.advance(static_cast<std::uint64_t>(out.numel()));
  backend_for(device).random_normal(out, generator.seed(), offset, mean, std);
  return out;
}
Tensor randn(const Shape& shape, Generator& generator, DType dtype, Device device) {
  return normal(shape, 0.0, 1.0, generator, dtype, device);
}

Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& generator, Device device) {
  if (high <= low) throw Error(fmt::format("[randint] needs low < high, got low={} high={}", low, high));
  // low + floor(u * (high - low)) in float64 (the cast truncates a non-negative value, i.e. floors):
  // exact for ranges below 2^53.
  Tensor u = uniform(shape, 0.0, 1.0, generator, kFloat64, device);
  Tensor steps = (u * static_cast<double>(high - low)).to(kInt64);
  return add(steps, full({}, static_cast<double>(low), kInt64, device));
}

Tensor bernoulli(const Shape& shape, double p, Generator& generator, DType dtype, Device device) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error(fmt::format("[bernoulli] probability must be in [0,1], got {}", p));
  Tensor u = uniform(shape, 0.0, 1.0, generator, kFloat64, device);
  return lt(u, scalar_like(u, p)).to(dtype);
}

Tensor randperm(std::int64_t n, Generator& generator, Device device) {
  Tensor keys = uniform({n}, 0.0, 1.0, generator, kFloat64, cpu());
  return argsort(keys).to(device);
}

}  // namespace moegrad
