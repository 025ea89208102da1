// GShard/GLaM layouts, WideNet, ST-MoE fine-tuning helpers, the record of one forward.
#include <cmath>

#include "moe/finetune.h"
#include "moe/gshard_router.h"
#include "moe/hash_router.h"
#include "moe/layouts.h"
#include "moe/switch_router.h"
#include "moe/widenet.h"
#include "nn/bert.h"
#include "nn/gpt.h"
#include "nn/optim.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::moe;

namespace {

MoELayerConfig small_moe(std::int64_t dim, std::int64_t hidden) {
  MoELayerConfig config;
  config.dim = dim;
  config.expert_hidden = hidden;
  config.capacity_factor_train = config.capacity_factor_eval = 0.0;  // dropless
  return config;
}

nn::GptConfig tiny_gpt(std::int64_t layers) {
  nn::GptConfig config;
  config.vocab_size = 11;
  config.max_positions = 8;
  config.dim = 8;
  config.heads = 2;
  config.layers = layers;
  config.ffn_hidden = 16;
  config.dropout = 0.0;
  return config;
}

RouterFactory gshard_routers(std::int64_t dim, std::int64_t experts, Generator& generator) {
  return [dim, experts, &generator](std::int64_t) {
    GShardRouterConfig config;
    config.dim = dim;
    config.experts = experts;
    return std::make_shared<GShardRouter>(config, generator);
  };
}

}  // namespace

