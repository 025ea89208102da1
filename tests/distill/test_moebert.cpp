// MoEBERT: the importance score on a one-input FFN worked by hand, the round-robin deal, and the
// invariant that the experts together (shared neurons once) are the dense FFN.
#include <cmath>

#include "distill/moebert.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::distill;

namespace {
Tensor doubles(std::vector<double> values, const Shape& shape) { return from_vector(values, shape); }
}  // namespace

TEST_CASE("moebert: importance of each neuron of a 1-input FFN, worked by hand") {
  // D = 1, H = 2: w1 = [2, 3], b1 = 0, w2 = [5, 7], b2 = 0, x = 1, L = y = Σ_j w2_j gelu(w1_j).
  // ∂L/∂w2_j = gelu(w1_j), ∂L/∂w1_j = w2_j gelu'(w1_j), so I_j = |w1_j w2_j gelu'(w1_j) + w2_j gelu(w1_j)|
  // with gelu(a) = a Φ(a), gelu'(a) = Φ(a) + a φ(a).
  nn::FeedForward ffn(1, 2);
  ffn.to(kFloat64);
  ffn.load_state_dict({{"w1.weight", doubles({2, 3}, {2, 1})},
                       {"w1.bias", doubles({0, 0}, {2})},
                       {"w2.weight", doubles({5, 7}, {1, 2})},
                       {"w2.bias", doubles({0}, {1})}});
  ffn.forward(doubles({1}, {1, 1})).sum().backward();
  auto Phi = [](double a) { return 0.5 * (1.0 + std::erf(a / std::sqrt(2.0))); };
  auto phi = [](double a) { return std::exp(-0.5 * a * a) / std::sqrt(2.0 * M_PI); };
  auto expected = [&](double w1, double w2) {
    return std::abs(w1 * w2 * (Phi(w1) + w1 * phi(w1)) + w2 * w1 * Phi(w1));
  };
  check_close(neuron_importance(ffn), {expected(2, 5), expected(3, 7)}, 1e-10);
}

TEST_CASE("moebert: the top-s neurons go to every expert, the rest are dealt round-robin") {
  nn::FeedForward ffn(4, 8);
  // Ranked: 1, 3 | 7, 5, 2, 4, 0, 6.  Shared {1, 3}; expert 0 gets ranks 2, 4, 6 -> 7, 2, 0;
  // expert 1 gets ranks 3, 5, 7 -> 5, 4, 6.
  Tensor importance = doubles({0.1, 5, 0.3, 4, 0.2, 0.6, 0.05, 0.7}, {8});
  ExpertSplit split = split_into_experts(ffn, importance, 2, 2);
  CHECK(split.neurons.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 3, 7, 2, 0, 1, 3, 5, 4, 6});
  CHECK(split.w1.shape() == Shape{2, 4, 5});
  CHECK(split.b1.shape() == Shape{2, 5});
  CHECK(split.w2.shape() == Shape{2, 5, 4});
  CHECK(split.b2.shape() == Shape{2, 4});
  CHECK_THROWS_AS(split_into_experts(ffn, importance, 4, 2), Error);  // 6 neurons do not deal into 4
  CHECK_THROWS_AS(split_into_experts(ffn, doubles({1, 2}, {2}), 2, 2), ShapeError);
}

TEST_CASE("moebert: every expert's own neurons plus the shared ones once and b2 once equal the dense FFN") {
  Generator generator(3);
  nn::FeedForward ffn(6, 12, 0.0, generator);
  ffn.to(kFloat64);
  // Random biases too, so a bias copied to the wrong neuron would show.
  ffn.load_state_dict({{"w1.weight", leaf({12, 6}, 1).detach()},
                       {"w1.bias", leaf({12}, 2).detach()},
                       {"w2.weight", leaf({6, 12}, 3).detach()},
                       {"w2.bias", leaf({6}, 4).detach()}});
  Tensor x = leaf({5, 6}, 5).detach();
  Tensor dense = ffn.forward(x);
  for (std::int64_t shared : {0, 3, 12}) {
    INFO("shared neurons: " << shared);
    const std::int64_t experts = 3;
    ExpertSplit split = split_into_experts(ffn, leaf({12}, 6, 0.0, 1.0).detach(), experts, shared);
    Tensor out = select(split.b2, 0, 0);
    for (std::int64_t e = 0; e < experts; ++e) {
      // Expert e's hidden activations (5, H_e) and each column's contribution to the output.
      Tensor h = gelu(matmul(x, select(split.w1, 0, e)) + select(split.b1, 0, e));
      Tensor w2 = select(split.w2, 0, e);
      std::int64_t width = h.shape()[1];
      if (width > shared) out = out + matmul(narrow(h, 1, shared, width - shared), narrow(w2, 0, shared, width - shared));
      if (e == 0 && shared > 0) out = out + matmul(narrow(h, 1, 0, shared), narrow(w2, 0, 0, shared));
    }
    check_close(out, dense, 1e-12);
  }
}
