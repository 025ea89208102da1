// scaled_masked_softmax, attention's softmax(scale·x + mask) as one op: hand-worked values, the
// same bits as the composed ops (multiply, add, softmax) forward and backward, float64 gradcheck,
// padded rows, the same bits on any thread count, the base Backend's composed fallback (what the
// CUDA backend runs), and its errors.
#include <omp.h>

#include <cmath>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Scores of attention's shape (B,H,T,T) = (2,3,5,5) in float32, values in [-4, 4).
Tensor float_scores(std::uint64_t seed, const Shape& shape = {2, 3, 5, 5}) {
  Generator generator(seed);
  return uniform(shape, -4.0, 4.0, generator, kFloat32).requires_grad_();
}

// The masks attention builds, additive (0 keep, -1e9 masked), for B = 2, T = 5: the second
// sequence's last two tokens are padding; keys after the query are future keys.
Tensor padding_mask(DType dtype) {  // (2,1,1,5)
  return from_vector(std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0, -1e9, -1e9}).to(dtype).reshape({2, 1, 1, 5});
}
Tensor causal(DType dtype) {  // (1,1,5,5)
  Tensor row = arange(0.0, 5.0, 1.0, dtype);
  return (gt(row.reshape({1, 5}), row.reshape({5, 1})) * -1e9).reshape({1, 1, 5, 5});
}

std::vector<Tensor> masks(DType dtype) {
  return {Tensor(), padding_mask(dtype), causal(dtype), padding_mask(dtype) + causal(dtype)};
}

// x's gradient for the upstream gradient `upstream` of f(x), on a fresh leaf copy of x.
std::vector<float> input_gradient(const Tensor& x, const Tensor& upstream, const std::function<Tensor(const Tensor&)>& f) {
  Tensor leaf_x = x.detach().clone().requires_grad_();
  sum(f(leaf_x) * upstream).backward();
  return leaf_x.grad().to_vector<float>();
}

}  // namespace

TEST_CASE("scaled_masked_softmax of [1,2,3] at scale 2 with the last key masked is softmax([2,4]) then 0") {
  // e² / (e² + e⁴) = 1 / (1 + e²) = 0.11920292, e⁴ / (e² + e⁴) = 0.88079708
  Tensor x = from_vector(std::vector<double>{1, 2, 3});
  Tensor mask = from_vector(std::vector<double>{0, 0, -1e9});
  check_close(scaled_masked_softmax(x, 2.0, mask), {0.11920292202211755, 0.88079707797788243, 0.0}, 1e-14);
  check_close(scaled_masked_softmax(x.to(kFloat32), 2.0, mask.to(kFloat32)), {0.11920292, 0.88079708, 0.0}, 1e-6);
  // no mask: softmax([2,4,6]) = e^{2k} / (e² + e⁴ + e⁶)
  check_close(scaled_masked_softmax(x, 2.0), {0.015876239976466765, 0.11731042782619835, 0.86681333219733488}, 1e-14);
}

TEST_CASE("scaled_masked_softmax gives the bits of scale, mask add and softmax composed, forward and backward") {
  const double scale = 1.0 / std::sqrt(8.0);
  Tensor x = float_scores(1);
  Generator generator(2);
  Tensor upstream = uniform(x.shape(), -1.0, 1.0, generator, kFloat32);
  for (const Tensor& mask : masks(kFloat32)) {
    INFO("mask " << (mask.defined() ? shape_str(mask.shape()) : std::string("none")));
    auto fused = [&](const Tensor& t) { return scaled_masked_softmax(t, scale, mask); };
    auto composed = [&](const Tensor& t) { return softmax(mask.defined() ? t * scale + mask : t * scale, -1); };
    CHECK(fused(x.detach()).to_vector<float>() == composed(x.detach()).to_vector<float>());
    CHECK(input_gradient(x, upstream, fused) == input_gradient(x, upstream, composed));
  }
}

TEST_CASE("scaled_masked_softmax passes gradcheck in float64 with each mask, broadcast and scalar-size shapes") {
  for (const Tensor& mask : masks(kFloat64)) {
    INFO("mask " << (mask.defined() ? shape_str(mask.shape()) : std::string("none")));
    Tensor x = leaf({2, 3, 5, 5}, 3, -2.0, 2.0);
    check_gradients([&](const std::vector<Tensor>& v) { return scaled_masked_softmax(v[0], 0.7, mask); }, {x});
  }
  // a single key (softmax is 1, gradient 0), a single row, and a mask of one value per key
  check_gradients([](const std::vector<Tensor>& v) { return scaled_masked_softmax(v[0], 1.5); }, {leaf({1}, 4)});
  Tensor key_mask = from_vector(std::vector<double>{0, -1e9, 0, 0});
  check_gradients([&](const std::vector<Tensor>& v) { return scaled_masked_softmax(v[0], -0.5, key_mask); },
                  {leaf({3, 4}, 5)});
  check_gradients([&](const std::vector<Tensor>& v) { return scaled_masked_softmax(v[0], 2.0, key_mask); },
                  {transposed_leaf({4, 4}, 6)});
}

