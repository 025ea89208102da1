// A BERT-style encoder (Devlin et al. 2019): token + position + segment embeddings, LayerNorm,
// N post-LN Transformer layers; with a masked-LM head and a sequence-classification head.
// Config choices beyond BERT's own: the FFN activation (erf GELU, tanh GELU, ReLU), no segment
// embedding (type_vocab_size 0, as RoBERTa drops it), and a plain Linear MLM head.
// Shapes: ids, segments, attention_mask (B,T) int64 (mask 1 = real token, 0 = padding).
#pragma once
#include <nlohmann/json.hpp>

#include "nn/transformer.h"

namespace moegrad::nn {

// The masked-LM head: BERT's tied one, LN(act(h W_t)) Eᵀ + b with E the token embedding, or a plain
// untied Linear(dim -> vocab) read at every position.
enum class MlmHead { TiedTransform, Linear };

struct BertConfig {
  std::int64_t vocab_size = 8000;
  std::int64_t max_positions = 128;
  std::int64_t type_vocab_size = 2;  // 0: no segment embedding at all (forward refuses segment ids)
  std::int64_t dim = 128;
  std::int64_t heads = 4;
  std::int64_t layers = 4;
  std::int64_t ffn_hidden = 512;
  double dropout = 0.1;
  double layer_norm_eps = 1e-12;  // BERT's value
  bool norm_first = false;
  double init_std = 0.02;  // N(0, 0.02²) weights, as BERT initialises
  Activation activation = Activation::GeluErf;  // every FFN's and the tied head's nonlinearity
  MlmHead mlm_head = MlmHead::TiedTransform;

  TransformerLayerConfig layer() const;
  nlohmann::json to_json() const;
  static BertConfig from_json(const nlohmann::json& json);
};

class BertEmbeddings : public Module {
 public:
  BertEmbeddings(const BertConfig& config, Generator& generator);
  Tensor forward(const Tensor& ids, const Tensor& segments);  // segments may be undefined (all 0)
  std::shared_ptr<Embedding> token, position, segment;  // segment null when type_vocab_size is 0
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Dropout> dropout;
};

class BertEncoder : public Module {
 public:
  explicit BertEncoder(const BertConfig& config, Generator& generator = default_generator());
  // -> (B,T,D). Taps: "embeddings", "layers.i.*" (see nn/taps.h).
  Tensor forward(const Tensor& ids, const Tensor& segments = Tensor(), const Tensor& attention_mask = Tensor(),
                 Taps* taps = nullptr);
  BertConfig config;
  std::shared_ptr<BertEmbeddings> embeddings;
  std::shared_ptr<ModuleList<TransformerEncoderLayer>> layers;
};

// Predicts masked tokens: logits (B,T,V) = LN(act(h W_t)) Eᵀ + b, E the token embedding (tied), or
// h W_dᵀ + b_d with config.mlm_head = MlmHead::Linear.
class BertForMaskedLM : public Module {
 public:
  explicit BertForMaskedLM(const BertConfig& config, Generator& generator = default_generator());
  Tensor forward(const Tensor& ids, const Tensor& segments = Tensor(), const Tensor& attention_mask = Tensor(),
                 Taps* taps = nullptr);
  std::shared_ptr<BertEncoder> encoder;
  // the tied head's parts (null / undefined with MlmHead::Linear)
  std::shared_ptr<Linear> transform;
  std::shared_ptr<LayerNorm> transform_norm;
  Tensor output_bias;
  std::shared_ptr<Linear> decoder;  // the plain head (null with MlmHead::TiedTransform)
};

// Classifies a sequence from its [CLS] (first) token: logits (B,C) = W_c dropout(tanh(W_p h_cls)).
class BertForSequenceClassification : public Module {
 public:
  BertForSequenceClassification(const BertConfig& config, std::int64_t classes,
                                Generator& generator = default_generator());
  Tensor forward(const Tensor& ids, const Tensor& segments = Tensor(), const Tensor& attention_mask = Tensor(),
                 Taps* taps = nullptr);
  std::shared_ptr<BertEncoder> encoder;
  std::shared_ptr<Linear> pooler, classifier;
  std::shared_ptr<Dropout> dropout;
};

// BERT's initialisation for every parameter of `module`: N(0, std²) for weights and embeddings,
// 0 for biases, LayerNorm weights (names containing "norm") left at 1.
void init_bert_weights(Module& module, double std, Generator& generator);

}  // namespace moegrad::nn
