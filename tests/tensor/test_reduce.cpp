#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor grid() { return from_vector(std::vector<double>{1, 5, 2, 4, 3, 6}, {2, 3}); }
}  // namespace

TEST_CASE("sum and mean over any set of axes, with and without keepdim") {
  Tensor x = grid();
  CHECK(sum(x).item() == 21.0);
  check_close(sum(x, {0}), {5, 8, 8});
  check_close(sum(x, {1}), {8, 13});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
  check_close(mean(x, {-1}), {8.0 / 3.0, 13.0 / 3.0});
  Tensor cube = arange(0.0, 24.0, 1.0, kFloat64).reshape({2, 3, 4});
  check_close(sum(cube, {0, 2}), {0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
                                  8 + 9 + 10 + 11 + 20 + 21 + 22 + 23});
  CHECK(sum(cube, {0, 2}, true).shape() == Shape{1, 3, 1});
}

TEST_CASE("max, min, argmax, argmin pick the extreme, the first one on ties") {
  Tensor x = grid();
  check_close(max(x, {1}), {5, 6});
  check_close(min(x, {0}), {1, 3, 2});
  check_close(argmax(x, 1), {1, 2});
  check_close(argmin(x, 0), {0, 1, 0});
  CHECK(argmax(x, 1).dtype() == kInt64);
  check_close(argmax(from_vector(std::vector<double>{3, 7, 7, 1}), 0), {1});
}

TEST_CASE("max propagates NaN like PyTorch") {
  Tensor x = from_vector(std::vector<double>{1.0, std::nan(""), 3.0});
  CHECK(std::isnan(max(x).item()));
}

TEST_CASE("var uses the unbiased estimate by default and the population one with correction 0") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4});
  CHECK(var(x).item() == doctest::Approx(5.0 / 3.0));
  CHECK(var(x, {}, 0).item() == doctest::Approx(1.25));
  CHECK_THROWS_AS(var(from_vector(std::vector<double>{1.0})), ShapeError);
}

TEST_CASE("logsumexp is stable for large inputs and -inf rows") {
  Tensor x = from_vector(std::vector<double>{1000, 1000, -1e300, -1e300}, {2, 2});
  check_close(logsumexp(x, {1}), {1000 + std::log(2.0), -1e300 + std::log(2.0)});
  double inf = std::numeric_limits<double>::infinity();
  Tensor masked = from_vector(std::vector<double>{-inf, -inf});
  CHECK(logsumexp(masked, {0}).item() == -inf);
}

TEST_CASE("reductions pass gradcheck over single, multiple and all axes") {
  Tensor x = leaf({2, 3, 4}, 1);
  Tensor xt = transposed_leaf({3, 4}, 2);
  for (std::vector<std::int64_t> axes : std::vector<std::vector<std::int64_t>>{{}, {0}, {1}, {-1}, {0, 2}, {1, 2}}) {
    INFO("axes size " << axes.size());
    check_gradients([&](const std::vector<Tensor>& v) { return sum(v[0], axes); }, {x});
    check_gradients([&](const std::vector<Tensor>& v) { return mean(v[0], axes, true); }, {x});
    check_gradients([&](const std::vector<Tensor>& v) { return max(v[0], axes); }, {x});
    check_gradients([&](const std::vector<Tensor>& v) { return min(v[0], axes); }, {x});
    check_gradients([&](const std::vector<Tensor>& v) { return var(v[0], axes); }, {x});
    check_gradients([&](const std::vector<Tensor>& v) { return logsumexp(v[0], axes); }, {x});
  }
  check_gradients([&](const std::vector<Tensor>& v) { return sum(v[0], {0}); }, {xt});
  check_gradients([&](const std::vector<Tensor>& v) { return max(v[0], {1}); }, {xt});
  check_gradients([&](const std::vector<Tensor>& v) { return sum(v[0]); }, {leaf({}, 3)});
}

TEST_CASE("max sends the gradient to the maximum, split evenly among ties") {
  Tensor x = from_vector(std::vector<double>{1, 4, 4, 2}).requires_grad_();
  max(x).backward();
  check_close(x.grad(), {0, 0.5, 0.5, 0});
}

TEST_CASE("cumsum runs along any axis and its gradient is the reversed cumulative sum") {
  Tensor x = grid();
  check_close(cumsum(x, 1), {1, 6, 8, 4, 7, 13});
  check_close(cumsum(x, 0), {1, 5, 2, 5, 8, 8});
  check_gradients([&](const std::vector<Tensor>& v) { return cumsum(v[0], 1); }, {leaf({3, 4}, 5)});
  check_gradients([&](const std::vector<Tensor>& v) { return cumsum(v[0], 0); }, {transposed_leaf({3, 4}, 6)});
  check_close(cumsum(from_vector(std::vector<std::int64_t>{1, 1, 1}), 0), {1, 2, 3});
}

TEST_CASE("float32 sums stay accurate over a million elements") {
  Tensor x = full({1000000}, 0.1, kFloat32);
  CHECK(sum(x).item() == doctest::Approx(100000.0).epsilon(1e-6));
}

TEST_CASE("reduction errors name the op and the axis") {
  CHECK_THROWS_WITH_AS(sum(zeros({2, 3}), {2}), doctest::Contains("[sum] axis 2 is out of range"), IndexError);
  CHECK_THROWS_WITH_AS(sum(zeros({2, 3}), {1, -1}), doctest::Contains("[sum] axes [1,-1] name the same axis twice"),
                       IndexError);
  CHECK_THROWS_WITH_AS(max(zeros({0, 3}), {0}), doctest::Contains("[max] cannot reduce over an empty axis"), ShapeError);
  CHECK_THROWS_WITH_AS(mean(zeros({2}, kInt64)), doctest::Contains("[mean] expects a floating tensor"), DTypeError);
}
