// Linked into builds without CUDA (CUDA=0, or no nvcc): a cuda device is then a clear error.
#include <fmt/format.h>

#include "cuda/cuda.h"
#include "tensor/backend.h"
#include "tensor/errors.h"

namespace moegrad {

namespace {
[[noreturn]] void no_cuda(const char* what, int index) {
  throw DeviceError(fmt::format("[{}] cuda:{} requested, but this build of moegrad has no CUDA support "
                                "(rebuild with nvcc on PATH, CUDA=auto or CUDA=1)",
                                what, index));
}
}  // namespace

Backend& cuda_backend(int index) { no_cuda("device", index); }

bool cuda_available() { return false; }
int cuda_device_count() { return 0; }

void set_cuda_tf32(bool) {}
bool cuda_tf32() { return false; }
void cuda_synchronize(int index) { no_cuda("cuda_synchronize", index); }
CachingAllocatorStats cuda_memory_stats(int) { return {}; }
void cuda_release_cached_memory(int) {}

}  // namespace moegrad
