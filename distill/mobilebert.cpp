// MobileBERT's blocks and model (see mobilebert.h for the equations).
#include "distill/mobilebert.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "nn/bert.h"
#include "nn/config_checks.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/graph.h"

namespace moegrad::distill {
namespace {

// -1e9 at padded keys, as nn/attention.cpp writes it (distill/layerwise.h drops it).
constexpr double kMasked = -1e9;

void check_config(const MobileBertConfig& config, const char* owner) {
  using namespace nn::config_checks;
  positive(owner, "config.vocab_size", config.vocab_size);
  positive(owner, "config.max_positions", config.max_positions);
  positive(owner, "config.type_vocab_size", config.type_vocab_size);
  positive(owner, "config.inter_dim", config.inter_dim);
  heads_divide(owner, "config.intra_dim", config.intra_dim, "config.heads", config.heads);
  positive(owner, "config.ffn_hidden", config.ffn_hidden);
  positive(owner, "config.stacked_ffns", config.stacked_ffns);
  non_negative(owner, "config.layers", config.layers);
  probability(owner, "config.dropout", config.dropout);
  positive_finite(owner, "config.layer_norm_eps", config.layer_norm_eps);
  non_negative_finite(owner, "config.init_std", config.init_std);
}

// The block's norm: NoNorm (MobileBERT §3.3) or LayerNorm (BERT).
std::shared_ptr<nn::UnaryModule> make_norm(const MobileBertConfig& config, std::int64_t dim) {
  if (config.norm == BlockNorm::NoNorm) return std::make_shared<NoNorm>(dim);
  return std::make_shared<nn::LayerNorm>(dim, config.layer_norm_eps);
}

Tensor activate(BlockActivation activation, const Tensor& x) {
  return activation == BlockActivation::ReLU ? relu(x) : gelu(x);
}

std::int64_t linear_parameters(std::int64_t in, std::int64_t out) { return in * out + out; }

}  // namespace

MobileBertConfig MobileBertConfig::paper_student() { return MobileBertConfig{}; }

MobileBertConfig MobileBertConfig::paper_teacher() {
  MobileBertConfig config;
  config.intra_dim = 1024;
  config.ffn_hidden = 4096;
  config.stacked_ffns = 1;
  config.norm = BlockNorm::LayerNorm;
  config.activation = BlockActivation::GELU;
  return config;
}

NoNorm::NoNorm(std::int64_t dim) {
  nn::config_checks::positive("NoNorm", "dim", dim);
  weight = register_parameter("weight", ones({dim}));
  bias = register_parameter("bias", zeros({dim}));
}

Tensor NoNorm::forward(const Tensor& h) {
  if (h.dim() < 1 || h.size(-1) != weight.size(0)) {
    throw ShapeError(fmt::format("[NoNorm] input {} must end in the norm's width {}", shape_str(h.shape()),
                                 weight.size(0)));
  }
  return h * weight + bias;  // γ ∘ h + β, broadcast over every axis but the last
}

BottleneckAttention::BottleneckAttention(std::int64_t intra_dim, std::int64_t value_in_dim, std::int64_t heads,
                                         double dropout, Generator& generator)
    : intra_dim(intra_dim), heads(heads) {
  nn::config_checks::heads_divide("BottleneckAttention", "intra_dim", intra_dim, "heads", heads);
  nn::config_checks::positive("BottleneckAttention", "value_in_dim", value_in_dim);
  query = register_module("query", std::make_shared<nn::Linear>(intra_dim, intra_dim, true, generator));
  key = register_module("key", std::make_shared<nn::Linear>(intra_dim, intra_dim, true, generator));
  value = register_module("value", std::make_shared<nn::Linear>(value_in_dim, intra_dim, true, generator));
  output = register_module("output", std::make_shared<nn::Linear>(intra_dim, intra_dim, true, generator));
  attention_dropout = register_module("attention_dropout", std::make_shared<nn::Dropout>(dropout, generator));
}

Tensor BottleneckAttention::forward(const Tensor& query_key_in, const Tensor& value_in, const Tensor& padding_mask,
                                    nn::Taps* taps) {
  if (query_key_in.dim() != 3 || query_key_in.size(2) != intra_dim || value_in.dim() != 3 ||
      value_in.size(0) != query_key_in.size(0) || value_in.size(1) != query_key_in.size(1) ||
      value_in.size(2) != value->weight.size(1)) {
    throw ShapeError(fmt::format("[BottleneckAttention] query/key input must be (B,T,{}) and value input (B,T,{}), "
                                 "got {} and {}",
                                 intra_dim, value->weight.size(1), shape_str(query_key_in.shape()),
                                 shape_str(value_in.shape())));
  }
  const std::int64_t batch = query_key_in.size(0), tokens = query_key_in.size(1), head_dim = intra_dim / heads;
  if (padding_mask.defined() && padding_mask.shape() != Shape{batch, tokens}) {
    throw ShapeError(fmt::format("[BottleneckAttention] padding mask must be (B,T) = {}, got {}",
                                 shape_str({batch, tokens}), shape_str(padding_mask.shape())));
  }
  nn::TapScope scope(taps, "attention");

  // project to the intra width and split heads: (B,T,I) -> (B,H,T,I/H)
  auto heads_of = [&](const Tensor& t) { return t.reshape({batch, tokens, heads, head_dim}).permute({0, 2, 1, 3}); };
  Tensor q = heads_of(query->forward(query_key_in)), k = heads_of(key->forward(query_key_in));
  Tensor v = heads_of(value->forward(value_in));
  nn::record_tap(taps, "q", q);
  nn::record_tap(taps, "k", k);
  nn::record_tap(taps, "v", v);

  // scores (B,H,T,T) = q kᵀ / √(I/H), padded keys at -1e9
  Tensor scores = matmul(q, transpose(k, -1, -2)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  if (padding_mask.defined()) {
    Tensor padded_keys = eq(padding_mask.to(scores.dtype()), scalar_like(scores, 0.0)).reshape({batch, 1, 1, tokens});
    scores = masked_fill(scores, padded_keys, kMasked);
  }
  nn::record_tap(taps, "scores", scores);
  Tensor probs = softmax(scores, -1);
  nn::record_tap(taps, "probs", probs);

  // context (B,H,T,I/H) -> (B,T,I), then W_o
  Tensor context = matmul(attention_dropout->forward(probs), v);
  nn::record_tap(taps, "context", context);
  return output->forward(context.permute({0, 2, 1, 3}).reshape({batch, tokens, intra_dim}));
}

StackedFfn::StackedFfn(const MobileBertConfig& config, Generator& generator) : activation(config.activation) {
  w1 = register_module("w1", std::make_shared<nn::Linear>(config.intra_dim, config.ffn_hidden, true, generator));
  w2 = register_module("w2", std::make_shared<nn::Linear>(config.ffn_hidden, config.intra_dim, true, generator));
  norm = register_module("norm", make_norm(config, config.intra_dim));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(config.dropout, generator));
}

Tensor StackedFfn::forward(const Tensor& a) {
  return norm->forward(a + dropout->forward(w2->forward(activate(activation, w1->forward(a)))));
}

MobileBertBlock::MobileBertBlock(const MobileBertConfig& config, Generator& generator)
    : value_from_block_input(config.value_from_block_input) {
  check_config(config, "MobileBertBlock");
  const std::int64_t N = config.inter_dim, I = config.intra_dim;
  bottleneck_in = register_module("bottleneck_in", std::make_shared<nn::Linear>(N, I, true, generator));
  bottleneck_norm = register_module("bottleneck_norm", make_norm(config, I));
  if (value_from_block_input) {
    query_key_in = register_module("query_key_in", std::make_shared<nn::Linear>(N, I, true, generator));
    query_key_norm = register_module("query_key_norm", make_norm(config, I));
  }
  attention = register_module("attention", std::make_shared<BottleneckAttention>(
                                               I, value_from_block_input ? N : I, config.heads, config.dropout, generator));
  attention_norm = register_module("attention_norm", make_norm(config, I));
  ffns = register_module("ffns", std::make_shared<nn::ModuleList<StackedFfn>>());
  for (std::int64_t f = 0; f < config.stacked_ffns; ++f) ffns->push_back(std::make_shared<StackedFfn>(config, generator));
  bottleneck_out = register_module("bottleneck_out", std::make_shared<nn::Linear>(I, N, true, generator));
  output_norm = register_module("output_norm", make_norm(config, N));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(config.dropout, generator));
}

