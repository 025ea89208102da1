#include <cmath>

#include "moe/dense_router.h"
#include "moe/expert_choice_router.h"
#include "moe/gshard_router.h"
#include "moe/hash_router.h"
#include "moe/noisy_topk_router.h"
#include "moe/switch_router.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::moe;

namespace {
void set(Tensor& parameter, const std::vector<double>& values) {
  NoGradGuard no_grad;
  parameter.copy_(from_vector(values, parameter.shape()));
}
Tensor tokens(const std::vector<double>& values, std::int64_t dim) {
  return from_vector(values, {static_cast<std::int64_t>(values.size()) / dim, dim});
}
}  // namespace

TEST_CASE("switch router applies softmax once: the gate is p of the argmax expert") {
  Generator generator(0);
  SwitchRouter router({.dim = 2, .experts = 2}, generator);
  router.to(kFloat64);
  router.eval();
  set(router.router_weight, {0, std::log(3.0), 0, 0});  // logits of x = [1, 0]: [0, ln 3]
  RoutingDecision d = router.route(tokens({1, 0}, 2), generator);
  check_close(d.probabilities, {0.25, 0.75}, 1e-12);
  CHECK(d.expert_index.at({0, 0}) == 1);
  check_close(d.gates, {0.75}, 1e-12);  // a second softmax would give 0.62
  check_close(d.aux_loss, {1e-2 * 2 * 0.75}, 1e-12);
}

TEST_CASE("switch router jitter multiplies the router input, and only in training") {
  Generator generator(0);
  SwitchRouter router({.dim = 2, .experts = 2}, generator);
  router.to(kFloat64);
  set(router.router_weight, {0, std::log(3.0), 0, 0});
  // jitter 2 doubles the logits: [0, 2 ln 3] -> p = [0.1, 0.9]
  RoutingDecision d = router.route_with_jitter(tokens({1, 0}, 2), full({1, 2}, 2.0, kFloat64));
  check_close(d.gates, {0.9}, 1e-12);
  CHECK_THROWS_WITH_AS(router.route_with_jitter(tokens({1, 0}, 2), full({2}, 2.0, kFloat64)),
                       doctest::Contains("[SwitchRouter] jitter must have x's shape [1,2], got [2]"), ShapeError);
  // drawn jitter stays within [1 - ε, 1 + ε]: p_1 = 3^j / (1 + 3^j) for j in [0.99, 1.01]
  double p = router.route(tokens({1, 0}, 2), generator).gates.item();
  CHECK(p > std::pow(3.0, 0.99) / (1 + std::pow(3.0, 0.99)));
  CHECK(p < std::pow(3.0, 1.01) / (1 + std::pow(3.0, 1.01)));
  CHECK(p != 0.75);
  router.eval();
  CHECK(router.route(tokens({1, 0}, 2), generator).gates.item() == doctest::Approx(0.75).epsilon(1e-12));
}

TEST_CASE("switch router runs its math in float32 for float32 input") {
  Generator generator(0);
  SwitchRouter router({.dim = 3, .experts = 4}, generator);
  RoutingDecision d = router.route(ones({5, 3}), generator);
  CHECK(d.probabilities.dtype() == kFloat32);
  CHECK(d.gates.shape() == Shape{5, 1});
  CHECK_THROWS_WITH_AS(router.route(ones({5, 2}), generator), doctest::Contains("[SwitchRouter] expects floating tokens (T,3)"),
                       ShapeError);
}

TEST_CASE("noisy top-k keeps the top k first and takes the softmax over the kept values") {
  NoisyTopKRouter router({.dim = 1, .experts = 3, .k = 2});
  router.to(kFloat64);
  set(router.gate_weight, {0, std::log(2.0), std::log(3.0)});
  router.eval();  // no noise
  RoutingDecision d = router.route_with_noise(tokens({1}, 1), Tensor());
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 1});
  check_close(d.gates, {0.6, 0.4}, 1e-12);  // softmax(ln 3, ln 2); softmax-then-top-k would give 0.5, 0.33
}

