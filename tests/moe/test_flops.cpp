// FLOP counts of moe/flops.h against a hand count for a tiny GPT with one Switch layer.
#include "moe/flops.h"
#include "moe/layouts.h"
#include "moe/switch_router.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::moe;

namespace {

// vocab 11, context 8, width 8, 2 heads, 2 layers, dense FFN 16; layer 1's FFN becomes a Switch
// layer of 4 experts of width 16 with the given training capacity factor (0 = dropless).
std::shared_ptr<nn::GptModel> tiny_switch_gpt(double capacity_factor, Generator& generator) {
  nn::GptConfig config;
  config.vocab_size = 11;
  config.max_positions = 8;
  config.dim = 8;
  config.heads = 2;
  config.layers = 2;
  config.ffn_hidden = 16;
  config.dropout = 0.0;
  auto model = std::make_shared<nn::GptModel>(config, generator);
  MoELayerConfig moe_config;
  moe_config.dim = 8;
  moe_config.expert_hidden = 16;
  moe_config.capacity_factor_train = capacity_factor;
  SwitchRouterConfig router;
  router.dim = 8;
  router.experts = 4;
  use_moe_every_other_layer(*model->layers, moe_config,
                            [&](std::int64_t) { return std::make_shared<SwitchRouter>(router, generator); },
                            generator, 2, 1);
  return model;
}

}  // namespace

TEST_CASE("gpt_forward_flops matches a hand count, capacity padding included") {
  Generator generator(3);
  auto model = tiny_switch_gpt(1.25, generator);
  Tensor ids = randint(0, 11, {2, 8}, generator);  // B = 2, T = 8: N = 16 tokens
  nn::Taps record = nn::Taps::reports_only();
  model->forward(ids, &record);
  ForwardFlops flops = gpt_forward_flops(*model, 2, 8, record);

  // Hand count, 2 FLOPs per multiply-add, N = 16, T = 8, D = 8, V = 11:
  //   LM head 2·16·8·11 = 2816
  //   attention per layer: projections 2·16·4·8·8 = 8192, scores and mixing 2·2·16·8·8 = 4096; two layers 24576
  //   dense FFN of layer 0: 2·2·16·8·16 = 8192                              -> dense 35584
  //   router of layer 1: 2·16·8·4 = 1024
  //   experts: C = ⌈16/4 · 1.25⌉ = 5 slots each, 4·5 = 20 slots of 4·8·16 = 512 -> 10240
  CHECK(flops.dense == doctest::Approx(35584.0));
  CHECK(flops.router == doctest::Approx(1024.0));
  CHECK(flops.experts == doctest::Approx(10240.0));
  CHECK(flops.total() == doctest::Approx(46848.0));
  CHECK(training_step_flops(flops) == doctest::Approx(3.0 * 46848.0));
  // what the grouped matmul ran: the processed tokens only, at most the 16 tokens and at most 20 slots
  const RoutingInfo& routing = *routings(record).front().second;
  double processed = 0.0;
  for (std::int64_t count : routing.tokens_per_expert.to_vector<std::int64_t>()) processed += static_cast<double>(count);
  CHECK(flops.experts_unpadded == doctest::Approx(512.0 * processed));
  CHECK(processed <= 16.0);
}

TEST_CASE("gpt_forward_flops counts the processed tokens when the layer is dropless") {
  Generator generator(3);
  auto model = tiny_switch_gpt(0.0, generator);
  Tensor ids = randint(0, 11, {2, 8}, generator);
  nn::Taps record = nn::Taps::reports_only();
  model->forward(ids, &record);
  ForwardFlops flops = gpt_forward_flops(*model, 2, 8, record);
  CHECK(flops.experts == doctest::Approx(16.0 * 512.0));  // top-1, nothing dropped: every token once
  CHECK(flops.experts_unpadded == doctest::Approx(flops.experts));
  CHECK(flops.total() == doctest::Approx(35584.0 + 1024.0 + 8192.0));
}

TEST_CASE("gpt_forward_flops names the MoE layer whose routing is missing from the record") {
  Generator generator(3);
  auto model = tiny_switch_gpt(0.0, generator);
  nn::Taps empty = nn::Taps::reports_only();
  CHECK_THROWS_WITH_AS(gpt_forward_flops(*model, 2, 8, empty), doctest::Contains("layers.1.ffn.routing"), Error);
}
