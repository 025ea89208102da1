#include "nn/transformer.h"

#include "nn/config_checks.h"

namespace moegrad::nn {

namespace {
void check_config(const TransformerLayerConfig& config, const char* owner) {
  config_checks::heads_divide(owner, "config.dim", config.dim, "config.heads", config.heads);
  config_checks::positive(owner, "config.ffn_hidden", config.ffn_hidden);
  config_checks::probability(owner, "config.dropout", config.dropout);
  config_checks::positive_finite(owner, "config.layer_norm_eps", config.layer_norm_eps);
}
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerConfig& config, Generator& generator)
    : config(config) {
  check_config(config, "TransformerEncoderLayer");
  attention = register_module("attention",
                              std::make_shared<MultiHeadAttention>(config.dim, config.heads, config.dropout, generator));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(config.dim, config.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(config.dim, config.layer_norm_eps));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.dropout, generator));
  set_ffn(std::make_shared<FeedForward>(config.dim, config.ffn_hidden, config.dropout, generator, config.activation));
}

void TransformerEncoderLayer::set_ffn(std::shared_ptr<FfnModule> replacement) {
  replacement->train(is_training());
  replace_module("ffn", replacement);
  ffn = std::move(replacement);
}

Tensor TransformerEncoderLayer::forward(const Tensor& x, const TokenContext& context, Taps* record) {
  return transformer_layer_forward(config, *attention, *ffn, *norm1, *norm2, *dropout, x, context, record);
}

Tensor transformer_layer_forward(const TransformerLayerConfig& config, MultiHeadAttention& attention, FfnModule& ffn,
                                 LayerNorm& norm1, LayerNorm& norm2, Dropout& dropout, const Tensor& x,
                                 const TokenContext& context, Taps* taps) {
  const Tensor& padding_mask = context.token_mask;
  // attention sublayer
  Tensor attention_in = config.norm_first ? norm1.forward(x) : x;
  Tensor attention_branch = dropout.forward(attention.forward(attention_in, padding_mask, config.causal, taps));
  record_tap(taps, "attention_branch", attention_branch);
  Tensor hidden = config.norm_first ? x + attention_branch : norm1.forward(x + attention_branch);
  record_tap(taps, "hidden", hidden);

  // feed-forward (or MoE) sublayer
  Tensor ffn_in = config.norm_first ? norm2.forward(hidden) : hidden;
  Tensor ffn_branch;
  {
    TapScope slot(taps, "ffn");
    ffn_branch = dropout.forward(ffn.forward(ffn_in, context, taps));
  }
  record_tap(taps, "ffn_branch", ffn_branch);
  Tensor out = config.norm_first ? hidden + ffn_branch : norm2.forward(hidden + ffn_branch);
  record_tap(taps, "trunk", out);
  return out;
}

}  // namespace moegrad::nn
