// Every CUDA kernel against the CPU: each op's forward and backward from the same inputs (the
// runner in tests/cuda/device_parity.h). Inputs are float64 unless a case says float32, so the
// tolerance is about summation order and the device's libm, not about precision.
#include "tests/cuda/device_parity.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

const auto kGpu = doctest::skip(!gpu_tests_enabled());

// A case on one input leaf of `shape` with values in [low, high).
DeviceCase unary_case(std::string name, Shape shape, std::function<Tensor(const Tensor&)> op, double low = -2.0,
                      double high = 2.0) {
  return {std::move(name), [=] { return std::vector<Tensor>{leaf(shape, 11, low, high)}; },
          [op](const std::vector<Tensor>& v) { return op(v[0]); }};
}

DeviceCase binary_case(std::string name, Shape a, Shape b, std::function<Tensor(const Tensor&, const Tensor&)> op,
                       double low = -2.0, double high = 2.0) {
  return {std::move(name), [=] { return std::vector<Tensor>{leaf(a, 21, low, high), leaf(b, 22, low, high)}; },
          [op](const std::vector<Tensor>& v) { return op(v[0], v[1]); }};
}

Tensor ints(const std::vector<std::int64_t>& values, const Shape& shape = {}) { return from_vector(values, shape); }

void run_all(const std::vector<DeviceCase>& cases) {
  for (const DeviceCase& c : cases) check_device_parity(c);
}

}  // namespace

TEST_CASE("cuda: unary ops match the CPU, values and gradients, contiguous and transposed" * kGpu) {
  auto t = [](std::function<Tensor(const Tensor&)> op) {  // the same op on a transposed view
    return [op](const Tensor& x) { return op(transpose(x, 0, 1)); };
  };
  run_all({
      unary_case("neg", {3, 4}, [](const Tensor& x) { return -x; }),
      unary_case("exp", {3, 4}, [](const Tensor& x) { return exp(x); }),
      unary_case("exp transposed", {3, 4}, t([](const Tensor& x) { return exp(x); })),
      unary_case("log", {3, 4}, [](const Tensor& x) { return log(x); }, 0.1, 3.0),
      unary_case("sqrt", {5}, [](const Tensor& x) { return sqrt(x); }, 0.1, 3.0),
      unary_case("abs", {3, 4}, [](const Tensor& x) { return abs(x); }),
      unary_case("tanh", {2, 3, 2}, [](const Tensor& x) { return tanh(x); }),
      unary_case("sigmoid", {3, 4}, [](const Tensor& x) { return sigmoid(x * 10.0); }),
      unary_case("relu", {3, 4}, t([](const Tensor& x) { return relu(x); })),
      unary_case("gelu erf", {3, 4}, [](const Tensor& x) { return gelu(x); }),
      unary_case("gelu tanh", {3, 4}, [](const Tensor& x) { return gelu(x, GeluApproximation::Tanh); }),
      unary_case("softplus", {3, 4}, [](const Tensor& x) { return softplus(x * 30.0); }),
      unary_case("erf", {3, 4}, [](const Tensor& x) { return erf(x); }),
      unary_case("normal_cdf", {3, 4}, [](const Tensor& x) { return normal_cdf(x * 5.0); }),
      unary_case("square", {}, [](const Tensor& x) { return square(x); }),
      unary_case("sign", {3, 4}, [](const Tensor& x) { return sign(x); }),
      unary_case("clamp", {3, 4}, [](const Tensor& x) { return clamp(x, -0.5, 0.7); }),
      unary_case("pow scalar", {3, 4}, [](const Tensor& x) { return pow(x, 2.5); }, 0.1, 2.0),
      unary_case("reciprocal", {3, 4}, [](const Tensor& x) { return 1.0 / x; }, 0.5, 2.0),
      unary_case("floor", {3, 4}, [](const Tensor& x) { return floor(x * 3.0); }),
      unary_case("ceil", {3, 4}, [](const Tensor& x) { return ceil(x * 3.0); }),
      unary_case("float32", {3, 4}, [](const Tensor& x) { return exp(x.to(kFloat32)); }),
  });
}

