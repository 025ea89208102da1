// Printing a RoutingInfo (see routing_trace.h). Only reads host copies of the small (T,k) tensors.
#include "moe/routing_trace.h"

#include <fmt/format.h>

#include <algorithm>

namespace moegrad::moe {

std::vector<std::vector<std::int64_t>> tokens_of_experts(const RoutingInfo& info) {
  std::vector<std::int64_t> offsets = info.plan.group_offsets.to_vector<std::int64_t>();
  std::vector<std::int64_t> row_token = info.plan.row_token.to_vector<std::int64_t>();
  std::vector<std::vector<std::int64_t>> tokens(offsets.empty() ? 0 : offsets.size() - 1);
  for (std::size_t e = 0; e < tokens.size(); ++e) {
    tokens[e].assign(row_token.begin() + offsets[e], row_token.begin() + offsets[e + 1]);
  }
  return tokens;
}

std::string format_routing(const RoutingInfo& info, std::int64_t max_tokens, const std::vector<std::string>& token_names) {
  std::string out;
  if (!info.expert_index.defined()) return "no routing yet: run forward() first\n";
  std::int64_t T = info.expert_index.size(0), k = info.expert_index.size(1);
  std::vector<std::int64_t> expert = info.expert_index.to_vector<std::int64_t>();
  std::vector<std::int64_t> dispatched = info.dispatched.to_vector<std::int64_t>();
  std::vector<std::int64_t> dropped = info.dropped.to_vector<std::int64_t>();
  std::vector<std::int64_t> no_expert = info.token_dropped.to_vector<std::int64_t>();
  std::vector<double> gate = info.gates.detach().to_vector<double>();

  // one line per token
  out += fmt::format("{:>12}  experts (gate)\n", "token");
  for (std::int64_t t = 0; t < std::min(T, max_tokens); ++t) {
    std::string name = t < static_cast<std::int64_t>(token_names.size()) ? token_names[t] : fmt::format("{}", t);
    std::string line = fmt::format("{:>12} ", name.substr(0, 12));
    for (std::int64_t j = 0; j < k; ++j) {
      std::int64_t slot = t * k + j;
      if (dispatched[slot] && !dropped[slot]) line += fmt::format(" e{}:{:.2f}", expert[slot], gate[slot]);
      else if (dropped[slot]) line += fmt::format(" e{}:{:.2f}(dropped)", expert[slot], gate[slot]);
      else if (gate[slot] > 0.0) line += fmt::format(" e{}:{:.2f}(not sent)", expert[slot], gate[slot]);  // e.g. GShard's random test
    }
    if (no_expert[t]) line += "  no expert: residual only";
    out += line + "\n";
  }
  if (T > max_tokens) out += fmt::format("{:>12}\n", fmt::format("... {} more", T - max_tokens));

  // one line per expert: tokens taken, and a bar scaled to the busiest expert
  std::vector<std::int64_t> tokens_per_expert = info.tokens_per_expert.to_vector<std::int64_t>();
  std::vector<std::int64_t> capacity = info.capacity.to_vector<std::int64_t>();
  std::int64_t busiest = 1, largest_capacity = 0;
  for (std::int64_t n : tokens_per_expert) busiest = std::max(busiest, n);
  for (std::int64_t c : capacity) largest_capacity = std::max(largest_capacity, c);
  std::string limit = largest_capacity > 0 ? fmt::format("capacity {}", largest_capacity)
                                           : std::string("dropless: no capacity limit");
  out += fmt::format("{:>12}  tokens ({})\n", "expert", limit);
  for (std::size_t e = 0; e < tokens_per_expert.size(); ++e) {
    std::int64_t n = tokens_per_expert[e];
    out += fmt::format("{:>12}  {:>5} {}\n", e, n, std::string(static_cast<std::size_t>(20 * n / busiest), '#'));
  }
  return out;
}

}  // namespace moegrad::moe
