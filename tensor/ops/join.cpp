// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad {

Tensor concat(const std::vector<Tensor>&, std::int64_t) { throw Error("[concat] is not written yet"); }
Tensor stack(const std::vector<Tensor>&, std::int64_t) { throw Error("[stack] is not written yet"); }
std::vector<Tensor> split(const Tensor&, std::int64_t, std::int64_t) { throw Error("[split] is not written yet"); }
std::vector<Tensor> split(const Tensor&, const std::vector<std::int64_t>&, std::int64_t) { throw Error("[split] is not written yet"); }
std::vector<Tensor> chunk(const Tensor&, std::int64_t, std::int64_t) { throw Error("[chunk] is not written yet"); }

}  // namespace moegrad
