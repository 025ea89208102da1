// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad {

Tensor softmax(const Tensor&, std::int64_t) { throw Error("[softmax] is not written yet"); }
Tensor log_softmax(const Tensor&, std::int64_t) { throw Error("[log_softmax] is not written yet"); }

}  // namespace moegrad
