// The dispatch plan, step by step (see moe/dispatch_plan.h). Every step is a tensor op.
#include "moe/dispatch_plan.h"

#include <fmt/format.h>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

namespace {

// (T,k) -> (G, k·S): the slots of each group in priority order (choice j, then token), padded
// with zeros up to G·S tokens.
Tensor priority_order(const Tensor& slots, std::int64_t groups, std::int64_t group_size) {
  std::int64_t T = slots.size(0), k = slots.size(1), padded = groups * group_size;
  Tensor full_groups = T == padded ? slots : concat({slots, zeros({padded - T, k}, slots.dtype(), slots.device())}, 0);
  return reshape(permute(reshape(full_groups, {groups, group_size, k}), {0, 2, 1}), {groups, k * group_size});
}

// The inverse of priority_order: (G, k·S) -> (T,k).
Tensor slot_order(const Tensor& ordered, std::int64_t T, std::int64_t k, std::int64_t group_size) {
  std::int64_t groups = ordered.size(0);
  Tensor slots = reshape(permute(reshape(ordered, {groups, k, group_size}), {0, 2, 1}), {groups * group_size, k});
  return narrow(slots, 0, 0, T);
}

// C per group (G) int64 from its real tokens (G): round(real / E × factor), or the fixed slots.
Tensor capacity_per_group(const Tensor& real_per_group, std::int64_t experts, const CapacityRule& rule) {
  if (rule.slots > 0) return full(real_per_group.shape(), static_cast<double>(rule.slots), kInt64, real_per_group.device());
  Tensor exact = real_per_group.to(kFloat64) * (rule.factor / static_cast<double>(experts));
  return (rule.rounding == CapacityRounding::Up ? ceil(exact) : floor(exact)).to(kInt64);
}

}  // namespace

DispatchPlan make_dispatch_plan(const Tensor& expert, const Tensor& sent_in, const Tensor& counted_in,
                                const Tensor& real, std::int64_t E, const CapacityRule& rule) {
  std::int64_t T = expert.size(0), k = expert.size(1);
  std::int64_t S = rule.group_size > 0 ? std::min(rule.group_size, T) : T;
  S = std::max<std::int64_t>(S, 1);
  std::int64_t G = (T + S - 1) / S;
  bool dropless = rule.slots <= 0 && rule.factor <= 0.0;
  Tensor real_slot = unsqueeze(real, 1);                  // (T,1)
  Tensor sent = sent_in * real_slot;                      // padding is never sent
  Tensor counted = maximum(counted_in, sent) * real_slot;  // a sent slot always takes a place

  // 1. positions: a running count per expert over the group's slots in priority order
  //    position = (cumsum of one_hot(expert) over counted slots) − 1, read at the slot's own expert
  Tensor ordered_expert = priority_order(expert, G, S);                          // (G, k·S)
  Tensor requests = one_hot(ordered_expert, E, kInt64) * unsqueeze(priority_order(counted, G, S), 2);
  Tensor running = cumsum(requests, 1);                                          // (G, k·S, E)
  Tensor place = squeeze(gather(running, 2, unsqueeze(ordered_expert, 2)), 2) - 1;
  Tensor position = slot_order(place, T, k, S).contiguous();                     // (T,k)

  // 2. capacity per group and the keep mask: a sent slot is kept while position < C
  DispatchPlan plan;
  plan.position = position;
  if (dropless) {
    plan.capacity = zeros({G}, kInt64, expert.device());
    plan.kept = sent;
  } else {
    Tensor real_per_group = sum(reshape(priority_order(real_slot, G, S), {G, S}), {1});  // (G)
    plan.capacity = capacity_per_group(real_per_group, E, rule);
    Tensor token_group = reshape(expand(unsqueeze(arange(G, kInt64, expert.device()), 1), {G, S}), {G * S});
    Tensor capacity_of_token = index_select(plan.capacity, 0, narrow(token_group, 0, 0, T));  // (T)
    plan.kept = sent * lt(position, unsqueeze(capacity_of_token, 1));
  }
  plan.dropped = sent - plan.kept;

  // 3. the sorted buffer: kept slots by expert (a stable sort keeps token order within an expert),
  //    then every slot not kept under the key E
  Tensor key = reshape(where(plan.kept, expert, full({}, static_cast<double>(E), kInt64, expert.device())), {T * k});
  plan.row_slot = argsort(key);
  Tensor token_of_slot = reshape(expand(unsqueeze(arange(T, kInt64, expert.device()), 1), {T, k}), {T * k});
  plan.row_token = index_select(token_of_slot, 0, plan.row_slot);
  Tensor per_key = scatter_add(zeros({E + 1}, kInt64, expert.device()), 0, key, ones({T * k}, kInt64, expert.device()));
  plan.tokens_per_expert = narrow(per_key, 0, 0, E);
  plan.group_offsets = concat({zeros({1}, kInt64, expert.device()), cumsum(plan.tokens_per_expert, 0)}, 0);
  return plan;
}

}  // namespace moegrad::moe
