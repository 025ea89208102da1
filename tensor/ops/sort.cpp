// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad {

ValuesIndices topk(const Tensor&, std::int64_t, std::int64_t, bool) { throw Error("[topk] is not written yet"); }
ValuesIndices sort(const Tensor&, std::int64_t, bool) { throw Error("[sort] is not written yet"); }
Tensor argsort(const Tensor&, std::int64_t, bool) { throw Error("[argsort] is not written yet"); }

}  // namespace moegrad
