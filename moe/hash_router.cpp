// Hash layers (Roller, Sukhbaatar, Szlam, Weston, "Hash Layers For Large Sparse Models", NeurIPS 2021,
// arXiv 2106.04426); MoEBERT (Zuo et al. 2022) routes the same way.
//
// The idea: no learned router at all. Token id v always goes to expert hash(v), a random map fixed
// before training (a balanced map is the variant). Nothing to balance, nothing to collapse; the
// price is that the routing ignores the context. The gate is 1 (the expert's output is used as is)
// and carries no gradient: there is nothing to learn.
//
//   expert(t) = expert_of_token[id_t]
//
// Letters: T tokens, V vocabulary, E experts.
#include "moe/hash_router.h"

#include <fmt/format.h>

#include <algorithm>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe {

namespace {

void check_map(const Tensor& map, std::int64_t experts) {
  if (!map.defined() || map.dim() != 1 || map.dtype() != kInt64) {
    throw ShapeError("[HashRouter] the map must be a (V) int64 tensor of expert ids");
  }
  std::vector<std::int64_t> values = map.to_vector<std::int64_t>();
  for (std::int64_t v : values) {
    if (v < 0 || v >= experts) {
      throw IndexError(fmt::format("[HashRouter] the map names expert {}, outside [0, {})", v, experts));
    }
  }
}

}  // namespace

HashRouter::HashRouter(std::int64_t vocabulary, std::int64_t experts, Generator& generator)
    : HashRouter(randint(0, experts, {vocabulary}, generator), experts) {}

HashRouter::HashRouter(const Tensor& map, std::int64_t experts) : experts_(experts) {
  check_map(map, experts);
  expert_of_token = register_buffer("expert_of_token", map.detach().contiguous());
}

Tensor HashRouter::balanced_map(std::int64_t vocabulary, std::int64_t experts, Generator& generator) {
  std::vector<std::int64_t> order = randperm(vocabulary, generator).to_vector<std::int64_t>();
  std::vector<std::int64_t> map(vocabulary);
  for (std::int64_t position = 0; position < vocabulary; ++position) map[order[position]] = position % experts;
  return from_vector(map);
}

RoutingDecision HashRouter::route(const Tensor& x, Generator& generator, const TokenContext& context,
                                 const RandomDraws& draws) {
  if (!x.defined() || x.dim() != 2) throw ShapeError("[HashRouter] expects tokens (T,D)");
  detail::check_router_input("HashRouter", x, x.size(1), context);
  if (!context.token_ids.defined()) {
    throw Error("[HashRouter] needs the token ids: call MoELayer::forward(x, {token_ids, token_mask})");
  }
  std::int64_t tokens = x.size(0), vocabulary = expert_of_token.size(0);
  check_index_range("HashRouter", context.token_ids, vocabulary, "the token ids (the map's vocabulary)");
  DType dtype = detail::router_dtype(x);

  // expert(t) = map[id_t]: (T,1), gate 1
  Tensor expert = reshape(index_select(expert_of_token, 0, context.token_ids.contiguous()), {tokens, 1});

  RoutingDecision decision;
  decision.expert_index = expert;
  decision.gates = ones({tokens, 1}, dtype, x.device());
  decision.dispatch_mask = detail::all_slots(tokens, 1, x.device());
  decision.probabilities = one_hot(reshape(expert, {tokens}), experts_, dtype);  // all mass on the hashed expert
  return decision;
}

}  // namespace moegrad::moe
