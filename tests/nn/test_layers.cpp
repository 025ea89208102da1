#include "nn/init.h"
#include "nn/layers.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("Linear computes x Wᵀ + b with PyTorch's (out, in) weight layout") {
  Generator generator(0);
  nn::Linear linear(2, 3, true, generator);
  {
    NoGradGuard no_grad;
    linear.weight.copy_(from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2}));
    linear.bias.copy_(from_vector(std::vector<float>{0.5f, 0, -0.5f}));
  }
  Tensor y = linear.forward(from_vector(std::vector<float>{1, 1, 2, 0}, {2, 2}));
  check_close(y, {3.5, 7, 10.5, 2.5, 6, 9.5});
  CHECK(linear.forward(ones({4, 5, 2})).shape() == Shape{4, 5, 3});
  CHECK_THROWS_WITH_AS(linear.forward(ones({4, 3})), doctest::Contains("[Linear] input [4,3] must end in 2 features"),
                       ShapeError);
}

TEST_CASE("Linear's gradients pass gradcheck through the module") {
  Generator generator(0);
  nn::Linear linear(3, 2, true, generator);
  linear.to(kFloat64);
  check_gradients([&](const std::vector<Tensor>& v) { return linear.forward(v[0]); }, {leaf({4, 3}, 1)});
  check_gradients([&](const std::vector<Tensor>&) { return linear.forward(ones({4, 3}, kFloat64) * 0.5); },
                  {linear.weight, linear.bias});
}

TEST_CASE("Linear starts within ±1/√fan_in, as PyTorch does") {
  Generator generator(3);
  nn::Linear linear(100, 50, true, generator);
  CHECK(max(abs(linear.weight)).item() <= 0.1);
  CHECK(max(abs(linear.weight)).item() > 0.09);
}

TEST_CASE("Embedding looks up rows and accumulates gradients of repeated ids") {
  Generator generator(0);
  nn::Embedding table(5, 3, generator);
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 1, 4}, {1, 3});
  Tensor out = table.forward(ids);
  CHECK(out.shape() == Shape{1, 3, 3});
  check_close(select(select(out, 0, 0), 0, 0), select(table.weight, 0, 1), 0.0);
  out.sum().backward();
  check_close(select(table.weight.grad(), 0, 1), {2, 2, 2});
  check_close(select(table.weight.grad(), 0, 0), {0, 0, 0});
}

TEST_CASE("LayerNorm module normalises the last axis and starts as the identity affine map") {
  nn::LayerNorm norm(4);
  Tensor y = norm.forward(from_vector(std::vector<float>{1, 2, 3, 4}, {1, 4}));
  CHECK(mean(y).item() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(var(y, {}, 0).item() == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("FeedForward maps D -> hidden -> D and is differentiable") {
  Generator generator(0);
  nn::FeedForward ffn(4, 8, 0.0, generator);
  ffn.to(kFloat64);
  CHECK(ffn.forward(ones({2, 3, 4}, kFloat64)).shape() == Shape{2, 3, 4});
  check_gradients([&](const std::vector<Tensor>& v) { return ffn.forward(v[0]); }, {leaf({3, 4}, 1)});
}

TEST_CASE("truncated_normal stays within two standard deviations and has the right spread") {
  Generator generator(0);
  Tensor t = nn::truncated_normal({20000}, 0.5, generator, kFloat64);
  CHECK(max(abs(t)).item() <= 1.0 + 1e-9);
  // the variance of N(0,1) truncated to [-2,2] is 0.7737
  CHECK(var(t).item() == doctest::Approx(0.25 * 0.7737).epsilon(0.03));
}

TEST_CASE("truncated_normal is std·√2·erf⁻¹(2u - 1) of one uniform draw per element, to float64 rounding") {
  // The reference solves erf(x) = 2u - 1 by forty Newton steps from x = (2u - 1)·√π/2 in scalar
  // double, on the same uniforms u ~ U(Φ(-2), Φ(2)) the generator hands out.
  const double low = 0.5 * std::erfc(std::sqrt(2.0)), std = 0.02;
  Generator draws(5);
  std::vector<double> u = uniform({4000}, low, 1.0 - low, draws, kFloat64).to_vector<double>();
  std::vector<double> expected;
  for (double value : u) {
    double y = 2.0 * value - 1.0, x = y * std::sqrt(M_PI) / 2.0;
    for (int step = 0; step < 40; ++step) x -= (std::erf(x) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
    expected.push_back(x * (std::sqrt(2.0) * std));
  }
  Generator generator(5);
  std::vector<double> got = nn::truncated_normal({4000}, std, generator, kFloat64).to_vector<double>();
  CHECK(generator.offset() == draws.offset());  // one draw per element, as uniform takes
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - expected[i]) / std);
  CHECK(worst < 4e-15);  // a few units in the last place of values up to 2
  // float32 weights (what the models hold) come out the same
  Generator again(5);
  std::vector<float> rounded = nn::truncated_normal({4000}, std, again, kFloat32).to_vector<float>();
  std::vector<float> expected_rounded(expected.begin(), expected.end());
  CHECK(rounded == expected_rounded);
}

TEST_CASE("truncated_normal of a tensor larger than one erf-inverse chunk keeps its shape and values") {
  // 3 x 50000 elements run through the chunked erf⁻¹ (chunks of 65536, the last one short); each
  // element must equal the one-element formula on its own uniform, in float64 and in float32.
  const double low = 0.5 * std::erfc(std::sqrt(2.0)), std = 0.5;
  Generator draws(9);
  std::vector<double> u = uniform({3, 50000}, low, 1.0 - low, draws, kFloat64).to_vector<double>();
  Generator generator(9);
  Tensor t = nn::truncated_normal({3, 50000}, std, generator, kFloat64);
  CHECK(t.shape() == Shape{3, 50000});
  CHECK(generator.offset() == draws.offset());
  std::vector<double> got = t.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); i += 997) {  // spot checks across every chunk
    double y = 2.0 * u[i] - 1.0, x = y * std::sqrt(M_PI) / 2.0;
    for (int step = 0; step < 40; ++step) x -= (std::erf(x) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
    worst = std::max(worst, std::abs(got[i] - x * std::sqrt(2.0) * std) / std);
  }
  CHECK(worst < 4e-15);
  CHECK(got.back() != 0.0);  // the short last chunk is filled too
  Generator again(9);
  Tensor rounded = nn::truncated_normal({3, 50000}, std, again, kFloat32);
  CHECK(rounded.dtype() == kFloat32);
  CHECK(rounded.to_vector<float>() == t.to(kFloat32).to_vector<float>());
  Generator empty_draws(9);
  CHECK(nn::truncated_normal({0, 4}, std, empty_draws).numel() == 0);
}
