#include <omp.h>

#include <cmath>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// layer_norm composed from public ops: (x - mean) / sqrt(population var + eps) * weight + bias
Tensor composed_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  Tensor normalized = div(sub(x, mean(x, {-1}, true)), sqrt(var(x, {-1}, 0, true) + eps));
  if (weight.defined()) normalized = mul(normalized, weight);
  if (bias.defined()) normalized = add(normalized, bias);
  return normalized;
}

}  // namespace

TEST_CASE("layer_norm of [1,2,3,4] with eps 0 is (x - 2.5) / sqrt(1.25), then scaled and shifted") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4});
  // mean 2.5, population variance 1.25: xhat = [-1.5, -0.5, 0.5, 1.5] / sqrt(1.25)
  check_close(layer_norm(x, Tensor(), Tensor(), 0.0), {-1.3416407864998738, -0.4472135954999579,
                                                       0.4472135954999579, 1.3416407864998738},
              1e-14);
  Tensor weight = from_vector(std::vector<double>{1, 0.5, 2, -1});
  Tensor bias = from_vector(std::vector<double>{0, 1, 0, 0.5});
  check_close(layer_norm(x, weight, bias, 0.0),
              {-1.3416407864998738, 0.77639320225002106, 0.8944271909999158, -0.8416407864998738}, 1e-14);
}

TEST_CASE("each row of layer_norm's output has mean 0 and population variance 1") {
  Generator generator(1);
  Tensor x = normal({5, 7, 32}, 3.0, 4.0, generator, kFloat64);
  Tensor y = layer_norm(x, Tensor(), Tensor());
  CHECK(y.shape() == x.shape());
  check_close(mean(y, {-1}), zeros({5, 7}, kFloat64), 1e-12);
  // var + eps sits under the root, so the variance is var / (var + eps) ~ 1 - eps / 16
  check_close(var(y, {-1}, 0), ones({5, 7}, kFloat64), 1e-5);
}

TEST_CASE("layer_norm matches the reference composed from mean, var and sqrt in float64") {
  Tensor x = leaf({2, 3, 6}, 2, -3.0, 3.0);
  Tensor weight = leaf({6}, 3), bias = leaf({6}, 4);
  check_close(layer_norm(x, weight, bias, 1e-5), composed_layer_norm(x, weight, bias, 1e-5), 1e-12);
  check_close(layer_norm(x, Tensor(), bias, 0.1), composed_layer_norm(x, Tensor(), bias, 0.1), 1e-12);
}

TEST_CASE("layer_norm's fused backward gives the gradients of the composed reference") {
  Tensor x = leaf({4, 5}, 5), weight = leaf({5}, 6), bias = leaf({5}, 7);
  Tensor cotangent = leaf({4, 5}, 8).detach();
  sum(mul(layer_norm(x, weight, bias), cotangent)).backward();
  Tensor fused_x = x.grad(), fused_weight = weight.grad(), fused_bias = bias.grad();
  for (Tensor* t : {&x, &weight, &bias}) t->zero_grad();
  sum(mul(composed_layer_norm(x, weight, bias, 1e-5), cotangent)).backward();
  check_close(fused_x, x.grad(), 1e-10);
  check_close(fused_weight, weight.grad(), 1e-10);
  check_close(fused_bias, bias.grad(), 1e-10);
}

TEST_CASE("summing layer_norm's output gives dx = 0, dbias = row count, dweight = column sums of xhat") {
  // with weight 1 a normalised row always sums to zero, so sum(out) does not depend on x
  Tensor x = leaf({3, 4}, 9), weight = ones({4}, kFloat64).requires_grad_(), bias = leaf({4}, 11);
  layer_norm(x, weight, bias).sum().backward();
  check_close(x.grad(), zeros({3, 4}, kFloat64), 1e-12);
  check_close(bias.grad(), {3, 3, 3, 3}, 1e-12);
  check_close(weight.grad(), sum(layer_norm(x.detach(), Tensor(), Tensor()), {0}), 1e-12);
}

TEST_CASE("layer_norm passes gradcheck in x, weight and bias together and with either left out") {
  Tensor x = leaf({3, 5}, 12, -2.0, 2.0), weight = leaf({5}, 13), bias = leaf({5}, 14);
  check_gradients([](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); }, {x, weight, bias});
  check_gradients([](const std::vector<Tensor>& v) { return layer_norm(v[0], Tensor(), Tensor()); }, {x});
  check_gradients([&](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], Tensor()); }, {x, weight});
  check_gradients([&](const std::vector<Tensor>& v) { return layer_norm(v[0], Tensor(), v[1]); }, {x, bias});
}

TEST_CASE("layer_norm passes gradcheck on 3-D, non-contiguous and size-1 leading shapes") {
  Tensor weight = leaf({4}, 20), bias = leaf({4}, 21);
  auto with_affine = [](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); };
  check_gradients(with_affine, {leaf({2, 3, 4}, 22), weight, bias});
  check_gradients(with_affine, {transposed_leaf({3, 4}, 23), weight, bias});
  check_gradients(with_affine, {leaf({1, 4}, 24), weight, bias});
  check_gradients(with_affine, {leaf({4}, 25), weight, bias});
}

