// How much arithmetic one forward of a (MoE) GPT costs, counted from what the forward's record says
// the routing did, so the efficiency claims of the MoE papers can be stated per FLOP.
//
// Counted: every matrix multiply, at 2 FLOPs per multiply-add (Kaplan et al. 2020 count the same
// way); left out: biases, norms, softmax, GELU and the embedding lookup, which are a few percent at
// these sizes. A training step costs 3 forwards (the backward does two matmuls for each one of the
// forward: the input gradient and the weight gradient).
//
// Expert FLOPs count the SLOTS an expert runs, not just the routed tokens: with a capacity limit each
// expert of each token group has C slots, and a padded (E, C, D) implementation, as on the papers'
// TPUs, runs all of them whether filled or not; dropless counts the tokens each expert processed.
// moegrad's grouped matmul skips empty slots, so `experts_unpadded` is what this CPU executed.
//
//   nn::Taps record = nn::Taps::reports_only();
//   Tensor logits = model.forward(ids, &record);
//   moe::ForwardFlops f = moe::gpt_forward_flops(model, ids.size(0), ids.size(1), record);
//   double step_flops = moe::training_step_flops(f);
#pragma once
#include <cstdint>

#include "moe/moe_layer.h"
#include "nn/gpt.h"
#include "nn/taps.h"

namespace moegrad::moe {

struct ForwardFlops {
  double dense = 0.0;             // attention, dense FFNs, the tied LM head
  double router = 0.0;            // the routers' D×E projections
  double experts = 0.0;           // expert slots (capacity padding included) and shared experts
  double experts_unpadded = 0.0;  // the same for the tokens the experts actually processed
  double total() const { return dense + router + experts; }
};

// The forward FLOPs of one MoE layer for `tokens` tokens, from its routing record. Slots per expert:
// Σ over token groups of C when the layer had a capacity limit, else the tokens it processed.
// Each slot costs two matmuls, D×H and H×D: 4·D·H.
ForwardFlops moe_layer_forward_flops(const MoELayerConfig& config, std::int64_t experts, std::int64_t tokens,
                                     const RoutingInfo& routing);

// The forward FLOPs of `model` on a (batch, tokens) input, with the MoE layers' routing read from the
// record that forward filled (nn::Taps::reports_only() is enough). Throws Error naming the layer
// when an MoE layer of the model has no routing in the record.
ForwardFlops gpt_forward_flops(nn::GptModel& model, std::int64_t batch, std::int64_t tokens, const nn::Taps& record);

// Forward plus backward: 3 × the forward's total.
inline double training_step_flops(const ForwardFlops& forward) { return 3.0 * forward.total(); }

}  // namespace moegrad::moe
