// Self-describing MoE checkpoints (moe/config_json.h): config.json carries the model, the MoE layout,
// the MoE layer and the router, so a checkpoint reloads into the right model with nothing but its
// folder, and bad configs are refused with the field named.
#include <fstream>

#include "moe/config_json.h"
#include "moe/layouts.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "tests/helpers.h"
#include "tests/moe/train_steps.h"
#include "tests/temp_directory.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

moe::MoETransformerConfig tiny_moe_bert(moe::RouterConfig router) {
  moe::MoETransformerConfig config;
  config.architecture = "bert_classifier";
  config.bert = {.vocab_size = 12, .max_positions = 6, .dim = 8, .heads = 2, .layers = 2, .ffn_hidden = 16,
                 .dropout = 0.0};
  config.classes = 3;
  config.every = 2;
  config.first_moe_layer = 1;
  config.moe = {.dim = 8, .expert_hidden = 12, .capacity_factor_train = 1.5, .shared_experts = 1,
                .activation = GeluApproximation::Tanh};
  config.router = router;
  return config;
}

}  // namespace

TEST_CASE("an MoE config survives to_json and from_json field for field, for every router kind") {
  std::vector<moe::RouterConfig> routers = {
      moe::SwitchRouterConfig{.dim = 8, .experts = 4, .jitter_epsilon = 0.0, .balance_alpha = 0.02},
      moe::GShardRouterConfig{.dim = 8, .experts = 4, .aux_loss_weight = 0.5, .random_second_choice = false},
      moe::NoisyTopKRouterConfig{.dim = 8, .experts = 4, .k = 2, .min_noise_std = 0.5},
      moe::ExpertChoiceRouterConfig{.dim = 8, .experts = 4, .capacity_factor = 1.0},
      moe::DenseRouterConfig{.dim = 8, .experts = 4, .init_scale = 0.3},
      moe::HashRouterConfig{.vocabulary = 12, .experts = 4}};
  for (const moe::RouterConfig& router : routers) {
    nlohmann::json json = tiny_moe_bert(router).to_json();
    CAPTURE(json.dump());
    moe::MoETransformerConfig back = moe::MoETransformerConfig::from_json(json);
    CHECK(back.to_json() == json);  // every field is written, so equal JSON means equal configs
    CHECK(back.router.index() == router.index());
  }
  nlohmann::json json = tiny_moe_bert(routers[0]).to_json();
  CHECK(json["router"]["kind"] == "switch");
  CHECK(json["moe"]["activation"] == "tanh");
  CHECK(json["moe"]["shared_experts"] == 1);
  CHECK(json["moe_layers"]["every"] == 2);
  CHECK(json["classes"] == 3);
  // a GShard router written before random_second_choice existed reads back with it on (the paper's)
  nlohmann::json gshard = tiny_moe_bert(routers[1]).to_json();
  CHECK(gshard["router"]["random_second_choice"] == false);
  gshard["router"].erase("random_second_choice");
  CHECK(std::get<moe::GShardRouterConfig>(moe::MoETransformerConfig::from_json(gshard).router).random_second_choice);
}

TEST_CASE("a trained MoE BERT reloads from its checkpoint folder alone and gives the same logits") {
  TempDirectory directory;
  Generator generator(3);
  moe::MoETransformerConfig config = tiny_moe_bert(moe::SwitchRouterConfig{.dim = 8, .experts = 4});
  moe::MoETransformer model = moe::build_model(config, generator);
  REQUIRE(model.bert_classifier);
  REQUIRE(model.moe_layers.size() == 1);  // layers 1 of 0..1

  Tensor ids = randint(0, 12, {4, 6}, generator);
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 1, 2, 1});
  train_classifier(model, ids, labels, 3);
  model.module->eval();
  Tensor expected = model.bert_classifier->forward(ids);
  nn::save_checkpoint(directory.file("ckpt"), *model.module, config.to_json());

  // A different seed: only the checkpoint can make the weights equal again.
  Generator other(99);
  moe::MoETransformer reloaded =
      moe::build_model(moe::MoETransformerConfig::from_json(moe::read_config_json(directory.file("ckpt"))), other);
  nn::load_checkpoint(directory.file("ckpt"), *reloaded.module);  // strict: every name and shape must match
  reloaded.module->eval();
  Tensor actual = reloaded.bert_classifier->forward(ids);
  CHECK(actual.to_vector<double>() == expected.to_vector<double>());
}

TEST_CASE("a GPT with GShard MoE layers rebuilds with its MoE layers where the config puts them") {
  moe::MoETransformerConfig config;
  config.architecture = "gpt";
  config.gpt = {.vocab_size = 10, .max_positions = 4, .dim = 8, .heads = 2, .layers = 4, .ffn_hidden = 16};
  config.every = 2;
  config.first_moe_layer = 1;
  config.moe = {.dim = 8, .expert_hidden = 8};
  config.router = moe::GShardRouterConfig{.dim = 8, .experts = 2};
  moe::MoETransformer model = moe::build_model(moe::MoETransformerConfig::from_json(config.to_json()));
  REQUIRE(model.gpt);
  CHECK(model.moe_layers.size() == 2);
  auto names = moe::find_moe_layers(*model.module);
  REQUIRE(names.size() == 2);
  CHECK(names[0].first == "layers.1.ffn");
  CHECK(names[1].first == "layers.3.ffn");
}

TEST_CASE("bad MoE configs are refused with the config and the field named") {
  nlohmann::json json = tiny_moe_bert(moe::SwitchRouterConfig{.dim = 8, .experts = 4}).to_json();
  nlohmann::json unknown_router = json;
  unknown_router["router"]["kind"] = "sorted";
  CHECK_THROWS_WITH_AS(moe::MoETransformerConfig::from_json(unknown_router),
                       doctest::Contains("[RouterConfig] unknown router kind \"sorted\""), Error);
  nlohmann::json no_hidden = json;
  no_hidden["moe"].erase("expert_hidden");
  CHECK_THROWS_WITH_AS(moe::MoETransformerConfig::from_json(no_hidden),
                       doctest::Contains("[MoELayerConfig] bad config JSON"), Error);
  nlohmann::json wrong_architecture = json;
  wrong_architecture["architecture"] = "t5";
  CHECK_THROWS_WITH_AS(moe::MoETransformerConfig::from_json(wrong_architecture),
                       doctest::Contains("unknown architecture \"t5\""), Error);
  CHECK_THROWS_WITH_AS(moe::read_config_json("/nonexistent/moegrad"),
                       doctest::Contains("[read_config_json] cannot open /nonexistent/moegrad/config.json"), Error);
}