TEST_CASE("noisy top-k adds noise times softplus(x W_noise) + 0.01 to the logits") {
  NoisyTopKRouter router({.dim = 1, .experts = 3, .k = 2});
  router.to(kFloat64);
  set(router.gate_weight, {0, std::log(2.0), std::log(3.0)});
  // W_noise = 0: std = ln 2 + 0.01; noise 3 on expert 0 lifts it above ln 2
  double std = std::log(2.0) + 0.01, h0 = 3 * std;
  RoutingDecision d = router.route_with_noise(tokens({1}, 1), from_vector(std::vector<double>{3, 0, 0}, {1, 3}));
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2});
  double g0 = std::exp(h0) / (std::exp(h0) + 3.0);
  check_close(d.gates, {g0, 1 - g0}, 1e-12);
  check_close(d.logits, {h0, std::log(2.0), std::log(3.0)}, 1e-12);
}

TEST_CASE("the gate gets a non-zero gradient through top-k, also for k = 1") {
  for (std::int64_t k : {1, 2}) {
    INFO("k = " << k);
    NoisyTopKRouter router({.dim = 3, .experts = 4, .k = k});
    router.to(kFloat64);
    Generator generator(5);
    RoutingDecision d = router.route(leaf({6, 3}, 1).detach(), generator);
    (d.gates * leaf(d.gates.shape(), 2).detach()).sum().backward();
    CHECK(max(abs(router.gate_weight.grad())).item() > 1e-6);
  }
  Generator generator(5);
  SwitchRouter router({.dim = 3, .experts = 4}, generator);
  router.to(kFloat64);
  router.route(leaf({6, 3}, 1).detach(), generator).gates.sum().backward();
  CHECK(max(abs(router.router_weight.grad())).item() > 1e-6);
}

TEST_CASE("gshard normalises the top-2 gates and keeps the second expert with probability min(1, 2 g2)") {
  Generator generator(0);
  GShardRouter router({.dim = 1, .experts = 3}, generator);
  router.to(kFloat64);
  set(router.gate_weight, {std::log(5.0), std::log(3.0), std::log(2.0)});  // g = [0.5, 0.3, 0.2]
  // g1 = 5/8, g2 = 3/8: 2 g2 = 0.75 keeps the second expert for u = 0.7, not for u = 0.8
  RoutingDecision d = router.route_with_uniform(tokens({1, 1}, 1), from_vector(std::vector<double>{0.7, 0.8}));
  check_close(d.gates, {0.625, 0.375, 0.625, 0.375}, 1e-12);
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 0, 1});
  CHECK(d.dispatch_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1, 0});
  CHECK(d.capacity_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1, 1});
  // both tokens pick expert 0 first: c/S = [1, 0, 0], m = g: 1e-2 · 9 · (1/3) · 0.5
  check_close(d.aux_loss, {1e-2 * 9 * 0.5 / 3}, 1e-12);
}

TEST_CASE("gshard with random_second_choice off is plain top-2: every second choice is sent, no draw is made") {
  Generator generator(0);
  GShardRouter router({.dim = 1, .experts = 3, .random_second_choice = false}, generator);
  router.to(kFloat64);
  set(router.gate_weight, {std::log(5.0), std::log(1.0), std::log(4.0)});  // g = [0.5, 0.1, 0.4]
  // g1 = 5/9, g2 = 4/9 (renormalised over the two); with the random test on, u = 0.95 > 2·g2 = 0.89 would
  // drop the second choice, and the handed-in draws are ignored here
  RandomDraws draws;
  draws.uniform = from_vector(std::vector<double>{0.95, 0.95});
  const std::uint64_t before = generator.offset();
  RoutingDecision d = router.route(tokens({1, 1}, 1), generator, {}, draws);
  CHECK(generator.offset() == before);  // nothing drawn
  check_close(d.gates, {5.0 / 9, 4.0 / 9, 5.0 / 9, 4.0 / 9}, 1e-12);
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2, 0, 2});
  CHECK(d.dispatch_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1, 1});
  // the same router with the paper's random test drops both second choices for u = 0.95
  GShardRouter random({.dim = 1, .experts = 3}, generator);
  random.to(kFloat64);
  set(random.gate_weight, {std::log(5.0), std::log(1.0), std::log(4.0)});
  CHECK(random.route(tokens({1, 1}, 1), generator, {}, draws).dispatch_mask.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{1, 0, 1, 0});
}

