// backend_for: the single switch from a device to the kernels that run on it.
#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/profiler.h"

namespace moegrad {

Backend& cuda_backend(int index);  // cuda/cuda_backend.cu, or cuda/no_cuda.cpp in a CPU-only build

Backend& backend_for(Device device) {
  profiler::kernel_called();  // starts the profiler's clock for the op about to run
  if (device.is_cpu()) return cpu_backend();
  return cuda_backend(device.index);
}

}  // namespace moegrad