Tensor MobileBertBlock::forward(const Tensor& x, const Tensor& padding_mask, nn::Taps* taps) {
  // linear in: (B,T,N) -> b (B,T,I), the residual stream inside the block
  Tensor b = bottleneck_norm->forward(bottleneck_in->forward(x));
  nn::record_tap(taps, "bottleneck", b);

  // attention at the intra width: q, k from their own bottleneck and v from x, or all three from b
  Tensor query_key = value_from_block_input ? query_key_norm->forward(query_key_in->forward(x)) : b;
  Tensor value_in = value_from_block_input ? x : b;
  Tensor a = attention_norm->forward(b + dropout->forward(attention->forward(query_key, value_in, padding_mask, taps)));
  nn::record_tap(taps, "attention_out", a);

  // F stacked FFNs, each with its own residual and norm
  for (std::size_t f = 0; f < ffns->size(); ++f) a = (*ffns)[f].forward(a);

  // linear out: (B,T,I) -> (B,T,N), residual at the inter width
  Tensor y = output_norm->forward(x + dropout->forward(bottleneck_out->forward(a)));
  nn::record_tap(taps, "trunk", y);
  return y;
}

MobileBertEncoder::MobileBertEncoder(const MobileBertConfig& config, Generator& generator) : config(config) {
  check_config(config, "MobileBertEncoder");
  const std::int64_t N = config.inter_dim;
  token = register_module("token", std::make_shared<nn::Embedding>(config.vocab_size, N, generator));
  position = register_module("position", std::make_shared<nn::Embedding>(config.max_positions, N, generator));
  segment = register_module("segment", std::make_shared<nn::Embedding>(config.type_vocab_size, N, generator));
  embedding_norm = register_module("embedding_norm", make_norm(config, N));
  embedding_dropout = register_module("embedding_dropout", std::make_shared<nn::Dropout>(config.dropout, generator));
  layers = register_module("layers", std::make_shared<nn::ModuleList<MobileBertBlock>>());
  for (std::int64_t i = 0; i < config.layers; ++i) layers->push_back(std::make_shared<MobileBertBlock>(config, generator));
  nn::init_bert_weights(*this, config.init_std, generator);  // N(0, 0.02²), biases 0, norms (γ 1, β 0) untouched
}

