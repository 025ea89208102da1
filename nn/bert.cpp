#include "nn/bert.h"

#include <fmt/format.h>

#include "nn/config_checks.h"
#include "tensor/graph.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::nn {

namespace {
const char* mlm_head_name(MlmHead head) { return head == MlmHead::Linear ? "linear" : "tied_transform"; }

MlmHead mlm_head_from_name(const std::string& name) {
  if (name == "tied_transform") return MlmHead::TiedTransform;
  if (name == "linear") return MlmHead::Linear;
  throw Error(fmt::format("[BertConfig] mlm_head must be \"tied_transform\" or \"linear\", got \"{}\"", name));
}

// Every field, named as the struct names it, before any weight is allocated.
void check_config(const BertConfig& config, const char* owner) {
  using namespace config_checks;
  positive(owner, "config.vocab_size", config.vocab_size);
  positive(owner, "config.max_positions", config.max_positions);
  non_negative(owner, "config.type_vocab_size", config.type_vocab_size);
  heads_divide(owner, "config.dim", config.dim, "config.heads", config.heads);
  non_negative(owner, "config.layers", config.layers);
  positive(owner, "config.ffn_hidden", config.ffn_hidden);
  probability(owner, "config.dropout", config.dropout);
  positive_finite(owner, "config.layer_norm_eps", config.layer_norm_eps);
  non_negative_finite(owner, "config.init_std", config.init_std);
}
}  // namespace

TransformerLayerConfig BertConfig::layer() const {
  return TransformerLayerConfig{dim, heads, ffn_hidden, dropout, layer_norm_eps, norm_first, false, activation};
}

nlohmann::json BertConfig::to_json() const {
  return {{"model", "bert"},          {"vocab_size", vocab_size}, {"max_positions", max_positions},
          {"type_vocab_size", type_vocab_size}, {"dim", dim}, {"heads", heads},
          {"layers", layers},         {"ffn_hidden", ffn_hidden}, {"dropout", dropout},
          {"layer_norm_eps", layer_norm_eps}, {"norm_first", norm_first}, {"init_std", init_std},
          {"activation", activation_name(activation)}, {"mlm_head", mlm_head_name(mlm_head)}};
}

BertConfig BertConfig::from_json(const nlohmann::json& json) {
  BertConfig config;
  try {
    config.vocab_size = json.at("vocab_size").get<std::int64_t>();
    config.max_positions = json.at("max_positions").get<std::int64_t>();
    config.type_vocab_size = json.value("type_vocab_size", config.type_vocab_size);
    config.dim = json.at("dim").get<std::int64_t>();
    config.heads = json.at("heads").get<std::int64_t>();
    config.layers = json.at("layers").get<std::int64_t>();
    config.ffn_hidden = json.at("ffn_hidden").get<std::int64_t>();
    config.dropout = json.value("dropout", config.dropout);
    config.layer_norm_eps = json.value("layer_norm_eps", config.layer_norm_eps);
    config.norm_first = json.value("norm_first", config.norm_first);
    config.init_std = json.value("init_std", config.init_std);
    // absent in files written before these were choices: BERT's own (erf GELU, the tied head)
    if (json.contains("activation")) config.activation = activation_from_name(json.at("activation").get<std::string>());
    if (json.contains("mlm_head")) config.mlm_head = mlm_head_from_name(json.at("mlm_head").get<std::string>());
  } catch (const nlohmann::json::exception& error) {
    throw Error(fmt::format("[BertConfig] bad config JSON: {}", error.what()));
  }
  return config;
}

void init_bert_weights(Module& module, double std, Generator& generator) {
  NoGradGuard no_grad;
  for (auto& [name, parameter] : module.named_parameters()) {
    Tensor target = parameter;
    bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (is_bias) {
      target.zero_();
    } else if (name.find("norm") == std::string::npos) {
      target.copy_(normal(target.shape(), 0.0, std, generator, target.dtype()));
    }
  }
}

BertEmbeddings::BertEmbeddings(const BertConfig& config, Generator& generator) {
  check_config(config, "BertEmbeddings");
  token = register_module("token", std::make_shared<Embedding>(config.vocab_size, config.dim, generator));
  position = register_module("position", std::make_shared<Embedding>(config.max_positions, config.dim, generator));
  if (config.type_vocab_size > 0) {
    segment = register_module("segment", std::make_shared<Embedding>(config.type_vocab_size, config.dim, generator));
  }
  norm = register_module("norm", std::make_shared<LayerNorm>(config.dim, config.layer_norm_eps));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.dropout, generator));
}

