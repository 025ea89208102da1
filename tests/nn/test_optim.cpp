// Optimizers: one and two steps of SGD, Adam and AdamW against numbers worked out by hand, groups,
// frozen parameters, learning-rate scaling, and the state round trip that makes resuming exact.
#include <array>
#include <cmath>

#include "nn/optim.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::nn;

namespace {
// A float64 leaf that requires grad: what a module registers.
Tensor parameter(const std::vector<double>& values) { return from_vector(values).requires_grad_(); }
// Hands p a gradient directly, as backward() would.
void give_gradient(Tensor& p, const std::vector<double>& values) { p.set_grad(from_vector(values)); }
}  // namespace

// ---------------- SGD ----------------

TEST_CASE("SGD without momentum steps p <- p - lr*g, in place in the same tensor") {
  Tensor p = parameter({1, 2});
  Tensor handle_held_by_a_module = p;
  const void* data = p.data_ptr();
  SGD optimizer({p}, {.lr = 0.1});
  give_gradient(p, {0.5, -1});
  optimizer.step();
  // [1, 2] - 0.1 * [0.5, -1] = [0.95, 2.1]
  check_close(handle_held_by_a_module, {0.95, 2.1}, 1e-15);
  CHECK(handle_held_by_a_module.same(p));
  CHECK(p.data_ptr() == data);
  CHECK(p.requires_grad());
  CHECK(optimizer.step_count() == 1);
}

TEST_CASE("SGD momentum starts the buffer at the gradient and accumulates it on the second step") {
  Tensor p = parameter({1, 2});
  SGD optimizer({p}, {.lr = 0.1, .momentum = 0.9});
  // step 1: b = g = [0.5, -1];  p = [1, 2] - 0.1 * b = [0.95, 2.1]
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.95, 2.1}, 1e-15);
  // step 2, same g: b = 0.9 * [0.5, -1] + [0.5, -1] = [0.95, -1.9];  p = [0.95 - 0.095, 2.1 + 0.19]
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.855, 2.29}, 1e-15);
  check_close(optimizer.state().at("group0.param0.momentum_buffer"), {0.95, -1.9}, 1e-15);
}

TEST_CASE("SGD with Nesterov momentum steps along g + mu*b") {
  Tensor p = parameter({1, 2});
  SGD optimizer({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  // step 1: b = g;  d = g + 0.9 * b = 1.9 * [0.5, -1] = [0.95, -1.9];  p = [1 - 0.095, 2 + 0.19]
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.905, 2.19}, 1e-15);
}

TEST_CASE("SGD weight decay adds wd*p to the gradient") {
  Tensor p = parameter({1, 2});
  SGD optimizer({p}, {.lr = 0.1, .weight_decay = 0.1});
  // d = [0.5, -1] + 0.1 * [1, 2] = [0.6, -0.8];  p = [1 - 0.06, 2 + 0.08]
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.94, 2.08}, 1e-15);
}

// ---------------- Adam and AdamW ----------------
// All with lr 0.1, beta1 0.9, beta2 0.999, eps 1e-8, p = [1, 2], g1 = [0.5, -1], g2 = [1.5, 1].

TEST_CASE("Adam takes a first step of lr*sign(g) and a second step by the bias-corrected moments") {
  Tensor p = parameter({1, 2});
  Adam optimizer({p}, {.lr = 0.1});
  // step 1: m = 0.1 g1 = [0.05, -0.1], v = 0.001 g1² = [0.00025, 0.001]; m̂ = g1, v̂ = g1², so
  //   p -= 0.1 * g1 / (|g1| + 1e-8) = 0.1 * [1 - 2e-8, -(1 - 1e-8)]  ->  [0.900000002, 2.099999999]
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.900000002, 2.099999999}, 1e-15);
  check_close(optimizer.state().at("group0.param0.exp_avg"), {0.05, -0.1}, 1e-14);
  check_close(optimizer.state().at("group0.param0.exp_avg_sq"), {0.00025, 0.001}, 1e-14);
  // step 2: m = 0.9 m + 0.1 g2 = [0.195, 0.01], v = 0.999 v + 0.001 g2² = [0.00249975, 0.001999]
  //   m̂ = m / (1 - 0.81) = [1.0263158, 0.0526316], v̂ = v / (1 - 0.998001) = [1.2505003, 1]
  //   p -= 0.1 * m̂ / (√v̂ + eps) = [0.0917781, 0.0052632]  ->  [0.8082219, 2.0947368]
  give_gradient(p, {1.5, 1});
  optimizer.step();
  check_close(p, {0.8082218909226944, 2.0947368411578946}, 1e-13);
}