Tensor MobileBertEncoder::forward(const Tensor& ids, const Tensor& segments, const Tensor& attention_mask, nn::Taps* taps,
                                  std::int64_t layers_to_run) {
  if (ids.dim() != 2) throw ShapeError(fmt::format("[MobileBertEncoder] ids must be (B,T), got {}", shape_str(ids.shape())));
  const std::int64_t tokens = ids.size(1), depth = static_cast<std::int64_t>(layers->size());
  if (tokens > config.max_positions) {
    throw ShapeError(fmt::format("[MobileBertEncoder] {} tokens exceed max_positions {}", tokens, config.max_positions));
  }
  if (layers_to_run < -1 || layers_to_run > depth) {
    throw Error(fmt::format("[MobileBertEncoder] layers_to_run must be -1 (all) or in [0, {}], got {}", depth,
                            layers_to_run));
  }
  // embeddings (B,T,N): token + position + segment, then the norm
  Tensor positions = arange(tokens, kInt64, ids.device()).reshape({1, tokens});
  Tensor h = token->forward(ids) + position->forward(positions);
  h = h + (segments.defined() ? segment->forward(segments) : select(segment->weight, 0, 0));
  h = embedding_dropout->forward(embedding_norm->forward(h));
  nn::record_tap(taps, "embeddings", h);

  nn::TapScope all_layers(taps, "layers");
  const std::int64_t run = layers_to_run < 0 ? depth : layers_to_run;
  for (std::int64_t i = 0; i < run; ++i) {
    nn::TapScope layer(taps, std::to_string(i));
    h = (*layers)[static_cast<std::size_t>(i)].forward(h, attention_mask, taps);
  }
  return h;
}

MobileBertForMaskedLM::MobileBertForMaskedLM(const MobileBertConfig& config, Generator& generator) {
  encoder = register_module("encoder", std::make_shared<MobileBertEncoder>(config, generator));
  transform = register_module("transform", std::make_shared<nn::Linear>(config.inter_dim, config.inter_dim, true, generator));
  transform_norm = register_module("transform_norm", std::make_shared<nn::LayerNorm>(config.inter_dim, config.layer_norm_eps));
  output_bias = register_parameter("output_bias", zeros({config.vocab_size}));
  nn::init_bert_weights(*transform, config.init_std, generator);
}

