#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("matmul of 2x3 and 3x2 matches the product worked out by hand") {
  Tensor a = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = from_vector(std::vector<double>{7, 8, 9, 10, 11, 12}, {3, 2});
  check_close(matmul(a, b), {58, 64, 139, 154});
  check_close(matmul(a.to(kFloat32), b.to(kFloat32)), {58, 64, 139, 154});
}

TEST_CASE("transposed operands give the same product as their contiguous copies") {
  Tensor a = transposed_leaf({5, 4}, 1).detach();
  Tensor b = transposed_leaf({4, 3}, 2).detach();
  CHECK_FALSE(a.is_contiguous());
  check_close(matmul(a, b), matmul(a.contiguous(), b.contiguous()), 1e-12);
  check_close(matmul(a, b.contiguous()), matmul(a.contiguous(), b.contiguous()), 1e-12);
}

TEST_CASE("matmul gradients pass gradcheck for 2-D, batched 3-D, broadcast and transposed operands") {
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {leaf({3, 4}, 1), leaf({4, 2}, 2)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); },
                  {leaf({2, 3, 4}, 3), leaf({2, 4, 5}, 4)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {leaf({2, 3, 4}, 5), leaf({4, 2}, 6)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {leaf({3, 4}, 7), leaf({2, 4, 2}, 8)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); },
                  {transposed_leaf({3, 4}, 9), transposed_leaf({4, 2}, 10)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); },
                  {leaf({2, 2, 3, 4}, 11), leaf({2, 2, 4, 3}, 12)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {leaf({4}, 13), leaf({4, 3}, 14)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {leaf({3, 4}, 15), leaf({4}, 16)});
  check_gradients([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {leaf({1, 4}, 17), leaf({4, 1}, 18)});
}

TEST_CASE("batched matmul equals one matmul per batch entry") {
  Tensor a = leaf({3, 2, 4}, 1).detach(), b = leaf({3, 4, 5}, 2).detach();
  Tensor c = matmul(a, b);
  for (std::int64_t i = 0; i < 3; ++i) check_close(select(c, 0, i), matmul(select(a, 0, i), select(b, 0, i)), 1e-12);
}

TEST_CASE("matmul with an empty inner dimension gives zeros") {
  check_close(matmul(zeros({2, 0}), zeros({0, 3})), std::vector<double>(6, 0.0));
}

TEST_CASE("matmul errors say which dimensions disagree") {
  CHECK_THROWS_WITH_AS(matmul(zeros({32, 64}), zeros({32, 64})),
                       doctest::Contains("[matmul] shapes [32,64] and [32,64] are not compatible: inner dimensions 64 and 32 differ"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({3, 2}, kFloat64)), doctest::Contains("[matmul] operands must share"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 2, 3}), zeros({3, 3, 2})), doctest::Contains("cannot be broadcast"), ShapeError);
  CHECK_THROWS_AS(matmul(zeros({2, 3}, kInt64), zeros({3, 2}, kInt64)), DTypeError);
}
