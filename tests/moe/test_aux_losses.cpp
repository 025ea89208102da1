#include <cmath>

#include "moe/aux_losses.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::moe;

namespace {
Tensor matrix(const std::vector<double>& values, std::int64_t rows, std::int64_t cols) {
  return from_vector(values, {rows, cols});
}
double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
}  // namespace

TEST_CASE("cv_squared uses the population variance: [1, 3] gives 1/4") {
  check_close(cv_squared(from_vector(std::vector<double>{1, 3})), {0.25}, 1e-9);
  check_close(cv_squared(from_vector(std::vector<double>{5})), {0.0});
}

TEST_CASE("cv_squared has a finite, zero gradient at perfect balance") {
  Tensor v = from_vector(std::vector<double>{2, 2, 2}).requires_grad_();
  Tensor loss = cv_squared(v);
  CHECK(loss.item() == 0.0);
  loss.backward();
  for (double g : v.grad().to_vector<double>()) CHECK(g == 0.0);
  check_gradients([](const std::vector<Tensor>& t) { return cv_squared(t[0]); }, {leaf({5}, 1, 0.5, 2.0)});
}

TEST_CASE("importance loss is w times CV squared of the summed gates") {
  // importance = [2, 0]: mean 1, population variance 1, CV² = 1
  check_close(importance_loss(matrix({1, 0, 1, 0}, 2, 2)), {0.1}, 1e-9);
  check_close(importance_loss(matrix({0.5, 0.5, 0.5, 0.5}, 2, 2), Tensor(), 1.0), {0.0}, 1e-9);
}

TEST_CASE("switch balance loss equals alpha exactly under uniform routing") {
  // each token prefers a different expert and P is uniform: f = P = [1/2, 1/2]
  check_close(switch_balance_loss(matrix({0.6, 0.4, 0.4, 0.6}, 2, 2)), {1e-2}, 1e-12);
  check_close(switch_balance_loss(full({8, 4}, 0.25, kFloat64), Tensor(), 0.5), {0.5}, 1e-12);
}

TEST_CASE("switch balance loss worked by hand: f from argmax carries no gradient") {
  // f = [1, 0], P = [0.8, 0.2]: α · 2 · 0.8 = 1.6 α
  Tensor p = matrix({0.9, 0.1, 0.7, 0.3}, 2, 2).requires_grad_();
  Tensor loss = switch_balance_loss(p);
  check_close(loss, {1.6e-2}, 1e-12);
  loss.backward();
  // dL/dp_{t,i} = α · N · f_i / T = 1e-2 · 2 · f_i / 2
  check_close(p.grad(), {1e-2, 0, 1e-2, 0}, 1e-12);
}

TEST_CASE("balance loss ignores padding tokens") {
  Tensor real = matrix({0.9, 0.1, 0.7, 0.3}, 2, 2);
  Tensor padded = matrix({0.9, 0.1, 0.05, 0.95, 0.7, 0.3}, 3, 2);
  Tensor mask = from_vector(std::vector<double>{1, 0, 1});
  check_close(switch_balance_loss(padded, mask), switch_balance_loss(real), 1e-12);
  check_close(gshard_aux_loss(padded, mask), gshard_aux_loss(real), 1e-12);
  check_close(importance_loss(padded, mask), importance_loss(real), 1e-12);
  check_close(router_z_loss(padded, mask), router_z_loss(real), 1e-12);
  // a batch of padding only gives 0, not 0/0
  check_close(switch_balance_loss(real, zeros({2}, kFloat64)), {0.0});
}

TEST_CASE("gshard aux loss is the paper's (1/E) sum c_e/S m_e: the Switch loss over alpha E squared") {
  Tensor p = matrix({0.5, 0.3, 0.2, 0.1, 0.6, 0.3, 0.2, 0.2, 0.6, 0.7, 0.2, 0.1}, 4, 3);
  // c/S = [2/4, 1/4, 1/4], m = [1.5/4, 1.3/4, 1.2/4]: (1/3)(0.1875 + 0.08125 + 0.075)
  check_close(gshard_aux_loss(p), {(0.1875 + 0.08125 + 0.075) / 3.0}, 1e-12);
  check_close(gshard_aux_loss(p) * (1e-2 * 9.0), switch_balance_loss(p), 1e-12);
  check_close(gshard_aux_loss(full({6, 3}, 1.0 / 3.0, kFloat64)), {1.0 / 9.0}, 1e-12);
}

