// Adaptive mixtures of local experts (Jacobs et al. 1991): the three losses on numbers worked out by
// hand, their gradients against the paper's closed forms, gradcheck, large errors, shape errors.
#include <cmath>

#include "moe/local_experts.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

Tensor doubles(const std::vector<double>& values, const Shape& shape) { return from_vector(values, shape); }

// Two cases, two experts, one output (E = 2, F = 1), chosen so every number is easy by hand:
//   case 1: d = 1, o = (1, 3), x = (0, 0)      -> p = (½, ½)
//   case 2: d = 0, o = (2, 0), x = (log 3, 0)  -> p = (3/4, 1/4)   since e^{log 3} / (3 + 1) = 3/4
struct TwoCases {
  Tensor target = doubles({1, 0}, {2, 1});
  Tensor gate_logits = doubles({0, 0, std::log(3.0), 0}, {2, 2}).requires_grad_();
  Tensor expert_outputs = doubles({1, 3, 2, 0}, {2, 2, 1}).requires_grad_();
};

// Posterior h_i = p_i e^{-½‖d−o_i‖²} / Σ_j (same):
//   case 1: errors (0, 4):  h = (½, ½e^{-2}) / (½ + ½e^{-2}) = (1, e^{-2}) / (1 + e^{-2}) = (0.880797, 0.119203)
//   case 2: errors (4, 0):  h = (¾e^{-2}, ¼) / (¾e^{-2} + ¼) = (0.101501, 0.25) / 0.351501 = (0.288765, 0.711235)
const double kH1Case1 = 1.0 / (1.0 + std::exp(-2.0));
const double kH2Case1 = 1.0 - kH1Case1;
const double kH1Case2 = 0.75 * std::exp(-2.0) / (0.75 * std::exp(-2.0) + 0.25);
const double kH2Case2 = 1.0 - kH1Case2;

}  // namespace

// ---------------- the losses, by hand ----------------

TEST_CASE("cooperative loss is the squared error of the blend: (1−2)² = 1 and (0−1.5)² = 2.25") {
  TwoCases c;
  // case 1: Σ p o = ½·1 + ½·3 = 2;  case 2: Σ p o = ¾·2 + ¼·0 = 1.5
  check_close(moe::cooperative_loss_per_case(c.target, c.gate_logits, c.expert_outputs), {1.0, 2.25}, 1e-12);
  check_close(moe::cooperative_loss(c.target, c.gate_logits, c.expert_outputs), {(1.0 + 2.25) / 2}, 1e-12);
}

TEST_CASE("competitive loss weighs each expert's own error: ½·0 + ½·4 = 2 and ¾·4 + ¼·0 = 3") {
  TwoCases c;
  check_close(moe::competitive_loss_per_case(c.target, c.gate_logits, c.expert_outputs), {2.0, 3.0}, 1e-12);
  check_close(moe::competitive_loss(c.target, c.gate_logits, c.expert_outputs), {2.5}, 1e-12);
}

TEST_CASE("log-sum-exp loss is −log Σ p_i e^{−½‖d−o_i‖²}: log 2 − log(1+e^{-2}) and −log(¾e^{-2} + ¼)") {
  TwoCases c;
  // case 1: −log(½ + ½e^{-2}) = 0.693147 − 0.126928 = 0.566219;  case 2: −log 0.351501 = 1.045541
  double case1 = std::log(2.0) - std::log(1.0 + std::exp(-2.0));
  double case2 = -std::log(0.75 * std::exp(-2.0) + 0.25);
  check_close(moe::log_mixture_loss_per_case(c.target, c.gate_logits, c.expert_outputs), {case1, case2}, 1e-12);
  check_close(moe::log_mixture_loss(c.target, c.gate_logits, c.expert_outputs), {(case1 + case2) / 2}, 1e-12);
}

TEST_CASE("the losses use the squared norm over all output features (F = 2)") {
  // d = (1, 2), o_1 = (1, 2), o_2 = (0, 0), p = (½, ½): ‖d − o‖² = (0, 1 + 4) = (0, 5)
  Tensor target = doubles({1, 2}, {1, 2});
  Tensor gate_logits = doubles({0, 0}, {1, 2});
  Tensor expert_outputs = doubles({1, 2, 0, 0}, {1, 2, 2});
  // blend (½, 1): ‖(½, 1)‖² = ¼ + 1 = 1.25
  check_close(moe::cooperative_loss(target, gate_logits, expert_outputs), {1.25}, 1e-12);
  check_close(moe::competitive_loss(target, gate_logits, expert_outputs), {2.5}, 1e-12);
  // −log(½ + ½e^{-2.5}) = log 2 − log(1 + e^{-2.5}) = 0.614257
  check_close(moe::log_mixture_loss(target, gate_logits, expert_outputs),
              {std::log(2.0) - std::log(1.0 + std::exp(-2.5))}, 1e-12);
}

