// Where MoE layers go in a Transformer, and the model-wide bookkeeping that follows from having
// several of them: summing their auxiliary losses, telling them which tokens are padding, and
// counting total against activated parameters.
//
// GShard (Lepikhin et al. 2020, §2) and GLaM (Du et al. 2021, §3) replace the FFN of every other
// Transformer layer by an MoE layer, in the encoder and the decoder; Switch does the same in T5.
//
//   nn::GptModel model(config);                                   // a decoder (or BertEncoder)
//   auto moes = moe::use_moe_every_other_layer(*model.layers, moe_config,
//       [&](std::int64_t) { return std::make_shared<moe::GShardRouter>(router_config, generator); });
//   Tensor loss = cross_entropy(model.forward(ids), targets) + moe::total_aux_loss(model);
#pragma once
#include <functional>

#include "moe/moe_layer.h"
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

// Σ over the MoE layers of their last forward's aux_loss (each computed over its own layer's tokens,
// as the papers do: the balance loss is per layer, then summed). A 0-d zero if there are none or
// none has run.
Tensor total_aux_loss(nn::Module& model);

// Sets a token context (ids for hash routing, padding mask) on every MoE layer of `model` for as long
// as the scope lives, so a model whose layers call their FFN as a plain function still routes only
// real tokens. ids and mask have the shape of the model's token grid, e.g. (B,T).
class TokenContextScope {
 public:
  TokenContextScope(nn::Module& model, const TokenContext& context);
  ~TokenContextScope();
  TokenContextScope(const TokenContextScope&) = delete;
  TokenContextScope& operator=(const TokenContextScope&) = delete;

 private:
  std::vector<std::pair<std::string, MoELayer*>> layers_;
};

// Total parameters, and the parameters one token passes through: everything outside the MoE layers
// plus, per MoE layer, its router, shared experts and `experts_per_token` of its E routed experts
// (1 for Switch, 2 for GShard/GLaM top-2). GLaM's Table 1 counts the same way.
struct ParameterCounts {
  std::int64_t total = 0;
  std::int64_t activated = 0;
};
ParameterCounts count_parameters(nn::Module& model, double experts_per_token);

}  // namespace moegrad::moe
