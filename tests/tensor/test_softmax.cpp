#include <cmath>
#include <limits>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// softmax composed from public ops, as a reference: exp(x - max) / Σ exp(x - max)
Tensor composed_softmax(const Tensor& x, std::int64_t axis) {
  Tensor shifted = sub(x, max(x, {axis}, true));
  return div(exp(shifted), sum(exp(shifted), {axis}, true));
}

void check_all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>()) CHECK(std::isfinite(v));
}

}  // namespace

TEST_CASE("softmax of [1,2,3] gives the textbook probabilities in float32 and float64") {
  // e^k / (e + e² + e³) for k = 1, 2, 3
  check_close(softmax(from_vector(std::vector<float>{1, 2, 3})), {0.09003057, 0.24472847, 0.66524096}, 1e-6);
  check_close(softmax(from_vector(std::vector<double>{1, 2, 3})),
              {0.090030573170380462, 0.24472847105479767, 0.66524095577482178}, 1e-14);
}

TEST_CASE("log_softmax of [1,2,3] is x minus log(e + e² + e³) = x - 3.40760596") {
  check_close(log_softmax(from_vector(std::vector<double>{1, 2, 3})),
              {-2.4076059644443806, -1.4076059644443806, -0.40760596444438046}, 1e-14);
  check_close(log_softmax(from_vector(std::vector<float>{1, 2, 3})), {-2.40760596, -1.40760596, -0.40760596}, 1e-6);
}

TEST_CASE("softmax sums to one along whichever axis it runs over") {
  Tensor x = leaf({3, 4, 5}, 1, -3.0, 3.0);
  for (std::int64_t axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    Tensor y = softmax(x, axis);
    CHECK(y.shape() == x.shape());
    check_close(sum(y, {axis}), ones(sum(y, {axis}).shape(), kFloat64), 1e-12);
    for (double p : y.to_vector<double>()) CHECK(p > 0.0);
  }
}

TEST_CASE("softmax along a non-last axis matches exp(x - max) / sum composed from public ops") {
  Tensor x = leaf({2, 3, 4}, 2, -3.0, 3.0);
  for (std::int64_t axis : {0, 1, 2}) {
    INFO("axis " << axis);
    check_close(softmax(x, axis), composed_softmax(x.detach(), axis), 1e-12);
  }
}

TEST_CASE("softmax does not change when a constant is added to every logit") {
  Tensor x = leaf({4, 6}, 3);
  check_close(softmax(x + 100.0), softmax(x), 1e-12);
  check_close(log_softmax(x - 50.0), log_softmax(x), 1e-12);
}

TEST_CASE("log_softmax equals log(softmax) along every axis") {
  Tensor x = leaf({3, 4, 2}, 4, -4.0, 4.0);
  for (std::int64_t axis : {0, 1, 2}) {
    INFO("axis " << axis);
    check_close(log_softmax(x, axis), log(softmax(x, axis)), 1e-12);
  }
}

TEST_CASE("huge float32 logits give exact 0/1 probabilities, never NaN or inf") {
  Tensor moderate = from_vector(std::vector<float>{1e4f, -1e4f, 0.0f});
  check_close(softmax(moderate), {1.0, 0.0, 0.0});
  check_close(log_softmax(moderate), {0.0, -2e4, -1e4});
  Tensor enormous = from_vector(std::vector<float>{1e30f, -1e30f, 1e30f}, {1, 3});
  check_close(softmax(enormous), {0.5, 0.0, 0.5});
  check_close(log_softmax(enormous), {-std::log(2.0), -2e30, -std::log(2.0)});
  check_all_finite(softmax(enormous));
  check_all_finite(log_softmax(enormous));
}

TEST_CASE("-inf logits (masked positions) get probability 0 and the rest renormalise") {
  Tensor x = from_vector(std::vector<double>{0.0, -kInfinity, 0.0, -kInfinity, 1.0, -kInfinity}, {2, 3});
  check_close(softmax(x), {0.5, 0.0, 0.5, 0.0, 1.0, 0.0});
  std::vector<double> log_probabilities = log_softmax(x).to_vector<double>();
  CHECK(log_probabilities[0] == doctest::Approx(-std::log(2.0)));
  CHECK(log_probabilities[1] == -kInfinity);
  CHECK(log_probabilities[4] == doctest::Approx(0.0));
}