TEST_CASE("every-other-layer layout puts MoE in layers 1, 3, ... of a decoder and keeps dense FFNs elsewhere") {
  Generator generator(3);
  nn::GptModel model(tiny_gpt(4), generator);
  auto moes = use_moe_every_other_layer(*model.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  REQUIRE(moes.size() == 2);
  auto found = find_moe_layers(model);
  REQUIRE(found.size() == 2);
  CHECK(found[0].first == "layers.1.ffn");
  CHECK(found[1].first == "layers.3.ffn");
  CHECK(dynamic_cast<nn::FeedForward*>((*model.layers)[0].ffn.get()) != nullptr);
  CHECK(dynamic_cast<nn::FeedForward*>((*model.layers)[2].ffn.get()) != nullptr);
  auto names = model.state_dict();
  CHECK(names.count("layers.1.ffn.router.gate_weight") == 1);
  CHECK(names.count("layers.3.ffn.w1") == 1);
  CHECK(names.count("layers.0.ffn.w1.weight") == 1);
}

TEST_CASE("every-other-layer layout works in an encoder and every = 1 puts MoE in every layer") {
  Generator generator(4);
  nn::BertConfig config;
  config.vocab_size = 11;
  config.max_positions = 8;
  config.dim = 8;
  config.heads = 2;
  config.layers = 3;
  config.ffn_hidden = 16;
  config.dropout = 0.0;
  nn::BertEncoder encoder(config, generator);
  auto moes = use_moe_every_other_layer(*encoder.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator, 1, 0);
  CHECK(moes.size() == 3);
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  nn::Taps record = nn::Taps::reports_only();
  Tensor out = encoder.forward(ids, Tensor(), Tensor(), &record);
  CHECK(out.shape() == Shape{2, 3, 8});
  auto found = routings(record);
  REQUIRE(found.size() == 3);
  CHECK(found[0].first == "layers.0.ffn.routing");
  for (auto& [name, routing] : found) CHECK(routing->expert_index.size(0) == 6);
  CHECK_THROWS_WITH_AS(use_moe_every_other_layer(*encoder.layers, small_moe(6, 16), gshard_routers(6, 4, generator),
                                                 generator),
                       doctest::Contains("MoE width 6 differs from layer 1's width 8"), ShapeError);
}

TEST_CASE("total_aux_loss is the sum of each MoE layer's own aux loss in this forward and trains every router") {
  Generator generator(5);
  nn::GptModel model(tiny_gpt(4), generator);
  auto moes = use_moe_every_other_layer(*model.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  nn::Taps record = nn::Taps::reports_only();
  model.forward(ids, &record);
  Tensor total = total_aux_loss(record);
  auto found = routings(record);
  REQUIRE(found.size() == 2);
  CHECK(found[1].first == "layers.3.ffn.routing");
  double expected = found[0].second->aux_loss.item() + found[1].second->aux_loss.item();
  CHECK(total.item() == doctest::Approx(expected).epsilon(1e-12));
  total.backward();
  for (auto& moe : moes) {
    auto& router = dynamic_cast<GShardRouter&>(*moe->router);
    CHECK(max(abs(router.gate_weight.grad())).item() > 0.0);
  }
  nn::GptModel dense(tiny_gpt(2), generator);
  nn::Taps dense_record = nn::Taps::reports_only();
  dense.forward(ids, &dense_record);
  CHECK(total_aux_loss(dense_record).item() == 0.0);
  // one record is one forward: a second forward into the same record is refused, not mixed in
  CHECK_THROWS_WITH_AS(model.forward(ids, &record), doctest::Contains("already reported in this record"), Error);
}

TEST_CASE("the documented loss line cannot go wrong: the aux loss comes from this forward's record") {
  // C++ may evaluate the two operands of + in either order; with the record the aux loss is read
  // after the forward that filled it, whatever the order, on the first step and every later one.
  Generator generator(15);
  nn::GptModel model(tiny_gpt(2), generator);
  use_moe_every_other_layer(*model.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3, 4}, {1, 4});
  for (int step = 0; step < 2; ++step) {
    nn::Taps record = nn::Taps::reports_only();
    Tensor logits = model.forward(ids, &record);
    Tensor loss = cross_entropy(reshape(logits, {-1, 11}), reshape(ids, {-1})) + total_aux_loss(record);
    Tensor aux = total_aux_loss(record);
    CHECK(aux.item() > 0.0);
    CHECK(loss.item() == doctest::Approx(cross_entropy(reshape(logits, {-1, 11}), reshape(ids, {-1})).item() + aux.item()));
    loss.backward();
  }
}

TEST_CASE("the model's forward hands padding and token ids to its MoE layers") {
  Generator generator(6);
  nn::GptModel model(tiny_gpt(2), generator);
  auto moes = use_moe_every_other_layer(
      *model.layers, small_moe(8, 16),
      [](std::int64_t) { return std::make_shared<HashRouter>(from_vector(std::vector<std::int64_t>(11, 1)), 3); },
      generator);
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3, 0, 4, 5, 0, 0}, {2, 4});
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 0, 1, 1, 0, 0}, {2, 4});
  nn::Taps record = nn::Taps::reports_only();
  nn::TransformerEncoderLayer& layer = (*model.layers)[1];
  layer.forward(randn({2, 4, 8}, generator), nn::TokenContext{ids, mask}, &record);
  const RoutingInfo& info = *routings(record).at(0).second;
  CHECK(info.tokens_per_expert.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 5, 0});  // 5 real, all to 1
  CHECK(info.token_dropped.to_vector<std::int64_t>() == std::vector<std::int64_t>(8, 0));
  // GPT hands its ids down itself
  nn::Taps model_record = nn::Taps::reports_only();
  model.forward(ids, &model_record);
  CHECK(routings(model_record).at(0).second->tokens_per_expert.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 8, 0});
  // a layer called without token ids: a clear error, not a silent guess
  CHECK_THROWS_WITH_AS(layer.forward(randn({2, 4, 8}, generator)), doctest::Contains("[HashRouter] needs the token ids"),
                       Error);
}

