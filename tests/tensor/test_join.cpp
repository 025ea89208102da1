#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor row_major(const std::vector<double>& values, const Shape& shape) { return from_vector(values, shape); }
}  // namespace

TEST_CASE("concat along axis 0 puts the rows of each input one after another") {
  Tensor a = row_major({1, 2, 3, 4}, {2, 2});
  Tensor b = row_major({5, 6}, {1, 2});
  Tensor c = row_major({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor y = concat({a, b, c}, 0);
  CHECK(y.shape() == Shape{6, 2});
  check_close(y, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST_CASE("concat along the last axis interleaves the rows, and a negative axis counts from the end") {
  Tensor a = row_major({1, 2, 3, 4}, {2, 2});
  Tensor b = row_major({5, 6}, {2, 1});
  check_close(concat({a, b}, 1), {1, 2, 5, 3, 4, 6});
  check_close(concat({a, b}, -1), {1, 2, 5, 3, 4, 6});
  CHECK(concat({a, b}, 1).shape() == Shape{2, 3});
}

TEST_CASE("concat copies a non-contiguous input in logical order") {
  Tensor a = transpose(row_major({1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1);  // [[1,4],[2,5],[3,6]]
  Tensor b = row_major({7, 8}, {1, 2});
  check_close(concat({a, b}, 0), {1, 4, 2, 5, 3, 6, 7, 8});
}

TEST_CASE("concat of one tensor is a copy with the same values, and empty pieces are allowed") {
  Tensor a = row_major({1, 2, 3}, {3});
  Tensor empty = zeros({0}, kFloat64);
  check_close(concat({a}), {1, 2, 3});
  check_close(concat({empty, a, empty}), {1, 2, 3});
}

TEST_CASE("concat gradients are slices of the output gradient (3 inputs, axes 0 and 1, non-contiguous)") {
  Tensor a = leaf({2, 3}, 1), b = leaf({1, 3}, 2), c = transposed_leaf({4, 3}, 3);
  check_gradients([](const std::vector<Tensor>& v) { return concat(v, 0); }, {a, b, c});
  Tensor d = leaf({3, 2}, 4), e = leaf({3, 1}, 5), f = transposed_leaf({3, 4}, 6);
  check_gradients([](const std::vector<Tensor>& v) { return concat(v, 1); }, {d, e, f});
}

TEST_CASE("concat sends no gradient to inputs that do not require one") {
  Tensor a = leaf({2}, 1);
  Tensor constant = row_major({5, 6}, {2});
  concat({a, constant}).sum().backward();
  check_close(a.grad(), {1, 1});
  CHECK_FALSE(constant.grad().defined());
}

TEST_CASE("concat rejects an empty list and mismatched inputs with messages naming the culprit") {
  CHECK_THROWS_WITH_AS(concat({}), doctest::Contains("[concat] needs at least one tensor"), Error);
  Tensor a = zeros({2, 3}), b = zeros({2, 3}, kFloat64), c = zeros({2, 4}), d = zeros({6});
  CHECK_THROWS_WITH_AS(concat({a, a, b}), doctest::Contains("[concat] tensor 2 is float64 [2,3]"), DTypeError);
  CHECK_THROWS_WITH_AS(concat({a, c}, 0), doctest::Contains("tensor 1 has shape [2,4] but tensor 0 has shape [2,3]"),
                       ShapeError);
  CHECK_NOTHROW(concat({a, c}, 1));
  CHECK_THROWS_WITH_AS(concat({a, d}), doctest::Contains("[concat] tensor 1 has shape [6]"), ShapeError);
  CHECK_THROWS_WITH_AS(concat({a, a}, 2), doctest::Contains("[concat] axis 2 is out of range"), IndexError);
  CHECK_THROWS_WITH_AS(concat({scalar(1.0), scalar(2.0)}), doctest::Contains("[concat] cannot join 0-d tensors"),
                       ShapeError);
}

TEST_CASE("stack adds a new axis at the given position") {
  Tensor a = row_major({1, 2, 3}, {3});
  Tensor b = row_major({4, 5, 6}, {3});
  Tensor rows = stack({a, b}, 0);
  CHECK(rows.shape() == Shape{2, 3});
  check_close(rows, {1, 2, 3, 4, 5, 6});
  Tensor columns = stack({a, b}, 1);
  CHECK(columns.shape() == Shape{3, 2});
  check_close(columns, {1, 4, 2, 5, 3, 6});
  CHECK(stack({a, b}, -1).shape() == Shape{3, 2});
  CHECK(stack({a, b}, -2).shape() == Shape{2, 3});
  CHECK(stack({scalar(1.0), scalar(2.0)}).shape() == Shape{2});
}

TEST_CASE("stack passes gradcheck and refuses unequal shapes") {
  Tensor a = leaf({2, 3}, 1), b = transposed_leaf({2, 3}, 2), c = leaf({2, 3}, 3);
  check_gradients([](const std::vector<Tensor>& v) { return stack(v, 1); }, {a, b, c});
  CHECK_THROWS_WITH_AS(stack({zeros({2, 3}), zeros({3, 2})}),
                       doctest::Contains("[stack] tensor 1 has shape [3,2] but tensor 0 has shape [2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(stack({zeros({2}), zeros({2})}, 2), doctest::Contains("[stack] axis 2 is out of range"),
                       IndexError);
}

TEST_CASE("split by size gives views, the last one smaller") {
  Tensor x = arange(0.0, 10.0, 1.0, kFloat64).reshape({5, 2});
  std::vector<Tensor> pieces = split(x, 2, 0);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].shape() == Shape{2, 2});
  CHECK(pieces[2].shape() == Shape{1, 2});
  check_close(pieces[1], {4, 5, 6, 7});
  check_close(pieces[2], {8, 9});
  CHECK(pieces[1].storage() == x.storage());  // a view, not a copy
  std::vector<Tensor> columns = split(x, 1, 1);
  REQUIRE(columns.size() == 2);
  check_close(columns[1], {1, 3, 5, 7, 9});
}

TEST_CASE("split by a list of sizes cuts exactly there, and the sizes must add up") {
  Tensor x = arange(0.0, 6.0, 1.0, kFloat64);
  std::vector<Tensor> pieces = split(x, std::vector<std::int64_t>{1, 0, 3, 2});
  REQUIRE(pieces.size() == 4);
  check_close(pieces[0], {0.0});
  CHECK(pieces[1].numel() == 0);
  check_close(pieces[2], {1, 2, 3});
  check_close(pieces[3], {4, 5});
  CHECK_THROWS_WITH_AS(split(x, std::vector<std::int64_t>{2, 3}), doctest::Contains("[split] sizes [2,3] add up to 5"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(split(x, 0), doctest::Contains("[split] split_size must be positive"), Error);
  CHECK_THROWS_WITH_AS(split(scalar(1.0), 1), doctest::Contains("[split] cannot split a 0-d tensor"), ShapeError);
}

TEST_CASE("chunk uses ceil-sized pieces like torch.chunk, so fewer pieces may come back") {
  Tensor x = arange(0.0, 5.0, 1.0, kFloat64);
  std::vector<Tensor> four = chunk(x, 4);  // ceil(5/4) = 2: sizes 2,2,1
  REQUIRE(four.size() == 3);
  check_close(four[2], {4});
  std::vector<Tensor> two = chunk(x, 2);  // sizes 3,2
  REQUIRE(two.size() == 2);
  check_close(two[0], {0, 1, 2});
  check_close(two[1], {3, 4});
  CHECK(chunk(x, 10).size() == 5);
  Tensor six = arange(0.0, 6.0, 1.0, kFloat64).reshape({2, 3});
  CHECK(chunk(six, 3, 1).size() == 3);
  CHECK_THROWS_WITH_AS(chunk(x, 0), doctest::Contains("[chunk] number of chunks must be positive"), Error);
}

TEST_CASE("the gradient through one split piece lands in that piece's rows only") {
  Tensor x = leaf({5, 3}, 7);
  std::vector<Tensor> pieces = split(x, 2, 0);
  (pieces[1] * 3.0).sum().backward();
  check_close(x.grad(), {0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 0, 0, 0});
  Tensor y = transposed_leaf({4, 6}, 8);
  check_gradients([](const std::vector<Tensor>& v) { return square(chunk(v[0], 3, 1)[2]); }, {y});
  check_gradients([](const std::vector<Tensor>& v) {
    std::vector<Tensor> parts = split(v[0], std::vector<std::int64_t>{1, 3}, 0);
    return concat({parts[1], parts[0]}, 0);
  }, {y});
}
