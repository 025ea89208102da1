#include "moe/finetune.h"

#include <fmt/format.h>

#include <set>

#include "moe/layouts.h"
#include "tensor/errors.h"

namespace moegrad::moe {

std::size_t freeze_moe_parameters(nn::Module& model) {
  std::size_t frozen = 0;
  for (auto& [name, moe] : find_moe_layers(model)) frozen += moe->freeze("*");
  return frozen;
}

std::size_t freeze_non_moe_parameters(nn::Module& model) {
  std::set<std::string> moe_parameters;
  for (auto& [prefix, moe] : find_moe_layers(model)) {
    for (auto& [name, tensor] : moe->named_parameters()) moe_parameters.insert(prefix.empty() ? name : prefix + "." + name);
  }
  std::size_t frozen = 0;
  for (auto& [name, tensor] : model.named_parameters()) {
    if (moe_parameters.count(name) || !tensor.requires_grad()) continue;
    frozen += model.freeze(name);
  }
  return frozen;
}

std::size_t set_expert_dropout(nn::Module& model, double rate) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    throw Error(fmt::format("[set_expert_dropout] rate must be in [0, 1), got {}", rate));
  }
  auto layers = find_moe_layers(model);
  for (auto& [name, moe] : layers) moe->config.expert_dropout = rate;
  return layers.size();
}

}  // namespace moegrad::moe