MobileBertForMaskedLM::Output MobileBertForMaskedLM::forward(const Tensor& ids, const Tensor& segments,
                                                             const Tensor& attention_mask, const Tensor& labels,
                                                             nn::Taps* taps, std::int64_t ignore_index) {
  Tensor h = encoder->forward(ids, segments, attention_mask, taps);  // (B,T,N)
  Output out;
  if (labels.defined()) {
    if (labels.shape() != ids.shape()) {
      throw ShapeError(fmt::format("[MobileBertForMaskedLM] labels {} must have the ids' shape {}",
                                   shape_str(labels.shape()), shape_str(ids.shape())));
    }
    // keep the P labelled rows of the (B·T, N) trunk, in row-major order
    std::vector<std::int64_t> rows;
    std::vector<std::int64_t> all_labels = labels.to_vector<std::int64_t>(), kept;
    for (std::size_t i = 0; i < all_labels.size(); ++i) {
      if (all_labels[i] != ignore_index) rows.push_back(static_cast<std::int64_t>(i)), kept.push_back(all_labels[i]);
    }
    const auto count = static_cast<std::int64_t>(rows.size());
    h = index_select(h.reshape({-1, h.size(2)}), 0, from_vector(rows, {count}).to(h.device()));
    out.labels = from_vector(kept, {count}).to(h.device());
  }
  Tensor t = transform_norm->forward(activate(encoder->config.activation, transform->forward(h)));
  out.logits = matmul(t, transpose(encoder->token->weight, 0, 1)) + output_bias;  // tied decoder
  return out;
}

MobileBertForSequenceClassification::MobileBertForSequenceClassification(const MobileBertConfig& config,
                                                                         std::int64_t classes, Generator& generator) {
  if (classes <= 0) {
    throw Error(fmt::format("[MobileBertForSequenceClassification] classes must be positive, got {}", classes));
  }
  encoder = register_module("encoder", std::make_shared<MobileBertEncoder>(config, generator));
  pooler = register_module("pooler", std::make_shared<nn::Linear>(config.inter_dim, config.inter_dim, true, generator));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(config.inter_dim, classes, true, generator));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(config.dropout, generator));
  nn::init_bert_weights(*pooler, config.init_std, generator);
  nn::init_bert_weights(*classifier, config.init_std, generator);
}

Tensor MobileBertForSequenceClassification::forward(const Tensor& ids, const Tensor& segments,
                                                    const Tensor& attention_mask, nn::Taps* taps) {
  Tensor h = encoder->forward(ids, segments, attention_mask, taps);
  return classifier->forward(dropout->forward(tanh(pooler->forward(select(h, 1, 0)))));
}

BlockParameterCounts block_parameter_counts(const MobileBertConfig& config) {
  check_config(config, "block_parameter_counts");
  const std::int64_t N = config.inter_dim, I = config.intra_dim, norm = 2;  // γ and β (NoNorm or LayerNorm)
  BlockParameterCounts counts;
  // attention: the Q/K bottleneck and its norm (when on), W_q, W_k (I -> I), W_v (N or I -> I), W_o
  const std::int64_t value_in = config.value_from_block_input ? N : I;
  counts.attention = 3 * linear_parameters(I, I) + linear_parameters(value_in, I);
  if (config.value_from_block_input) counts.attention += linear_parameters(N, I) + norm * I;
  // F × (W_1 (I -> ffn), W_2 (ffn -> I), norm)
  counts.ffn = config.stacked_ffns * (linear_parameters(I, config.ffn_hidden) + linear_parameters(config.ffn_hidden, I) +
                                      norm * I);
  // linear in + norm, the attention's residual norm, linear out + norm
  counts.other = linear_parameters(N, I) + norm * I + norm * I + linear_parameters(I, N) + norm * N;
  return counts;
}

std::int64_t encoder_parameter_count(const MobileBertConfig& config) {
  const std::int64_t embeddings =
      (config.vocab_size + config.max_positions + config.type_vocab_size) * config.inter_dim + 2 * config.inter_dim;
  return embeddings + config.layers * block_parameter_counts(config).total();
}

double encoder_forward_flops(const MobileBertConfig& config, std::int64_t tokens) {
  check_config(config, "encoder_forward_flops");
  const double T = static_cast<double>(tokens), N = static_cast<double>(config.inter_dim),
               I = static_cast<double>(config.intra_dim), ffn = static_cast<double>(config.ffn_hidden);
  const double value_in = config.value_from_block_input ? N : I;
  // per token: in (N·I), Q/K bottleneck (N·I), W_q, W_k, W_o (I·I each), W_v (value_in·I), FFNs, out (I·N)
  double per_token = N * I + 3 * I * I + value_in * I + config.stacked_ffns * 2 * I * ffn + I * N;
  if (config.value_from_block_input) per_token += N * I;
  // per sequence: q kᵀ and probs v, T·T·I multiply-adds each
  double per_block = T * per_token + 2 * T * T * I;
  return 2.0 * static_cast<double>(config.layers) * per_block;
}

}  // namespace moegrad::distill
