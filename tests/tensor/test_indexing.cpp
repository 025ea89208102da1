#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor ints(const std::vector<std::int64_t>& values, const Shape& shape = {}) { return from_vector(values, shape); }
Tensor doubles(const std::vector<double>& values, const Shape& shape = {}) { return from_vector(values, shape); }
// [[1,2,3],[4,5,6]]
Tensor two_by_three() { return doubles({1, 2, 3, 4, 5, 6}, {2, 3}); }
}  // namespace

TEST_CASE("gather reads x at the index along the axis, in the index's shape") {
  Tensor x = two_by_three();
  Tensor along_rows = gather(x, 1, ints({2, 0, 1, 1}, {2, 2}));
  CHECK(along_rows.shape() == Shape{2, 2});
  check_close(along_rows, {3, 1, 5, 5});
  check_close(gather(x, 0, ints({1, 0, 1}, {1, 3})), {4, 2, 6});
  check_close(gather(x, -1, ints({0, 0, 0, 2, 2, 2}, {2, 3})), {1, 1, 1, 6, 6, 6});
}

TEST_CASE("gather works on float32 and int64 values and on a middle axis") {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor picked = gather(x, 1, ints({1, 2}, {2, 1}));
  CHECK(picked.dtype() == kFloat32);
  check_close(picked, {2, 6});
  check_close(gather(ints({10, 20, 30, 40}, {2, 2}), 0, ints({1, 1}, {1, 2})), {30, 40});
  // cube[b][t][c] = 100b + 10t + c, shape (2,3,2); pick t per (b, c)
  Tensor cube = doubles({0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121}, {2, 3, 2});
  check_close(gather(cube, 1, ints({2, 0, 1, 1}, {2, 1, 2})), {20, 1, 110, 111});
}

TEST_CASE("gather has exact gradients along each axis, with repeated indices") {
  Tensor index_rows = ints({2, 0, 2, 1, 0, 0, 1, 1, 2, 2, 2, 2, 0, 1, 2, 0, 1, 0, 0, 2}, {5, 4});
  check_gradients([&](const std::vector<Tensor>& v) { return gather(v[0], 0, index_rows); }, {leaf({3, 4}, 1)});
  Tensor index_columns = ints({3, 3, 0, 1, 2, 1}, {3, 2});
  check_gradients([&](const std::vector<Tensor>& v) { return gather(v[0], 1, index_columns); }, {leaf({3, 4}, 2)});
  Tensor index_middle = ints({0, 2, 1, 1, 2, 2, 0, 0, 1, 0, 2, 2, 1, 0, 0, 1}, {2, 4, 2});
  check_gradients([&](const std::vector<Tensor>& v) { return gather(v[0], 1, index_middle); }, {leaf({2, 3, 2}, 3)});
}

TEST_CASE("gather accepts a non-contiguous x") {
  Tensor x = transposed_leaf({3, 4}, 4);
  REQUIRE_FALSE(x.is_contiguous());
  Tensor index = ints({3, 0, 1, 1, 2, 0}, {3, 2});
  Tensor y = gather(x, 1, index);
  check_close(y, gather(x.contiguous(), 1, index), 0.0);
  check_gradients([&](const std::vector<Tensor>& v) { return gather(v[0], 1, index); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return gather(v[0], 0, ints({2, 1, 0, 2}, {1, 4})); }, {x});
}

TEST_CASE("scatter_add adds src into a copy of x, summing repeated targets") {
  Tensor x = ones({2, 3}, kFloat64);
  Tensor y = scatter_add(x, 1, ints({0, 0, 2, 1}, {2, 2}), doubles({10, 20, 30, 40}, {2, 2}));
  check_close(y, {31, 1, 1, 1, 41, 31});
  check_close(x, {1, 1, 1, 1, 1, 1});  // out of place
  Tensor down = scatter_add(zeros({3, 2}, kFloat64), 0, ints({0, 2, 0, 0}, {2, 2}), doubles({1, 2, 3, 4}, {2, 2}));
  check_close(down, {4, 4, 0, 0, 0, 2});
}

TEST_CASE("scatter_add differentiates in x and in src") {
  Tensor index = ints({0, 2, 2, 1, 1, 1, 0, 0}, {2, 4});
  check_gradients([&](const std::vector<Tensor>& v) { return scatter_add(v[0], 1, index, v[1]); },
                  {leaf({2, 3}, 5), leaf({2, 4}, 6)});
  Tensor index_rows = ints({2, 0, 0, 2, 2, 1}, {2, 3});
  check_gradients([&](const std::vector<Tensor>& v) { return scatter_add(v[0], 0, index_rows, v[1]); },
                  {leaf({3, 3}, 7), leaf({2, 3}, 8)});
}

