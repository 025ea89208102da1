// config.json for MoE Transformers: every field of the MoE and router configurations is written,
// and read back with a default for any field an older file lacks, so a config written today still
// loads after a new field appears.
#include "moe/config_json.h"

#include <fstream>

#include <fmt/format.h>

#include "moe/hash_router.h"
#include "moe/layouts.h"
#include "nn/checkpoint.h"
#include "tensor/errors.h"

namespace moegrad::moe {

using nlohmann::json;

namespace {

// Reads object[key] into field when present; an absent key keeps the default.
template <typename T>
void read_optional(const json& object, const char* key, T& field) {
  if (object.contains(key)) field = object.at(key).get<T>();
}

json gelu_to_json(GeluApproximation approximation) {
  return approximation == GeluApproximation::Tanh ? "tanh" : "erf";
}

GeluApproximation gelu_from_json(const json& value) {
  std::string name = value.get<std::string>();
  if (name == "erf") return GeluApproximation::Erf;
  if (name == "tanh") return GeluApproximation::Tanh;
  throw Error(fmt::format("[MoELayerConfig] activation must be \"erf\" or \"tanh\", got \"{}\"", name));
}

// Runs `read`, turning nlohmann's type and missing-key errors into an Error that names the config.
template <typename Read>
auto parse(const char* what, Read read) {
  try {
    return read();
  } catch (const json::exception& error) {
    throw Error(fmt::format("[{}] bad config JSON: {}", what, error.what()));
  }
}

}  // namespace

// ---------------- routers ----------------

json router_config_to_json(const RouterConfig& config) {
  struct ToJson {
    json operator()(const SwitchRouterConfig& c) const {
      return {{"kind", "switch"}, {"dim", c.dim}, {"experts", c.experts}, {"jitter_epsilon", c.jitter_epsilon},
              {"balance_alpha", c.balance_alpha}, {"init_scale", c.init_scale}};
    }
    json operator()(const GShardRouterConfig& c) const {
      return {{"kind", "gshard"}, {"dim", c.dim}, {"experts", c.experts}, {"aux_loss_weight", c.aux_loss_weight},
              {"init_scale", c.init_scale}, {"random_second_choice", c.random_second_choice}};
    }
    json operator()(const NoisyTopKRouterConfig& c) const {
      return {{"kind", "noisy_topk"}, {"dim", c.dim}, {"experts", c.experts}, {"k", c.k},
              {"importance_weight", c.importance_weight}, {"load_weight", c.load_weight},
              {"min_noise_std", c.min_noise_std}};
    }
    json operator()(const ExpertChoiceRouterConfig& c) const {
      return {{"kind", "expert_choice"}, {"dim", c.dim}, {"experts", c.experts},
              {"capacity_factor", c.capacity_factor}, {"init_scale", c.init_scale}};
    }
    json operator()(const DenseRouterConfig& c) const {
      return {{"kind", "dense"}, {"dim", c.dim}, {"experts", c.experts}, {"init_scale", c.init_scale}};
    }
    json operator()(const HashRouterConfig& c) const {
      return {{"kind", "hash"}, {"vocabulary", c.vocabulary}, {"experts", c.experts}};
    }
  };
  return std::visit(ToJson{}, config);
}

RouterConfig router_config_from_json(const json& object) {
  return parse("RouterConfig", [&]() -> RouterConfig {
    std::string kind = object.at("kind").get<std::string>();
    if (kind == "hash") return HashRouterConfig{object.at("vocabulary").get<std::int64_t>(),
                                                object.at("experts").get<std::int64_t>()};
    std::int64_t dim = object.at("dim").get<std::int64_t>(), experts = object.at("experts").get<std::int64_t>();
    if (kind == "switch") {
      SwitchRouterConfig c{.dim = dim, .experts = experts};
      read_optional(object, "jitter_epsilon", c.jitter_epsilon);
      read_optional(object, "balance_alpha", c.balance_alpha);
      read_optional(object, "init_scale", c.init_scale);
      return c;
    }
    if (kind == "gshard") {
      GShardRouterConfig c{.dim = dim, .experts = experts};
      read_optional(object, "aux_loss_weight", c.aux_loss_weight);
      read_optional(object, "init_scale", c.init_scale);
      read_optional(object, "random_second_choice", c.random_second_choice);
      return c;
    }
    if (kind == "noisy_topk") {
      NoisyTopKRouterConfig c{.dim = dim, .experts = experts};
      read_optional(object, "k", c.k);
      read_optional(object, "importance_weight", c.importance_weight);
      read_optional(object, "load_weight", c.load_weight);
      read_optional(object, "min_noise_std", c.min_noise_std);
      return c;
    }
    if (kind == "expert_choice") {
      ExpertChoiceRouterConfig c{.dim = dim, .experts = experts};
      read_optional(object, "capacity_factor", c.capacity_factor);
      read_optional(object, "init_scale", c.init_scale);
      return c;
    }
    if (kind == "dense") {
      DenseRouterConfig c{.dim = dim, .experts = experts};
      read_optional(object, "init_scale", c.init_scale);
      return c;
    }
    throw Error(fmt::format("[RouterConfig] unknown router kind \"{}\" (switch, gshard, noisy_topk, "
                            "expert_choice, dense, hash)", kind));
  });
}

std::shared_ptr<Router> make_router(const RouterConfig& config, Generator& generator) {
  struct Make {
    Generator& generator;
    std::shared_ptr<Router> operator()(const SwitchRouterConfig& c) const {
      return std::make_shared<SwitchRouter>(c, generator);
    }
    std::shared_ptr<Router> operator()(const GShardRouterConfig& c) const {
      return std::make_shared<GShardRouter>(c, generator);
    }
    std::shared_ptr<Router> operator()(const NoisyTopKRouterConfig& c) const {
      return std::make_shared<NoisyTopKRouter>(c);
    }
    std::shared_ptr<Router> operator()(const ExpertChoiceRouterConfig& c) const {
      return std::make_shared<ExpertChoiceRouter>(c, generator);
    }
    std::shared_ptr<Router> operator()(const DenseRouterConfig& c) const {
      return std::make_shared<DenseRouter>(c, generator);
    }
    std::shared_ptr<Router> operator()(const HashRouterConfig& c) const {
      return std::make_shared<HashRouter>(c.vocabulary, c.experts, generator);
    }
  };
  return std::visit(Make{generator}, config);
}

// ---------------- the MoE layer ----------------

json moe_layer_config_to_json(const MoELayerConfig& c) {
  return {{"dim", c.dim},
          {"expert_hidden", c.expert_hidden},
          {"capacity_factor_train", c.capacity_factor_train},
          {"capacity_factor_eval", c.capacity_factor_eval},
          {"capacity", c.capacity},
          {"capacity_rounding", c.capacity_rounding == CapacityRounding::Up ? "up" : "down"},
          {"group_size", c.group_size},
          {"shared_experts", c.shared_experts},
          {"z_loss_weight", c.z_loss_weight},
          {"expert_dropout", c.expert_dropout},
          {"activation", gelu_to_json(c.activation)},
          {"init_scale", c.init_scale}};
}

MoELayerConfig moe_layer_config_from_json(const json& object) {
  return parse("MoELayerConfig", [&] {
    MoELayerConfig c;
    c.dim = object.at("dim").get<std::int64_t>();
    c.expert_hidden = object.at("expert_hidden").get<std::int64_t>();
    read_optional(object, "capacity_factor_train", c.capacity_factor_train);
    read_optional(object, "capacity_factor_eval", c.capacity_factor_eval);
    read_optional(object, "capacity", c.capacity);
    if (object.contains("capacity_rounding")) {
      std::string rounding = object.at("capacity_rounding").get<std::string>();
      if (rounding != "up" && rounding != "down") {
        throw Error(fmt::format("capacity_rounding must be \"up\" or \"down\", got \"{}\"", rounding));
      }
      c.capacity_rounding = rounding == "up" ? CapacityRounding::Up : CapacityRounding::Down;
    }
    read_optional(object, "group_size", c.group_size);
    read_optional(object, "shared_experts", c.shared_experts);
    read_optional(object, "z_loss_weight", c.z_loss_weight);
    read_optional(object, "expert_dropout", c.expert_dropout);
    if (object.contains("activation")) c.activation = gelu_from_json(object.at("activation"));
    read_optional(object, "init_scale", c.init_scale);
    return c;
  });
}

// ---------------- the whole model ----------------

namespace {

bool is_bert(const std::string& architecture) {
  return architecture == "bert_encoder" || architecture == "bert_masked_lm" || architecture == "bert_classifier";
}

}  // namespace

json MoETransformerConfig::to_json() const {
  json object = {{"architecture", architecture},
                 {"model", is_bert(architecture) ? bert.to_json() : gpt.to_json()},
                 {"moe_layers", {{"every", every}, {"first", first_moe_layer}}},
                 {"moe", moe_layer_config_to_json(moe)},
                 {"router", router_config_to_json(router)}};
  if (architecture == "bert_classifier") object["classes"] = classes;
  return object;
}

MoETransformerConfig MoETransformerConfig::from_json(const json& object) {
  MoETransformerConfig config = parse("MoETransformerConfig", [&] {
    MoETransformerConfig c;
    c.architecture = object.at("architecture").get<std::string>();
    read_optional(object, "classes", c.classes);
    c.every = object.at("moe_layers").at("every").get<std::int64_t>();
    c.first_moe_layer = object.at("moe_layers").at("first").get<std::int64_t>();
    return c;
  });
  if (!is_bert(config.architecture) && config.architecture != "gpt") {
    throw Error(fmt::format("[MoETransformerConfig] unknown architecture \"{}\" (bert_encoder, bert_masked_lm, "
                            "bert_classifier, gpt)", config.architecture));
  }
  if (is_bert(config.architecture)) {
    config.bert = nn::BertConfig::from_json(object.at("model"));
  } else {
    config.gpt = nn::GptConfig::from_json(object.at("model"));
  }
  config.moe = moe_layer_config_from_json(object.value("moe", json::object()));
  config.router = router_config_from_json(object.value("router", json::object()));
  return config;
}

MoETransformer build_model(const MoETransformerConfig& config, Generator& generator) {
  MoETransformer model;
  nn::ModuleList<nn::TransformerEncoderLayer>* layers = nullptr;
  if (config.architecture == "bert_encoder") {
    model.bert_encoder = std::make_shared<nn::BertEncoder>(config.bert, generator);
    model.module = model.bert_encoder;
    layers = model.bert_encoder->layers.get();
  } else if (config.architecture == "bert_masked_lm") {
    model.bert_masked_lm = std::make_shared<nn::BertForMaskedLM>(config.bert, generator);
    model.module = model.bert_masked_lm;
    layers = model.bert_masked_lm->encoder->layers.get();
  } else if (config.architecture == "bert_classifier") {
    model.bert_classifier = std::make_shared<nn::BertForSequenceClassification>(config.bert, config.classes, generator);
    model.module = model.bert_classifier;
    layers = model.bert_classifier->encoder->layers.get();
  } else if (config.architecture == "gpt") {
    model.gpt = std::make_shared<nn::GptModel>(config.gpt, generator);
    model.module = model.gpt;
    layers = model.gpt->layers.get();
  } else {
    throw Error(fmt::format("[build_model] unknown architecture \"{}\" (bert_encoder, bert_masked_lm, "
                            "bert_classifier, gpt)", config.architecture));
  }
  model.moe_layers = use_moe_every_other_layer(
      *layers, config.moe, [&](std::int64_t) { return make_router(config.router, generator); }, generator,
      config.every, config.first_moe_layer);
  return model;
}

json read_config_json(const std::string& directory) {
  // a checkpoint directory names its current save in `latest` (nn/checkpoint.h); a save folder or a
  // plain folder holds config.json itself, and a missing one is reported below by its file name
  std::string folder = directory;
  try {
    folder = nn::latest_checkpoint_folder(directory);
  } catch (const nn::IoError&) {
  }
  const std::string path = folder + "/config.json";
  std::ifstream file(path);
  if (!file) throw Error(fmt::format("[read_config_json] cannot open {}", path));
  try {
    return json::parse(file);
  } catch (const json::exception& error) {
    throw Error(fmt::format("[read_config_json] {} is not JSON: {}", path, error.what()));
  }
}

}  // namespace moegrad::moe
