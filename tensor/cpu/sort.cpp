// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/cpu/cpu_backend.h"

namespace moegrad {

void CpuBackend::topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices) { Backend::topk(x, k, largest, values, indices); }
void CpuBackend::sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices) { Backend::sort(x, descending, values, indices); }

}  // namespace moegrad