TEST_CASE("scatter_add sums many repeated targets exactly across threads") {
  // Many columns and picks so that the kernel runs on several threads; every add is of 1.
  Generator generator(11);
  Tensor index = randint(0, 5, {64, 3000}, generator);
  Tensor counts = scatter_add(zeros({64, 5}, kInt64), 1, index, ones({64, 3000}, kInt64));
  std::vector<std::int64_t> picks = index.to_vector<std::int64_t>(), expected(64 * 5, 0);
  for (std::int64_t r = 0; r < 64; ++r) {
    for (std::int64_t j = 0; j < 3000; ++j) ++expected[r * 5 + picks[r * 3000 + j]];
  }
  CHECK(counts.to_vector<std::int64_t>() == expected);
}

TEST_CASE("index_select picks whole slices along the axis, repeats allowed") {
  Tensor x = doubles({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor rows = index_select(x, 0, ints({2, 0, 2}));
  CHECK(rows.shape() == Shape{3, 2});
  check_close(rows, {5, 6, 1, 2, 5, 6});
  check_close(index_select(two_by_three(), 1, ints({2, 0})), {3, 1, 6, 4});
  CHECK(index_select(x, 0, ints({}, {0})).shape() == Shape{0, 2});
}

TEST_CASE("index_select has exact gradients, repeated rows adding up") {
  Tensor index = ints({3, 0, 3, 1});
  check_gradients([&](const std::vector<Tensor>& v) { return index_select(v[0], 0, index); }, {leaf({4, 3}, 9)});
  check_gradients([&](const std::vector<Tensor>& v) { return index_select(v[0], 1, ints({2, 2, 0})); },
                  {leaf({4, 3}, 10)});
  check_gradients([&](const std::vector<Tensor>& v) { return index_select(v[0], 1, ints({1, 0, 1})); },
                  {transposed_leaf({2, 3, 2}, 11)});
}

TEST_CASE("index_add adds src's slices at the named rows of a copy of x") {
  Tensor x = zeros({3, 2}, kFloat64);
  check_close(index_add(x, 0, ints({0, 2, 0}), doubles({1, 2, 3, 4, 5, 6}, {3, 2})), {6, 8, 0, 0, 3, 4});
  check_close(index_add(ones({2, 3}, kFloat64), 1, ints({2, 2}), doubles({1, 2, 3, 4}, {2, 2})), {1, 1, 4, 1, 1, 8});
  check_close(x, {0, 0, 0, 0, 0, 0});  // out of place
}

TEST_CASE("index_add differentiates in x and in src") {
  check_gradients([](const std::vector<Tensor>& v) { return index_add(v[0], 0, ints({1, 1, 3}), v[1]); },
                  {leaf({4, 3}, 12), leaf({3, 3}, 13)});
  check_gradients([](const std::vector<Tensor>& v) { return index_add(v[0], 1, ints({0, 2, 0, 0}), v[1]); },
                  {leaf({2, 3}, 14), leaf({2, 4}, 15)});
}

TEST_CASE("one_hot puts a 1 at each class, in a new last axis") {
  Tensor flat = one_hot(ints({0, 2, 1}), 3);
  CHECK(flat.shape() == Shape{3, 3});
  CHECK(flat.dtype() == kFloat32);
  check_close(flat, {1, 0, 0, 0, 0, 1, 0, 1, 0});
  Tensor nested = one_hot(ints({1, 0}, {2, 1}), 3, kInt64);
  CHECK(nested.shape() == Shape{2, 1, 3});
  CHECK(nested.dtype() == kInt64);
  check_close(nested, {0, 1, 0, 1, 0, 0});
}

TEST_CASE("one_hot refuses classes outside [0, num_classes)") {
  CHECK_THROWS_WITH_AS(one_hot(ints({0, 3, 1}), 3),
                       doctest::Contains("[one_hot] index holds values in [0, 3] but must lie in [0, 3)"), IndexError);
  CHECK_THROWS_AS(one_hot(ints({-1}), 3), IndexError);
  CHECK_THROWS_WITH_AS(one_hot(ints({0}), 0), doctest::Contains("[one_hot] num_classes must be positive"), Error);
  CHECK_THROWS_AS(one_hot(doubles({0.0}), 2), DTypeError);
}

TEST_CASE("embedding looks up rows of weight for ids of any shape") {
  Tensor weight = doubles({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  Tensor out = embedding(weight, ints({1, 1, 2, 0}, {2, 2}));
  CHECK(out.shape() == Shape{2, 2, 2});
  check_close(out, {2, 3, 2, 3, 4, 5, 0, 1});
  CHECK(embedding(weight, ints({3}, {1})).shape() == Shape{1, 2});
  Tensor single = embedding(weight, from_vector(std::vector<std::int64_t>{2}).reshape({}));
  CHECK(single.shape() == Shape{2});
  check_close(single, {4, 5});
}

TEST_CASE("embedding's gradient accumulates over repeated ids") {
  Tensor weight = doubles({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2}).requires_grad_();
  embedding(weight, ints({1, 1, 2})).sum().backward();
  check_close(weight.grad(), {0, 0, 2, 2, 1, 1, 0, 0});
  Tensor ids = ints({1, 1, 2, 4}, {2, 2});
  check_gradients([&](const std::vector<Tensor>& v) { return embedding(v[0], ids); }, {leaf({5, 3}, 16)});
}

TEST_CASE("indexing ops name the op, the range and the size of a bad index") {
  Tensor x = two_by_three();
  CHECK_THROWS_WITH_AS(gather(x, 1, ints({0, 5}, {2, 1})),
                       doctest::Contains("[gather] index holds values in [0, 5] but must lie in [0, 3)"), IndexError);
  CHECK_THROWS_WITH_AS(index_select(x, 0, ints({-1, 1})),
                       doctest::Contains("[index_select] index holds values in [-1, 1] but must lie in [0, 2)"),
                       IndexError);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, ints({2, 0, 0}, {1, 3}), doubles({1, 1, 1}, {1, 3})),
                       doctest::Contains("[scatter_add] index holds values in [0, 2] but must lie in [0, 2)"),
                       IndexError);
  CHECK_THROWS_WITH_AS(index_add(x, 1, ints({3}), doubles({1, 1}, {2, 1})),
                       doctest::Contains("[index_add] index holds values in [3, 3] but must lie in [0, 3)"),
                       IndexError);
  CHECK_THROWS_WITH_AS(embedding(x, ints({0, 2})),
                       doctest::Contains("[embedding] ids holds values in [0, 2] but must lie in [0, 2)"), IndexError);
  CHECK_THROWS_AS(gather(x, 2, ints({0, 0}, {2, 1})), IndexError);  // axis out of range
}

TEST_CASE("indexing ops refuse a non-int64 index") {
  Tensor x = two_by_three();
  CHECK_THROWS_WITH_AS(gather(x, 1, doubles({0, 1}, {2, 1})),
                       doctest::Contains("[gather] index must be int64, got float64 [2,1]"), DTypeError);
  CHECK_THROWS_WITH_AS(index_select(x, 0, doubles({0})), doctest::Contains("[index_select] index must be int64"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(embedding(x, doubles({0})), doctest::Contains("[embedding] ids must be int64"), DTypeError);
}

TEST_CASE("indexing ops refuse an index or src of the wrong shape") {
  Tensor x = two_by_three();
  CHECK_THROWS_WITH_AS(gather(x, 1, ints({0, 1})),
                       doctest::Contains("[gather] index [2] must have the shape of x [2,3] on every axis except axis"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(gather(x, 1, ints({0, 1, 2}, {3, 1})),
                       doctest::Contains("[gather] index [3,1] must have the shape of x [2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(scatter_add(x, 1, ints({0, 1}, {2, 1}), doubles({1, 2, 3, 4}, {2, 2})),
                       doctest::Contains("[scatter_add] src [2,2] must have the shape of index [2,1]"), ShapeError);
  CHECK_THROWS_WITH_AS(index_select(x, 0, ints({0, 1}, {2, 1})),
                       doctest::Contains("[index_select] index must be 1-D, got int64 [2,1]"), ShapeError);
  CHECK_THROWS_WITH_AS(index_add(x, 0, ints({0}), doubles({1, 2}, {1, 2})),
                       doctest::Contains("[index_add] src [1,2] must have shape [1,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(embedding(doubles({1, 2, 3}), ints({0})),
                       doctest::Contains("[embedding] weight must be 2-D (vocabulary, dim), got float64 [3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(gather(scalar(1.0), 0, ints({0}, {1})),
                       doctest::Contains("[gather] expects a tensor with at least one axis"), ShapeError);
}

TEST_CASE("index_select and gather backward add a non-contiguous upstream gradient into one zeroed buffer") {
  // y = index_select(x, 0, [3, 1, 3])ᵀ with upstream [[1,2,3],[4,5,6]]: the rule sees gᵀ (a view);
  // row 3 gets its two slices' gradients summed, [1+3, 4+6], row 1 gets [2, 5], rows 0 and 2 stay 0.
  Tensor x = zeros({4, 2}).requires_grad_();
  transpose(index_select(x, 0, ints({3, 1, 3})), 0, 1).backward(from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}));
  check_close(x.grad(), {0, 0, 2, 5, 0, 0, 4, 10}, 0.0);
  // gather along axis 1 with index [[2,2],[0,1]], upstream gᵀ of [[1,2],[3,4]]: x[0][2] gets 1 + 3,
  // x[1][0] gets 2 and x[1][1] gets 4
  Tensor table = zeros({2, 3}).requires_grad_();
  transpose(gather(table, 1, ints({2, 2, 0, 1}, {2, 2})), 0, 1).backward(from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}));
  check_close(table.grad(), {0, 0, 4, 2, 4, 0}, 0.0);
}