TEST_CASE("router z-loss is the mean squared logsumexp of the logits") {
  // rows: logsumexp(0,0) = ln 2 and logsumexp(ln 3, 0) = ln 4
  double ln2 = std::log(2.0), ln4 = std::log(4.0);
  check_close(router_z_loss(matrix({0, 0, std::log(3.0), 0}, 2, 2)), {(ln2 * ln2 + ln4 * ln4) / 2}, 1e-12);
  check_gradients([](const std::vector<Tensor>& t) { return router_z_loss(t[0]); }, {leaf({3, 4}, 2)});
}

TEST_CASE("router logits of plus or minus 1e4 give no NaN in the z-loss and the balance loss") {
  Tensor logits = matrix({1e4, -1e4, -1e4, 1e4}, 2, 2).requires_grad_();
  Tensor loss = router_z_loss(logits) + switch_balance_loss(softmax(logits, 1));
  CHECK(std::isfinite(loss.item()));
  check_close(router_z_loss(logits.detach()), {1e8}, 1e-9);
  loss.backward();
  for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
  // d z²/d logits = 2 z softmax: 2e4 on the large logit, 0 on the other, over 2 tokens
  CHECK(logits.grad().at({0, 0}) == doctest::Approx(1e4).epsilon(1e-6));
}

TEST_CASE("load estimate worked by hand: threshold is the k-th largest noisy value without i") {
  // k = 1, noisy [1, 0.5, -1]: expert 0 is in, so its threshold is the next value 0.5;
  // experts 1 and 2 are out, their threshold is the kept value 1
  Tensor clean = matrix({0, 0, 0}, 1, 3), noisy = matrix({1, 0.5, -1}, 1, 3), std = matrix({1, 2, 1}, 1, 3);
  check_close(load_estimate(clean, noisy, std, 1), {Phi(-0.5), Phi(-0.5), Phi(-1.0)}, 1e-9);
  check_gradients([&](const std::vector<Tensor>& t) { return load_loss(t[0], noisy, t[1], 1); },
                  {leaf({1, 3}, 3), leaf({1, 3}, 4, 0.5, 1.5)});
}

TEST_CASE("noisy top-k load estimator agrees with a Monte-Carlo estimate") {
  // For fixed x, the mean of P(x,i) over noise draws equals the probability that i is picked.
  const std::int64_t draws = 40000, experts = 4, k = 2;
  Generator generator(11);
  Tensor clean = from_vector(std::vector<double>{0.3, -0.2, 0.1, 0.0}, {1, experts}).expand({draws, experts});
  Tensor std = from_vector(std::vector<double>{0.5, 0.8, 0.3, 1.0}, {1, experts}).expand({draws, experts});
  Tensor noisy = clean + randn({draws, experts}, generator, kFloat64) * std;
  Tensor estimated = mean(load_estimate(clean, noisy, std, k), {0});
  Tensor picked = scatter_add(zeros({draws, experts}, kFloat64), 1, topk(noisy, k, 1).indices, ones({draws, k}, kFloat64));
  Tensor frequency = mean(picked, {0});
  std::vector<double> a = estimated.to_vector<double>(), b = frequency.to_vector<double>();
  for (std::int64_t i = 0; i < experts; ++i) {
    INFO("expert " << i << ": estimator " << a[i] << ", Monte Carlo " << b[i]);
    CHECK(std::abs(a[i] - b[i]) < 0.015);
  }
}

TEST_CASE("aux losses name themselves and the shapes in their errors") {
  CHECK_THROWS_WITH_AS(switch_balance_loss(ones({4}, kFloat64)), doctest::Contains("[switch_balance_loss]"), ShapeError);
  CHECK_THROWS_WITH_AS(router_z_loss(ones({2, 3}, kFloat64), ones({3}, kFloat64)),
                       doctest::Contains("[router_z_loss] token mask must be (2)"), ShapeError);
  CHECK_THROWS_WITH_AS(load_estimate(ones({2, 3}), ones({2, 3}), ones({2, 3}), 3),
                       doctest::Contains("[load_estimate] needs 1 <= k < E"), ShapeError);
}