TEST_CASE("Adam weight decay is L2 in the gradient: a coordinate whose decayed gradient is 0 stays put") {
  Tensor p = parameter({1, 2});
  Adam optimizer({p}, {.lr = 0.1, .weight_decay = 0.5});
  // g + 0.5 p = [0.5 + 0.5, -1 + 1] = [1, 0]: the first moves by 0.1 * 1/(1 + eps), the second by 0/(0 + eps)
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.900000001, 2.0}, 1e-15);
}

TEST_CASE("AdamW shrinks the weights by lr*wd*p before each Adam step") {
  Tensor p = parameter({1, 2});
  AdamW optimizer({p}, {.lr = 0.1, .weight_decay = 0.5});
  // step 1: p *= 1 - 0.1*0.5 -> [0.95, 1.9], then the Adam step of lr*sign(g1) -> [0.85, 2.0]
  give_gradient(p, {0.5, -1});
  optimizer.step();
  check_close(p, {0.850000002, 1.999999999}, 1e-15);
  // step 2: p *= 0.95 -> [0.8075, 1.9], then Adam's second step [-0.0917781, -0.0052632] as above
  give_gradient(p, {1.5, 1});
  optimizer.step();
  check_close(p, {0.7157218908226943, 1.8947368412078947}, 1e-13);
}

TEST_CASE("AdamW is Adam without decay started from the decayed weights, bit for bit") {
  const double lr = 0.1, weight_decay = 0.5, shrink = 1.0 - lr * weight_decay;
  Tensor decoupled = parameter({1, 2});
  Tensor plain = parameter({1 * shrink, 2 * shrink});
  AdamW adamw({decoupled}, {.lr = lr, .weight_decay = weight_decay});
  Adam adam({plain}, {.lr = lr});
  give_gradient(decoupled, {0.5, -1});
  give_gradient(plain, {0.5, -1});
  adamw.step();
  adam.step();
  CHECK(decoupled.to_vector<double>() == plain.to_vector<double>());
}

TEST_CASE("the defaults are PyTorch's: SGD lr 1e-3; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay; AdamW decay 0.01") {
  SGDOptions sgd;
  CHECK(sgd.lr == 1e-3);
  CHECK(sgd.momentum == 0.0);
  CHECK(sgd.weight_decay == 0.0);
  AdamOptions adam;
  AdamWOptions adamw;
  for (auto [lr, beta1, beta2, eps] : {std::array{adam.lr, adam.beta1, adam.beta2, adam.eps},
                                       std::array{adamw.lr, adamw.beta1, adamw.beta2, adamw.eps}}) {
    CHECK(lr == 1e-3);
    CHECK(beta1 == 0.9);
    CHECK(beta2 == 0.999);
    CHECK(eps == 1e-8);
  }
  CHECK(adam.weight_decay == 0.0);
  CHECK(adamw.weight_decay == 0.01);
  // A default AdamW decays: with a zero gradient, p = 1 becomes 1 - lr·0.01 = 0.99999 (the Adam step is 0).
  Tensor p = parameter({1});
  AdamW optimizer({p});
  give_gradient(p, {0});
  optimizer.step();
  check_close(p, {0.99999}, 1e-15);
}

// ---------------- frozen parameters, groups, learning rates ----------------