TEST_CASE("the gradient through a masked row is finite and zero at the masked position") {
  Tensor x = from_vector(std::vector<double>{0.5, -kInfinity, -0.5, 2.0}).requires_grad_();
  Tensor weights = from_vector(std::vector<double>{1.0, 2.0, 3.0, 4.0});
  sum(mul(softmax(x), weights)).backward();
  check_all_finite(x.grad());
  CHECK(x.grad().at({1}) == 0.0);
}

TEST_CASE("a row that is entirely -inf gives NaN, as in PyTorch, and leaves other rows alone") {
  Tensor x = from_vector(std::vector<double>{-kInfinity, -kInfinity, 1.0, 1.0}, {2, 2});
  for (const Tensor& y : {softmax(x), log_softmax(x)}) {
    CHECK(std::isnan(y.at({0, 0})));
    CHECK(std::isnan(y.at({0, 1})));
  }
  CHECK(softmax(x).at({1, 0}) == doctest::Approx(0.5));
  CHECK(log_softmax(x).at({1, 1}) == doctest::Approx(-std::log(2.0)));
}

TEST_CASE("softmax over a size-1 axis is 1 and log_softmax is 0; a 0-d tensor is one such row") {
  check_close(softmax(leaf({3, 1}, 5), -1), {1.0, 1.0, 1.0});
  check_close(log_softmax(leaf({3, 1}, 5), -1), {0.0, 0.0, 0.0});
  CHECK(softmax(leaf({}, 6)).item() == 1.0);
  CHECK(log_softmax(leaf({}, 6)).item() == 0.0);
}

TEST_CASE("softmax of an empty batch is an empty tensor of the same shape") {
  Tensor y = softmax(zeros({0, 3}));
  CHECK(y.shape() == Shape{0, 3});
}

TEST_CASE("float32 softmax over many rows (the threaded path) matches the float64 reference") {
  Generator generator(7);
  Tensor x = uniform({600, 128}, -20.0, 20.0, generator, kFloat32);
  Tensor reference = composed_softmax(x.to(kFloat64), -1);
  check_close(softmax(x), reference, 1e-5);
  check_close(softmax(x, 0), composed_softmax(x.to(kFloat64), 0), 1e-5);
  check_close(log_softmax(x), log(reference), 1e-5);
}

TEST_CASE("softmax and log_softmax pass gradcheck over every kind of axis") {
  struct Case {
    const char* name;
    Tensor x;
    std::int64_t axis;
  };
  std::vector<Case> cases = {
      {"axis 0 of a matrix", leaf({3, 4}, 10), 0},
      {"last axis (-1) of a matrix", leaf({3, 4}, 11), -1},
      {"middle axis of a 3-D tensor", leaf({2, 3, 4}, 12), 1},
      {"first axis of a 3-D tensor", leaf({2, 3, 4}, 13), 0},
      {"last axis of a non-contiguous matrix", transposed_leaf({3, 4}, 14), -1},
      {"first axis of a non-contiguous matrix", transposed_leaf({3, 4}, 15), 0},
      {"a size-1 axis", leaf({4, 1}, 16), 1},
      {"a 0-d tensor", leaf({}, 17), 0},
      {"a vector", leaf({5}, 18, -3.0, 3.0), 0},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    check_gradients([&](const std::vector<Tensor>& v) { return softmax(v[0], c.axis); }, {c.x});
    check_gradients([&](const std::vector<Tensor>& v) { return log_softmax(v[0], c.axis); }, {c.x});
  }
}

TEST_CASE("softmax's gradient matches the gradient of the composed reference") {
  Tensor x = leaf({3, 5}, 20, -2.0, 2.0);
  Tensor weights = leaf({3, 5}, 21).detach();
  sum(mul(softmax(x, 0), weights)).backward();
  Tensor fused = x.grad();
  x.zero_grad();
  sum(mul(composed_softmax(x, 0), weights)).backward();
  check_close(fused, x.grad(), 1e-12);
}

TEST_CASE("softmax and log_softmax reject integer tensors and out-of-range axes") {
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3});
  CHECK_THROWS_AS(softmax(ids), DTypeError);
  CHECK_THROWS_WITH_AS(softmax(ids), doctest::Contains("[softmax] expects a floating tensor"), DTypeError);
  CHECK_THROWS_WITH_AS(log_softmax(ids), doctest::Contains("int64 [3]"), DTypeError);

  Tensor x = zeros({2, 3});
  CHECK_THROWS_AS(softmax(x, 2), IndexError);
  CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("[softmax] axis 2 is out of range"), IndexError);
  CHECK_THROWS_WITH_AS(log_softmax(x, -3), doctest::Contains("[log_softmax] axis -3"), IndexError);
  CHECK_THROWS_AS(softmax(Tensor()), Error);
}
