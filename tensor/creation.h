// Making tensors: constants, ranges, values from C++ vectors, and seeded random draws.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace moegrad {

Tensor zeros(const Shape& shape, DType dtype = kFloat32, Device device = cpu());
Tensor ones(const Shape& shape, DType dtype = kFloat32, Device device = cpu());
Tensor full(const Shape& shape, double value, DType dtype = kFloat32, Device device = cpu());
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);
Tensor full_like(const Tensor& like, double value);
// start, start+step, ... < end
Tensor arange(double start, double end, double step = 1.0, DType dtype = kFloat32, Device device = cpu());
Tensor arange(std::int64_t end, DType dtype = kInt64, Device device = cpu());
// Values in row-major order; values.size() must equal the shape's element count.
// An empty shape means a 1-D tensor of values.size() elements.
Tensor from_vector(const std::vector<float>& values, const Shape& shape = {}, Device device = cpu());
Tensor from_vector(const std::vector<double>& values, const Shape& shape = {}, Device device = cpu());
Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape = {}, Device device = cpu());
// A 0-d tensor.
Tensor scalar(double value, DType dtype = kFloat32, Device device = cpu());

// ---- random, from a seeded Generator: same seed, same numbers, on every run and device ----
Tensor rand(const Shape& shape, Generator& generator, DType dtype = kFloat32, Device device = cpu());   // U[0,1)
Tensor uniform(const Shape& shape, double low, double high, Generator& generator, DType dtype = kFloat32,
               Device device = cpu());
Tensor randn(const Shape& shape, Generator& generator, DType dtype = kFloat32, Device device = cpu());  // N(0,1)
Tensor normal(const Shape& shape, double mean, double std, Generator& generator, DType dtype = kFloat32,
              Device device = cpu());
Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& generator,
               Device device = cpu());  // int64 in [low, high)
// 1 with probability p, else 0, in dtype.
Tensor bernoulli(const Shape& shape, double p, Generator& generator, DType dtype = kFloat32, Device device = cpu());
// A random permutation of 0..n-1 (int64).
Tensor randperm(std::int64_t n, Generator& generator, Device device = cpu());

}  // namespace moegrad
