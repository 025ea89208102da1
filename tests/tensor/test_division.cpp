// Division, as PyTorch defines it: `div` is true division (integers give float32), `floor_divide`
// rounds toward minus infinity and is exact on int64.
#include <limits>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor ints(std::vector<std::int64_t> values) { return from_vector(values); }
}  // namespace

TEST_CASE("div of two int64 tensors is true division in float32") {
  Tensor quotient = div(ints({7, -7, 1}), ints({2, 2, 4}));
  CHECK(quotient.dtype() == kFloat32);
  CHECK(quotient.to_vector<float>() == std::vector<float>{3.5f, -3.5f, 0.25f});
  CHECK((ints({9}) / 2.0).to_vector<float>() == std::vector<float>{4.5f});
  // by zero: IEEE infinities and NaN, no undefined cast back to int64
  std::vector<float> by_zero = div(ints({7, -7, 0}), ints({0, 0, 0})).to_vector<float>();
  CHECK(by_zero[0] == std::numeric_limits<float>::infinity());
  CHECK(by_zero[1] == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(by_zero[2]));
  // an int64 tensor over a float64 one stays float64, as promotion says
  CHECK(div(ints({1}), from_vector(std::vector<double>{4})).dtype() == kFloat64);
}

TEST_CASE("floor_divide rounds toward minus infinity") {
  Tensor quotient = floor_divide(ints({7, -7, 7, -7, 6, -6, 0}), ints({2, 2, -2, -2, 3, 3, 5}));
  CHECK(quotient.dtype() == kInt64);
  CHECK(quotient.to_vector<std::int64_t>() == std::vector<std::int64_t>{3, -4, -4, 3, 2, -2, 0});
  // floats: floor of the quotient, in their own dtype
  Tensor real = floor_divide(from_vector(std::vector<double>{7.5, -7.5}), from_vector(std::vector<double>{2, 2}));
  CHECK(real.to_vector<double>() == std::vector<double>{3, -4});
  // broadcast with a scalar
  CHECK(floor_divide(ints({10, 11, -1}), scalar(4, kInt64)).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{2, 2, -1});
}

TEST_CASE("floor_divide on int64 is exact beyond 2^53 and wraps INT64_MIN / -1") {
  const std::int64_t big = (std::int64_t{1} << 53) + 1;  // not representable in a double
  CHECK(floor_divide(ints({big}), ints({1})).to_vector<std::int64_t>()[0] == big);
  const std::int64_t max = std::numeric_limits<std::int64_t>::max(), min = std::numeric_limits<std::int64_t>::min();
  CHECK(floor_divide(ints({max, min, min}), ints({1, 1, 2})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{max, min, min / 2});
  // two's complement has no +2^63: PyTorch gives INT64_MIN back, and so do we (C++ would trap)
  CHECK(floor_divide(ints({min, 5}), ints({-1, -1})).to_vector<std::int64_t>() == std::vector<std::int64_t>{min, -5});
}

TEST_CASE("floor_divide by an integer zero is an error naming the op") {
  CHECK_THROWS_WITH_AS(floor_divide(ints({7, 8}), ints({1, 0})),
                       doctest::Contains("[floor_divide] integer division by zero"), Error);
  // float division by zero follows IEEE instead, as in PyTorch
  std::vector<double> real = floor_divide(from_vector(std::vector<double>{1}), from_vector(std::vector<double>{0}))
                                 .to_vector<double>();
  CHECK(real[0] == std::numeric_limits<double>::infinity());
}
