// FLOP counts of moe/flops.h.
#include "moe/flops.h"

#include <fmt/format.h>

#include <map>

#include "moe/layouts.h"
#include "tensor/errors.h"

namespace moegrad::moe {

ForwardFlops moe_layer_forward_flops(const MoELayerConfig& config, std::int64_t experts, std::int64_t tokens,
                                     const RoutingInfo& routing) {
  const auto D = static_cast<double>(config.dim), H = static_cast<double>(config.expert_hidden);
  const auto T = static_cast<double>(tokens), E = static_cast<double>(experts);
  double processed = 0.0, capacity_slots = 0.0;
  for (std::int64_t count : routing.tokens_per_expert.to_vector<std::int64_t>()) processed += static_cast<double>(count);
  bool limited = routing.capacity.defined() && routing.capacity.numel() > 0;
  for (std::int64_t c : limited ? routing.capacity.to_vector<std::int64_t>() : std::vector<std::int64_t>{}) {
    if (c <= 0) limited = false;  // dropless groups report C = 0
    capacity_slots += static_cast<double>(c);
  }
  const double per_slot = 4.0 * D * H;  // x W1 (D×H) and h W2 (H×D), 2 FLOPs per multiply-add
  const double shared = T * static_cast<double>(config.shared_experts) * per_slot;
  ForwardFlops flops;
  flops.router = 2.0 * T * D * E;
  flops.experts = (limited ? E * capacity_slots : processed) * per_slot + shared;
  flops.experts_unpadded = processed * per_slot + shared;
  return flops;
}

ForwardFlops gpt_forward_flops(nn::GptModel& model, std::int64_t batch, std::int64_t tokens, const nn::Taps& record) {
  const nn::GptConfig& c = model.config;
  const auto N = static_cast<double>(batch * tokens), T = static_cast<double>(tokens);
  const auto D = static_cast<double>(c.dim);
  std::map<std::string, const RoutingInfo*> routing_of;
  for (const auto& [name, routing] : routings(record)) routing_of[name] = routing;

  ForwardFlops flops;
  // the LM head: logits = h Eᵀ, (N,D)×(D,V)
  flops.dense = 2.0 * N * D * static_cast<double>(c.vocab_size);
  for (std::size_t l = 0; l < model.layers->size(); ++l) {
    // attention: the q, k, v and output projections (4 D×D), then q kᵀ and probs v over all T×T
    // pairs (the causal mask is added to the full score matrix, so the upper half is computed too)
    flops.dense += 2.0 * N * 4.0 * D * D + 2.0 * 2.0 * N * T * D;
    auto& layer = (*model.layers)[l];
    auto* moe = dynamic_cast<MoELayer*>(layer.ffn.get());
    if (moe == nullptr) {
      flops.dense += 4.0 * N * D * static_cast<double>(c.ffn_hidden);  // dense FFN: D×F and F×D
      continue;
    }
    std::string name = fmt::format("layers.{}.ffn.routing", l);
    auto found = routing_of.find(name);
    if (found == routing_of.end()) {
      throw Error(fmt::format("[gpt_forward_flops] layer {} is an MoE layer but the record has no '{}' (pass the "
                              "record its forward filled)", l, name));
    }
    ForwardFlops layer_flops =
        moe_layer_forward_flops(moe->config, moe->num_experts(), batch * tokens, *found->second);
    flops.router += layer_flops.router;
    flops.experts += layer_flops.experts;
    flops.experts_unpadded += layer_flops.experts_unpadded;
  }
  return flops;
}

}  // namespace moegrad::moe