TEST_CASE("cuda: binary ops match the CPU with broadcasting, stride-0 and transposed operands" * kGpu) {
  run_all({
      binary_case("add row", {3, 4}, {4}, [](const Tensor& a, const Tensor& b) { return a + b; }),
      binary_case("sub column x row", {3, 1}, {1, 4}, [](const Tensor& a, const Tensor& b) { return a - b; }),
      binary_case("mul 0-d", {}, {2, 3}, [](const Tensor& a, const Tensor& b) { return a * b; }),
      binary_case("div", {3, 4}, {3, 4}, [](const Tensor& a, const Tensor& b) { return a / b; }, 0.5, 2.0),
      binary_case("pow", {3, 4}, {4}, [](const Tensor& a, const Tensor& b) { return pow(a, b); }, 0.5, 2.0),
      binary_case("maximum", {3, 4}, {3, 4}, [](const Tensor& a, const Tensor& b) { return maximum(a, b); }),
      binary_case("minimum transposed", {4, 3}, {3, 4},
                  [](const Tensor& a, const Tensor& b) { return minimum(transpose(a, 0, 1), b); }),
      binary_case("comparisons", {3, 4}, {4},
                  [](const Tensor& a, const Tensor& b) {
                    return eq(a, b) + 2.0 * ne(a, b) + 4.0 * lt(a, b) + 8.0 * le(a, b) + 16.0 * gt(a, b) +
                           32.0 * ge(a, b);
                  }),
      binary_case("where", {3, 4}, {3, 4},
                  [](const Tensor& a, const Tensor& b) { return where(gt(a, b), a * 2.0, b); }),
      binary_case("float32 add", {2, 3, 4}, {3, 1},
                  [](const Tensor& a, const Tensor& b) { return a.to(kFloat32) * b.to(kFloat32) + 1.0; }),
      {"int64 floor_divide",
       [] { return std::vector<Tensor>{ints({7, -7, 7, -7, 0, 9}), ints({2, 2, -2, -2, 3, -1})}; },
       [](const std::vector<Tensor>& v) { return floor_divide(v[0], v[1]); }},
      {"int64 arithmetic",
       [] { return std::vector<Tensor>{ints({1, -2, 3, 4}, {2, 2}), ints({5, -6}, {2})}; },
       [](const std::vector<Tensor>& v) { return abs(v[0] * v[1] - v[1]) + maximum(v[0], v[1]); }},
  });
}

TEST_CASE("cuda: reductions and cumsum match the CPU over every axis" * kGpu) {
  run_all({
      unary_case("sum all", {3, 4}, [](const Tensor& x) { return x.sum(); }),
      unary_case("sum axis 0", {3, 4, 2}, [](const Tensor& x) { return x.sum({0}); }),
      unary_case("sum long rows", {3, 5000}, [](const Tensor& x) { return x.sum({1}); }),
      unary_case("mean keepdim", {3, 4}, [](const Tensor& x) { return x.mean({1}, true); }),
      unary_case("max axis 1", {3, 4}, [](const Tensor& x) { return max(x, {1}); }),
      unary_case("min axis 0", {3, 4}, [](const Tensor& x) { return min(x, {0}); }),
      unary_case("max long rows", {2, 3000}, [](const Tensor& x) { return max(x, {1}); }),
      unary_case("argmax", {3, 700}, [](const Tensor& x) { return argmax(x, 1); }),
      unary_case("argmin columns", {5, 3}, [](const Tensor& x) { return argmin(x, 0); }),
      unary_case("argmax ties go to the first", {4, 6}, [](const Tensor& x) { return argmax(floor(x), 1); }),
      unary_case("logsumexp", {3, 4}, [](const Tensor& x) { return logsumexp(x, {1}); }),
      unary_case("var", {3, 4}, [](const Tensor& x) { return var(x, {0}); }),
      unary_case("cumsum axis 0", {3, 4}, [](const Tensor& x) { return cumsum(x, 0); }),
      unary_case("cumsum axis 1", {3, 4}, [](const Tensor& x) { return cumsum(x, 1); }),
      {"cumsum int64", [] { return std::vector<Tensor>{ints({3, 0, 2, 5, 1})}; },
       [](const std::vector<Tensor>& v) { return cumsum(v[0], 0); }},
  });
}