TEST_CASE("the posterior h credits the expert that fits the target, and each row sums to 1") {
  TwoCases c;
  Tensor h = moe::expert_posterior(c.target, c.gate_logits, c.expert_outputs);
  CHECK(h.shape() == Shape{2, 2});
  check_close(h, {kH1Case1, kH2Case1, kH1Case2, kH2Case2}, 1e-12);
  check_close(h, {0.880797, 0.119203, 0.288765, 0.711235}, 1e-5);
  check_close(sum(h, {1}), {1.0, 1.0}, 1e-12);
}

// ---------------- gradients against the paper's closed forms ----------------

TEST_CASE("log form: ∂E/∂o_i = −h_i(d − o_i) and ∂E/∂x_i = −(h_i − p_i), per case, by hand") {
  TwoCases c;
  // Summing the per-case losses gives each case its own gradient (the cases share no inputs).
  sum(moe::log_mixture_loss_per_case(c.target, c.gate_logits, c.expert_outputs)).backward();
  // case 1: o: (−h_1·0, −h_2·(1−3)) = (0, 2h_2);  case 2: o: (−h_1·(0−2), −h_2·0) = (2h_1, 0)
  check_close(c.expert_outputs.grad(), {0.0, 2 * kH2Case1, 2 * kH1Case2, 0.0}, 1e-10);
  // x: p − h = (½ − h_1, ½ − h_2) and (¾ − h_1, ¼ − h_2)
  check_close(c.gate_logits.grad(), {0.5 - kH1Case1, 0.5 - kH2Case1, 0.75 - kH1Case2, 0.25 - kH2Case2}, 1e-10);
}

TEST_CASE("log form: autograd matches the posterior-weighted closed form on random cases (mean scaled by N)") {
  const std::int64_t cases = 5, experts = 3, features = 2;
  Tensor target = leaf({cases, features}, 1, -2.0, 2.0).detach();
  Tensor gate_logits = leaf({cases, experts}, 2, -2.0, 2.0);
  Tensor expert_outputs = leaf({cases, experts, features}, 3, -2.0, 2.0);
  // The mean over N cases divides each case's gradient by N: multiply back before comparing.
  (moe::log_mixture_loss(target, gate_logits, expert_outputs) * static_cast<double>(cases)).backward();

  NoGradGuard no_grad;
  Tensor h = moe::expert_posterior(target, gate_logits, expert_outputs);  // (N,E)
  Tensor p = softmax(gate_logits, 1);
  Tensor closed_form_outputs = neg(mul(unsqueeze(h, 2), sub(unsqueeze(target, 1), expert_outputs)));
  check_close(expert_outputs.grad(), closed_form_outputs, 1e-10);
  check_close(gate_logits.grad(), neg(sub(h, p)), 1e-10);
}

TEST_CASE("competitive: ∂E/∂o_i = −2p_i(d − o_i)") {
  TwoCases c;
  sum(moe::competitive_loss_per_case(c.target, c.gate_logits, c.expert_outputs)).backward();
  // case 1: (−2·½·0, −2·½·(1−3)) = (0, 2);  case 2: (−2·¾·(0−2), −2·¼·0) = (3, 0)
  check_close(c.expert_outputs.grad(), {0.0, 2.0, 3.0, 0.0}, 1e-12);
}

TEST_CASE("all three losses and the posterior pass gradcheck in expert outputs and gate logits") {
  Tensor target = leaf({4, 2}, 11, -1.5, 1.5).detach();
  Tensor gate_logits = leaf({4, 3}, 12, -2.0, 2.0);
  Tensor expert_outputs = leaf({4, 3, 2}, 13, -1.5, 1.5);
  using Loss = Tensor (*)(const Tensor&, const Tensor&, const Tensor&);
  for (Loss loss : {Loss(moe::cooperative_loss), Loss(moe::competitive_loss), Loss(moe::log_mixture_loss),
                    Loss(moe::cooperative_loss_per_case), Loss(moe::competitive_loss_per_case),
                    Loss(moe::log_mixture_loss_per_case), Loss(moe::expert_posterior)}) {
    check_gradients([&](const std::vector<Tensor>& v) { return loss(target, v[0], v[1]); },
                    {gate_logits, expert_outputs});
  }
  // The target is an input too (a regression target could come from another network).
  Tensor target_leaf = leaf({4, 2}, 14, -1.5, 1.5);
  check_gradients([&](const std::vector<Tensor>& v) { return moe::log_mixture_loss(v[0], v[1], v[2]); },
                  {target_leaf, gate_logits, expert_outputs});
}

// ---------------- large errors ----------------

