// A checkpoint's config.json for a Transformer with MoE layers: the model (BERT or GPT, its head),
// where the MoE layers sit, the MoE layer's configuration and the router's kind and configuration.
// With it, build_model rebuilds the same architecture with no help from the program that trained
// it, and nn::load_checkpoint fills in the weights:
//
//   moe::MoETransformerConfig config = ...;                        // what the program trains
//   nn::save_checkpoint("runs/moe/ckpt", *model, config.to_json());
//   ...elsewhere, knowing nothing of the run:
//   auto config = moe::MoETransformerConfig::from_json(moe::read_config_json("runs/moe/ckpt"));
//   moe::MoETransformer rebuilt = moe::build_model(config);
//   nn::load_checkpoint("runs/moe/ckpt", *rebuilt.module);
//
// The JSON, e.g. {"architecture": "bert_classifier", "classes": 2, "model": {BertConfig::to_json},
// "moe_layers": {"every": 1, "first": 0}, "moe": {MoELayerConfig}, "router": {"kind": "switch", ...}}.
#pragma once
#include <memory>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "moe/dense_router.h"
#include "moe/expert_choice_router.h"
#include "moe/gshard_router.h"
#include "moe/moe_layer.h"
#include "moe/noisy_topk_router.h"
#include "moe/switch_router.h"
#include "nn/bert.h"
#include "nn/gpt.h"

namespace moegrad::moe {

// Hash routing has no config struct of its own: a random token -> expert map over `vocabulary` ids
// (the map itself is a buffer, so the checkpoint's weights bring it back exactly).
struct HashRouterConfig {
  std::int64_t vocabulary = 0;
  std::int64_t experts = 0;
};

// The router's kind is the alternative held; in JSON it is "kind": "switch", "gshard", "noisy_topk",
// "expert_choice", "dense" or "hash".
using RouterConfig = std::variant<SwitchRouterConfig, GShardRouterConfig, NoisyTopKRouterConfig,
                                  ExpertChoiceRouterConfig, DenseRouterConfig, HashRouterConfig>;

nlohmann::json router_config_to_json(const RouterConfig& config);
RouterConfig router_config_from_json(const nlohmann::json& json);
std::shared_ptr<Router> make_router(const RouterConfig& config, Generator& generator = default_generator());

nlohmann::json moe_layer_config_to_json(const MoELayerConfig& config);
MoELayerConfig moe_layer_config_from_json(const nlohmann::json& json);

struct MoETransformerConfig {
  // "bert_encoder", "bert_masked_lm", "bert_classifier" (uses bert and classes) or "gpt" (uses gpt).
  std::string architecture = "bert_classifier";
  nn::BertConfig bert;
  nn::GptConfig gpt;
  std::int64_t classes = 2;
  // use_moe_every_other_layer's layout: layers first, first + every, ... get an MoE FFN.
  std::int64_t every = 2;
  std::int64_t first_moe_layer = 1;
  MoELayerConfig moe;
  RouterConfig router;

  nlohmann::json to_json() const;
  static MoETransformerConfig from_json(const nlohmann::json& json);  // throws Error naming the bad field
};

// The model a config describes, freshly initialised: `module` is the whole model (what
// load_checkpoint fills), exactly one of the typed pointers below is set, and moe_layers are its MoE
// layers in order.
struct MoETransformer {
  std::shared_ptr<nn::Module> module;
  std::shared_ptr<nn::BertEncoder> bert_encoder;
  std::shared_ptr<nn::BertForMaskedLM> bert_masked_lm;
  std::shared_ptr<nn::BertForSequenceClassification> bert_classifier;
  std::shared_ptr<nn::GptModel> gpt;
  std::vector<std::shared_ptr<MoELayer>> moe_layers;
};
MoETransformer build_model(const MoETransformerConfig& config, Generator& generator = default_generator());

// The parsed directory/config.json of a checkpoint (throws Error naming the file when it is missing
// or not JSON).
nlohmann::json read_config_json(const std::string& directory);

}  // namespace moegrad::moe
