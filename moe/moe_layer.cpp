// The MoE layer: y = Σ_{slots of x} gate · E_expert(x), each expert an FFN D -> H -> D, with at most
// C tokens per expert. One forward, step by step:
//   1. route        the router decides (T,k) experts and gates (its paper's file: moe/*_router.cpp)
//   2. plan         moe/dispatch_plan.h: places in priority order (every first choice in arrival
//                   order, then every second choice: Switch's cumsum code and GShard's Algorithm 1;
//                   the Switch paper's text speaks of sorting by probability, its code does not),
//                   a slot whose expert already holds C tokens is dropped, and the kept slots are
//                   sorted by expert. C = round(tokens/E × factor) (Switch §2.2), factor 0 =
//                   dropless (MegaBlocks). With group_size set, per group of tokens (GShard §2.2).
//   3. permute      the token rows in the plan's order (index_select)
//   4. experts      one grouped matmul pair: expert e on its own rows only, never a dense T×E×C one-hot
//   5. combine      each row is scaled by its gate and index_add-ed back to its token. A dropped slot
//                   adds nothing: a token no expert took has output exactly 0, so the residual
//                   connection around the layer carries it, and its gradient flows only there.
//   6. shared       DeepSeekMoE's always-on experts (Dai et al. 2024) are added for every token
//   7. losses       router loss, Switch balance, importance, ST-MoE z-loss, entropy: RoutingInfo
// Padding tokens (token mask 0) are not routed and count in no loss; their output is 0.
#include "moe/moe_layer.h"

#include <fmt/format.h>

#include <cmath>

#include "moe/aux_losses.h"
#include "nn/init.h"
#include "nn/taps.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/graph.h"