TEST_CASE("frozen parameters and parameters without a gradient are left unchanged and get no state") {
  Tensor trained = parameter({1, 2});
  Tensor frozen = parameter({3, 4});
  Tensor unused = parameter({5, 6});
  frozen.requires_grad_(false);
  Adam optimizer({trained, frozen, unused}, {.lr = 0.1});
  give_gradient(trained, {0.5, -1});
  give_gradient(frozen, {0.5, -1});  // a stale gradient must not move a frozen parameter
  optimizer.step();
  CHECK(trained.to_vector<double>() != std::vector<double>{1, 2});
  CHECK(frozen.to_vector<double>() == std::vector<double>{3, 4});
  CHECK(unused.to_vector<double>() == std::vector<double>{5, 6});
  auto state = optimizer.state();
  CHECK(state.count("group0.param0.exp_avg") == 1);
  CHECK(state.count("group0.param1.exp_avg") == 0);
  CHECK(state.count("group0.param2.exp_avg") == 0);
}

TEST_CASE("a parameter frozen for a while is bias-corrected by its own update count") {
  Tensor always = parameter({1});
  Tensor late = parameter({1});
  late.requires_grad_(false);
  Adam optimizer({always, late}, {.lr = 0.1});
  for (int i = 0; i < 2; ++i) {
    give_gradient(always, {1});
    optimizer.step();
  }
  late.requires_grad_(true);
  give_gradient(late, {0.5});
  optimizer.step();
  // Its first update, so m̂ = g and v̂ = g²: a step of 0.1 * 0.5 / (0.5 + 1e-8), as for a new optimizer.
  check_close(late, {1 - 0.1 * 0.5 / (0.5 + 1e-8)}, 1e-15);
  CHECK(optimizer.state().at("group0.param1.step").item() == 1);
  CHECK(optimizer.state().at("group0.param0.step").item() == 3);
}

TEST_CASE("parameter groups use their own learning rate and weight decay") {
  Tensor a = parameter({1, 2});
  Tensor b = parameter({1, 2});
  SGD optimizer(std::vector<ParameterGroup>{{{a}, 0.1, 0.0}, {{b}, 0.01, 0.5}});
  give_gradient(a, {0.5, -1});
  give_gradient(b, {0.5, -1});
  optimizer.step();
  check_close(a, {0.95, 2.1}, 1e-15);  // [1, 2] - 0.1 * [0.5, -1]
  // g + 0.5 p = [1, 0]: [1, 2] - 0.01 * [1, 0]
  check_close(b, {0.99, 2.0}, 1e-15);
}

TEST_CASE("set_lr and set_lr_scale keep the ratio between groups") {
  Tensor a = parameter({1});
  Tensor b = parameter({1});
  SGD optimizer(std::vector<ParameterGroup>{{{a}, 0.1, 0.0}, {{b}, 0.01, 0.0}});
  optimizer.set_lr(0.05);
  CHECK(optimizer.groups()[0].lr == doctest::Approx(0.05));
  CHECK(optimizer.groups()[1].lr == doctest::Approx(0.005));
  optimizer.set_lr_scale(0.25);
  CHECK(optimizer.lr() == doctest::Approx(0.025));
  CHECK(optimizer.groups()[1].lr == doctest::Approx(0.0025));
}

TEST_CASE("zero_grad drops every gradient") {
  Tensor p = parameter({1, 2});
  SGD optimizer({p});
  give_gradient(p, {0.5, -1});
  optimizer.zero_grad();
  CHECK_FALSE(p.grad().defined());
}

TEST_CASE("optimizers keep float32 parameters and their state in float32") {
  Tensor p = from_vector(std::vector<float>{1, 2}).requires_grad_();
  Adam optimizer({p}, {.lr = 0.1});
  p.set_grad(from_vector(std::vector<float>{0.5f, -1.0f}));
  optimizer.step();
  CHECK(p.dtype() == kFloat32);
  CHECK(optimizer.state().at("group0.param0.exp_avg").dtype() == kFloat32);
  check_close(p, {0.9, 2.1}, 1e-6);
}