TEST_CASE("hash router sends each token id to its mapped expert with gate 1") {
  HashRouter router(from_vector(std::vector<std::int64_t>{2, 0, 1}), 3);
  Generator generator(0);
  TokenContext context{from_vector(std::vector<std::int64_t>{0, 1, 2, 0}), Tensor()};
  RoutingDecision d = router.route(ones({4, 5}), generator, context);
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 0, 1, 2});
  check_close(d.gates, {1, 1, 1, 1});
  CHECK_THROWS_WITH_AS(router.route(ones({4, 5}), generator), doctest::Contains("[HashRouter] needs the token ids"), Error);
  TokenContext bad{from_vector(std::vector<std::int64_t>{0, 1, 2, 3}), Tensor()};
  CHECK_THROWS_WITH_AS(router.route(ones({4, 5}), generator, bad), doctest::Contains("[HashRouter] the token ids (the map's vocabulary) holds values in [0, 3] but must lie in [0, 3)"), IndexError);
}

TEST_CASE("hash router's balanced map gives every expert the same number of ids, give or take one") {
  Generator generator(3);
  std::vector<std::int64_t> map = HashRouter::balanced_map(10, 3, generator).to_vector<std::int64_t>();
  std::vector<int> counts(3, 0);
  for (std::int64_t e : map) counts[e]++;
  CHECK(counts == std::vector<int>{4, 3, 3});
}

TEST_CASE("expert choice: each expert takes exactly its k_e best real tokens") {
  Generator generator(2);
  ExpertChoiceRouter router({.dim = 3, .experts = 2, .capacity_factor = 1.0}, generator);
  router.to(kFloat64);
  Tensor x = leaf({5, 3}, 4).detach();
  Tensor mask = from_vector(std::vector<double>{1, 1, 0, 1, 1});  // token 2 is padding
  RoutingDecision d = router.route(x, generator, {Tensor(), mask});
  CHECK(router.tokens_per_expert(4) == 2);
  std::vector<std::int64_t> chosen = d.dispatch_mask.to_vector<std::int64_t>();
  std::vector<double> S = d.probabilities.to_vector<double>();
  for (std::int64_t e = 0; e < 2; ++e) {
    int taken = 0;
    double lowest_taken = 2, highest_left = -1;
    for (std::int64_t t = 0; t < 5; ++t) {
      if (chosen[t * 2 + e]) {
        taken++;
        lowest_taken = std::min(lowest_taken, S[t * 2 + e]);
      } else if (t != 2) {
        highest_left = std::max(highest_left, S[t * 2 + e]);
      }
    }
    CHECK(taken == 2);
    CHECK(chosen[2 * 2 + e] == 0);
    CHECK(lowest_taken >= highest_left);
  }
}

TEST_CASE("dense router gives every token every expert, weighted by the softmax") {
  Generator generator(0);
  DenseRouter router({.dim = 2, .experts = 3}, generator);
  RoutingDecision d = router.route(ones({2, 2}), generator);
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 0, 1, 2});
  check_close(sum(d.gates, {1}), {1, 1}, 1e-6);
}

