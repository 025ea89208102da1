#include <cmath>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
double normal_cdf_reference(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
}  // namespace

TEST_CASE("add, sub, mul, div broadcast like numpy and have correct gradients") {
  check_binary_op([](const Tensor& a, const Tensor& b) { return add(a, b); }, [](double a, double b) { return a + b; });
  check_binary_op([](const Tensor& a, const Tensor& b) { return sub(a, b); }, [](double a, double b) { return a - b; });
  check_binary_op([](const Tensor& a, const Tensor& b) { return mul(a, b); }, [](double a, double b) { return a * b; });
  check_binary_op([](const Tensor& a, const Tensor& b) { return div(a, b); }, [](double a, double b) { return a / b; },
                  0.5, 2.0);
}

TEST_CASE("pow of two tensors differentiates in base and exponent") {
  check_binary_op([](const Tensor& a, const Tensor& b) { return pow(a, b); },
                  [](double a, double b) { return std::pow(a, b); }, 0.5, 2.0);
}

TEST_CASE("maximum and minimum send the gradient to the larger (smaller) input") {
  check_binary_op([](const Tensor& a, const Tensor& b) { return maximum(a, b); },
                  [](double a, double b) { return std::max(a, b); });
  check_binary_op([](const Tensor& a, const Tensor& b) { return minimum(a, b); },
                  [](double a, double b) { return std::min(a, b); });
}

TEST_CASE("maximum splits the gradient evenly on a tie") {
  Tensor a = from_vector(std::vector<double>{1.0}).requires_grad_();
  Tensor b = from_vector(std::vector<double>{1.0}).requires_grad_();
  maximum(a, b).sum().backward();
  CHECK(a.grad().item() == doctest::Approx(0.5));
  CHECK(b.grad().item() == doctest::Approx(0.5));
}

TEST_CASE("unary math ops match the C library and pass gradcheck") {
  check_unary_op([](const Tensor& x) { return neg(x); }, [](double x) { return -x; });
  check_unary_op([](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); });
  check_unary_op([](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.2, 3.0);
  check_unary_op([](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.2, 3.0);
  check_unary_op([](const Tensor& x) { return abs(x); }, [](double x) { return std::abs(x); });
  check_unary_op([](const Tensor& x) { return square(x); }, [](double x) { return x * x; });
  check_unary_op([](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); });
  check_unary_op([](const Tensor& x) { return sigmoid(x); }, [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
  check_unary_op([](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; });
  check_unary_op([](const Tensor& x) { return softplus(x); }, [](double x) { return std::log1p(std::exp(x)); });
  check_unary_op([](const Tensor& x) { return erf(x); }, [](double x) { return std::erf(x); });
  check_unary_op([](const Tensor& x) { return normal_cdf(x); }, normal_cdf_reference);
  check_unary_op([](const Tensor& x) { return pow(x, 3.0); }, [](double x) { return x * x * x; });
  check_unary_op([](const Tensor& x) { return pow(x, 0.5); }, [](double x) { return std::sqrt(x); }, 0.2, 3.0);
}

TEST_CASE("gelu has an erf form and a tanh form, both with exact gradients") {
  check_unary_op([](const Tensor& x) { return gelu(x); }, [](double x) { return x * normal_cdf_reference(x); }, -3.0, 3.0);
  check_unary_op([](const Tensor& x) { return gelu(x, GeluApproximation::Tanh); },
                 [](double x) {
                   return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
                 },
                 -3.0, 3.0);
}

TEST_CASE("normal_cdf matches textbook values of the standard normal distribution") {
  Tensor x = from_vector(std::vector<double>{0.0, 1.0, -1.96, 3.0});
  check_close(normal_cdf(x), {0.5, 0.8413447460685429, 0.024997895148220435, 0.9986501019683699}, 1e-12);
}

TEST_CASE("softplus and sigmoid stay finite for large inputs") {
  Tensor x = from_vector(std::vector<float>{-1000.0f, 1000.0f});
  check_close(softplus(x), {0.0, 1000.0});
  check_close(sigmoid(x), {0.0, 1.0});
}

TEST_CASE("clamp passes the gradient only inside the bounds") {
  check_unary_op([](const Tensor& x) { return clamp(x, -0.5, 0.7); }, [](double x) { return std::clamp(x, -0.5, 0.7); });
  check_unary_op([](const Tensor& x) { return clamp(x, std::nullopt, 0.3); }, [](double x) { return std::min(x, 0.3); });
}

TEST_CASE("comparisons give 0/1 masks in the promoted dtype and no gradient") {
  Tensor a = from_vector(std::vector<float>{1, 2, 3});
  Tensor b = from_vector(std::vector<float>{3, 2, 1});
  check_close(lt(a, b), {1, 0, 0});
  check_close(le(a, b), {1, 1, 0});
  check_close(eq(a, b), {0, 1, 0});
  check_close(ne(a, b), {1, 0, 1});
  check_close(gt(a, b), {0, 0, 1});
  check_close(ge(a, b), {0, 1, 1});
  CHECK(lt(a, b).dtype() == kFloat32);
  CHECK_FALSE(lt(a.requires_grad_(), b).requires_grad());
}

TEST_CASE("where picks from a or b and routes the gradient the same way") {
  Tensor condition = from_vector(std::vector<double>{1, 0, 1, 0, 0, 1}, {2, 3});
  Tensor a = leaf({2, 3}, 1), b = leaf({3}, 2);
  Tensor y = where(condition, a, b);
  CHECK(y.at({0, 0}) == a.at({0, 0}));
  CHECK(y.at({0, 1}) == b.at({1}));
  CHECK(y.at({1, 2}) == a.at({1, 2}));
  y.sum().backward();
  check_close(a.grad(), {1, 0, 1, 0, 0, 1});
  check_close(b.grad(), {1, 2, 0});  // b is broadcast over rows: counts of 0s per column
  check_gradients([&](const std::vector<Tensor>& v) { return where(condition, v[0], v[1]); }, {a, b});
}

TEST_CASE("masked_fill writes the value where the mask is set") {
  Tensor x = leaf({2, 3}, 3);
  Tensor mask = from_vector(std::vector<double>{0, 1, 0}, {3});
  Tensor y = masked_fill(x, mask, -1e9);
  CHECK(y.at({0, 1}) == -1e9);
  CHECK(y.at({1, 0}) == x.at({1, 0}));
  check_gradients([&](const std::vector<Tensor>& v) { return masked_fill(v[0], mask, 0.0); }, {x});
}

TEST_CASE("int64 tensors meet fractional scalars as float32, like PyTorch") {
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3});
  Tensor half = ids * 0.5;
  CHECK(half.dtype() == kFloat32);
  check_close(half, {0.5, 1.0, 1.5});
  CHECK((ids * 2.0).dtype() == kInt64);
}

TEST_CASE("float32 and float64 promote to float64") {
  Tensor a = ones({2}, kFloat32), b = ones({2}, kFloat64);
  CHECK(add(a, b).dtype() == kFloat64);
}
