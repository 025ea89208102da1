#include "moe/layouts.h"

#include <fmt/format.h>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

std::vector<std::shared_ptr<MoELayer>> use_moe_every_other_layer(nn::ModuleList<nn::TransformerEncoderLayer>& layers,
                                                                 const MoELayerConfig& config,
                                                                 const RouterFactory& make_router,
                                                                 Generator& generator, std::int64_t every,
                                                                 std::int64_t first_moe_layer) {
  if (every < 1 || first_moe_layer < 0) {
    throw Error(fmt::format("[use_moe_every_other_layer] needs every >= 1 and first_moe_layer >= 0, got {} and {}",
                            every, first_moe_layer));
  }
  std::vector<std::shared_ptr<MoELayer>> created;
  for (auto layer = static_cast<std::size_t>(first_moe_layer); layer < layers.size();
       layer += static_cast<std::size_t>(every)) {
    nn::TransformerEncoderLayer& block = layers[layer];
    if (config.dim != block.config.dim) {
      throw ShapeError(fmt::format("[use_moe_every_other_layer] MoE width {} differs from layer {}'s width {}",
                                   config.dim, layer, block.config.dim));
    }
    auto moe = std::make_shared<MoELayer>(config, make_router(static_cast<std::int64_t>(layer)), generator);
    block.set_ffn(moe);
    created.push_back(std::move(moe));
  }
  return created;
}

std::vector<std::pair<std::string, MoELayer*>> find_moe_layers(nn::Module& model) {
  std::vector<std::pair<std::string, MoELayer*>> found;
  for (auto& [name, module] : model.named_modules()) {
    if (auto* moe = dynamic_cast<MoELayer*>(module)) found.push_back({name, moe});
  }
  return found;
}

std::vector<std::pair<std::string, const RoutingInfo*>> routings(const nn::Taps& record) {
  return record.reports<RoutingInfo>();
}

Tensor total_aux_loss(const nn::Taps& record) {
  Tensor total;
  for (const auto& [name, routing] : routings(record)) {
    total = total.defined() ? total + routing->aux_loss : routing->aux_loss;
  }
  return total.defined() ? total : zeros({});
}

ParameterCounts count_parameters(nn::Module& model, double experts_per_token) {
  if (!(experts_per_token > 0.0)) {
    throw Error(fmt::format("[count_parameters] experts_per_token must be > 0 (1 for top-1, 2 for top-2), got {}",
                            experts_per_token));
  }
  ParameterCounts counts;
  counts.total = model.parameter_count();
  double activated = static_cast<double>(counts.total);
  for (auto& [name, moe] : find_moe_layers(model)) {
    auto E = static_cast<double>(moe->num_experts());
    auto routed = static_cast<double>(moe->w1.numel() + moe->b1.numel() + moe->w2.numel() + moe->b2.numel());
    activated -= routed * (1.0 - std::min(experts_per_token, E) / E);
  }
  counts.activated = static_cast<std::int64_t>(std::llround(activated));
  return counts;
}

}  // namespace moegrad::moe
