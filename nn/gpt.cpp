#include "nn/gpt.h"

#include <fmt/format.h>

#include "tensor/graph.h"
#include "nn/bert.h"
#include "nn/config_checks.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::nn {

TransformerLayerConfig GptConfig::layer() const {
  return TransformerLayerConfig{dim, heads, ffn_hidden, dropout, 1e-5, /*norm_first=*/true, /*causal=*/true};
}

nlohmann::json GptConfig::to_json() const {
  return {{"model", "gpt"}, {"vocab_size", vocab_size}, {"max_positions", max_positions}, {"dim", dim},
          {"heads", heads}, {"layers", layers},         {"ffn_hidden", ffn_hidden},       {"dropout", dropout},
          {"init_std", init_std}};
}

GptConfig GptConfig::from_json(const nlohmann::json& json) {
  GptConfig config;
  try {
    config.vocab_size = json.at("vocab_size").get<std::int64_t>();
    config.max_positions = json.at("max_positions").get<std::int64_t>();
    config.dim = json.at("dim").get<std::int64_t>();
    config.heads = json.at("heads").get<std::int64_t>();
    config.layers = json.at("layers").get<std::int64_t>();
    config.ffn_hidden = json.at("ffn_hidden").get<std::int64_t>();
    config.dropout = json.value("dropout", config.dropout);
    config.init_std = json.value("init_std", config.init_std);
  } catch (const nlohmann::json::exception& error) {
    throw Error(fmt::format("[GptConfig] bad config JSON: {}", error.what()));
  }
  return config;
}

namespace {
// Every field, named as the struct names it, before any weight is allocated.
void check_config(const GptConfig& config) {
  using namespace config_checks;
  const char* owner = "GptModel";
  positive(owner, "config.vocab_size", config.vocab_size);
  positive(owner, "config.max_positions", config.max_positions);
  heads_divide(owner, "config.dim", config.dim, "config.heads", config.heads);
  non_negative(owner, "config.layers", config.layers);
  positive(owner, "config.ffn_hidden", config.ffn_hidden);
  probability(owner, "config.dropout", config.dropout);
  non_negative_finite(owner, "config.init_std", config.init_std);
}
}  // namespace

GptModel::GptModel(const GptConfig& config, Generator& generator) : config(config) {
  check_config(config);
  token = register_module("token", std::make_shared<Embedding>(config.vocab_size, config.dim, generator));
  position = register_module("position", std::make_shared<Embedding>(config.max_positions, config.dim, generator));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.dropout, generator));
  layers = register_module("layers", std::make_shared<ModuleList<TransformerEncoderLayer>>());
  for (std::int64_t i = 0; i < config.layers; ++i) {
    layers->push_back(std::make_shared<TransformerEncoderLayer>(config.layer(), generator));
  }
  final_norm = register_module("final_norm", std::make_shared<LayerNorm>(config.dim));
  init_bert_weights(*this, config.init_std, generator);
}

Tensor GptModel::forward(const Tensor& ids, Taps* taps) {
  if (ids.dim() != 2) throw ShapeError(fmt::format("[GptModel] ids must be (B,T), got {}", shape_str(ids.shape())));
  std::int64_t tokens = ids.size(1);
  if (tokens > config.max_positions) {
    throw ShapeError(fmt::format("[GptModel] {} tokens exceed max_positions {}", tokens, config.max_positions));
  }
  Tensor positions = arange(tokens, kInt64, ids.device()).reshape({1, tokens});
  Tensor h = dropout->forward(token->forward(ids) + position->forward(positions));
  record_tap(taps, "embeddings", h);
  {
    TapScope all_layers(taps, "layers");
    for (std::size_t i = 0; i < layers->size(); ++i) {
      TapScope layer(taps, std::to_string(i));
      h = (*layers)[i].forward(h, TokenContext{ids, Tensor()}, taps);
    }
  }
  return matmul(final_norm->forward(h), transpose(token->weight, 0, 1));
}

std::vector<std::int64_t> GptModel::generate(std::vector<std::int64_t> prompt, std::int64_t count, double temperature,
                                             Generator& generator) {
  if (prompt.empty()) throw Error("[GptModel::generate] the prompt needs at least one token");
  if (!(temperature > 0.0)) throw Error(fmt::format("[GptModel::generate] temperature must be > 0, got {}", temperature));
  NoGradGuard no_grad;
  bool was_training = is_training();
  eval();
  for (std::int64_t step = 0; step < count; ++step) {
    std::size_t start = prompt.size() > static_cast<std::size_t>(config.max_positions)
                            ? prompt.size() - static_cast<std::size_t>(config.max_positions)
                            : 0;
    std::vector<std::int64_t> context(prompt.begin() + static_cast<std::ptrdiff_t>(start), prompt.end());
    Tensor ids = from_vector(context, {1, static_cast<std::int64_t>(context.size())}, token->weight.device());
    Tensor last = select(select(forward(ids), 0, 0), 0, -1);  // (V) logits of the last position
    std::vector<double> probabilities = softmax(last * (1.0 / temperature), -1).to_vector<double>();
    // inverse-CDF sampling with one uniform draw
    double u = generator.next_uniform(), running = 0.0;
    std::int64_t chosen = static_cast<std::int64_t>(probabilities.size()) - 1;
    for (std::size_t v = 0; v < probabilities.size(); ++v) {
      running += probabilities[v];
      if (u < running) {
        chosen = static_cast<std::int64_t>(v);
        break;
      }
    }
    prompt.push_back(chosen);
  }
  train(was_training);
  return prompt;
}

}  // namespace moegrad::nn