Tensor BertEmbeddings::forward(const Tensor& ids, const Tensor& segments) {
  if (ids.dim() != 2) throw ShapeError(fmt::format("[BertEmbeddings] ids must be (B,T), got {}", shape_str(ids.shape())));
  std::int64_t tokens = ids.size(1), max_positions = position->weight.size(0);
  if (tokens > max_positions) {
    throw ShapeError(fmt::format("[BertEmbeddings] {} tokens exceed max_positions {}", tokens, max_positions));
  }
  Tensor positions = arange(tokens, kInt64, ids.device()).reshape({1, tokens});
  Tensor sum = token->forward(ids) + position->forward(positions);
  if (!segment) {
    if (segments.defined()) throw Error("[BertEmbeddings] segment ids given, but the config has no segment embedding "
                                        "(type_vocab_size 0)");
  } else if (segments.defined()) {
    sum = sum + segment->forward(segments);
  } else {
    sum = sum + select(segment->weight, 0, 0);
  }
  return dropout->forward(norm->forward(sum));
}

BertEncoder::BertEncoder(const BertConfig& config, Generator& generator) : config(config) {
  check_config(config, "BertEncoder");
  embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(config, generator));
  layers = register_module("layers", std::make_shared<ModuleList<TransformerEncoderLayer>>());
  for (std::int64_t i = 0; i < config.layers; ++i) {
    layers->push_back(std::make_shared<TransformerEncoderLayer>(config.layer(), generator));
  }
  init_bert_weights(*this, config.init_std, generator);
}

Tensor BertEncoder::forward(const Tensor& ids, const Tensor& segments, const Tensor& attention_mask, Taps* taps) {
  Tensor h = embeddings->forward(ids, segments);
  record_tap(taps, "embeddings", h);
  TapScope all_layers(taps, "layers");
  for (std::size_t i = 0; i < layers->size(); ++i) {
    TapScope layer(taps, std::to_string(i));
    h = (*layers)[i].forward(h, TokenContext{ids, attention_mask}, taps);
  }
  return h;
}

BertForMaskedLM::BertForMaskedLM(const BertConfig& config, Generator& generator) {
  encoder = register_module("encoder", std::make_shared<BertEncoder>(config, generator));
  if (config.mlm_head == MlmHead::Linear) {
    decoder = register_module("decoder", std::make_shared<Linear>(config.dim, config.vocab_size, true, generator));
    init_bert_weights(*decoder, config.init_std, generator);
    return;
  }
  transform = register_module("transform", std::make_shared<Linear>(config.dim, config.dim, true, generator));
  transform_norm = register_module("transform_norm", std::make_shared<LayerNorm>(config.dim, config.layer_norm_eps));
  output_bias = register_parameter("output_bias", zeros({config.vocab_size}));
  init_bert_weights(*transform, config.init_std, generator);
}

Tensor BertForMaskedLM::forward(const Tensor& ids, const Tensor& segments, const Tensor& attention_mask, Taps* taps) {
  Tensor h = encoder->forward(ids, segments, attention_mask, taps);
  if (decoder) return decoder->forward(h);
  Tensor t = transform_norm->forward(activate(transform->forward(h), encoder->config.activation));
  // tied decoder: the token embedding table read transposed (a view, no copy)
  return matmul(t, transpose(encoder->embeddings->token->weight, 0, 1)) + output_bias;
}

BertForSequenceClassification::BertForSequenceClassification(const BertConfig& config, std::int64_t classes,
                                                             Generator& generator) {
  if (classes <= 0) throw Error(fmt::format("[BertForSequenceClassification] classes must be positive, got {}", classes));
  encoder = register_module("encoder", std::make_shared<BertEncoder>(config, generator));
  pooler = register_module("pooler", std::make_shared<Linear>(config.dim, config.dim, true, generator));
  classifier = register_module("classifier", std::make_shared<Linear>(config.dim, classes, true, generator));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.dropout, generator));
  init_bert_weights(*pooler, config.init_std, generator);
  init_bert_weights(*classifier, config.init_std, generator);
}

Tensor BertForSequenceClassification::forward(const Tensor& ids, const Tensor& segments, const Tensor& attention_mask,
                                              Taps* taps) {
  Tensor h = encoder->forward(ids, segments, attention_mask, taps);
  Tensor cls = select(h, 1, 0);  // (B,D): the [CLS] position
  return classifier->forward(dropout->forward(tanh(pooler->forward(cls))));
}

}  // namespace moegrad::nn
