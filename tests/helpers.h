// Shared test helpers: random float64 leaves (contiguous or not), value checks, and one helper per
// op arity that checks values against a scalar reference and gradients by central differences over
// scalar, size-1, broadcast and non-contiguous shapes (as tinygrad's helper_test_op does).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "moegrad.h"

namespace moegrad::testing {

// A float64 leaf with values uniform in [low, high), requiring grad.
inline Tensor leaf(const Shape& shape, std::uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator generator(seed);
  return uniform(shape, low, high, generator, kFloat64).requires_grad_();
}

// The same, but laid out transposed in memory (last two axes swapped): a non-contiguous leaf.
inline Tensor transposed_leaf(const Shape& shape, std::uint64_t seed, double low = -1.0, double high = 1.0) {
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  Generator generator(seed);
  Tensor t = transpose(uniform(swapped, low, high, generator, kFloat64), -1, -2).detach();
  return t.requires_grad_();
}

inline void check_close(const Tensor& actual, const std::vector<double>& expected, double tolerance = 1e-6) {
  std::vector<double> values = actual.to_vector<double>();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i << ": got " << values[i] << ", expected " << expected[i]);
    CHECK(std::abs(values[i] - expected[i]) <= tolerance * (1.0 + std::abs(expected[i])));
  }
}

inline void check_close(const Tensor& actual, const Tensor& expected, double tolerance = 1e-6) {
  CHECK(actual.shape() == expected.shape());
  check_close(actual, expected.to_vector<double>(), tolerance);
}

inline void check_gradients(const TensorFunction& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {}) {
  GradcheckResult result = gradcheck(fn, inputs, options);
  INFO(result.message);
  CHECK(result.ok);
}

// Shapes every elementwise op is checked on: 0-d, size 1, a matrix, a 3-D block.
inline std::vector<Shape> elementwise_shapes() { return {{}, {1}, {3, 4}, {2, 3, 2}}; }

// Values against `reference` applied element by element, and gradients, on every shape above plus
// a non-contiguous (transposed) input. Inputs are drawn from [low, high).
inline void check_unary_op(const std::function<Tensor(const Tensor&)>& op, const std::function<double(double)>& reference,
                           double low = -2.0, double high = 2.0, GradcheckOptions options = {}) {
  std::vector<Tensor> inputs;
  std::uint64_t seed = 1;
  for (const Shape& shape : elementwise_shapes()) inputs.push_back(leaf(shape, seed++, low, high));
  inputs.push_back(transposed_leaf({3, 4}, seed++, low, high));
  for (const Tensor& x : inputs) {
    INFO("input shape " << shape_str(x.shape()) << (x.is_contiguous() ? "" : " (non-contiguous)"));
    Tensor y = op(x);
    std::vector<double> in = x.to_vector<double>(), expected;
    for (double v : in) expected.push_back(reference(v));
    check_close(y, expected, 1e-9);
    check_gradients([&](const std::vector<Tensor>& v) { return op(v[0]); }, {x}, options);
  }
}

// Same for binary ops, over broadcasting pairs: equal shapes, row vector, column × row, 0-d on
// either side, and a non-contiguous left operand.
inline void check_binary_op(const std::function<Tensor(const Tensor&, const Tensor&)>& op,
                            const std::function<double(double, double)>& reference, double low = -2.0,
                            double high = 2.0, GradcheckOptions options = {}) {
  std::vector<std::pair<Tensor, Tensor>> pairs = {
      {leaf({3, 4}, 1, low, high), leaf({3, 4}, 2, low, high)},
      {leaf({3, 4}, 3, low, high), leaf({4}, 4, low, high)},
      {leaf({3, 1}, 5, low, high), leaf({1, 4}, 6, low, high)},
      {leaf({}, 7, low, high), leaf({2, 3}, 8, low, high)},
      {leaf({2, 3}, 9, low, high), leaf({}, 10, low, high)},
      {leaf({1}, 11, low, high), leaf({1}, 12, low, high)},
      {transposed_leaf({3, 4}, 13, low, high), leaf({3, 4}, 14, low, high)},
  };
  for (auto& [a, b] : pairs) {
    INFO("shapes " << shape_str(a.shape()) << " and " << shape_str(b.shape()));
    Tensor y = op(a, b);
    Shape shape = broadcast_shapes("test", a.shape(), b.shape());
    CHECK(y.shape() == shape);
    std::vector<double> left = broadcast_to(a.detach(), shape).to_vector<double>();
    std::vector<double> right = broadcast_to(b.detach(), shape).to_vector<double>();
    std::vector<double> expected;
    for (std::size_t i = 0; i < left.size(); ++i) expected.push_back(reference(left[i], right[i]));
    check_close(y, expected, 1e-9);
    check_gradients([&](const std::vector<Tensor>& v) { return op(v[0], v[1]); }, {a, b}, options);
  }
}

}  // namespace moegrad::testing
