#include <cmath>

#include "moe/aux_losses.h"
#include "moe/dense_router.h"
#include "moe/expert_choice_router.h"
#include "moe/gshard_router.h"
#include "moe/noisy_topk_router.h"
#include "moe/hash_router.h"
#include "moe/moe_layer.h"
#include "moe/routing_trace.h"
#include "moe/switch_router.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::moe;

namespace {

// A router that returns a decision written by hand, so capacity and priority can be checked.
class FixedRouter : public Router {
 public:
  FixedRouter(RoutingDecision decision, std::int64_t experts) : decision_(std::move(decision)), experts_(experts) {}
  RoutingDecision route(const Tensor&, Generator&, const TokenContext& = {}, const RandomDraws& = {}) override {
    return decision_;
  }
  std::int64_t num_experts() const override { return experts_; }

 private:
  RoutingDecision decision_;
  std::int64_t experts_;
};

RoutingDecision hand_decision(const std::vector<std::int64_t>& experts, const std::vector<std::int64_t>& dispatch,
                              std::int64_t tokens, std::int64_t k, std::int64_t E) {
  RoutingDecision d;
  d.expert_index = from_vector(experts, {tokens, k});
  d.gates = full({tokens, k}, 0.5, kFloat64);
  d.dispatch_mask = from_vector(dispatch, {tokens, k});
  d.probabilities = full({tokens, E}, 1.0 / static_cast<double>(E), kFloat64);
  d.logits = zeros({tokens, E}, kFloat64);
  return d;
}

MoELayerConfig layer_config(std::int64_t dim, std::int64_t hidden, double capacity_factor) {
  MoELayerConfig config;
  config.dim = dim;
  config.expert_hidden = hidden;
  config.capacity_factor_train = config.capacity_factor_eval = capacity_factor;
  return config;
}

// The layer under test, keeping its latest routing for the checks below (the library keeps none).
class TestLayer : public MoELayer {
 public:
  using MoELayer::MoELayer;
  Tensor forward(const Tensor& x, const TokenContext& context = {}) {
    MoEOutput result = apply(x, context);
    last_ = result.routing;
    return result.output;
  }
  const RoutingInfo& last_routing() const { return last_; }

 private:
  RoutingInfo last_;
};

std::int64_t capacity_of(const RoutingInfo& info) {
  std::int64_t largest = 0;
  for (std::int64_t c : info.capacity.to_vector<std::int64_t>()) largest = std::max(largest, c);
  return largest;
}
std::vector<std::int64_t> ints(const Tensor& t) { return t.to_vector<std::int64_t>(); }

std::vector<std::vector<std::int64_t>> lists(std::initializer_list<std::vector<std::int64_t>> l) { return l; }

}  // namespace

TEST_CASE("one expert, top-1, unlimited capacity equals the dense FFN exactly") {
  Generator generator(1);
  nn::FeedForward ffn(4, 8, 0.0, generator);
  ffn.to(kFloat64);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 4, .experts = 1}, generator);
  TestLayer layer(layer_config(4, 8, 0.0), router, generator);
  layer.to(kFloat64);
  layer.upcycle_from(ffn);
  Tensor x = leaf({2, 3, 4}, 2);
  check_close(layer.forward(x), ffn.forward(x), 1e-13);
  CHECK(layer.last_routing().token_dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>(6, 0));
}

TEST_CASE("k = E with unlimited capacity equals the dense softmax mixture") {
  Generator generator(2);
  auto router = std::make_shared<DenseRouter>(DenseRouterConfig{.dim = 3, .experts = 2}, generator);
  TestLayer layer(layer_config(3, 5, 0.0), router, generator);
  layer.to(kFloat64);
  Tensor x = leaf({4, 3}, 3).detach();
  Tensor p = softmax(matmul(x, router->gate_weight), 1);
  Tensor expected = zeros({4, 3}, kFloat64);
  for (std::int64_t e = 0; e < 2; ++e) {
    Tensor h = gelu(matmul(x, select(layer.w1, 0, e)) + select(layer.b1, 0, e));
    Tensor y = matmul(h, select(layer.w2, 0, e)) + select(layer.b2, 0, e);
    expected = expected + y * narrow(p, 1, e, 1);
  }
  check_close(layer.forward(x), expected, 1e-12);
}

