// Where MoE layers go in a Transformer, and the model-wide bookkeeping that follows from having
// several of them: summing the auxiliary losses of one forward, and counting total against
// activated parameters. The padding mask and token ids reach the MoE layers through the model's
// forward (nn::TokenContext), and each layer reports its routing into the caller's record.
//
// GShard (Lepikhin et al. 2020, §2) and GLaM (Du et al. 2021, §3) replace the FFN of every other
// Transformer layer by an MoE layer, in the encoder and the decoder; Switch does the same in T5.
//
//   nn::GptModel model(config);                                   // a decoder (or BertEncoder)
//   auto moes = moe::use_moe_every_other_layer(*model.layers, moe_config,
//       [&](std::int64_t) { return std::make_shared<moe::GShardRouter>(router_config, generator); });
//   nn::Taps record = nn::Taps::reports_only();                   // this forward's record
//   Tensor logits = model.forward(ids, &record);
//   Tensor loss = cross_entropy(reshape(logits, {-1, V}), targets) + moe::total_aux_loss(record);
// The aux loss comes from the record the forward filled, so the order in which C++ evaluates the
// two terms cannot matter, and a layer applied twice (WideNet) counts twice.
#pragma once
#include <functional>

#include "moe/moe_layer.h"
#include "nn/taps.h"
#include "nn/transformer.h"

namespace moegrad::moe {

using RouterFactory = std::function<std::shared_ptr<Router>(std::int64_t layer)>;

// Gives layers first_moe_layer, first_moe_layer + every, ... an MoE FFN (a fresh router from
// make_router(layer index) each), keeping the dense FFN elsewhere. every = 2, first = 1 is the
// GShard/GLaM layout (dense, MoE, dense, MoE, ...); every = 1 puts MoE in every layer. Returns the
// new layers in order.
std::vector<std::shared_ptr<MoELayer>> use_moe_every_other_layer(nn::ModuleList<nn::TransformerEncoderLayer>& layers,
                                                                 const MoELayerConfig& config,
                                                                 const RouterFactory& make_router,
                                                                 Generator& generator = default_generator(),
                                                                 std::int64_t every = 2, std::int64_t first_moe_layer = 1);

// Every MoE layer inside `model`, with its dotted name, in registration order.
std::vector<std::pair<std::string, MoELayer*>> find_moe_layers(nn::Module& model);

// Every MoE layer's routing in one forward's record, with its dotted name ("layers.1.ffn.routing"),
// in name order.
std::vector<std::pair<std::string, const RoutingInfo*>> routings(const nn::Taps& record);

// Σ over the routings in the record of their aux_loss (each over its own layer's tokens, as the
// papers do: the balance loss is per layer, then summed). A 0-d zero if there are none.
Tensor total_aux_loss(const nn::Taps& record);

// Total parameters, and the parameters one token passes through: everything outside the MoE layers
// plus, per MoE layer, its router, shared experts and `experts_per_token` of its E routed experts
// (1 for Switch, 2 for GShard/GLaM top-2). GLaM's Table 1 counts the same way.
struct ParameterCounts {
  std::int64_t total = 0;
  std::int64_t activated = 0;
};
ParameterCounts count_parameters(nn::Module& model, double experts_per_token);

}  // namespace moegrad::moe