TEST_CASE("log form stays finite when ‖d − o‖² is 1e4, where the naive formula gives log 0") {
  // d = 0, o = (100, 150), p = (½, ½): ‖d − o‖² = (1e4, 22500), e^{−5000} is 0 in any float.
  // E = −logsumexp(log ½ − 5000, log ½ − 11250) = 5000 + log 2 (the second term is e^{−6250} smaller).
  for (DType dtype : {kFloat64, kFloat32}) {
    INFO(dtype_name(dtype));
    Tensor target = zeros({1, 1}, dtype);
    Tensor gate_logits = zeros({1, 2}, dtype).requires_grad_();
    Tensor expert_outputs = doubles({100, 150}, {1, 2, 1}).to(dtype).detach().requires_grad_();
    Tensor loss = moe::log_mixture_loss(target, gate_logits, expert_outputs);
    check_close(loss, {5000.0 + std::log(2.0)}, 1e-6);
    loss.backward();
    // h = (1, 0): ∂E/∂o = (−1·(0 − 100), −0·(0 − 150)) = (100, 0);  ∂E/∂x = p − h = (−½, ½)
    check_close(expert_outputs.grad(), {100.0, 0.0}, 1e-6);
    check_close(gate_logits.grad(), {-0.5, 0.5}, 1e-6);
    check_close(moe::expert_posterior(target, gate_logits, expert_outputs), {1.0, 0.0}, 1e-6);

    NoGradGuard no_grad;
    Tensor naive = neg(log(sum(mul(softmax(gate_logits, 1), exp(sum(square(expert_outputs), {2}) * -0.5)), {1})));
    CHECK(std::isinf(naive.item()));
  }
}

// ---------------- the module ----------------

TEST_CASE("LocalExperts blends its experts by the gate: hand-set linear experts give Σ p_i o_i") {
  // D = 1, F = 1, E = 2. Expert 1: o = 2x; expert 2: o = −x + 1; gate: weights 0, bias (log 3, 0)
  // so p = (¾, ¼) for every x. x = 1: o = (2, 0), blend 1.5;  x = 2: o = (4, −1), blend 3 − ¼ = 2.75.
  Generator generator(0);
  moe::LocalExperts model({.input_features = 1, .output_features = 1, .num_experts = 2}, generator);
  model.to(kFloat64);
  {
    NoGradGuard no_grad;
    auto& expert1 = static_cast<nn::Linear&>((*model.experts)[0][0]);
    auto& expert2 = static_cast<nn::Linear&>((*model.experts)[1][0]);
    auto& gate = static_cast<nn::Linear&>((*model.gate)[0]);
    expert1.weight.fill_(2.0);
    expert1.bias.fill_(0.0);
    expert2.weight.fill_(-1.0);
    expert2.bias.fill_(1.0);
    gate.weight.fill_(0.0);
    gate.bias.copy_(doubles({std::log(3.0), 0.0}, {2}));
  }
  moe::LocalExpertsOutput out = model(doubles({1, 2}, {2, 1}));
  CHECK(out.gate_logits.shape() == Shape{2, 2});
  CHECK(out.expert_outputs.shape() == Shape{2, 2, 1});
  check_close(out.gate_logits, {std::log(3.0), 0, std::log(3.0), 0}, 1e-12);
  check_close(out.gate_probabilities, {0.75, 0.25, 0.75, 0.25}, 1e-12);
  check_close(out.expert_outputs, {2, 0, 4, -1}, 1e-12);
  check_close(out.mixture, {1.5, 2.75}, 1e-12);
}

TEST_CASE("LocalExperts returns p (N,E), o (N,E,F), the mixture (N,F), and counts its parameters") {
  Generator generator(1);
  moe::LocalExperts linear_experts({.input_features = 3, .output_features = 2, .num_experts = 4}, generator);
  // experts 4 · (3·2 + 2) = 32, gate 3·4 + 4 = 16
  CHECK(linear_experts.parameter_count() == 48);
  moe::LocalExperts mlp_experts(
      {.input_features = 3, .output_features = 2, .num_experts = 4, .expert_hidden = 5, .gate_hidden = 6}, generator);
  // experts 4 · ((3·5 + 5) + (5·2 + 2)) = 128, gate (3·6 + 6) + (6·4 + 4) = 52
  CHECK(mlp_experts.parameter_count() == 180);
  moe::LocalExpertsOutput out = mlp_experts(ones({7, 3}));
  CHECK(out.gate_probabilities.shape() == Shape{7, 4});
  CHECK(out.expert_outputs.shape() == Shape{7, 4, 2});
  CHECK(out.mixture.shape() == Shape{7, 2});
  check_close(sum(out.gate_probabilities, {1}), std::vector<double>(7, 1.0), 1e-6);
}