namespace {
struct TinyNorm : Module {
  TinyNorm() {
    register_parameter("weight", ones({2}));
    register_parameter("bias", zeros({2}));
  }
};
struct TinyModel : Module {
  TinyModel() {
    register_parameter("weight", ones({2, 2}));
    register_parameter("bias", zeros({2}));
    register_module("norm", std::make_shared<TinyNorm>());
    register_parameter("head_weight", ones({2, 3}));
  }
};
}  // namespace

TEST_CASE("weight_decay_groups keeps biases and norm gains out of weight decay") {
  TinyModel model;
  std::vector<ParameterGroup> groups = weight_decay_groups(model, 1e-3, 0.01);
  REQUIRE(groups.size() == 2);
  // named_parameters order: weight, bias, head_weight, norm.weight, norm.bias
  std::vector<NamedTensor> named = model.named_parameters();
  auto index_of = [&](const std::string& name) {
    for (std::size_t i = 0; i < named.size(); ++i)
      if (named[i].first == name) return i;
    return named.size();
  };
  REQUIRE(groups[0].parameters.size() == 2);
  CHECK(groups[0].parameters[0].same(named[index_of("weight")].second));
  CHECK(groups[0].parameters[1].same(named[index_of("head_weight")].second));
  CHECK(groups[0].weight_decay == 0.01);
  REQUIRE(groups[1].parameters.size() == 3);
  CHECK(groups[1].weight_decay == 0.0);
  CHECK(groups[1].lr == 1e-3);
  AdamW optimizer(groups);  // builds without complaint
  CHECK(optimizer.groups().size() == 2);
}

// ---------------- state round trip ----------------

namespace {
// A few steps on loss = Σ (w ⊙ w - target)², whose gradient changes from step to step.
void train(Optimizer& optimizer, Tensor& w, const Tensor& target, int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    sum(square(w * w - target)).backward();
    optimizer.step();
  }
}
}  // namespace

TEST_CASE("load_state(state()) makes a second optimizer continue bit for bit") {
  Generator generator(7);
  Tensor target = randn({3, 4}, generator);
  Tensor start = randn({3, 4}, generator);
  auto run = [&](auto make_optimizer) {
    Tensor w1 = start.clone().requires_grad_();
    auto first = make_optimizer(w1);
    train(first, w1, target, 3);
    Tensor w2 = w1.detach().clone().requires_grad_();
    auto second = make_optimizer(w2);
    second.load_state(first.state());
    CHECK(second.step_count() == 3);
    train(first, w1, target, 4);
    train(second, w2, target, 4);
    CHECK(w1.to_vector<float>() == w2.to_vector<float>());
    std::map<std::string, Tensor> state1 = first.state(), state2 = second.state();
    REQUIRE(state1.size() == state2.size());
    for (const std::pair<const std::string, Tensor>& entry : state1) {
      INFO(entry.first);
      const Tensor& value = entry.second;
      CHECK(value.to_vector<double>() == state2.at(entry.first).to_vector<double>());
    }
  };
  run([](Tensor& w) { return AdamW({w}, {.lr = 0.05, .weight_decay = 0.1}); });
  run([](Tensor& w) { return SGD({w}, {.lr = 0.01, .momentum = 0.9, .nesterov = true}); });
}

TEST_CASE("load_state restores learning rates and resets what the map does not mention") {
  Tensor p = parameter({1, 2});
  SGD optimizer({p}, {.lr = 0.1, .momentum = 0.9});
  give_gradient(p, {0.5, -1});
  optimizer.step();
  auto saved = optimizer.state();
  optimizer.set_lr(0.5);
  optimizer.load_state(saved);
  CHECK(optimizer.lr() == 0.1);
  optimizer.load_state({});
  CHECK(optimizer.step_count() == 0);
  CHECK(optimizer.state().count("group0.param0.momentum_buffer") == 0);
}