TEST_CASE("dropped tokens are exactly those past capacity in arrival order, first choices first") {
  // 4 tokens, top-2, 2 experts, capacity ceil(4/2 × 1) = 2. First choices: t0, t1 -> 0, t2 -> 1,
  // t3 -> 0 (third request: dropped). Second choices: t0 -> 1 (second place), t1 -> 1, t2 -> 0,
  // t3 -> 1 are all past capacity.
  auto router = std::make_shared<FixedRouter>(hand_decision({0, 1, 0, 1, 1, 0, 0, 1}, {1, 1, 1, 1, 1, 1, 1, 1}, 4, 2, 2), 2);
  Generator generator(0);
  TestLayer layer(layer_config(3, 4, 1.0), router, generator);
  layer.to(kFloat64);
  Tensor out = layer.forward(leaf({4, 3}, 1));
  const RoutingInfo& info = layer.last_routing();
  CHECK(capacity_of(info) == 2);
  CHECK(info.dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0, 1, 0, 1, 1, 1});
  CHECK(info.token_dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0, 1});
  CHECK(tokens_of_experts(info) == lists({{0, 1}, {0, 2}}));  // rows in token order
  CHECK(ints(info.tokens_per_expert) == std::vector<std::int64_t>{2, 2});
  // a token no expert took has output exactly 0: the residual alone carries it
  for (double v : select(out, 0, 3).to_vector<double>()) CHECK(v == 0.0);
}

TEST_CASE("a second choice rejected at random still takes a capacity place, as in GShard's Algorithm 1") {
  // capacity ceil(4/2 × 1.5) = 3. Token 0's second choice (expert 1) is rejected but counted, so
  // expert 1 is full after t2, t0 (counted), t1; t3's second choice is dropped.
  RoutingDecision d = hand_decision({0, 1, 0, 1, 1, 0, 0, 1}, {1, 0, 1, 1, 1, 1, 1, 1}, 4, 2, 2);
  d.capacity_mask = ones({4, 2}, kInt64);
  Generator generator(0);
  TestLayer counted(layer_config(3, 4, 1.5), std::make_shared<FixedRouter>(d, 2), generator);
  counted.to(kFloat64);
  counted.forward(leaf({4, 3}, 1));
  CHECK(counted.last_routing().dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0, 0, 0, 1, 0, 1});
  CHECK(tokens_of_experts(counted.last_routing()) == lists({{0, 1, 3}, {1, 2}}));
  // counting only the kept second choices (mesh-tensorflow, fairseq) would keep t3's second choice
  d.capacity_mask = Tensor();
  TestLayer kept_only(layer_config(3, 4, 1.5), std::make_shared<FixedRouter>(d, 2), generator);
  kept_only.to(kFloat64);
  kept_only.forward(leaf({4, 3}, 1));
  CHECK(tokens_of_experts(kept_only.last_routing()) == lists({{0, 1, 3}, {1, 2, 3}}));
}

TEST_CASE("capacity is enforced: no expert ever gets more than C tokens, and dropped outputs are exactly zero") {
  Generator generator(3);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 2, .experts = 2}, generator);
  TestLayer layer(layer_config(2, 4, 1.0), router, generator);
  layer.to(kFloat64);
  layer.eval();
  {
    NoGradGuard no_grad;
    router->router_weight.copy_(from_vector(std::vector<double>{1, -1, 0, 0}, {2, 2}));
  }
  // all 8 tokens prefer expert 0; C = ceil(8/2 × 1) = 4: tokens 4..7 are dropped
  Tensor x = (ones({8, 2}, kFloat64) * 0.5).requires_grad_();
  Tensor out = layer.forward(x);
  const RoutingInfo& info = layer.last_routing();
  CHECK(capacity_of(info) == 4);
  CHECK(ints(info.tokens_per_expert) == std::vector<std::int64_t>{4, 0});
  CHECK(info.token_dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0, 0, 1, 1, 1, 1});
  for (double v : narrow(out, 0, 4, 4).to_vector<double>()) CHECK(v == 0.0);
  // and no gradient reaches them through an expert that did not run
  out.sum().backward();
  for (double g : narrow(x.grad(), 0, 4, 4).to_vector<double>()) CHECK(g == 0.0);
  CHECK(max(abs(narrow(x.grad(), 0, 0, 4))).item() > 0.0);
}

TEST_CASE("with unlimited capacity no token is dropped") {
  Generator generator(4);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 4, .experts = 4}, generator);
  TestLayer layer(layer_config(4, 6, 0.0), router, generator);
  layer.forward(randn({3, 10, 4}, generator));
  const RoutingInfo& info = layer.last_routing();
  CHECK(info.token_dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>(30, 0));
  std::int64_t total = 0;
  for (std::int64_t n : ints(info.tokens_per_expert)) total += n;
  CHECK(total == 30);
}

