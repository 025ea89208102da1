#include <algorithm>
#include <cmath>
#include <numeric>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor doubles(const std::vector<double>& values, const Shape& shape = {}) { return from_vector(values, shape); }
// [[1,5,3,5],[2,0,7,4]]: a tie between the two 5s in the first row
Tensor two_by_four() { return doubles({1, 5, 3, 5, 2, 0, 7, 4}, {2, 4}); }
}  // namespace

TEST_CASE("topk returns the k largest values largest first, and where they were") {
  ValuesIndices top = topk(two_by_four(), 2);
  CHECK(top.values.shape() == Shape{2, 2});
  CHECK(top.indices.dtype() == kInt64);
  check_close(top.values, {5, 5, 7, 4});
  check_close(top.indices, {1, 3, 2, 3});
  ValuesIndices bottom = topk(two_by_four(), 2, -1, false);
  check_close(bottom.values, {1, 3, 0, 2});
  check_close(bottom.indices, {0, 2, 1, 0});
}

TEST_CASE("topk breaks ties by the lower index and handles k = 0, 1 and the full length") {
  Tensor flat = doubles({2, 7, 7, 1, 7});
  check_close(topk(flat, 1).indices, {1});
  check_close(topk(flat, 3).indices, {1, 2, 4});
  check_close(topk(flat, 5).values, {7, 7, 7, 2, 1});
  check_close(topk(flat, 5).indices, {1, 2, 4, 0, 3});
  CHECK(topk(flat, 0).values.shape() == Shape{0});
}

TEST_CASE("topk along a leading axis moves that axis and back") {
  Tensor x = doubles({1, 6, 4, 2, 3, 5}, {3, 2});
  ValuesIndices top = topk(x, 2, 0);
  CHECK(top.values.shape() == Shape{2, 2});
  CHECK(top.values.is_contiguous());
  check_close(top.values, {4, 6, 3, 5});
  check_close(top.indices, {1, 0, 2, 2});
}

TEST_CASE("topk sends the gradient to exactly the selected elements") {
  Tensor x = doubles({1, 5, 3, 2, 0, 7}, {2, 3}).requires_grad_();
  topk(x, 1).values.sum().backward();
  check_close(x.grad(), {0, 1, 0, 0, 0, 1});
  x.zero_grad();
  topk(x, 2).values.sum().backward();
  check_close(x.grad(), {0, 1, 1, 1, 0, 1});
}

TEST_CASE("topk has exact gradients for k = 1 and k > 1, on any axis and layout") {
  for (std::int64_t k : {1, 2, 4}) {
    INFO("k = " << k);
    check_gradients([k](const std::vector<Tensor>& v) { return topk(v[0], k).values; }, {leaf({3, 5}, 1)});
    check_gradients([k](const std::vector<Tensor>& v) { return topk(v[0], k, -1, false).values; }, {leaf({3, 5}, 2)});
    check_gradients([k](const std::vector<Tensor>& v) { return topk(v[0], k, 0).values; }, {leaf({5, 3}, 3)});
    check_gradients([k](const std::vector<Tensor>& v) { return topk(v[0], k).values; }, {transposed_leaf({3, 5}, 4)});
    check_gradients([k](const std::vector<Tensor>& v) { return topk(v[0], k, 1).values; }, {leaf({2, 5, 2}, 5)});
  }
}

TEST_CASE("topk of a non-contiguous input equals topk of its contiguous copy") {
  Tensor x = transposed_leaf({4, 6}, 6);
  REQUIRE_FALSE(x.is_contiguous());
  ValuesIndices strided = topk(x, 3), packed = topk(x.contiguous(), 3);
  check_close(strided.values, packed.values, 0.0);
  check_close(strided.indices, packed.indices, 0.0);
}

TEST_CASE("topk on many long rows matches a sort of each row") {
  Generator generator(21);
  Tensor x = randn({64, 1000}, generator, kFloat64);
  ValuesIndices top = topk(x, 5);
  std::vector<double> values = x.to_vector<double>(), top_values = top.values.to_vector<double>();
  std::vector<std::int64_t> top_indices = top.indices.to_vector<std::int64_t>();
  bool all_match = true;
  for (std::int64_t r = 0; r < 64; ++r) {
    std::vector<double> row(values.begin() + r * 1000, values.begin() + (r + 1) * 1000);
    std::sort(row.begin(), row.end(), std::greater<>());
    for (std::int64_t j = 0; j < 5; ++j) {
      all_match = all_match && top_values[r * 5 + j] == row[j] && values[r * 1000 + top_indices[r * 5 + j]] == row[j];
    }
  }
  CHECK(all_match);
}

