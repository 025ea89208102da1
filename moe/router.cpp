// Helpers shared by the routers: input checks and the token mask.
#include "moe/router.h"

#include <fmt/format.h>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::moe::detail {

DType router_dtype(const Tensor& x, RouterPrecision precision) {
  if (precision == RouterPrecision::BFloat16) return kBFloat16;
  return x.dtype() == kFloat64 ? kFloat64 : kFloat32;
}

void check_router_input(const char* op, const Tensor& x, std::int64_t dim, const TokenContext& context) {
  if (!x.defined() || x.dim() != 2 || x.size(1) != dim || !is_floating(x.dtype())) {
    throw ShapeError(fmt::format("[{}] expects floating tokens (T,{}), got {}", op, dim,
                                 x.defined() ? fmt::format("{} {}", dtype_name(x.dtype()), shape_str(x.shape()))
                                             : std::string("an undefined tensor")));
  }
  for (const Tensor* t : {&context.token_ids, &context.token_mask}) {
    if (t->defined() && t->shape() != Shape{x.size(0)}) {
      throw ShapeError(fmt::format("[{}] token ids and token mask must be ({}) for x {}, got {}", op, x.size(0),
                                   shape_str(x.shape()), shape_str(t->shape())));
    }
  }
}

Tensor token_mask_or_ones(const TokenContext& context, std::int64_t tokens, DType dtype, Device device) {
  if (!context.token_mask.defined()) return ones({tokens}, dtype, device);
  return context.token_mask.detach().to(dtype).to(device);
}

Tensor all_slots(std::int64_t tokens, std::int64_t k, Device device) { return ones({tokens, k}, kInt64, device); }

}  // namespace moegrad::moe::detail