TEST_CASE("scaled_masked_softmax gives padded keys exactly 0 and the real keys softmax over the real keys alone") {
  const double scale = 0.5;
  Tensor x = float_scores(7).detach();
  Tensor probs = scaled_masked_softmax(x, scale, padding_mask(kFloat32));  // sequence 1: keys 3, 4 padded
  // sequence 0 has no padding: plain softmax of the scaled scores
  check_close(select(probs, 0, 0), softmax(select(x, 0, 0) * scale), 1e-6);
  // sequence 1: the padded keys get 0 in every row, padded query rows included
  Tensor padded = narrow(select(probs, 0, 1), -1, 3, 2);
  for (double p : padded.to_vector<double>()) CHECK(p == 0.0);
  check_close(narrow(select(probs, 0, 1), -1, 0, 3), softmax(narrow(select(x, 0, 1), -1, 0, 3) * scale), 1e-6);
  check_close(sum(probs, {-1}), ones({2, 3, 5}), 1e-6);

  // their gradient is 0 too: nothing flows back into a masked score
  Tensor leaf_x = x.clone().requires_grad_();
  Generator generator(8);
  sum(scaled_masked_softmax(leaf_x, scale, padding_mask(kFloat32)) * uniform(x.shape(), -1.0, 1.0, generator))
      .backward();
  for (double g : narrow(select(leaf_x.grad(), 0, 1), -1, 3, 2).to_vector<double>()) CHECK(g == 0.0);

  // a row whose keys are all masked stays finite: in float32 the -1e9 swamps the scores, so uniform
  Tensor all_masked = full({1, 4}, -1e9, kFloat32);
  check_close(scaled_masked_softmax(float_scores(9, {1, 4}).detach(), 0.5, all_masked), {0.25, 0.25, 0.25, 0.25},
              1e-7);
}

TEST_CASE("scaled_masked_softmax gives the same bits on 1, 2 and 3 threads") {
  // (4,4,64,128): 131072 values, enough rows for the kernel to split them among threads
  Tensor x = float_scores(10, {4, 4, 64, 128}).detach();
  Generator generator(11);
  Tensor upstream = uniform(x.shape(), -1.0, 1.0, generator, kFloat32);
  Tensor mask = (gt(uniform({4, 1, 1, 128}, 0.0, 1.0, generator), scalar_like(upstream, 0.8)) * -1e9);
  auto run = [&] {
    std::vector<float> values = scaled_masked_softmax(x, 0.125, mask).to_vector<float>();
    std::vector<float> grad = input_gradient(x, upstream, [&](const Tensor& t) { return scaled_masked_softmax(t, 0.125, mask); });
    values.insert(values.end(), grad.begin(), grad.end());
    return values;
  };
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<float> one = run();
  omp_set_num_threads(2);
  std::vector<float> two = run();
  omp_set_num_threads(3);
  std::vector<float> three = run();
  omp_set_num_threads(threads);
  CHECK(one == two);
  CHECK(one == three);
}

TEST_CASE("the base Backend's composed scaled_masked_softmax agrees with the CPU's one-pass kernels") {
  CpuBackend& cpu = cpu_backend();
  Tensor x = leaf({2, 3, 5, 5}, 12).detach();
  Generator generator(13);
  Tensor g = uniform(x.shape(), -1.0, 1.0, generator, kFloat64);
  for (const Tensor& mask : masks(kFloat64)) {
    INFO("mask " << (mask.defined() ? shape_str(mask.shape()) : std::string("none")));
    Tensor mask_view = mask.defined() ? broadcast_to(mask, x.shape()) : Tensor();
    Tensor fused = Tensor::empty(x.shape(), kFloat64), composed = Tensor::empty(x.shape(), kFloat64);
    cpu.scaled_masked_softmax(x, 0.3, mask_view, fused);
    cpu.Backend::scaled_masked_softmax(x, 0.3, mask_view, composed);
    check_close(fused, composed, 1e-12);
    Tensor grad_fused = Tensor::empty(x.shape(), kFloat64), grad_composed = Tensor::empty(x.shape(), kFloat64);
    cpu.scaled_masked_softmax_backward(fused, g, 0.3, grad_fused);
    cpu.Backend::scaled_masked_softmax_backward(fused, g, 0.3, grad_composed);
    check_close(grad_fused, grad_composed, 1e-12);
  }
}

TEST_CASE("scaled_masked_softmax refuses integer or 0-d scores, a mask that does not broadcast or needs grad") {
  Tensor x = float_scores(14).detach();
  CHECK_THROWS_AS(scaled_masked_softmax(arange(4, kInt64), 1.0), DTypeError);
  CHECK_THROWS_AS(scaled_masked_softmax(scalar(1.0), 1.0), ShapeError);
  CHECK_THROWS_AS(scaled_masked_softmax(x, std::nan("")), Error);
  CHECK_THROWS_AS(scaled_masked_softmax(x, 1.0, arange(5, kInt64)), DTypeError);
  CHECK_THROWS_WITH_AS(scaled_masked_softmax(x, 1.0, zeros({2, 1, 5, 4})),
                       "[scaled_masked_softmax] mask [2,1,5,4] must broadcast to the scores [2,3,5,5] (each axis "
                       "equal or 1)",
                       ShapeError);
  CHECK_THROWS_AS(scaled_masked_softmax(x, 1.0, zeros({1, 2, 3, 5, 5})), ShapeError);  // more axes than x
  Tensor learned = zeros({5}).requires_grad_();
  CHECK_THROWS_AS(scaled_masked_softmax(x, 1.0, learned), AutogradError);
  NoGradGuard no_grad;  // with gradients off there is nothing to refuse
  CHECK(scaled_masked_softmax(x, 1.0, learned).shape() == x.shape());
}
