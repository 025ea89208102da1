// A GPT-style causal language model (Radford et al. 2018/2019): token + position embeddings,
// N pre-LN causal Transformer layers, a final LayerNorm, and logits through the token embedding
// read transposed (tied weights). ids (B,T) int64 -> logits (B,T,V).
#pragma once
#include <nlohmann/json.hpp>

#include "nn/transformer.h"

namespace moegrad::nn {

struct GptConfig {
  std::int64_t vocab_size = 256;
  std::int64_t max_positions = 128;
  std::int64_t dim = 128;
  std::int64_t heads = 4;
  std::int64_t layers = 4;
  std::int64_t ffn_hidden = 512;
  double dropout = 0.1;
  double init_std = 0.02;

  TransformerLayerConfig layer() const;
  nlohmann::json to_json() const;
  static GptConfig from_json(const nlohmann::json& json);
};

class GptModel : public Module {
 public:
  explicit GptModel(const GptConfig& config, Generator& generator = default_generator());
  Tensor forward(const Tensor& ids, Taps* taps = nullptr);  // logits (B,T,V)
  // Appends `count` sampled tokens to `prompt` (1-D ids), softmax(logits / temperature) at each step,
  // keeping only the last max_positions tokens as context. Runs in eval mode without a graph.
  std::vector<std::int64_t> generate(std::vector<std::int64_t> prompt, std::int64_t count, double temperature,
                                     Generator& generator);

  GptConfig config;
  std::shared_ptr<Embedding> token, position;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<ModuleList<TransformerEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> final_norm;
};

}  // namespace moegrad::nn