TEST_CASE("sort orders values ascending or descending, keeping equal values in order") {
  ValuesIndices ascending = sort(doubles({2, 1, 2, 0}));
  check_close(ascending.values, {0, 1, 2, 2});
  check_close(ascending.indices, {3, 1, 0, 2});
  ValuesIndices descending = sort(doubles({2, 1, 2, 0}), -1, true);
  check_close(descending.values, {2, 2, 1, 0});
  check_close(descending.indices, {0, 2, 1, 3});
  ValuesIndices columns = sort(doubles({3, 1, 1, 2, 2, 0}, {3, 2}), 0);
  check_close(columns.values, {1, 0, 2, 1, 3, 2});
  check_close(columns.indices, {1, 2, 2, 0, 0, 1});
}

TEST_CASE("sort treats NaN as the largest value") {
  ValuesIndices ascending = sort(doubles({1, std::nan(""), 3}));
  check_close(ascending.indices, {0, 2, 1});
  CHECK(std::isnan(ascending.values.to_vector<double>()[2]));
  ValuesIndices top = topk(doubles({1, std::nan(""), 3}), 1);
  check_close(top.indices, {1});
  check_close(topk(doubles({1, std::nan(""), 3}), 1, -1, false).indices, std::vector<double>{0});
}

TEST_CASE("sort and topk accept int64 and float32 values") {
  ValuesIndices sorted = sort(from_vector(std::vector<std::int64_t>{3, 1, 2}));
  CHECK(sorted.values.dtype() == kInt64);
  check_close(sorted.values, {1, 2, 3});
  ValuesIndices top = topk(from_vector(std::vector<float>{0.5f, 2.5f, 1.5f}), 2);
  CHECK(top.values.dtype() == kFloat32);
  check_close(top.values, {2.5, 1.5});
}

TEST_CASE("sort has exact gradients along each axis") {
  check_gradients([](const std::vector<Tensor>& v) { return sort(v[0]).values; }, {leaf({3, 4}, 7)});
  check_gradients([](const std::vector<Tensor>& v) { return sort(v[0], 0, true).values; }, {leaf({3, 4}, 8)});
  check_gradients([](const std::vector<Tensor>& v) { return sort(v[0], 1).values; }, {transposed_leaf({2, 4, 3}, 9)});
}

TEST_CASE("argsort returns the permutation that sorts, without a graph") {
  Tensor x = doubles({0.3, -1.0, 2.0, 0.0}).requires_grad_();
  Tensor order = argsort(x);
  check_close(order, {1, 3, 0, 2});
  CHECK_FALSE(order.requires_grad());
  check_close(argsort(x, 0, true), {2, 0, 3, 1});
}

TEST_CASE("randperm yields a permutation that the seed fixes") {
  Generator first(7), second(7), other(8);
  Tensor perm = randperm(10, first);
  CHECK(perm.dtype() == kInt64);
  std::vector<std::int64_t> values = perm.to_vector<std::int64_t>(), sorted = values, expected(10);
  std::sort(sorted.begin(), sorted.end());
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(sorted == expected);
  CHECK(randperm(10, second).to_vector<std::int64_t>() == values);
  CHECK(randperm(10, other).to_vector<std::int64_t>() != values);
}

TEST_CASE("topk and sort name the op and the sizes of a bad call") {
  Tensor x = two_by_four();
  CHECK_THROWS_WITH_AS(topk(x, 5), doctest::Contains("[topk] k = 5 is out of range for axis 1 of size 4 (shape [2,4])"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(topk(x, -1, 0), doctest::Contains("[topk] k = -1 is out of range for axis 0 of size 2"),
                       ShapeError);
  CHECK_THROWS_AS(topk(x, 1, 2), IndexError);
  CHECK_THROWS_WITH_AS(sort(scalar(1.0)), doctest::Contains("[sort] expects a tensor with at least one axis"),
                       ShapeError);
}