TEST_CASE("every router's gradient passes gradcheck in float64") {
  Generator generator(9);
  Tensor x = leaf({6, 3}, 1);
  Tensor cotangent = leaf({6, 4}, 2).detach();
  // the gates and the router's own loss, as one vector
  auto outputs = [](const RoutingDecision& d) {
    std::vector<Tensor> parts{reshape(d.gates, {-1})};
    if (d.aux_loss.defined()) parts.push_back(reshape(d.aux_loss, {1}));
    return concat(parts, 0);
  };
  SUBCASE("switch, with jitter") {
    SwitchRouter router({.dim = 3, .experts = 4}, generator);
    router.to(kFloat64);
    Tensor jitter = uniform({6, 3}, 0.99, 1.01, generator, kFloat64);
    check_gradients([&](const std::vector<Tensor>& v) { return outputs(router.route_with_jitter(v[0], jitter)); },
                    {x, router.router_weight});
  }
  SUBCASE("noisy top-k, k = 1 and k = 2, with noise") {
    for (std::int64_t k : {1, 2}) {
      NoisyTopKRouter router({.dim = 3, .experts = 4, .k = k});
      router.to(kFloat64);
      set(router.gate_weight, leaf({3, 4}, 3).to_vector<double>());
      set(router.noise_weight, leaf({3, 4}, 4).to_vector<double>());
      Tensor noise = randn({6, 4}, generator, kFloat64);
      check_gradients([&](const std::vector<Tensor>& v) { return outputs(router.route_with_noise(v[0], noise)); },
                      {x, router.gate_weight, router.noise_weight});
    }
  }
  SUBCASE("gshard") {
    GShardRouter router({.dim = 3, .experts = 4}, generator);
    router.to(kFloat64);
    Tensor u = rand({6}, generator, kFloat64);
    check_gradients([&](const std::vector<Tensor>& v) { return outputs(router.route_with_uniform(v[0], u)); },
                    {x, router.gate_weight});
  }
  SUBCASE("expert choice and dense") {
    ExpertChoiceRouter choice({.dim = 3, .experts = 4}, generator);
    DenseRouter dense({.dim = 3, .experts = 4}, generator);
    choice.to(kFloat64);
    dense.to(kFloat64);
    check_gradients([&](const std::vector<Tensor>& v) { return choice.route(v[0], generator).gates * cotangent; },
                    {x, choice.gate_weight});
    check_gradients([&](const std::vector<Tensor>& v) { return outputs(dense.route(v[0], generator)); },
                    {x, dense.gate_weight});
  }
}

TEST_CASE("the same seed gives the same routing") {
  auto route_once = [](std::uint64_t seed) {
    Generator generator(seed);
    NoisyTopKRouter noisy({.dim = 3, .experts = 8, .k = 2});
    SwitchRouter switch_router({.dim = 3, .experts = 8}, generator);
    GShardRouter gshard({.dim = 3, .experts = 8}, generator);
    Tensor x = randn({16, 3}, generator);
    std::vector<std::int64_t> ids;
    for (Router* router : std::initializer_list<Router*>{&noisy, &switch_router, &gshard}) {
      RoutingDecision d = router->route(x, generator);
      for (auto v : d.expert_index.to_vector<std::int64_t>()) ids.push_back(v);
      for (auto v : d.dispatch_mask.to_vector<std::int64_t>()) ids.push_back(v);
    }
    return ids;
  };
  CHECK(route_once(4) == route_once(4));
  CHECK(route_once(4) != route_once(5));
}

TEST_CASE("router logits of plus or minus 1e4 give no NaN") {
  Generator generator(0);
  SwitchRouter router({.dim = 2, .experts = 2}, generator);
  router.eval();
  set(router.router_weight, {1e4, -1e4, 0, 0});
  RoutingDecision d = router.route(tokens({1, 0, -1, 0}, 2), generator);
  check_close(d.gates, {1, 1});
  CHECK(d.expert_index.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1});
  (d.gates.sum() + d.aux_loss).backward();
  for (double g : router.router_weight.grad().to_vector<double>()) CHECK(std::isfinite(g));
}