namespace moegrad::moe {

void check_moe_config(const MoELayerConfig& c) {
  auto require = [](bool ok, const char* field, const std::string& expected, double value) {
    if (!ok) throw Error(fmt::format("[MoELayerConfig] {} must be {}, got {}", field, expected, value));
  };
  auto finite_at_least_zero = [](double v) { return std::isfinite(v) && v >= 0.0; };
  require(c.dim > 0, "dim", "> 0", static_cast<double>(c.dim));
  require(c.expert_hidden > 0, "expert_hidden", "> 0", static_cast<double>(c.expert_hidden));
  require(finite_at_least_zero(c.capacity_factor_train) && c.capacity_factor_train <= 1e6, "capacity_factor_train",
          "finite and in [0, 1e6] (0 = dropless)", c.capacity_factor_train);
  require(finite_at_least_zero(c.capacity_factor_eval) && c.capacity_factor_eval <= 1e6, "capacity_factor_eval",
          "finite and in [0, 1e6] (0 = dropless)", c.capacity_factor_eval);
  require(c.capacity >= 0, "capacity", ">= 0 (0 = use the factors)", static_cast<double>(c.capacity));
  require(c.group_size >= 0, "group_size", ">= 0 (0 = the batch is one group)", static_cast<double>(c.group_size));
  require(c.shared_experts >= 0, "shared_experts", ">= 0", static_cast<double>(c.shared_experts));
  require(finite_at_least_zero(c.z_loss_weight), "z_loss_weight", "finite and >= 0", c.z_loss_weight);
  require(c.expert_dropout >= 0.0 && c.expert_dropout < 1.0, "expert_dropout", "in [0, 1)", c.expert_dropout);
  require(std::isfinite(c.init_scale) && c.init_scale > 0.0, "init_scale", "finite and > 0", c.init_scale);
}

MoELayer::MoELayer(const MoELayerConfig& config, std::shared_ptr<Router> router_module, Generator& generator)
    : config(config), generator_(&generator) {
  check_moe_config(config);
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

CapacityRule MoELayer::capacity_rule() const {
  return {is_training() ? config.capacity_factor_train : config.capacity_factor_eval, config.capacity,
          config.capacity_rounding, config.group_size};
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

// The expert dropout keep mask handed in as (T,k,H), checked, in the plan's row order (T·k,H).
Tensor dropout_rows(const Tensor& keep, const DispatchPlan& plan, std::int64_t T, std::int64_t k, std::int64_t H) {
  if (keep.shape() != Shape{T, k, H}) {
    throw ShapeError(fmt::format("[MoELayer] the expert dropout mask must be (T,k,H) = ({},{},{}), got {}", T, k, H,
                                 shape_str(keep.shape())));
  }
  return index_select(reshape(keep, {T * k, H}), 0, plan.row_slot);
}

}  // namespace

MoEOutput MoELayer::apply(const Tensor& x, const TokenContext& context, const RandomDraws& draws) {
  if (!x.defined() || x.dim() < 1 || x.size(-1) != config.dim || !is_floating(x.dtype())) {
    throw ShapeError(fmt::format("[MoELayer] expects floating tokens (...,{}), got {}", config.dim,
                                 x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor")));
  }
  std::int64_t D = config.dim, E = router->num_experts(), H = config.expert_hidden, T = x.numel() / D;
  Tensor tokens = reshape(x, {T, D});
  TokenContext flat{flatten_context(context.token_ids, x, "token ids"),
                    flatten_context(context.token_mask, x, "token mask")};
  Tensor real = flat.token_mask.defined() ? ne(flat.token_mask.to(kInt64), zeros({}, kInt64, x.device()))
                                          : ones({T}, kInt64, x.device());

  // 1. route: (T,k) experts and gates
  RoutingDecision decision = router->route(tokens, *generator_, flat, draws);
  std::int64_t k = decision.expert_index.size(1);
  check_index_range("MoELayer", decision.expert_index, E, "the router's expert choices");

  // 2. plan: places, capacity, drops, and the rows sorted by expert
  Tensor counted = decision.capacity_mask.defined() ? decision.capacity_mask : decision.dispatch_mask;
  DispatchPlan plan = make_dispatch_plan(decision.expert_index, decision.dispatch_mask, counted, real, E,
                                         capacity_rule());

  // 3. permute: row r of the buffer is token row_token[r]  (T·k, D)
  Tensor rows = index_select(tokens, 0, plan.row_token);

  // 4. experts: rows [offsets[e], offsets[e+1]) through expert e; the rest come out 0
  Tensor hidden = gelu(grouped_matmul(rows, w1, plan.group_offsets, b1), config.activation);
  if (draws.expert_dropout.defined() && is_training()) {
    hidden = hidden * dropout_rows(draws.expert_dropout.to(hidden.dtype()), plan, T, k, H) *
             (1.0 / (1.0 - config.expert_dropout));
  } else if (config.expert_dropout > 0.0) {
    hidden = dropout(hidden, config.expert_dropout, is_training(), *generator_);
  }
  Tensor expert_out = grouped_matmul(hidden, w2, plan.group_offsets, b2);  // (T·k, D)

  // 5. un-permute and combine: y_t = Σ over t's kept slots of gate · expert output
  Tensor kept_gates = reshape(decision.gates * plan.kept.to(decision.gates.dtype()), {T * k});
  Tensor row_gate = index_select(kept_gates, 0, plan.row_slot).to(x.dtype());
  Tensor output = index_add(zeros({T, D}, x.dtype(), x.device()), 0, plan.row_token,
                            expert_out * unsqueeze(row_gate, 1));

  // 6. shared experts: every token, no gate
  for (std::int64_t s = 0; s < config.shared_experts; ++s) {
    Tensor shared_hidden = gelu(matmul(tokens, select(shared_w1, 0, s)) + select(shared_b1, 0, s), config.activation);
    if (config.expert_dropout > 0.0) shared_hidden = dropout(shared_hidden, config.expert_dropout, is_training(), *generator_);
    output = output + matmul(shared_hidden, select(shared_w2, 0, s)) + select(shared_b2, 0, s);
  }

  // 7. losses and the record, over real tokens
  DType router_dtype = decision.probabilities.dtype();
  Tensor mask = real.to(router_dtype);
  Tensor real_count = clamp(sum(mask), 1.0, std::nullopt);
  Tensor dense_gates = scatter_add(zeros({T, E}, router_dtype, x.device()), 1, decision.expert_index,
                                   decision.gates * decision.dispatch_mask.to(router_dtype));  // (T,E)
  RoutingInfo info;
  info.expert_index = decision.expert_index;
  info.gates = decision.gates;
  info.dispatched = decision.dispatch_mask * unsqueeze(real, 1);
  info.dropped = plan.dropped;
  info.token_dropped = real * eq(sum(plan.kept, {1}), zeros({}, kInt64, x.device()));
  info.capacity = plan.capacity;
  info.tokens_per_expert = plan.tokens_per_expert;
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
    info.entropy = sum(entropy * mask) / real_count;
    info.mean_log_z = decision.logits.defined() ? sum(logsumexp(decision.logits.detach(), {1}) * mask) / real_count
                                                : zero;
  }
  info.plan = std::move(plan);
  return {reshape(output, x.shape()), std::move(info)};
}

Tensor MoELayer::forward(const Tensor& x, const TokenContext& context, nn::Taps* record) {
  MoEOutput result = apply(x, context);
  if (record) record->report("routing", std::move(result.routing));
  return result.output;
}

void MoELayer::upcycle_from(const nn::FeedForward& ffn) {
  if (ffn.w1->weight.shape() != Shape{config.expert_hidden, config.dim}) {
    throw ShapeError(fmt::format("[MoELayer] upcycle_from needs a FeedForward of width {} -> {}, got w1 {}", config.dim,
                                 config.expert_hidden, shape_str(ffn.w1->weight.shape())));
  }
  if (ffn.activation == nn::Activation::ReLU) throw Error("[MoELayer] upcycle_from needs a GELU FeedForward, got ReLU");
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
  config.activation = ffn.activation == nn::Activation::GeluTanh ? GeluApproximation::Tanh : GeluApproximation::Erf;
}

}  // namespace moegrad::moe