TEST_CASE("capacity factors for training and evaluation are separate") {
  Generator generator(4);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 4, .experts = 4}, generator);
  MoELayerConfig config = layer_config(4, 6, 1.0);
  config.capacity_factor_eval = 2.0;
  TestLayer layer(config, router, generator);
  layer.forward(randn({10, 4}, generator));
  CHECK(capacity_of(layer.last_routing()) == 3);  // ceil(10/4 × 1.0)
  layer.eval();
  layer.forward(randn({10, 4}, generator));
  CHECK(capacity_of(layer.last_routing()) == 5);  // ceil(10/4 × 2.0)
}

TEST_CASE("padding tokens are not routed, take no capacity and count in no loss") {
  Generator generator(5);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 2}, generator);
  TestLayer layer(layer_config(3, 4, 1.0), router, generator);
  layer.to(kFloat64);
  layer.eval();
  Tensor x = leaf({2, 3, 3}, 6).detach();
  Tensor mask = from_vector(std::vector<double>{1, 1, 0, 1, 0, 0}, {2, 3});
  Tensor out = layer.forward(x, {Tensor(), mask});
  RoutingInfo padded = layer.last_routing();
  CHECK(capacity_of(padded) == 2);  // ceil(3 real tokens / 2)
  for (std::int64_t t : {2, 4, 5}) {
    for (double v : select(reshape(out, {6, 3}), 0, t).to_vector<double>()) CHECK(v == 0.0);
  }
  // the losses equal those of the real tokens alone
  Tensor real = index_select(reshape(x, {6, 3}), 0, from_vector(std::vector<std::int64_t>{0, 1, 3}));
  layer.forward(real);
  check_close(padded.balance_loss, layer.last_routing().balance_loss, 1e-12);
  check_close(padded.z_loss, layer.last_routing().z_loss, 1e-12);
  check_close(padded.router_loss, layer.last_routing().router_loss, 1e-12);
}

TEST_CASE("balance loss is computed per layer, from that layer's own router") {
  Generator generator(6);
  auto first_router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 4}, generator);
  auto second_router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 4}, generator);
  TestLayer first(layer_config(3, 4, 0.0), first_router, generator), second(layer_config(3, 4, 0.0), second_router, generator);
  first.eval();
  second.eval();
  Tensor x = randn({12, 3}, generator);
  Tensor h = x + first.forward(x);
  second.forward(h);
  check_close(first.last_routing().balance_loss, switch_balance_loss(first.last_routing().probabilities, Tensor(), 1.0));
  check_close(second.last_routing().balance_loss, switch_balance_loss(second.last_routing().probabilities, Tensor(), 1.0));
  CHECK(first.last_routing().balance_loss.item() != second.last_routing().balance_loss.item());
  check_close(first.last_routing().aux_loss,
              first.last_routing().router_loss + first.last_routing().z_loss * 1e-3, 1e-6);
}

TEST_CASE("upcycled experts all start as the dense FFN, and shared experts add it to every token") {
  Generator generator(7);
  nn::FeedForward ffn(3, 5, 0.0, generator);
  ffn.to(kFloat64);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 4}, generator);
  MoELayerConfig config = layer_config(3, 5, 0.0);
  config.shared_experts = 1;
  TestLayer layer(config, router, generator);
  layer.to(kFloat64);
  layer.eval();
  layer.upcycle_from(ffn);
  Tensor x = leaf({5, 3}, 8).detach();
  Tensor out = layer.forward(x);
  // y = (gate + 1) · FFN(x): one routed copy scaled by its gate, one shared copy
  check_close(out, ffn.forward(x) * (layer.last_routing().gates + 1.0), 1e-12);
  CHECK_THROWS_WITH_AS(layer.upcycle_from(nn::FeedForward(3, 6, 0.0, generator)),
                       doctest::Contains("[MoELayer] upcycle_from needs a FeedForward of width 3 -> 5"), ShapeError);
  // the experts have GELU only: a ReLU FFN is refused, a tanh-GELU one carries its form over
  CHECK_THROWS_WITH_AS(layer.upcycle_from(nn::FeedForward(3, 5, 0.0, generator, nn::Activation::ReLU)),
                       doctest::Contains("[MoELayer] upcycle_from needs a GELU FeedForward, got ReLU"), Error);
  layer.upcycle_from(nn::FeedForward(3, 5, 0.0, generator, nn::Activation::GeluTanh));
  CHECK(layer.config.activation == GeluApproximation::Tanh);
}