TEST_CASE("cuda: matmul on cuBLAS matches the CPU for plain, transposed, batched and broadcast operands" * kGpu) {
  auto mm = [](const Tensor& a, const Tensor& b) { return matmul(a, b); };
  run_all({
      binary_case("2-D", {3, 4}, {4, 5}, mm),
      binary_case("transposed right", {3, 4}, {5, 4},
                  [](const Tensor& a, const Tensor& b) { return matmul(a, transpose(b, 0, 1)); }),
      binary_case("transposed left", {4, 3}, {4, 5},
                  [](const Tensor& a, const Tensor& b) { return matmul(transpose(a, 0, 1), b); }),
      binary_case("batched", {2, 3, 4}, {2, 4, 5}, mm),
      binary_case("broadcast batch", {2, 3, 4}, {4, 5}, mm),
      binary_case("shared left", {3, 4}, {2, 4, 5}, mm),
      binary_case("vector", {4}, {4, 5}, mm),
      binary_case("float32", {16, 32}, {32, 8},
                  [](const Tensor& a, const Tensor& b) { return matmul(a.to(kFloat32), b.to(kFloat32)); }),
  });
}

TEST_CASE("cuda: the grouped matmul matches the CPU with a bias, an empty group and rows in no group" * kGpu) {
  // rows 0 and 9 lie in no group, group 1 is empty
  auto offsets = [] { return ints({1, 4, 4, 9}); };
  run_all({
      {"with bias",
       [] { return std::vector<Tensor>{leaf({10, 4}, 1), leaf({3, 4, 5}, 2), leaf({3, 5}, 3)}; },
       [offsets](const std::vector<Tensor>& v) { return grouped_matmul(v[0], v[1], offsets().to(v[0].device()), v[2]); }},
      {"transposed weight, no bias",
       [] { return std::vector<Tensor>{leaf({10, 4}, 4), leaf({3, 5, 4}, 5)}; },
       [offsets](const std::vector<Tensor>& v) {
         return grouped_matmul(v[0], transpose(v[1], 1, 2), offsets().to(v[0].device()));
       }},
  });
}

TEST_CASE("cuda: softmax, log_softmax and layer_norm match the CPU" * kGpu) {
  run_all({
      unary_case("softmax", {3, 7}, [](const Tensor& x) { return softmax(x * 5.0); }),
      unary_case("softmax axis 0", {3, 7}, [](const Tensor& x) { return softmax(x, 0); }),
      unary_case("softmax wide rows", {2, 3000}, [](const Tensor& x) { return softmax(x); }),
      unary_case("log_softmax", {4, 16}, [](const Tensor& x) { return log_softmax(x * 5.0); }),
      unary_case("log_softmax float32", {4, 16}, [](const Tensor& x) { return log_softmax(x.to(kFloat32)); }),
      // the base Backend's composed scale + mask + softmax (no CUDA kernel of its own yet)
      unary_case("scaled_masked_softmax, a mask per score", {2, 3, 4, 4},
                 [](const Tensor& x) { return scaled_masked_softmax(x, 0.5, gt(x.detach(), scalar_like(x, 0.6)) * -1e9); }),
      unary_case("scaled_masked_softmax, a (B,1,1,T) mask", {2, 3, 4, 4},
                 [](const Tensor& x) {
                   Tensor keys = narrow(narrow(x.detach(), 1, 0, 1), 2, 0, 1);  // (2,1,1,4)
                   return scaled_masked_softmax(x, 2.0, gt(keys, scalar_like(x, 0.3)) * -1e9);
                 }),
      {"layer_norm",
       [] { return std::vector<Tensor>{leaf({6, 10}, 1, -3, 5), leaf({10}, 2), leaf({10}, 3)}; },
       [](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); }},
      {"layer_norm many rows",
       [] { return std::vector<Tensor>{leaf({300, 33}, 4), leaf({33}, 5), leaf({33}, 6)}; },
       [](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); }},
      {"layer_norm without affine", [] { return std::vector<Tensor>{leaf({2, 3, 8}, 7)}; },
       [](const std::vector<Tensor>& v) { return layer_norm(v[0], Tensor(), Tensor()); }},
  });
}

