// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad {

Tensor gather(const Tensor&, std::int64_t, const Tensor&) { throw Error("[gather] is not written yet"); }
Tensor scatter_add(const Tensor&, std::int64_t, const Tensor&, const Tensor&) { throw Error("[scatter_add] is not written yet"); }
Tensor index_select(const Tensor&, std::int64_t, const Tensor&) { throw Error("[index_select] is not written yet"); }
Tensor index_add(const Tensor&, std::int64_t, const Tensor&, const Tensor&) { throw Error("[index_add] is not written yet"); }
Tensor one_hot(const Tensor&, std::int64_t, DType) { throw Error("[one_hot] is not written yet"); }
Tensor embedding(const Tensor&, const Tensor&) { throw Error("[embedding] is not written yet"); }

}  // namespace moegrad
