#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor offsets(const std::vector<std::int64_t>& values) { return from_vector(values); }

// The definition, row by row with plain matmuls: what grouped_matmul must equal.
Tensor reference(const Tensor& x, const Tensor& w, const std::vector<std::int64_t>& bounds, const Tensor& bias) {
  Tensor out = zeros({x.size(0), w.size(2)}, x.dtype());
  for (std::size_t g = 0; g + 1 < bounds.size(); ++g) {
    for (std::int64_t r = bounds[g]; r < bounds[g + 1]; ++r) {
      Tensor row = matmul(narrow(x, 0, r, 1), select(w, 0, static_cast<std::int64_t>(g)));
      if (bias.defined()) row = row + select(bias, 0, static_cast<std::int64_t>(g));
      narrow(out, 0, r, 1).copy_(row);
    }
  }
  return out;
}
}  // namespace

TEST_CASE("grouped_matmul multiplies each block of rows by its own weight, rows in no group are 0") {
  Tensor x = leaf({7, 3}, 1), w = leaf({3, 3, 2}, 2), b = leaf({3, 2}, 3);
  std::vector<std::int64_t> bounds{1, 3, 3, 6};  // row 0 and row 6 in no group, group 1 empty
  check_close(grouped_matmul(x, w, offsets(bounds), b), reference(x, w, bounds, b), 1e-12);
  check_close(grouped_matmul(x, w, offsets(bounds)), reference(x, w, bounds, Tensor()), 1e-12);
  // by hand: x = [[1,2]], w[0] = [[1,0,2],[0,1,3]], b[0] = [10,20,30] -> [11, 22, 38]
  Tensor one = from_vector(std::vector<double>{1, 2}, {1, 2});
  Tensor w1 = from_vector(std::vector<double>{1, 0, 2, 0, 1, 3}, {1, 2, 3});
  Tensor b1 = from_vector(std::vector<double>{10, 20, 30}, {1, 3});
  check_close(grouped_matmul(one, w1, offsets({0, 1}), b1), {11, 22, 38});
}

TEST_CASE("grouped_matmul takes a transposed weight view and float32") {
  Tensor x = leaf({5, 4}, 4), w = leaf({2, 3, 4}, 5);
  std::vector<std::int64_t> bounds{0, 2, 5};
  Tensor wt = transpose(w, 1, 2);  // (2,4,3), column-major inner matrices
  check_close(grouped_matmul(x, wt, offsets(bounds)), reference(x, wt.contiguous(), bounds, Tensor()), 1e-12);
  Tensor y32 = grouped_matmul(x.to(kFloat32), w.to(kFloat32).transpose(1, 2), offsets(bounds));
  check_close(y32, reference(x, wt.contiguous(), bounds, Tensor()), 1e-5);
}

TEST_CASE("grouped_matmul gradients pass gradcheck: x, weights, bias, empty groups and uncovered rows") {
  auto grouped = [](const std::vector<std::int64_t>& bounds) {
    return [bounds](const std::vector<Tensor>& v) { return grouped_matmul(v[0], v[1], offsets(bounds), v[2]); };
  };
  check_gradients(grouped({0, 2, 5}), {leaf({5, 3}, 6), leaf({2, 3, 4}, 7), leaf({2, 4}, 8)});
  check_gradients(grouped({1, 1, 4, 4}), {leaf({6, 2}, 9), leaf({3, 2, 3}, 10), leaf({3, 3}, 11)});
  check_gradients([](const std::vector<Tensor>& v) { return grouped_matmul(v[0], transpose(v[1], 1, 2), offsets({0, 3, 4})); },
                  {leaf({4, 3}, 12), leaf({2, 2, 3}, 13)});
}

TEST_CASE("grouped_matmul refuses bad shapes, dtypes and offsets with the op's name") {
  Tensor x = leaf({4, 3}, 1), w = leaf({2, 3, 5}, 2);
  CHECK_THROWS_WITH_AS(grouped_matmul(x, leaf({2, 4, 5}, 3), offsets({0, 2, 4})),
                       doctest::Contains("[grouped_matmul] expects x (N,K) and w (G,K,M) with equal K"), ShapeError);
  CHECK_THROWS_WITH_AS(grouped_matmul(x, w, offsets({0, 4})), doctest::Contains("group offsets must be (G+1) = (3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(grouped_matmul(x, w, from_vector(std::vector<double>{0, 2, 4})),
                       doctest::Contains("group offsets must be int64"), DTypeError);
  CHECK_THROWS_WITH_AS(grouped_matmul(x, w, offsets({0, 3, 2})), doctest::Contains("non-decreasing within [0, 4]"),
                       IndexError);
  CHECK_THROWS_WITH_AS(grouped_matmul(x, w, offsets({0, 2, 5})), doctest::Contains("non-decreasing within [0, 4]"),
                       IndexError);
  CHECK_THROWS_WITH_AS(grouped_matmul(x, w, offsets({0, 2, 4}), leaf({2, 4}, 4)), doctest::Contains("bias must be (G,M)"),
                       ShapeError);
  CHECK_THROWS_AS(grouped_matmul(x.to(kFloat32), w, offsets({0, 2, 4})), DTypeError);
}
