// A router computing in bfloat16 (ST-MoE §3, "selective precision" is the float32 alternative):
// GShard top-2 routing from bfloat16 logits gives bfloat16 probabilities and gates that equal the
// float32 ones within bfloat16 round-off, and the gradient still reaches a float32 router weight
// through the cast. (The router classes compute in float32 or float64:
// detail::router_dtype, unless a config asks for RouterPrecision::BFloat16, as GShardRouter's does.)
#include "moe/gshard_router.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("top-2 routing from bfloat16 logits: bfloat16 probabilities within round-off of float32") {
  Generator generator(3);
  const std::int64_t tokens = 64, dim = 16, experts = 4;
  Tensor x = randn({tokens, dim}, generator);
  Tensor weight = (randn({dim, experts}, generator) * 0.25).detach().requires_grad_();
  Tensor no_random_second = full({tokens}, -1.0);

  Tensor logits32 = matmul(x, weight);
  Tensor logits16 = matmul(x.to(kBFloat16), weight.to(kBFloat16));
  moe::RoutingDecision in32 = moe::gshard_route_from_logits(logits32, no_random_second, ones({tokens}), 1e-2);
  moe::RoutingDecision in16 =
      moe::gshard_route_from_logits(logits16, no_random_second.to(kBFloat16), ones({tokens}, kBFloat16), 1e-2);

  CHECK(in16.logits.dtype() == kBFloat16);
  CHECK(in16.probabilities.dtype() == kBFloat16);
  CHECK(in16.gates.dtype() == kBFloat16);
  // Logits of size ~1 carry a round-off of ~2^-8 relative; probabilities in [0,1] stay within a
  // few bfloat16 steps of the float32 ones.
  check_close(in16.probabilities, in32.probabilities, 0.02);

  // Gates in bfloat16 meet float32 expert outputs: promotion gives float32, and the gradient comes
  // back through the casts to the float32 router weight.
  Tensor expert_outputs = ones({tokens, 2});
  sum(in16.gates * expert_outputs + in16.aux_loss).backward();
  REQUIRE(weight.grad().defined());
  CHECK(weight.grad().dtype() == kFloat32);
  CHECK(max(abs(weight.grad())).item() > 0.0);
}

TEST_CASE("GShardRouter with RouterPrecision::BFloat16 routes in bfloat16; the float32 weight still learns") {
  Generator init32(5), init16(5), draws(6);
  moe::GShardRouterConfig config{.dim = 16, .experts = 4, .random_second_choice = false};
  moe::GShardRouter router32(config, init32);
  config.precision = moe::RouterPrecision::BFloat16;
  moe::GShardRouter router16(config, init16);
  Tensor x = randn({32, 16}, draws);
  moe::RoutingDecision in32 = router32.route(x, draws), in16 = router16.route(x, draws);
  CHECK(in32.probabilities.dtype() == kFloat32);  // selective precision, the default
  CHECK(in16.logits.dtype() == kBFloat16);
  CHECK(in16.probabilities.dtype() == kBFloat16);
  check_close(in16.probabilities, in32.probabilities, 0.02);
  sum(in16.gates * ones({32, 2}) + in16.aux_loss).backward();
  CHECK(router16.gate_weight.dtype() == kFloat32);
  REQUIRE(router16.gate_weight.grad().defined());
  CHECK(router16.gate_weight.grad().dtype() == kFloat32);
}
