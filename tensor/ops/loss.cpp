// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad {

Tensor dropout(const Tensor&, double, bool, Generator&) { throw Error("[dropout] is not written yet"); }
Tensor cross_entropy(const Tensor&, const Tensor&, std::int64_t, Reduction) { throw Error("[cross_entropy] is not written yet"); }
Tensor mse_loss(const Tensor&, const Tensor&, Reduction) { throw Error("[mse_loss] is not written yet"); }
Tensor kl_div(const Tensor&, const Tensor&, Reduction) { throw Error("[kl_div] is not written yet"); }
Tensor cosine_similarity(const Tensor&, const Tensor&, std::int64_t, double) { throw Error("[cosine_similarity] is not written yet"); }
Tensor cosine_similarity_matrix(const Tensor&, const Tensor&, double) { throw Error("[cosine_similarity_matrix] is not written yet"); }

}  // namespace moegrad
