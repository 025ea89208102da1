// PLACEHOLDER (being written in this session): throws until the family is implemented.
#include "tensor/cpu/cpu_backend.h"

namespace moegrad {

void CpuBackend::layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& out,
                                    Tensor& mean, Tensor& rstd) {
  Backend::layer_norm_forward(x, w, b, eps, out, mean, rstd);
}
void CpuBackend::layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& mean,
                                     const Tensor& rstd, Tensor& gx, Tensor& gw, Tensor& gb) {
  Backend::layer_norm_backward(g, x, w, mean, rstd, gx, gw, gb);
}

}  // namespace moegrad
