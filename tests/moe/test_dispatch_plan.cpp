// The dispatch plan (tensor ops only) against a plain host loop written from the papers' rule,
// on many random routings; capacity rounding and fixed capacity; random draws handed in through
// the layer; config validation.
#include <cmath>
#include <limits>

#include "moe/dispatch_plan.h"
#include "moe/gshard_router.h"
#include "moe/moe_layer.h"
#include "moe/switch_router.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::moe;

namespace {

std::vector<std::int64_t> ints(const Tensor& t) { return t.contiguous().to_vector<std::int64_t>(); }

// The rule as a loop (what the MoE layer did on the host before v2): slots in priority order
// (choice j, then token t) within each group; a counted or sent slot takes the next place of its
// expert; a sent slot is kept while its place < C.
struct HostPlan {
  std::vector<std::int64_t> kept, dropped, tokens_per_expert, capacity;
};

HostPlan host_plan(const std::vector<std::int64_t>& expert, const std::vector<std::int64_t>& sent,
                   const std::vector<std::int64_t>& counted, const std::vector<std::int64_t>& real, std::int64_t T,
                   std::int64_t k, std::int64_t E, const CapacityRule& rule) {
  std::int64_t S = rule.group_size > 0 ? std::min(rule.group_size, T) : T, G = (T + S - 1) / S;
  bool dropless = rule.slots <= 0 && rule.factor <= 0.0;
  HostPlan plan{std::vector<std::int64_t>(T * k), std::vector<std::int64_t>(T * k), std::vector<std::int64_t>(E),
                std::vector<std::int64_t>(G)};
  for (std::int64_t g = 0; g < G; ++g) {
    std::int64_t real_tokens = 0;
    for (std::int64_t t = g * S; t < std::min(T, (g + 1) * S); ++t) real_tokens += real[t];
    double exact = static_cast<double>(real_tokens) * rule.factor / static_cast<double>(E);
    std::int64_t C = rule.slots > 0 ? rule.slots
                     : rule.rounding == CapacityRounding::Up ? static_cast<std::int64_t>(std::ceil(exact))
                                                              : static_cast<std::int64_t>(std::floor(exact));
    plan.capacity[g] = dropless ? 0 : C;
    std::vector<std::int64_t> requests(E, 0);
    for (std::int64_t j = 0; j < k; ++j) {
      for (std::int64_t t = g * S; t < std::min(T, (g + 1) * S); ++t) {
        std::int64_t slot = t * k + j;
        bool is_sent = sent[slot] && real[t], is_counted = (counted[slot] || sent[slot]) && real[t];
        if (!is_counted) continue;
        std::int64_t place = requests[expert[slot]]++;
        if (!is_sent) continue;
        if (dropless || place < C) {
          plan.kept[slot] = 1;
          plan.tokens_per_expert[expert[slot]] += 1;
        } else {
          plan.dropped[slot] = 1;
        }
      }
    }
  }
  return plan;
}

}  // namespace

TEST_CASE("the dispatch plan from tensor ops equals the host loop on 200 random routings") {
  Generator generator(21);
  for (int trial = 0; trial < 200; ++trial) {
    std::int64_t T = 1 + trial % 13, k = 1 + trial % 3, E = 2 + trial % 5;
    Tensor expert = randint(0, E, {T, k}, generator);
    Tensor sent = randint(0, 2, {T, k}, generator), counted = randint(0, 2, {T, k}, generator);
    Tensor real = randint(0, 4, {T}, generator);
    real = ne(real, zeros({}, kInt64));  // mostly real, some padding
    CapacityRule rule;
    rule.factor = std::vector<double>{0.0, 0.5, 1.0, 1.25, 2.0}[trial % 5];
    rule.rounding = trial % 2 ? CapacityRounding::Down : CapacityRounding::Up;
    rule.group_size = std::vector<std::int64_t>{0, 2, 3, 5}[(trial / 5) % 4];
    if (trial % 17 == 0) rule.slots = 1 + trial % 3;
    DispatchPlan plan = make_dispatch_plan(expert, sent, counted, real, E, rule);
    HostPlan expected = host_plan(ints(expert), ints(sent), ints(counted), ints(real), T, k, E, rule);
    INFO("trial ", trial, " T=", T, " k=", k, " E=", E, " factor=", rule.factor, " group=", rule.group_size);
    CHECK(ints(plan.kept) == expected.kept);
    CHECK(ints(plan.dropped) == expected.dropped);
    CHECK(ints(plan.tokens_per_expert) == expected.tokens_per_expert);
    CHECK(ints(plan.capacity) == expected.capacity);
    // the buffer: expert e's rows are its kept slots in slot order, then the rest
    std::vector<std::int64_t> offsets = ints(plan.group_offsets), row_slot = ints(plan.row_slot);
    std::vector<std::int64_t> row_token = ints(plan.row_token), experts = ints(expert);
    REQUIRE(offsets.size() == static_cast<std::size_t>(E + 1));
    CHECK(offsets[0] == 0);
    std::int64_t previous_slot = -1;
    for (std::int64_t e = 0; e < E; ++e) {
      CHECK(offsets[e + 1] - offsets[e] == expected.tokens_per_expert[e]);
      for (std::int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
        CHECK(experts[row_slot[r]] == e);
        CHECK(expected.kept[row_slot[r]] == 1);
        CHECK(row_token[r] == row_slot[r] / k);
        if (r > offsets[e]) CHECK(row_slot[r] > previous_slot);
        previous_slot = row_slot[r];
      }
    }
    CHECK(static_cast<std::int64_t>(row_slot.size()) == T * k);
  }
}