TEST_CASE("hash routing through the layer reads the token ids") {
  auto router = std::make_shared<HashRouter>(from_vector(std::vector<std::int64_t>{1, 0}), 2);
  Generator generator(8);
  TestLayer layer(layer_config(3, 4, 0.0), router, generator);
  Tensor ids = from_vector(std::vector<std::int64_t>{0, 1, 1, 0}, {2, 2});
  layer.forward(randn({2, 2, 3}, generator), {ids, Tensor()});
  CHECK(tokens_of_experts(layer.last_routing()) == lists({{1, 2}, {0, 3}}));
  CHECK(layer.last_routing().entropy.item() == 0.0);
}

TEST_CASE("MoE layer gradients pass gradcheck in float64") {
  Generator generator(9);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 3}, generator);
  MoELayerConfig config = layer_config(3, 4, 1.0);
  config.shared_experts = 1;
  TestLayer layer(config, router, generator);
  layer.to(kFloat64);
  layer.eval();
  check_gradients(
      [&](const std::vector<Tensor>& v) {
        Tensor out = layer.forward(v[0]);
        return concat({reshape(out, {-1}), reshape(layer.last_routing().aux_loss, {1})}, 0);
      },
      {leaf({6, 3}, 10), layer.w1, layer.b2, layer.shared_w2, router->router_weight});
}

TEST_CASE("MoE layer names itself and the shapes in its errors") {
  Generator generator(0);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 2}, generator);
  TestLayer layer(layer_config(3, 4, 1.0), router, generator);
  CHECK_THROWS_WITH_AS(layer.forward(ones({2, 4})), doctest::Contains("[MoELayer] expects floating tokens (...,3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(layer.forward(ones({2, 3}), {Tensor(), ones({3})}),
                       doctest::Contains("[MoELayer] token mask must have shape [2]"), ShapeError);
  TestLayer wrong(layer_config(3, 4, 1.0), std::make_shared<FixedRouter>(hand_decision({0, 5}, {1, 1}, 2, 1, 2), 2), generator);
  CHECK_THROWS_WITH_AS(wrong.forward(ones({2, 3})), doctest::Contains("[MoELayer] the router's expert choices holds values in [0, 5] but must lie in [0, 2)"),
                       IndexError);
}

TEST_CASE("with a group size, capacity and counts are per group, as in GShard") {
  // 4 tokens all to expert 0, capacity factor 1, 2 experts: groups of 2 give C = 1 per group, so
  // tokens 0 and 2 (first in their group) are kept; one group of 4 would keep tokens 0 and 1
  RoutingDecision d = hand_decision({0, 0, 0, 0}, {1, 1, 1, 1}, 4, 1, 2);
  Generator generator(0);
  MoELayerConfig config = layer_config(3, 4, 1.0);
  config.group_size = 2;
  TestLayer grouped(config, std::make_shared<FixedRouter>(d, 2), generator);
  grouped.to(kFloat64);
  grouped.forward(leaf({4, 3}, 1));
  CHECK(capacity_of(grouped.last_routing()) == 1);
  CHECK(tokens_of_experts(grouped.last_routing()) == lists({{0, 2}, {}}));
  TestLayer whole(layer_config(3, 4, 1.0), std::make_shared<FixedRouter>(d, 2), generator);
  whole.to(kFloat64);
  whole.forward(leaf({4, 3}, 1));
  CHECK(tokens_of_experts(whole.last_routing()) == lists({{0, 1}, {}}));
}

