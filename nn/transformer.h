// The Transformer encoder layer, post-LN as in BERT (Devlin et al. 2019) or pre-LN
// (Xiong et al. 2020), and causal for GPT-style decoders:
//   post-LN:  h = LN1(x + attn(x));      out = LN2(h + ffn(h))
//   pre-LN:   h = x + attn(LN1(x));      out = h + ffn(LN2(h))
// The FFN is any FfnModule: a FeedForward by default, an MoE layer in moe/ (set_ffn swaps it). The
// forward's token context (padding mask, token ids) and the caller's record go down to it.
// Taps (nn/taps.h): attention.*, attention_branch, hidden, ffn_branch, trunk; the FFN slot records
// under "ffn" (an MoE layer's routing: "layers.i.ffn").
#pragma once
#include "nn/attention.h"
#include "nn/layers.h"

namespace moegrad::nn {

struct TransformerLayerConfig {
  std::int64_t dim = 128;
  std::int64_t heads = 4;
  std::int64_t ffn_hidden = 512;
  double dropout = 0.1;
  double layer_norm_eps = 1e-5;
  bool norm_first = false;  // pre-LN when true
  bool causal = false;
  Activation activation = Activation::GeluErf;  // the dense FFN's nonlinearity (BERT: erf GELU)
};

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerLayerConfig& config, Generator& generator = default_generator());
  // x (B,T,D); context.token_mask (B,T) is the padding mask (1 = real token), token_ids (B,T).
  Tensor forward(const Tensor& x, const TokenContext& context = {}, Taps* record = nullptr);
  Tensor forward(const Tensor& x, const Tensor& padding_mask, Taps* record = nullptr) {
    return forward(x, TokenContext{Tensor(), padding_mask}, record);
  }
  // Replaces the FFN sublayer (e.g. by an MoE layer); the parameter names become "ffn.<its names>".
  void set_ffn(std::shared_ptr<FfnModule> ffn);

  TransformerLayerConfig config;
  std::shared_ptr<MultiHeadAttention> attention;
  std::shared_ptr<FfnModule> ffn;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout;
};

// The layer's arithmetic given its parts. TransformerEncoderLayer calls it with its own parts;
// WideNet (moe/widenet.h) calls it with one shared attention and FFN and each layer's own LayerNorms.
Tensor transformer_layer_forward(const TransformerLayerConfig& config, MultiHeadAttention& attention, FfnModule& ffn,
                                 LayerNorm& norm1, LayerNorm& norm2, Dropout& dropout, const Tensor& x,
                                 const TokenContext& context, Taps* record);

}  // namespace moegrad::nn
