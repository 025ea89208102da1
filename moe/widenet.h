// WideNet (Xue et al., "Go Wider Instead of Deeper", AAAI 2022, arXiv 2107.11817): one Transformer
// block, attention + MoE FFN, whose weights all N layers share (as ALBERT shares its block), while
// each layer keeps its own two LayerNorms:
//   h_l     = LN1_l(x_l + Attn(x_l))                     Attn and MoE: one set of weights
//   x_{l+1} = LN2_l(h_l + MoE(h_l))                      LN1_l, LN2_l: per layer (2·N·D·2 parameters)
// (pre-LN when the layer config says norm_first). Shared weights make the model small; the MoE makes
// it wide again; the per-layer LayerNorms let the N applications differ so that, the paper argues,
// the router sends the same token to different experts at different depths. The training loss adds
// each application's balance loss (Σ over l).
//
// The FFN may be any FfnModule: with a dense FeedForward this is the shared-only (ALBERT-like)
// baseline the paper compares against. Each application reports its routing into the caller's
// record under its own layer ("layers.<l>.ffn.routing"), so moe::total_aux_loss(record) is the
// paper's Σ over l.
//
// LayerNormSharing::Shared keeps ONE LayerNorm pair for all N applications instead: the ablation of
// the paper's §4 (Table 5), where sharing the LayerNorms too costs accuracy because every layer then
// hands the router the same kind of input.
#pragma once
#include "moe/moe_layer.h"
#include "nn/transformer.h"

namespace moegrad::moe {

// Whether each of the N applications has its own LayerNorm pair (the paper's WideNet) or all share one.
enum class LayerNormSharing { PerLayer, Shared };

class WideNet : public nn::Module {
 public:
  // layer.dim and layer.heads shape the shared attention; ffn is the shared FFN (an MoELayer for
  // WideNet, a FeedForward for the shared-only baseline).
  WideNet(const nn::TransformerLayerConfig& layer, std::int64_t layers, std::shared_ptr<nn::FfnModule> ffn,
          Generator& generator = default_generator(), LayerNormSharing norms = LayerNormSharing::PerLayer);
  // x (B,T,D) -> (B,T,D); context.token_mask (B,T) is the padding mask, 1 = real token. Taps and
  // routing: "layers.<l>.*" as in the Transformer layers (nn/taps.h).
  Tensor forward(const Tensor& x, const nn::TokenContext& context = {}, nn::Taps* record = nullptr);
  std::int64_t num_layers() const { return layers_; }

  nn::TransformerLayerConfig config;
  LayerNormSharing norm_sharing;
  std::shared_ptr<nn::MultiHeadAttention> attention;  // shared
  std::shared_ptr<nn::FfnModule> ffn;                 // shared
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::ModuleList<nn::LayerNorm>> norms1, norms2;  // one per layer (one in all when Shared)

 private:
  std::int64_t layers_ = 0;
};

}  // namespace moegrad::moe