TEST_CASE("the routing trace shows each token's experts and gates, the dropped slots and each expert's load") {
  RoutingDecision d = hand_decision({0, 1, 0, 1, 1, 0, 0, 1}, {1, 1, 1, 1, 1, 1, 1, 1}, 4, 2, 2);
  Generator generator(0);
  TestLayer layer(layer_config(3, 4, 1.0), std::make_shared<FixedRouter>(d, 2), generator);
  layer.to(kFloat64);
  layer.forward(leaf({4, 3}, 1));
  std::string trace = format_routing(layer.last_routing(), 3, {"the", "cat"});
  INFO(trace);
  CHECK(trace.find("         the  e0:0.50 e1:0.50\n") != std::string::npos);
  CHECK(trace.find("         cat  e0:0.50 e1:0.50(dropped)\n") != std::string::npos);
  CHECK(trace.find("... 1 more") != std::string::npos);
  CHECK(trace.find("tokens (capacity 2)") != std::string::npos);
  CHECK(trace.find("           0      2 ####################\n") != std::string::npos);
  TestLayer fresh(layer_config(3, 4, 1.0), std::make_shared<FixedRouter>(d, 2), generator);
  CHECK(format_routing(fresh.last_routing()) == "no routing yet: run forward() first\n");

  // a second choice the router did not send (GShard's random test) is shown as such, not hidden
  RoutingDecision skipped = hand_decision({0, 1, 1, 0}, {1, 0, 1, 1}, 2, 2, 2);
  TestLayer unlimited(layer_config(3, 4, 0.0), std::make_shared<FixedRouter>(skipped, 2), generator);
  unlimited.to(kFloat64);
  unlimited.forward(leaf({2, 3}, 1));
  std::string skipped_trace = format_routing(unlimited.last_routing(), 2, {"a", "b"});
  INFO(skipped_trace);
  CHECK(skipped_trace.find("           a  e0:0.50 e1:0.50(not sent)\n") != std::string::npos);
  CHECK(skipped_trace.find("           b  e1:0.50 e0:0.50\n") != std::string::npos);
  CHECK(capacity_of(unlimited.last_routing()) == 0);
  CHECK(unlimited.last_routing().dispatched.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 1, 1});
  // a padding token's slots are not sent
  unlimited.forward(leaf({2, 3}, 1), {Tensor(), from_vector(std::vector<std::int64_t>{1, 0})});
  CHECK(unlimited.last_routing().dispatched.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 0, 0});
  CHECK(skipped_trace.find("tokens (dropless: no capacity limit)") != std::string::npos);
}

TEST_CASE("in dropless mode a token's output does not depend on how the batch is split") {
  Generator generator(12);
  auto router = std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = 3, .experts = 4}, generator);
  TestLayer layer(layer_config(3, 5, 0.0), router, generator);
  layer.to(kFloat64);
  layer.eval();
  Tensor x = leaf({10, 3}, 13).detach();
  Tensor whole = layer.forward(x);
  Tensor halves = concat({layer.forward(narrow(x, 0, 0, 4)), layer.forward(narrow(x, 0, 4, 6))}, 0);
  check_close(halves, whole, 1e-12);
}

TEST_CASE("every router drives the layer: (...,D) out, finite aux loss, gradients reach the router") {
  Generator generator(14);
  const std::int64_t D = 4, E = 4;
  std::vector<std::pair<std::string, std::shared_ptr<Router>>> routers = {
      {"switch", std::make_shared<SwitchRouter>(SwitchRouterConfig{.dim = D, .experts = E}, generator)},
      {"noisy top-2", std::make_shared<NoisyTopKRouter>(NoisyTopKRouterConfig{.dim = D, .experts = E, .k = 2})},
      {"gshard", std::make_shared<GShardRouter>(GShardRouterConfig{.dim = D, .experts = E}, generator)},
      {"expert choice", std::make_shared<ExpertChoiceRouter>(ExpertChoiceRouterConfig{.dim = D, .experts = E}, generator)},
      {"dense", std::make_shared<DenseRouter>(DenseRouterConfig{.dim = D, .experts = E}, generator)},
  };
  for (auto& [name, router] : routers) {
    INFO(name);
    TestLayer layer(layer_config(D, 6, name == "expert choice" || name == "dense" ? 0.0 : 1.25), router, generator);
    Tensor x = randn({2, 8, D}, generator);
    Tensor out = layer.forward(x);
    CHECK(out.shape() == Shape{2, 8, D});
    const RoutingInfo& info = layer.last_routing();
    CHECK(std::isfinite(info.aux_loss.item()));
    (out.sum() + info.aux_loss).backward();
    double router_gradient = 0.0;
    for (const Tensor& p : router->parameters()) router_gradient += max(abs(p.grad())).item();
    CHECK(router_gradient > 0.0);
    CHECK(max(abs(layer.w1.grad())).item() > 0.0);
  }
}

TEST_CASE("a uniform router has entropy log E and mean logsumexp log E") {
  // noisy top-k starts with W_g = 0: in eval mode every logit is 0
  auto router = std::make_shared<NoisyTopKRouter>(NoisyTopKRouterConfig{.dim = 3, .experts = 4, .k = 2});
  Generator generator(15);
  TestLayer layer(layer_config(3, 4, 0.0), router, generator);
  layer.eval();
  layer.forward(randn({6, 3}, generator));
  CHECK(layer.last_routing().entropy.item() == doctest::Approx(std::log(4.0)).epsilon(1e-6));
  CHECK(layer.last_routing().mean_log_z.item() == doctest::Approx(std::log(4.0)).epsilon(1e-6));
  CHECK(layer.last_routing().balance_loss.item() == doctest::Approx(1.0).epsilon(1e-6));
}