TEST_CASE("load_state names bad entries and leaves the state as it was") {
  Tensor p = parameter({1, 2});
  Adam optimizer({p});
  give_gradient(p, {0.5, -1});
  optimizer.step();
  auto good = optimizer.state();
  auto with = [&](const std::string& key, const Tensor& value) {
    auto state = good;
    state[key] = value;
    return state;
  };
  CHECK_THROWS_WITH_AS(optimizer.load_state(with("group0.param0.momentum_buffer", zeros({2}, kFloat64))),
                       doctest::Contains("[Adam] load_state: entry 'group0.param0.momentum_buffer' is not a buffer"),
                       Error);
  CHECK_THROWS_WITH_AS(optimizer.load_state(with("group0.param0.exp_avg", zeros({3}, kFloat64))),
                       doctest::Contains("has shape [3] but the parameter has shape [2]"), Error);
  CHECK_THROWS_WITH_AS(optimizer.load_state(with("group1.lr", scalar(0.1))),
                       doctest::Contains("'group1.lr' names a group, but there are 1"), Error);
  CHECK_THROWS_WITH_AS(optimizer.load_state(with("group0.param4.step", scalar(1))),
                       doctest::Contains("names a parameter, but group 0 has 1"), Error);
  CHECK_THROWS_WITH_AS(optimizer.load_state(with("momentum", scalar(1))), doctest::Contains("is not a key"), Error);
  CHECK_THROWS_WITH_AS(optimizer.load_state(with("step", zeros({2}))), doctest::Contains("must hold one value"),
                       Error);
  CHECK(optimizer.step_count() == 1);
  CHECK(optimizer.state().at("group0.param0.exp_avg").to_vector<double>() ==
        good.at("group0.param0.exp_avg").to_vector<double>());
}

// ---------------- end to end and errors ----------------

TEST_CASE("Adam drives a quadratic loss to its minimum") {
  Tensor w = parameter({5, -3, 0.5});
  Tensor target = from_vector(std::vector<double>{1, 2, -1});
  Adam optimizer({w}, {.lr = 0.1});
  double first_loss = 0, loss_value = 0;
  for (int step = 0; step < 300; ++step) {
    optimizer.zero_grad();
    Tensor loss = sum(square(w - target));
    loss.backward();
    optimizer.step();
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
  }
  CHECK(first_loss == doctest::Approx(43.25));
  CHECK(loss_value < 1e-3);
  check_close(w, {1, 2, -1}, 1e-1);
}

TEST_CASE("optimizers reject bad hyperparameters and parameters with '[Name] ...' messages") {
  Tensor p = parameter({1, 2});
  CHECK_THROWS_WITH_AS(Adam({p}, {.lr = -1}), doctest::Contains("[Adam] lr of group 0 must be a finite number >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.beta1 = 1.0}), doctest::Contains("[Adam] beta1 must be in [0, 1), got 1"), Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.beta2 = -0.1}), doctest::Contains("[AdamW] beta2 must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.eps = 0}), doctest::Contains("[Adam] eps must be a finite number > 0"), Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.weight_decay = -0.1}), doctest::Contains("[AdamW] weight_decay of group 0"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.momentum = -0.5}), doctest::Contains("[SGD] momentum must be"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.nesterov = true}), doctest::Contains("[SGD] nesterov momentum needs momentum > 0"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD(std::vector<Tensor>{}), doctest::Contains("[SGD] got no parameters"), Error);
  CHECK_THROWS_WITH_AS(SGD({p, p}), doctest::Contains("[SGD] parameter 1 of group 0 (shape [2]) appears more than once"),
                       Error);
  Tensor not_a_leaf = p * 2.0;
  CHECK_THROWS_WITH_AS(SGD({not_a_leaf}), doctest::Contains("[SGD] parameter 0 of group 0 (shape [2]) is the result"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({from_vector(std::vector<std::int64_t>{1})}), doctest::Contains("has dtype int64"),
                       DTypeError);
  SGD optimizer({p});
  CHECK_THROWS_WITH_AS(optimizer.set_lr(-0.1), doctest::Contains("[SGD] lr must be a finite number >= 0, got -0.1"),
                       Error);
}
