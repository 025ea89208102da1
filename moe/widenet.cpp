#include "moe/widenet.h"

#include <fmt/format.h>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

WideNet::WideNet(const nn::TransformerLayerConfig& layer, std::int64_t layers, std::shared_ptr<nn::FfnModule> shared_ffn,
                 Generator& generator, LayerNormSharing norms)
    : config(layer), norm_sharing(norms), layers_(layers) {
  if (layers < 1 || !shared_ffn) {
    throw Error(fmt::format("[WideNet] needs at least one layer and an FFN, got {} layers and {}", layers,
                            shared_ffn ? "an FFN" : "no FFN"));
  }
  attention = register_module("attention",
                              std::make_shared<nn::MultiHeadAttention>(layer.dim, layer.heads, layer.dropout, generator));
  ffn = register_module("ffn", std::move(shared_ffn));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(layer.dropout, generator));
  norms1 = register_module("norms1", std::make_shared<nn::ModuleList<nn::LayerNorm>>());
  norms2 = register_module("norms2", std::make_shared<nn::ModuleList<nn::LayerNorm>>());
  std::int64_t pairs = norms == LayerNormSharing::Shared ? 1 : layers;
  for (std::int64_t l = 0; l < pairs; ++l) {
    norms1->push_back(std::make_shared<nn::LayerNorm>(layer.dim, layer.layer_norm_eps));
    norms2->push_back(std::make_shared<nn::LayerNorm>(layer.dim, layer.layer_norm_eps));
  }
}

Tensor WideNet::forward(const Tensor& x, const nn::TokenContext& context, nn::Taps* record) {
  nn::TapScope all_layers(record, "layers");
  Tensor h = x;
  for (std::int64_t l = 0; l < num_layers(); ++l) {
    nn::TapScope layer(record, std::to_string(l));
    auto i = norm_sharing == LayerNormSharing::Shared ? std::size_t{0} : static_cast<std::size_t>(l);
    h = nn::transformer_layer_forward(config, *attention, *ffn, (*norms1)[i], (*norms2)[i], *dropout, h, context,
                                      record);
  }
  return h;
}

}  // namespace moegrad::moe