TEST_CASE("layer_norm gives gradients to weight and bias alone when x needs none") {
  Tensor x = leaf({3, 4}, 30).detach();
  Tensor weight = leaf({4}, 31), bias = leaf({4}, 32);
  check_gradients([&](const std::vector<Tensor>& v) { return layer_norm(x, v[0], v[1]); }, {weight, bias});
  weight.zero_grad();
  bias.zero_grad();
  layer_norm(x, weight, Tensor()).sum().backward();
  CHECK(weight.grad().defined());
  CHECK_FALSE(bias.grad().defined());
}

TEST_CASE("a row of equal values normalises to zero instead of dividing by zero") {
  Tensor x = full({2, 3}, 7.0, kFloat32);
  Tensor bias = from_vector(std::vector<float>{1, 2, 3});
  check_close(layer_norm(x, Tensor(), bias), {1, 2, 3, 1, 2, 3});
}

TEST_CASE("a large common offset in float32 does not wipe out the row's variance") {
  // the variance is a second pass over centred values in double, so 1e4 + [1,2,3,4] normalises
  // exactly like [1,2,3,4]
  Tensor offset = from_vector(std::vector<float>{10001, 10002, 10003, 10004});
  Tensor plain = from_vector(std::vector<float>{1, 2, 3, 4});
  check_close(layer_norm(offset, Tensor(), Tensor()), layer_norm(plain, Tensor(), Tensor()), 1e-6);
}

TEST_CASE("float32 layer_norm over many rows (the threaded paths) matches the float64 reference") {
  Generator generator(40);
  Tensor x = normal({4096, 24}, 1.0, 2.0, generator, kFloat32).requires_grad_();
  Tensor weight = normal({24}, 1.0, 0.5, generator, kFloat32).requires_grad_();
  Tensor bias = normal({24}, 0.0, 0.5, generator, kFloat32).requires_grad_();
  Tensor cotangent = normal({4096, 24}, 0.0, 1.0, generator, kFloat32);
  Tensor y = layer_norm(x, weight, bias);
  sum(mul(y, cotangent)).backward();

  Tensor x64 = x.detach().to(kFloat64).requires_grad_();
  Tensor weight64 = weight.detach().to(kFloat64).requires_grad_();
  Tensor bias64 = bias.detach().to(kFloat64).requires_grad_();
  Tensor reference = composed_layer_norm(x64, weight64, bias64, 1e-5);
  sum(mul(reference, cotangent.to(kFloat64))).backward();
  check_close(y, reference, 1e-5);
  check_close(x.grad(), x64.grad(), 1e-4);
  check_close(weight.grad(), weight64.grad(), 1e-5);
  check_close(bias.grad(), bias64.grad(), 1e-5);
}

TEST_CASE("layer_norm's weight and bias gradients do not depend on the thread count") {
  Generator generator(41);
  Tensor x = normal({3000, 16}, 0.0, 1.0, generator, kFloat32).requires_grad_();
  Tensor weight = ones({16}).requires_grad_();
  layer_norm(x, weight, Tensor()).pow(2.0).sum().backward();
  std::vector<float> threaded = weight.grad().to_vector<float>();
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  weight.zero_grad();
  layer_norm(x, weight, Tensor()).pow(2.0).sum().backward();
  omp_set_num_threads(threads);
  CHECK(weight.grad().to_vector<float>() == threaded);
}

TEST_CASE("layer_norm rejects a wrong weight or bias, integer input, a 0-d input and negative eps") {
  Tensor x = zeros({2, 4});
  CHECK_THROWS_AS(layer_norm(x, ones({3}), Tensor()), ShapeError);
  CHECK_THROWS_WITH_AS(layer_norm(x, ones({3}), Tensor()),
                       doctest::Contains("[layer_norm] weight must have shape [4] (the last axis of input float32 "
                                         "[2,4] on cpu), got float32 [3] on cpu"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), ones({2, 4})), doctest::Contains("bias must have shape [4]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(layer_norm(x, ones({4}, kFloat64), Tensor()),
                       doctest::Contains("[layer_norm] weight must have the input's dtype"), DTypeError);
  CHECK_THROWS_WITH_AS(layer_norm(from_vector(std::vector<std::int64_t>{1, 2}), Tensor(), Tensor()),
                       doctest::Contains("[layer_norm] expects a floating tensor"), DTypeError);
  CHECK_THROWS_WITH_AS(layer_norm(scalar(1.0), Tensor(), Tensor()),
                       doctest::Contains("[layer_norm] normalises over the last axis"), ShapeError);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 0}), Tensor(), Tensor()), doctest::Contains("[2,0]"), ShapeError);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), Tensor(), -1.0), doctest::Contains("[layer_norm] eps"), Error);
}
