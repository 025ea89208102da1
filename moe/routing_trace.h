// A routing trace a person can read: which experts each token went to, with what gate, which
// slots were dropped, and how many tokens each expert took. For examples and the course screen.
#pragma once
#include <string>
#include <vector>

#include "moe/moe_layer.h"

namespace moegrad::moe {

// The first `max_tokens` tokens, one line each ("expert:gate", a dropped slot marked "(dropped)",
// a choice the router did not send, such as a second expert GShard's random test rejected, "(not sent)",
// a token no expert took marked "no expert: residual only"), then one line per expert with its
// token count and a bar. `token_names` (optional) labels the tokens, e.g. with their text.
// Per expert, the tokens it processed, in the order of its rows (token order): read from the plan.
std::vector<std::vector<std::int64_t>> tokens_of_experts(const RoutingInfo& info);

std::string format_routing(const RoutingInfo& info, std::int64_t max_tokens = 8,
                           const std::vector<std::string>& token_names = {});

}  // namespace moegrad::moe
