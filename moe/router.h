// The small interface every router in moe/ shares. A router looks at T tokens of width D and says,
// for each token, which experts it goes to and with what weight. The MoE layer (moe/moe_layer.h)
// does the rest: capacity, dispatch, the experts, combine.
//
// Letters: T tokens, D model width, E experts, k expert slots per token (k = E for routers where
// any expert may take any token: dense and expert choice).
#pragma once
#include "nn/layers.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad::moe {

// What a router decides for T tokens. Slot j of token t asks expert expert_index[t, j] for its
// output, weighted by gates[t, j]; slots are in priority order (slot 0 is the first choice).
struct RoutingDecision {
  Tensor expert_index;   // (T,k) int64
  Tensor gates;          // (T,k) combine weights, differentiable: the router learns through them
  Tensor dispatch_mask;  // (T,k) int64, 1 where the slot is sent to its expert (if it has room)
  // (T,k) int64, 1 where the slot takes a place in its expert's capacity count. Undefined means the
  // same as dispatch_mask; GShard's Algorithm 1 also counts a second choice it rejected at random.
  Tensor capacity_mask;
  Tensor probabilities;  // (T,E) the router's softmax over all experts (for losses and entropy)
  Tensor logits;         // (T,E) before the softmax (for the z-loss); undefined for hash routing
  // The auxiliary loss the router's paper trains with, already weighted (0-d); undefined if none.
  Tensor aux_loss;
};

// Per-token extras, all optional: (T) int64 token ids (hash routing reads them) and a (T) mask
// with 1 for real tokens and 0 for padding (padding is never routed and never counts in a loss).
// The same struct a model hands down to its FFN slots (nn/layers.h).
using TokenContext = nn::TokenContext;

// Random numbers handed in instead of drawn, so a reader or a test can fix them. Each router reads
// the one its paper uses; an undefined tensor means "draw it from the generator" (in training).
struct RandomDraws {
  Tensor jitter;          // (T,D) Switch's multiplicative input jitter, values in [1-ε, 1+ε]
  Tensor noise;           // (T,E) noisy top-k's standard normal draws
  Tensor uniform;         // (T) GShard's u ~ U[0,1) for the random second expert
  Tensor expert_dropout;  // (T,k,H) 0/1 keep mask for the experts' hidden units (MoE layer)
};

class Router : public nn::Module {
 public:
  // x (T,D) -> the decision. Random draws come from `draws` where given, else from `generator`.
  virtual RoutingDecision route(const Tensor& x, Generator& generator, const TokenContext& context = {},
                                const RandomDraws& draws = {}) = 0;
  virtual std::int64_t num_experts() const = 0;
};

// The precision a router computes its logits, softmax, top-k and losses in. ST-MoE (Zoph et al.
// 2022, §3 "selective precision") keeps the router in float32 even when the model runs in
// bfloat16: round-off in the exponentials of a bfloat16 softmax is what makes their large models
// diverge. BFloat16 exists to show that: the router's input and weight are cast to bfloat16.
enum class RouterPrecision { Float32, BFloat16 };

// Helpers the routers share (moe/router.cpp).
namespace detail {
// The dtype router math runs in. Float32: float32, or float64 when x is float64 (never lower than
// x, ST-MoE's selective precision). BFloat16: bfloat16 whatever x is.
DType router_dtype(const Tensor& x, RouterPrecision precision = RouterPrecision::Float32);
// Throws ShapeError naming `op` unless x is (T, dim) and the context's tensors are (T).
void check_router_input(const char* op, const Tensor& x, std::int64_t dim, const TokenContext& context);
// The context's token mask as a (T) float tensor of `dtype` on `device` (all ones when undefined).
Tensor token_mask_or_ones(const TokenContext& context, std::int64_t tokens, DType dtype, Device device);
// (T,k) int64 of ones on `device`.
Tensor all_slots(std::int64_t tokens, std::int64_t k, Device device);
}  // namespace detail

}  // namespace moegrad::moe