TEST_CASE("gshard with every uniform draw 0 keeps every second choice (plain top-2)") {
  Generator generator(0);
  GShardRouter router({.dim = 1, .experts = 3}, generator);
  router.to(kFloat64);
  set(router.gate_weight, {std::log(5.0), std::log(3.0), std::log(2.0)});
  RoutingDecision d = router.route_with_uniform(tokens({1, 1}, 1), zeros({2}, kFloat64));
  CHECK(d.dispatch_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1, 1});
  check_close(d.gates, {0.625, 0.375, 0.625, 0.375}, 1e-12);
}

TEST_CASE("each router decides from exact logits: numbers worked by hand") {
  // Switch: p = softmax([0, ln 3]) = [1/4, 3/4] and softmax([ln 2, 0]) = [2/3, 1/3]: experts 1, 0 with
  // gates 3/4, 2/3; f = [1/2, 1/2], P = [(1/4 + 2/3)/2, (3/4 + 1/3)/2] = [11/24, 13/24]:
  // α·N·Σ f P = α · 2 · (11/48 + 13/48) = α
  Tensor logits = from_vector(std::vector<double>{0, std::log(3.0), std::log(2.0), 0}, {2, 2});
  RoutingDecision s = switch_route_from_logits(logits, Tensor(), 0.01);
  check_close(s.expert_index, {1, 0});
  check_close(s.gates, {0.75, 2.0 / 3.0}, 1e-12);
  check_close(s.aux_loss, {0.01}, 1e-12);
  // GShard: g = softmax([ln 6, ln 3, ln 1]) = [.6, .3, .1]; top-2 normalised: [2/3, 1/3];
  // the second expert is kept when 2·(1/3) > u: u = 0.5 keeps it, u = 0.9 does not
  Tensor three = from_vector(std::vector<double>{std::log(6.0), std::log(3.0), 0.0, std::log(6.0), std::log(3.0), 0.0}, {2, 3});
  RoutingDecision g = gshard_route_from_logits(three, from_vector(std::vector<double>{0.5, 0.9}), Tensor(), 1e-2);
  check_close(g.expert_index, {0, 1, 0, 1});
  check_close(g.gates, {2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0}, 1e-12);
  check_close(g.dispatch_mask, {1, 1, 1, 0});
  check_close(g.capacity_mask, {1, 1, 1, 1});
  // ℓ_aux = (1/E) Σ_e (c_e/S) m_e: c = [2,0,0] first choices, m = [.6,.3,.1]: (1/3)(1 · .6) = .2;
  // weighted 1e-2 · E² = 0.09 -> 0.018
  check_close(g.aux_loss, {0.018}, 1e-12);
  // noisy top-k without noise: KeepTopK(2) of [1, 3, 2] = experts 1, 2, gates softmax([3, 2])
  NoisyTopKRouterConfig noisy_config;
  noisy_config.experts = 3;
  noisy_config.k = 2;
  Tensor clean = from_vector(std::vector<double>{1, 3, 2}, {1, 3});
  RoutingDecision n = noisy_topk_route_from_logits(clean, clean, Tensor(), Tensor(), noisy_config);
  check_close(n.expert_index, {1, 2});
  double e1 = std::exp(1.0);
  check_close(n.gates, {e1 / (e1 + 1.0), 1.0 / (e1 + 1.0)}, 1e-12);
  // dense: every expert, gate = softmax
  check_close(dense_route_from_logits(logits).gates, {0.25, 0.75, 2.0 / 3.0, 1.0 / 3.0}, 1e-12);
  // expert choice, k_e = 1: expert 0 picks token 1 (2/3 > 1/4), expert 1 picks token 0 (3/4 > 1/3)
  check_close(expert_choice_route_from_logits(logits, Tensor(), 1).dispatch_mask, {0, 1, 1, 0});
}
