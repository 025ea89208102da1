// Linked into builds without CUDA (CUDA=0, or no nvcc): a cuda device is then a clear error.
#include <fmt/format.h>

#include "tensor/backend.h"
#include "tensor/errors.h"

namespace moegrad {

Backend& cuda_backend(int index) {
  throw DeviceError(fmt::format("[device] cuda:{} requested, but this build of moegrad has no CUDA support "
                                "(rebuild with nvcc on PATH, CUDA=auto or CUDA=1)",
                                index));
}

bool cuda_available() { return false; }
int cuda_device_count() { return 0; }

}  // namespace moegrad