TEST_CASE("every loss passes gradcheck through the module's parameters and its input") {
  Generator generator(2);
  moe::LocalExperts model(
      {.input_features = 3, .output_features = 2, .num_experts = 3, .expert_hidden = 4, .gate_hidden = 4}, generator);
  model.to(kFloat64);
  Tensor x = leaf({5, 3}, 21);
  Tensor target = leaf({5, 2}, 22).detach();
  using Loss = Tensor (*)(const Tensor&, const Tensor&, const Tensor&);
  for (Loss loss : {Loss(moe::cooperative_loss), Loss(moe::competitive_loss), Loss(moe::log_mixture_loss)}) {
    auto through_model = [&](const Tensor& input) {
      moe::LocalExpertsOutput out = model(input);
      return loss(target, out.gate_logits, out.expert_outputs);
    };
    check_gradients([&](const std::vector<Tensor>&) { return through_model(x.detach()); }, model.parameters());
    check_gradients([&](const std::vector<Tensor>& v) { return through_model(v[0]); }, {x});
  }
}

// ---------------- errors ----------------

TEST_CASE("the losses reject mismatched shapes, naming the loss and all three shapes") {
  Tensor target = zeros({2, 1}, kFloat64), gate_logits = zeros({2, 2}, kFloat64);
  Tensor expert_outputs = zeros({2, 2, 1}, kFloat64);
  // N differs between d and x
  CHECK_THROWS_WITH_AS(moe::cooperative_loss(zeros({3, 1}, kFloat64), gate_logits, expert_outputs),
                       doctest::Contains("[cooperative_loss] expected target d (N,F), gate_logits x (N,E), "
                                         "expert_outputs o (N,E,F); got target d float64 [3,1], gate_logits x "
                                         "float64 [2,2], expert_outputs o float64 [2,2,1]"),
                       ShapeError);
  // E differs between x and o
  CHECK_THROWS_WITH_AS(moe::competitive_loss(target, gate_logits, zeros({2, 3, 1}, kFloat64)),
                       doctest::Contains("[competitive_loss] expected"), ShapeError);
  // F differs between d and o
  CHECK_THROWS_WITH_AS(moe::log_mixture_loss(zeros({2, 2}, kFloat64), gate_logits, expert_outputs),
                       doctest::Contains("target d float64 [2,2]"), ShapeError);
  // o without its expert axis
  CHECK_THROWS_WITH_AS(moe::log_mixture_loss_per_case(target, gate_logits, zeros({2, 1}, kFloat64)),
                       doctest::Contains("[log_mixture_loss] expected"), ShapeError);
  CHECK_THROWS_WITH_AS(moe::expert_posterior(target, zeros({2}, kFloat64), expert_outputs),
                       doctest::Contains("[expert_posterior] expected"), ShapeError);
  // an empty batch has no mean
  CHECK_THROWS_WITH_AS(moe::log_mixture_loss(zeros({0, 1}, kFloat64), zeros({0, 2}, kFloat64),
                                             zeros({0, 2, 1}, kFloat64)),
                       doctest::Contains("needs at least one case"), ShapeError);
  // integer targets
  CHECK_THROWS_WITH_AS(moe::competitive_loss(from_vector(std::vector<std::int64_t>{1, 0}, {2, 1}), gate_logits,
                                             expert_outputs),
                       doctest::Contains("[competitive_loss] expects floating tensors"), DTypeError);
  CHECK_THROWS_WITH_AS(moe::cooperative_loss(Tensor(), gate_logits, expert_outputs),
                       doctest::Contains("[cooperative_loss] target, gate_logits and expert_outputs must all be"),
                       Error);
}

TEST_CASE("LocalExperts rejects bad sizes and inputs of the wrong width") {
  CHECK_THROWS_WITH_AS(moe::LocalExperts({.input_features = 3, .output_features = 2, .num_experts = 0}),
                       doctest::Contains("[LocalExperts] input_features, output_features and num_experts must be "
                                         "positive, got D=3 F=2 E=0"),
                       Error);
  CHECK_THROWS_WITH_AS(
      moe::LocalExperts({.input_features = 3, .output_features = 2, .num_experts = 2, .expert_hidden = -1}),
      doctest::Contains("[LocalExperts] expert_hidden and gate_hidden must be >= 0"), Error);
  moe::LocalExperts model({.input_features = 3, .output_features = 2, .num_experts = 2});
  CHECK_THROWS_WITH_AS(model(ones({4, 5})),
                       doctest::Contains("[LocalExperts] input must be (N,D) with D = 3, got [4,5]"), ShapeError);
  CHECK_THROWS_WITH_AS(model(ones({3})), doctest::Contains("got [3]"), ShapeError);
}
