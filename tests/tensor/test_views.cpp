#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("reshape of a contiguous tensor is a view that shares storage") {
  Tensor x = arange(0.0, 6.0, 1.0, kFloat32);
  Tensor y = x.reshape({2, 3});
  CHECK(y.storage() == x.storage());
  CHECK(y.at({1, 0}) == 3.0);
  CHECK(x.reshape({-1, 2}).shape() == Shape{3, 2});
}

TEST_CASE("reshape of a transposed tensor copies, view refuses with a clear message") {
  Tensor x = arange(0.0, 6.0, 1.0, kFloat32).reshape({2, 3}).t();
  CHECK_FALSE(x.is_contiguous());
  Tensor y = x.reshape({6});
  CHECK(y.storage() != x.storage());
  check_close(y, {0, 3, 1, 4, 2, 5});
  CHECK_THROWS_WITH_AS(x.view({6}), doctest::Contains("[view] a tensor of shape [3,2]"), ShapeError);
}

TEST_CASE("view merges axes that are contiguous with each other even in a non-contiguous tensor") {
  Tensor x = zeros({4, 3, 2}).narrow(0, 1, 2);  // rows 1..2: not contiguous as a whole from the base
  Tensor y = x.view({2, 6});
  CHECK(y.storage() == x.storage());
  Tensor z = zeros({3, 8}).narrow(1, 0, 6);  // rows of 6 inside rows of 8: not contiguous
  CHECK_FALSE(z.is_contiguous());
  CHECK(z.view({3, 3, 2}).strides() == Strides{8, 2, 1});
  CHECK_THROWS_AS(z.view({18}), ShapeError);
}

TEST_CASE("transpose, permute, narrow, slice and expand are views without copies") {
  Tensor x = arange(0.0, 24.0, 1.0, kFloat32).reshape({2, 3, 4});
  CHECK(x.transpose(0, 2).storage() == x.storage());
  CHECK(x.permute({2, 0, 1}).shape() == Shape{4, 2, 3});
  CHECK(x.permute({2, 0, 1}).at({3, 1, 2}) == x.at({1, 2, 3}));
  Tensor n = x.narrow(2, 1, 2);
  CHECK(n.shape() == Shape{2, 3, 2});
  CHECK(n.at({1, 2, 0}) == 21.0);
  Tensor s = slice(x, 2, 0, 4, 2);
  check_close(s.reshape({-1}), {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22});
  Tensor e = ones({3, 1}).expand({2, 3, 4});
  CHECK(e.strides() == Strides{0, 1, 0});
  CHECK(select(x, 1, -1).shape() == Shape{2, 4});
  CHECK(select(x, 1, -1).at({1, 3}) == 23.0);
}

TEST_CASE("view ops pass gradcheck, including on non-contiguous inputs") {
  Tensor x = leaf({2, 3, 4}, 1);
  Tensor xt = transposed_leaf({3, 4}, 2);
  auto weighted = [](const Tensor& t) { return t * arange(0.0, static_cast<double>(t.numel()), 1.0, kFloat64).reshape(t.shape()); };
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(v[0].reshape({4, 6})); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(v[0].permute({1, 2, 0})); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(v[0].narrow(1, 1, 2)); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(slice(v[0], 2, 1, 4, 2)); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(select(v[0], 0, 1)); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(v[0].reshape({12})); }, {xt});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(flatten(v[0], 1)); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(v[0].unsqueeze(1).expand({3, 5, 4})); }, {xt});
  check_gradients([&](const std::vector<Tensor>& v) { return weighted(v[0].contiguous()); }, {xt});
}

TEST_CASE("expand's gradient sums over the broadcast axes") {
  Tensor x = from_vector(std::vector<double>{1, 2}, {2, 1}).requires_grad_();
  x.expand({3, 2, 4}).sum().backward();
  check_close(x.grad(), {12, 12});
}

TEST_CASE("sum_to reduces a broadcast gradient back to the input shape") {
  Tensor g = ones({2, 3, 4}, kFloat64);
  check_close(sum_to(g, {3, 1}), {8, 8, 8});
  CHECK(sum_to(g, {}).item() == 24.0);
}

TEST_CASE("shape errors name the op and the shapes") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(x.reshape({4, 2}), doctest::Contains("[reshape] cannot reshape [2,3] (6 elements) into [4,2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(x.expand({2, 4}), doctest::Contains("[expand] cannot expand [2,3] to [2,4]"), ShapeError);
  CHECK_THROWS_WITH_AS(x.squeeze(0), doctest::Contains("[squeeze] axis 0 of shape [2,3] has size 2"), ShapeError);
  CHECK_THROWS_WITH_AS(x.transpose(0, 2), doctest::Contains("[transpose] axis 2 is out of range"), IndexError);
  CHECK_THROWS_WITH_AS(x.narrow(1, 2, 2), doctest::Contains("[narrow] start 2 and length 2"), IndexError);
  CHECK_THROWS_WITH_AS(x.permute({0, 0}), doctest::Contains("[permute]"), IndexError);
  CHECK_THROWS_WITH_AS(add(zeros({2, 3}), zeros({4})),
                       doctest::Contains("[add] shapes [2,3] and [4] cannot be broadcast"), ShapeError);
}

TEST_CASE("to() casts between dtypes and the gradient is cast back") {
  Tensor x = leaf({3}, 4);
  Tensor y = x.to(kFloat32);
  CHECK(y.dtype() == kFloat32);
  (y * 2.0).sum().backward();
  CHECK(x.grad().dtype() == kFloat64);
  check_close(x.grad(), {2, 2, 2});
  check_close(from_vector(std::vector<double>{1.7, -1.7, 2.0}).to(kInt64), {1, -1, 2});
}
