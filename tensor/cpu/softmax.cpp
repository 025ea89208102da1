// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/cpu/cpu_backend.h"

namespace moegrad {

void CpuBackend::softmax(const Tensor& x, Tensor& out, bool log) { Backend::softmax(x, out, log); }

}  // namespace moegrad
