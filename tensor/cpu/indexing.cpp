// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/cpu/cpu_backend.h"

namespace moegrad {

void CpuBackend::gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) { Backend::gather(x, dim, index, out); }
void CpuBackend::scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) { Backend::scatter_add(out, dim, index, src); }
void CpuBackend::index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) { Backend::index_select(x, dim, index, out); }
void CpuBackend::index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) { Backend::index_add(out, dim, index, src); }

}  // namespace moegrad