TEST_CASE("cuda: gather, scatter_add, index_select, index_add and embedding match the CPU" * kGpu) {
  run_all({
      {"gather axis 1", [] { return std::vector<Tensor>{leaf({2, 4, 3}, 1), ints({0, 3, 3, 1, 2, 0}, {2, 1, 3})}; },
       [](const std::vector<Tensor>& v) { return gather(v[0], 1, v[1]); }},
      {"scatter_add repeats",
       [] { return std::vector<Tensor>{leaf({3, 4}, 2), ints({0, 2, 0, 0, 1, 1, 1, 1}, {2, 4}), leaf({2, 4}, 3)}; },
       [](const std::vector<Tensor>& v) { return scatter_add(v[0], 0, v[1], v[2]); }},
      {"index_select axis 1", [] { return std::vector<Tensor>{leaf({3, 5}, 4), ints({4, 0, 4})}; },
       [](const std::vector<Tensor>& v) { return index_select(v[0], 1, v[1]); }},
      {"index_add repeats",
       [] { return std::vector<Tensor>{leaf({4, 3}, 5), ints({3, 1, 3, 3}), leaf({4, 3}, 6)}; },
       [](const std::vector<Tensor>& v) { return index_add(v[0], 0, v[1], v[2]); }},
      {"embedding", [] { return std::vector<Tensor>{leaf({6, 4}, 7), ints({5, 0, 5, 2}, {2, 2})}; },
       [](const std::vector<Tensor>& v) { return embedding(v[0], v[1]); }},
      {"one_hot", [] { return std::vector<Tensor>{ints({2, 0, 1})}; },
       [](const std::vector<Tensor>& v) { return one_hot(v[0], 4); }},
  });
}

TEST_CASE("cuda: topk, sort and argsort match the CPU, ties and NaN included" * kGpu) {
  auto with_ties = [] {  // values from {-1, 0, 1}: many ties, which go to the lower index
    Generator generator(5);
    return std::vector<Tensor>{randint(-1, 2, {3, 8}, generator).to(kFloat64).requires_grad_()};
  };
  auto long_row = [] {  // past the rank kernel's length: CUB's radix sort
    Generator generator(6);
    return std::vector<Tensor>{randint(0, 16, {2, 3000}, generator)};
  };
  auto nan_zero = [] {
    return std::vector<Tensor>{from_vector(std::vector<double>{0.5, NAN, -0.0, 0.0, -1.0, NAN, 2.0, 0.5}, {1, 8})};
  };
  run_all({
      unary_case("topk values", {5, 16}, [](const Tensor& x) { return topk(x, 2).values; }),
      unary_case("topk indices", {5, 16}, [](const Tensor& x) { return topk(x, 2).indices; }),
      unary_case("topk smallest on axis 0", {6, 3}, [](const Tensor& x) { return topk(x, 3, 0, false).values; }),
      {"topk ties", with_ties, [](const std::vector<Tensor>& v) { return topk(v[0], 3).indices; }},
      {"sort ties", with_ties, [](const std::vector<Tensor>& v) { return sort(v[0]).values; }},
      {"argsort ties descending", with_ties, [](const std::vector<Tensor>& v) { return argsort(v[0], -1, true); }},
      {"argsort long rows (stable)", long_row, [](const std::vector<Tensor>& v) { return argsort(v[0]); }},
      {"argsort long rows descending", long_row, [](const std::vector<Tensor>& v) { return argsort(v[0], -1, true); }},
      {"argsort one long float row",
       [] {
         Generator generator(7);
         return std::vector<Tensor>{floor(uniform({5000}, 0, 50, generator, kFloat32))};
       },
       [](const std::vector<Tensor>& v) { return argsort(v[0]); }},
      {"topk from a long row", long_row, [](const std::vector<Tensor>& v) { return topk(v[0], 5).indices; }},
      {"NaN and signed zeros", nan_zero, [](const std::vector<Tensor>& v) { return argsort(v[0]); }},
      {"NaN first when descending", nan_zero, [](const std::vector<Tensor>& v) { return argsort(v[0], -1, true); }},
      {"NaN and zeros through CUB",
       [] { return std::vector<Tensor>{concat({full({1, 2000}, 0.0, kFloat64), full({1, 2000}, -0.0, kFloat64),
                                               full({1, 10}, NAN, kFloat64)}, 1)}; },
       [](const std::vector<Tensor>& v) { return argsort(v[0], -1, true); }},
  });
}

