// The CPU backend's memory transfers; allocation and its block cache are in tensor/cpu/block_cache.cpp.
#include "tensor/cpu/cpu_backend.h"

#include <cblas.h>
#include <omp.h>

#include <cstring>

namespace moegrad {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes > 0) std::memcpy(dst, src, nbytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes > 0) std::memcpy(dst, src, nbytes);
}

void set_cpu_threads(int threads) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  // OpenBLAS's OpenMP build sets OpenMP's count along with its own; put the wanted one back.
  omp_set_num_threads(threads);
}

}  // namespace moegrad