TEST_CASE("capacity rounds up by default and down as the Switch reference code does; a fixed capacity overrides") {
  // 10 tokens, 4 experts, factor 1: 10/4 = 2.5 -> C = 3 (up) or 2 (down)
  Tensor expert = zeros({10, 1}, kInt64), ones_mask = ones({10, 1}, kInt64), real = ones({10}, kInt64);
  CapacityRule up{1.0, 0, CapacityRounding::Up, 0}, down{1.0, 0, CapacityRounding::Down, 0}, fixed{1.0, 4, CapacityRounding::Up, 0};
  CHECK(ints(make_dispatch_plan(expert, ones_mask, ones_mask, real, 4, up).capacity) == std::vector<std::int64_t>{3});
  CHECK(ints(make_dispatch_plan(expert, ones_mask, ones_mask, real, 4, down).capacity) == std::vector<std::int64_t>{2});
  DispatchPlan four = make_dispatch_plan(expert, ones_mask, ones_mask, real, 4, fixed);
  CHECK(ints(four.capacity) == std::vector<std::int64_t>{4});
  CHECK(ints(four.tokens_per_expert) == std::vector<std::int64_t>{4, 0, 0, 0});
}

TEST_CASE("random draws handed in through the layer's forward replace the generator's") {
  Generator generator(22);
  MoELayerConfig config;
  config.dim = 4;
  config.expert_hidden = 6;
  config.capacity_factor_train = config.capacity_factor_eval = 0.0;
  Tensor x = randn({5, 4}, generator);
  // GShard: u = 0 keeps every second expert; u = 1 rejects a second expert whose gate is below ½
  auto gshard = std::make_shared<GShardRouter>(GShardRouterConfig{4, 3}, generator);
  MoELayer layer(config, gshard, generator);
  RandomDraws keep_all, reject;
  keep_all.uniform = zeros({5});
  reject.uniform = ones({5});
  CHECK(ints(layer.apply(x, {}, keep_all).routing.dispatched) == std::vector<std::int64_t>(10, 1));
  for (std::int64_t t = 0; t < 5; ++t) CHECK(ints(layer.apply(x, {}, reject).routing.dispatched)[t * 2 + 1] == 0);
  // Switch: the jitter handed in is the one used (equal to route_with_jitter)
  auto switch_router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 4, .experts = 3}, generator);
  MoELayer switch_layer(config, switch_router, generator);
  RandomDraws jitter;
  jitter.jitter = uniform({5, 4}, 0.9, 1.1, generator);
  Tensor expected_gates = switch_router->route_with_jitter(x, jitter.jitter).gates;
  check_close(switch_layer.apply(x, {}, jitter).routing.gates, expected_gates, 1e-6);
  // expert dropout: an all-ones keep mask at p = ½ doubles the hidden units (biases are 0 here)
  config.expert_dropout = 0.5;
  MoELayer dropped(config, switch_router, generator);
  RandomDraws keep;
  keep.jitter = jitter.jitter;
  keep.expert_dropout = ones({5, 1, 6});
  Tensor trained = dropped.apply(x, {}, keep).output;
  keep.expert_dropout = zeros({5, 1, 6});
  check_close(dropped.apply(x, {}, keep).output, zeros({5, 4}), 1e-7);
  dropped.eval();
  switch_router->train();  // the same routing as in training (jitter), no dropout in the experts
  Tensor no_dropout = dropped.apply(x, {}, jitter).output;
  check_close(trained, no_dropout * 2.0, 1e-5);
  dropped.train();
  keep.expert_dropout = ones({5, 2, 6});
  CHECK_THROWS_WITH_AS(dropped.apply(x, {}, keep), doctest::Contains("expert dropout mask must be (T,k,H) = (5,1,6)"),
                       ShapeError);
}

TEST_CASE("MoE configs are checked at construction with an error naming the field") {
  Generator generator(23);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 4, .experts = 2}, generator);
  auto make = [&](auto change) {
    MoELayerConfig config;
    config.dim = 4;
    config.expert_hidden = 8;
    change(config);
    return MoELayer(config, router, generator);
  };
  double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.capacity_factor_train = inf; }),
                       doctest::Contains("[MoELayerConfig] capacity_factor_train must be finite"), Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.capacity_factor_train = 1e30; }),
                       doctest::Contains("capacity_factor_train"), Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.capacity_factor_eval = nan; }),
                       doctest::Contains("capacity_factor_eval"), Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.capacity_factor_eval = -1; }),
                       doctest::Contains("capacity_factor_eval"), Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.dim = 0; }), doctest::Contains("[MoELayerConfig] dim must be > 0"),
                       Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.expert_dropout = 1.0; }), doctest::Contains("expert_dropout"), Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.capacity = -2; }), doctest::Contains("capacity must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(make([&](MoELayerConfig& c) { c.group_size = -1; }), doctest::Contains("group_size"), Error);
}