TEST_CASE("cuda: losses, dropout, joins and casts match the CPU" * kGpu) {
  run_all({
      {"cross_entropy", [] { return std::vector<Tensor>{leaf({4, 5}, 1), ints({0, 4, 2, 2})}; },
       [](const std::vector<Tensor>& v) { return cross_entropy(v[0], v[1]); }},
      binary_case("mse", {3, 4}, {3, 4}, [](const Tensor& a, const Tensor& b) { return mse_loss(a, b); }),
      binary_case("kl_div", {3, 4}, {3, 4},
                  [](const Tensor& a, const Tensor& b) { return kl_div(log_softmax(a), softmax(b)); }),
      unary_case("dropout (the same Philox mask)", {8, 16},
                 [](const Tensor& x) {
                   Generator generator(7);
                   return dropout(x, 0.3, true, generator);
                 }),
      binary_case("concat", {2, 3}, {4, 3}, [](const Tensor& a, const Tensor& b) { return concat({a, b}, 0); }),
      binary_case("stack", {2, 3}, {2, 3}, [](const Tensor& a, const Tensor& b) { return stack({a, b}, 1); }),
      unary_case("split", {6, 2}, [](const Tensor& x) { return split(x, 4, 0)[1] * 3.0; }),
      unary_case("cast to float32 and back", {3, 4}, [](const Tensor& x) { return x.to(kFloat32).to(kFloat64); }),
      unary_case("cast to int64", {3, 4}, [](const Tensor& x) { return (x * 10.0).to(kInt64); }),
      unary_case("masked_fill", {3, 4}, [](const Tensor& x) { return masked_fill(x, gt(x, scalar_like(x, 0.3)), -1.0); }),
      binary_case("cosine_similarity", {3, 5}, {3, 5},
                  [](const Tensor& a, const Tensor& b) { return cosine_similarity(a, b); }),
      unary_case("strided slice", {7, 4}, [](const Tensor& x) { return slice(x, 0, 1, 7, 2) * 2.0; }),
      unary_case("expand then contiguous", {3, 1}, [](const Tensor& x) { return expand(x, {3, 5}).contiguous(); }),
      unary_case("contiguous copy of a permutation", {2, 3, 4},
                 [](const Tensor& x) { return permute(x, {2, 0, 1}).contiguous(); }),
      unary_case("fill_ and copy_", {3, 4},
                 [](const Tensor& x) {
                   Tensor out = zeros({3, 4}, kFloat64, x.device());
                   out.fill_(2.5);
                   out.narrow(0, 1, 1).copy_(x.detach().narrow(0, 0, 1));
                   return out;
                 }),
  });
}
