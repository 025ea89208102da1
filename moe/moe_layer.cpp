// The MoE layer: y = Σ_{slots of x} gate · E_expert(x), each expert an FFN D -> H -> D, with at most
// C tokens per expert. One forward, step by step:
//   1. route        the router decides (T,k) experts and gates
//   2. capacity     slots are placed in priority order: every first choice in arrival order, then
//                   every second choice, ... (what Switch's cumsum code and GShard's Algorithm 1 do;
//                   the Switch paper's text speaks of sorting by probability, its code does not).
//                   A slot whose expert already holds C tokens is dropped. C = ceil(tokens/E × factor)
//                   (Switch §2.2), factor 0 = dropless (MegaBlocks): no slot is ever dropped. With
//                   group_size set, capacity and counts are per group of tokens (GShard §2.2).
//   3. dispatch     the kept slots are grouped by expert (a counting sort: the order a stable argsort
//                   of their expert ids gives) and their token rows gathered with index_select
//   4. experts      one matmul pair per expert on its own rows only: never a dense T×E×C one-hot
//   5. combine      each row is scaled by its gate and index_add-ed back to its token. A dropped
//                   slot adds nothing: a token no expert took has output exactly 0, so the residual
//                   connection around the layer carries it (its gate does not scale anything).
//   6. shared       DeepSeekMoE's always-on experts (Dai et al. 2024) are added for every token
//   7. losses       router loss, Switch balance, importance, ST-MoE z-loss, entropy: RoutingInfo
// Padding tokens (token mask 0) are not routed and count in no loss; their output is 0.
#include "moe/moe_layer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/node.h"
#include "moe/aux_losses.h"
#include "nn/init.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

MoELayer::MoELayer(const MoELayerConfig& config, std::shared_ptr<Router> router_module, Generator& generator)
    : config(config), generator_(&generator) {
  if (!router_module) throw Error("[MoELayer] needs a router");
  router = register_module("router", std::move(router_module));
  std::int64_t E = router->num_experts(), D = config.dim, H = config.expert_hidden;
  double std1 = std::sqrt(config.init_scale / static_cast<double>(D));
  double std2 = std::sqrt(config.init_scale / static_cast<double>(H));
  w1 = register_parameter("w1", nn::truncated_normal({E, D, H}, std1, generator));
  b1 = register_parameter("b1", zeros({E, H}));
  w2 = register_parameter("w2", nn::truncated_normal({E, H, D}, std2, generator));
  b2 = register_parameter("b2", zeros({E, D}));
  if (config.shared_experts > 0) {
    std::int64_t S = config.shared_experts;
    shared_w1 = register_parameter("shared_w1", nn::truncated_normal({S, D, H}, std1, generator));
    shared_b1 = register_parameter("shared_b1", zeros({S, H}));
    shared_w2 = register_parameter("shared_w2", nn::truncated_normal({S, H, D}, std2, generator));
    shared_b2 = register_parameter("shared_b2", zeros({S, D}));
  }
}

Tensor MoELayer::run_expert(const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
                            std::int64_t e, const Tensor& rows) {
  // (m,D) @ (D,H) + (H) -> gelu -> (m,H) @ (H,D) + (D) -> (m,D)
  Tensor hidden = gelu(matmul(rows, select(weight1, 0, e)) + select(bias1, 0, e), config.activation);
  if (config.expert_dropout > 0.0) hidden = dropout(hidden, config.expert_dropout, is_training(), *generator_);
  return matmul(hidden, select(weight2, 0, e)) + select(bias2, 0, e);
}

namespace {

// A (...) context tensor flattened to (T), after checking it matches x's leading shape.
Tensor flatten_context(const Tensor& t, const Tensor& x, const char* what) {
  if (!t.defined()) return t;
  Shape leading(x.shape().begin(), x.shape().end() - 1);
  if (t.shape() != leading) {
    throw ShapeError(fmt::format("[MoELayer] {} must have shape {} for x {}, got {}", what, shape_str(leading),
                                 shape_str(x.shape()), shape_str(t.shape())));
  }
  return reshape(t, {numel_of(leading)});
}

}  // namespace