TEST_CASE("count_parameters: activated = dense part + router + k of E experts per MoE layer") {
  Generator generator(7);
  nn::GptModel model(tiny_gpt(2), generator);
  std::int64_t dense_total = model.parameter_count();
  std::int64_t dense_ffn = (*model.layers)[1].ffn->parameter_count();  // 8·16 + 16 + 16·8 + 8 = 280
  CHECK(dense_ffn == 280);
  use_moe_every_other_layer(*model.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  ParameterCounts counts = count_parameters(model, 2.0);
  // 4 experts of 280 each, a router of 8·4
  CHECK(counts.total == dense_total - 280 + 4 * 280 + 32);
  CHECK(counts.activated == dense_total - 280 + 2 * 280 + 32);
  CHECK(count_parameters(model, 1.0).activated == dense_total + 32);
  CHECK_THROWS_WITH_AS(count_parameters(model, 0.0), doctest::Contains("[count_parameters] experts_per_token must be > 0"),
                       Error);
}

TEST_CASE("widenet shares attention and MoE across layers, keeps a LayerNorm pair per layer") {
  Generator generator(8);
  nn::TransformerLayerConfig layer;
  layer.dim = 8;
  layer.heads = 2;
  layer.dropout = 0.0;
  SwitchRouterConfig router;
  router.dim = 8;
  router.experts = 4;
  auto moe = std::make_shared<MoELayer>(small_moe(8, 16), std::make_shared<SwitchRouter>(router, generator), generator);
  WideNet widenet(layer, 3, moe, generator);
  auto state = widenet.state_dict();
  CHECK(state.count("norms1.2.weight") == 1);
  CHECK(state.count("norms2.0.bias") == 1);
  CHECK(state.count("ffn.router.router_weight") == 1);
  // one attention + one MoE + 3 × 2 LayerNorms of 2·8
  std::int64_t shared = widenet.attention->parameter_count() + moe->parameter_count();
  CHECK(widenet.parameter_count() == shared + 3 * 2 * 2 * 8);

  Tensor x = randn({2, 5, 8}, generator);
  nn::Taps record = nn::Taps::reports_only();
  Tensor out = widenet.forward(x, {}, &record);
  CHECK(out.shape() == Shape{2, 5, 8});
  auto found = routings(record);
  REQUIRE(found.size() == 3);  // every application, not only the last
  CHECK(found[2].first == "layers.2.ffn.routing");
  Tensor aux = total_aux_loss(record);
  double expected = 0.0;
  for (const auto& [name, routing] : found) expected += routing->aux_loss.item();
  CHECK(aux.item() == doctest::Approx(expected).epsilon(1e-6));
  CHECK(found[0].second->aux_loss.item() != found[2].second->aux_loss.item());
  // the shared weights get gradient from every layer; each LayerNorm from its own
  (sum(out) + aux).backward();
  CHECK(max(abs(moe->w1.grad())).item() > 0.0);
  CHECK(max(abs((*widenet.norms1)[2].weight.grad())).item() > 0.0);
}

TEST_CASE("widenet with shared LayerNorms keeps one pair for all layers and equals per-layer norms set equal") {
  Generator generator(10);
  nn::TransformerLayerConfig layer;
  layer.dim = 8;
  layer.heads = 2;
  layer.ffn_hidden = 16;
  layer.dropout = 0.0;
  auto ffn = std::make_shared<nn::FeedForward>(8, 16, 0.0, generator);
  WideNet shared(layer, 3, ffn, generator, LayerNormSharing::Shared);
  WideNet per_layer(layer, 3, ffn, generator);
  CHECK(shared.num_layers() == 3);
  CHECK(shared.norms1->size() == 1);
  CHECK(shared.state_dict().count("norms1.1.weight") == 0);
  // 2 fewer LayerNorm pairs of 2·8 parameters each
  CHECK(per_layer.parameter_count() - shared.parameter_count() == 2 * 2 * 2 * 8);
  {
    NoGradGuard no_grad;
    per_layer.attention->load_state_dict(shared.attention->state_dict());
    shared.norms1->at(0)->weight.copy_(randn({8}, generator));
    shared.norms2->at(0)->bias.copy_(randn({8}, generator));
    for (std::size_t l = 0; l < 3; ++l) {
      (*per_layer.norms1)[l].load_state_dict(shared.norms1->at(0)->state_dict());
      (*per_layer.norms2)[l].load_state_dict(shared.norms2->at(0)->state_dict());
    }
  }
  Tensor x = randn({2, 4, 8}, generator);
  check_close(shared.forward(x), per_layer.forward(x), 1e-6);
  // the one pair gets gradient from every application: changing it changes all three layers
  sum(shared.forward(x)).backward();
  CHECK(max(abs(shared.norms1->at(0)->weight.grad())).item() > 0.0);
}

TEST_CASE("widenet with its per-layer LayerNorms equal to one shared block applied N times") {
  // With identical LayerNorm parameters in every layer, WideNet is exactly the shared block
  // (attention + FFN + the same norms) applied N times: the per-layer norms are the only difference.
  Generator generator(9);
  nn::TransformerLayerConfig layer;
  layer.dim = 8;
  layer.heads = 2;
  layer.ffn_hidden = 16;
  layer.dropout = 0.0;
  nn::TransformerEncoderLayer block(layer, generator);
  block.to(kFloat64);
  WideNet widenet(layer, 3, block.ffn, generator);
  widenet.to(kFloat64);
  {
    NoGradGuard no_grad;
    widenet.attention->load_state_dict(block.attention->state_dict());
    for (std::size_t l = 0; l < 3; ++l) {
      (*widenet.norms1)[l].weight.copy_(randn({8}, generator, kFloat64));
      (*widenet.norms2)[l].weight.copy_(randn({8}, generator, kFloat64));
    }
  }
  Tensor x = randn({2, 4, 8}, generator, kFloat64);
  Tensor expected = x;
  for (std::size_t l = 0; l < 3; ++l) {
    NoGradGuard no_grad;
    block.norm1->weight.copy_((*widenet.norms1)[l].weight);
    block.norm2->weight.copy_((*widenet.norms2)[l].weight);
    expected = block.forward(expected);
  }
  nn::Taps record = nn::Taps::reports_only();
  check_close(widenet.forward(x, {}, &record), expected.to_vector<double>(), 1e-12);
  CHECK(total_aux_loss(record).item() == 0.0);  // a dense FFN has no aux loss
}

TEST_CASE("freeze_moe_parameters freezes exactly the routers and experts, and the optimiser leaves them alone") {
  Generator generator(10);
  nn::GptModel model(tiny_gpt(2), generator);
  auto moes = use_moe_every_other_layer(*model.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  std::size_t moe_tensors = moes[0]->named_parameters().size();  // router + w1 b1 w2 b2
  CHECK(moe_tensors == 5);
  CHECK(freeze_moe_parameters(model) == moe_tensors);
  for (auto& [name, tensor] : model.named_parameters()) {
    bool in_moe = name.rfind("layers.1.ffn.", 0) == 0;
    CHECK_MESSAGE(tensor.requires_grad() == !in_moe, name);
  }
  Tensor before = moes[0]->w1.detach().clone();
  Tensor token_before = model.token->weight.detach().clone();
  nn::AdamWOptions options;
  options.lr = 1e-2;
  nn::AdamW optimizer(model.parameters(), options);
  Tensor ids = from_vector(std::vector<std::int64_t>{1, 2, 3, 4}, {1, 4});
  cross_entropy(model.forward(ids), ids).backward();
  optimizer.step();
  CHECK(max(abs(moes[0]->w1 - before)).item() == 0.0);
  CHECK(max(abs(model.token->weight - token_before)).item() > 0.0);

  nn::GptModel other(tiny_gpt(2), generator);
  use_moe_every_other_layer(*other.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  std::size_t all = other.named_parameters().size();
  CHECK(freeze_non_moe_parameters(other) == all - moe_tensors);
  for (auto& [name, tensor] : other.named_parameters()) {
    CHECK_MESSAGE(tensor.requires_grad() == (name.rfind("layers.1.ffn.", 0) == 0), name);
  }
}

TEST_CASE("set_expert_dropout sets every MoE layer's rate and rejects rates outside [0, 1)") {
  Generator generator(11);
  nn::GptModel model(tiny_gpt(4), generator);
  auto moes = use_moe_every_other_layer(*model.layers, small_moe(8, 16), gshard_routers(8, 4, generator), generator);
  CHECK(set_expert_dropout(model, 0.4) == 2);
  for (auto& moe : moes) CHECK(moe->config.expert_dropout == 0.4);
  CHECK_THROWS_WITH_AS(set_expert_dropout(model, 1.0), doctest::Contains("[set_expert_dropout] rate must be in [0, 1)"),
                       Error);
}

TEST_CASE("load over training is read from each step's record: counts and drops of that step") {
  Generator generator(12);
  MoELayerConfig config = small_moe(4, 8);
  config.capacity_factor_train = 1.0;
  SwitchRouterConfig router;
  router.dim = 4;
  router.experts = 2;
  MoELayer layer(config, std::make_shared<SwitchRouter>(router, generator), generator);
  for (int step = 0; step < 2; ++step) {
    RoutingInfo info = layer.apply(randn({6, 4}, generator)).routing;
    std::vector<std::int64_t> load = info.tokens_per_expert.to_vector<std::int64_t>();
    REQUIRE(load.size() == 2);
    std::int64_t dropped = sum(info.token_dropped).to_vector<std::int64_t>()[0];
    CHECK(load[0] + load[1] + dropped == 6);
    CHECK(load[0] <= 3);  // C = ceil(6/2 · 1.0)
    CHECK(info.capacity.to_vector<std::int64_t>() == std::vector<std::int64_t>{3});
  }
}
