// The dispatch plan: from a router's choices to "which rows go to which expert", computed with
// tensor ops only (one_hot, cumsum, comparisons, argsort, scatter_add), so it runs where the
// tensors live and nothing is copied to the host. The MoE layer (moe/moe_layer.cpp) then
//
//   router ─► plan ─► permute ─► grouped experts ─► un-permute ─► combine
//   (T,k)     rows     x[row_token]   grouped_matmul     index_add with the gates
//
// Letters: T tokens, k slots per token, E experts, S tokens per group, G groups; slot = t·k + j.
#pragma once
#include <cstdint>

#include "tensor/ops.h"

namespace moegrad::moe {

// How C = tokens/E × factor becomes an integer. The Switch paper (§2.2) writes the product and
// leaves the rounding open; moegrad rounds up by default, and the Switch reference code
// (mesh-tensorflow) rounds down: int(group_size × capacity_factor / num_experts).
enum class CapacityRounding { Up, Down };

// The capacity rule. factor 0 and slots 0: dropless (MegaBlocks), no slot ever dropped.
struct CapacityRule {
  double factor = 0.0;         // C = round(real tokens of the group / E × factor)
  std::int64_t slots = 0;      // > 0: C is this fixed number instead
  CapacityRounding rounding = CapacityRounding::Up;
  std::int64_t group_size = 0; // GShard §2.2: capacity and counters per group of S tokens; 0 = whole batch
};

struct DispatchPlan {
  // per slot (T,k), int64
  Tensor position;  // its place in its expert's buffer: earlier counted slots to that expert in its group
  Tensor kept;      // 1 where the slot was sent and its expert had room
  Tensor dropped;   // 1 where the slot was sent and its expert was full
  // per group (G), int64: C; 0 when dropless
  Tensor capacity;
  // the sorted buffer of T·k rows, int64: kept slots grouped by expert, then every other slot
  Tensor row_slot;       // (T·k) the slot t·k + j in each row
  Tensor row_token;      // (T·k) the token t in each row
  Tensor group_offsets;  // (E+1) expert e owns rows [offsets[e], offsets[e+1]); rows from offsets[E] on: none
  Tensor tokens_per_expert;  // (E) kept slots per expert
};

// expert (T,k) int64: the router's choices in priority order (column 0 the first choice);
// sent (T,k) int64: 1 where the router sends the slot; counted (T,k) int64: 1 where the slot takes a
// capacity place (GShard counts a second choice it did not send); real (T) int64: 0 for padding.
// Places are handed out in priority order: every first choice of a group in token order, then every
// second choice, ... (Switch's cumsum code, GShard's Algorithm 1).
DispatchPlan make_dispatch_plan(const Tensor& expert, const Tensor& sent, const Tensor& counted, const Tensor& real,
                                std::int64_t experts, const CapacityRule& rule);

}  // namespace moegrad::moe