Tensor MoELayer::forward(const Tensor& x, const TokenContext& context) {
  if (!x.defined() || x.dim() < 1 || x.size(-1) != config.dim || !is_floating(x.dtype())) {
    throw ShapeError(fmt::format("[MoELayer] expects floating tokens (...,{}), got {}", config.dim,
                                 x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor")));
  }
  std::int64_t D = config.dim, E = router->num_experts(), T = x.numel() / D;
  Tensor tokens = reshape(x, {T, D});
  TokenContext flat{flatten_context(context.token_ids, x, "token ids"),
                    flatten_context(context.token_mask, x, "token mask")};

  // 1. route: (T,k) experts and gates
  RoutingDecision decision = router->route(tokens, *generator_, flat);
  std::int64_t k = decision.expert_index.size(1);
  std::vector<std::int64_t> expert = decision.expert_index.to_vector<std::int64_t>();
  std::vector<std::int64_t> dispatch = decision.dispatch_mask.to_vector<std::int64_t>();
  std::vector<std::int64_t> counted =
      decision.capacity_mask.defined() ? decision.capacity_mask.to_vector<std::int64_t>() : dispatch;
  std::vector<double> real =
      flat.token_mask.defined() ? flat.token_mask.to_vector<double>() : std::vector<double>(T, 1.0);
  for (std::int64_t e : expert) {
    if (e < 0 || e >= E) {
      throw IndexError(fmt::format("[MoELayer] the router chose expert {}, outside [0, {})", e, E));
    }
  }

  // 2. capacity, per group of `group_size` consecutive tokens (GShard; 0 = the batch is one group):
  //    C = ceil(real tokens of the group / E × capacity factor), or unlimited when the factor is 0
  std::int64_t group_size = std::max<std::int64_t>(1, config.group_size > 0 ? std::min(config.group_size, T) : T);
  std::int64_t groups = (T + group_size - 1) / group_size;
  std::vector<std::int64_t> real_in_group(groups, 0), capacity(groups, T * k);
  std::int64_t real_tokens = 0;
  for (std::int64_t t = 0; t < T; ++t) {
    real_in_group[t / group_size] += real[t] != 0.0;
    real_tokens += real[t] != 0.0;
  }
  double factor = is_training() ? config.capacity_factor_train : config.capacity_factor_eval;
  for (std::int64_t g = 0; g < groups && factor > 0.0; ++g) {
    capacity[g] = static_cast<std::int64_t>(
        std::ceil(static_cast<double>(real_in_group[g]) / static_cast<double>(E) * factor));
  }
  //    slots in priority order (choice j, then token t); position = requests expert e of the
  //    token's group already had, so a slot is kept while position < C
  std::vector<std::int64_t> requests(groups * E, 0), dropped(T * k, 0), token_taken(T, 0);
  std::vector<std::vector<std::int64_t>> expert_slots(E);  // slot = t·k + j, per expert, in order
  for (std::int64_t j = 0; j < k; ++j) {
    for (std::int64_t t = 0; t < T; ++t) {
      std::int64_t slot = t * k + j, e = expert[slot], group = t / group_size;
      if (real[t] == 0.0 || (!counted[slot] && !dispatch[slot])) continue;
      std::int64_t position = requests[group * E + e]++;
      if (!dispatch[slot]) continue;
      if (position >= capacity[group]) {
        dropped[slot] = 1;
        continue;
      }
      expert_slots[e].push_back(slot);
      token_taken[t] = 1;
    }
  }

  // 3. dispatch: kept slots grouped by expert; gather their token rows (M,D) and gates (M)
  std::vector<std::int64_t> kept_slot, kept_token, tokens_per_expert(E);
  std::vector<std::vector<std::int64_t>> expert_tokens(E);
  for (std::int64_t e = 0; e < E; ++e) {
    tokens_per_expert[e] = static_cast<std::int64_t>(expert_slots[e].size());
    for (std::int64_t slot : expert_slots[e]) {
      kept_slot.push_back(slot);
      kept_token.push_back(slot / k);
      expert_tokens[e].push_back(slot / k);
    }
  }
  Tensor output = zeros({T, D}, x.dtype(), x.device());
  if (!kept_slot.empty()) {
    Tensor token_rows = from_vector(kept_token).to(x.device());
    Tensor rows = index_select(tokens, 0, token_rows);  // (M,D)

    // 4. experts: expert e runs on its own block of rows only
    std::vector<Tensor> expert_outputs;
    std::int64_t start = 0;
    for (std::int64_t e = 0; e < E; ++e) {
      if (tokens_per_expert[e] == 0) continue;
      expert_outputs.push_back(run_expert(w1, b1, w2, b2, e, narrow(rows, 0, start, tokens_per_expert[e])));
      start += tokens_per_expert[e];
    }

    // 5. combine: y_t = Σ over t's kept slots of gate · expert output
    Tensor gates = index_select(reshape(decision.gates, {T * k}), 0, from_vector(kept_slot).to(x.device()));
    Tensor weighted = concat(expert_outputs, 0) * unsqueeze(gates.to(x.dtype()), 1);  // (M,D)
    output = index_add(output, 0, token_rows, weighted);
  }

  // 6. shared experts: every token, no gate
  for (std::int64_t s = 0; s < config.shared_experts; ++s) {
    output = output + run_expert(shared_w1, shared_b1, shared_w2, shared_b2, s, tokens);
  }

  // 7. losses and the record, over real tokens
  DType router_dtype = decision.probabilities.dtype();
  Tensor mask = from_vector(real).to(router_dtype).to(x.device());
  Tensor dense_gates = scatter_add(zeros({T, E}, router_dtype, x.device()), 1, decision.expert_index,
                                   decision.gates * decision.dispatch_mask.to(router_dtype));  // (T,E)
  RoutingInfo info;
  info.expert_index = decision.expert_index;
  info.gates = decision.gates;
  std::vector<std::int64_t> sent(T * k);
  for (std::int64_t slot = 0; slot < T * k; ++slot) sent[slot] = dispatch[slot] && real[slot / k] != 0.0;
  info.dispatched = from_vector(sent, {T, k});
  info.dropped = from_vector(dropped, {T, k});
  std::vector<std::int64_t> no_expert(T);  // real tokens that no expert took
  for (std::int64_t t = 0; t < T; ++t) no_expert[t] = real[t] != 0.0 && !token_taken[t];
  info.token_dropped = from_vector(no_expert, {T});
  info.capacity = factor > 0.0 ? *std::max_element(capacity.begin(), capacity.end()) : 0;
  info.tokens_per_expert = tokens_per_expert;
  info.expert_tokens = expert_tokens;
  info.probabilities = decision.probabilities;
  Tensor zero = zeros({}, router_dtype, x.device());
  info.router_loss = decision.aux_loss.defined() ? decision.aux_loss : zero;
  info.balance_loss = switch_balance_loss(decision.probabilities, mask, 1.0);
  info.importance_loss = importance_loss(dense_gates, mask, 1.0);
  info.z_loss = decision.logits.defined() ? router_z_loss(decision.logits, mask) : zero;
  info.aux_loss = info.router_loss + info.z_loss * config.z_loss_weight;
  {
    NoGradGuard no_grad;
    Tensor p = decision.probabilities.detach();
    Tensor entropy = neg(sum(p * log(clamp(p, 1e-30, std::nullopt)), {1}));  // (T)
    double count = std::max<double>(static_cast<double>(real_tokens), 1.0);
    info.entropy = sum(entropy * mask).item() / count;
    if (decision.logits.defined()) info.mean_log_z = sum(logsumexp(decision.logits.detach(), {1}) * mask).item() / count;
  }
  if (config.log_load && is_training()) {
    std::int64_t dropped_tokens = std::accumulate(no_expert.begin(), no_expert.end(), std::int64_t{0});
    load_history.push_back({tokens_per_expert, real_tokens, dropped_tokens});
  }
  last_routing_ = std::move(info);
  return reshape(output, x.shape());
}

void MoELayer::upcycle_from(const nn::FeedForward& ffn) {
  if (ffn.w1->weight.shape() != Shape{config.expert_hidden, config.dim}) {
    throw ShapeError(fmt::format("[MoELayer] upcycle_from needs a FeedForward of width {} -> {}, got w1 {}", config.dim,
                                 config.expert_hidden, shape_str(ffn.w1->weight.shape())));
  }
  NoGradGuard no_grad;
  // Linear stores W (out,in); an expert multiplies rows by W (in,out): copy the transpose into
  // every expert (copy_ broadcasts over the expert axis)
  for (auto [weight1, bias1, weight2, bias2] : {std::tuple{w1, b1, w2, b2},
                                               std::tuple{shared_w1, shared_b1, shared_w2, shared_b2}}) {
    if (!weight1.defined()) continue;
    weight1.copy_(transpose(ffn.w1->weight, 0, 1));
    bias1.copy_(ffn.w1->bias);
    weight2.copy_(transpose(ffn.w2->weight, 0, 1));
    bias2.copy_(ffn.w2->bias);
  }
  config.activation = ffn.activation;
}

}  // namespace moegrad::moe
