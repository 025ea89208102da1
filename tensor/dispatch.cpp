// backend_for: the single switch from a device to the kernels that run on it.
#include "tensor/backend.h"
#include "tensor/bfloat16_compute.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/profiler.h"

namespace moegrad {

Backend& cuda_backend(int index);  // cuda/cuda_backend.cu, or cuda/no_cuda.cpp in a CPU-only build

Backend& backend_for(Device device) {
  profiler::kernel_called();  // starts the profiler's clock for the op about to run
  // bfloat16 tensors compute through BFloat16Compute (float32 kernels, rounded outputs); calls
  // without bfloat16 tensors pass straight through it. CUDA has no bfloat16 path yet: there a
  // bfloat16 tensor reaches dispatch_dtype, which says so.
  static BFloat16Compute cpu_with_bfloat16(cpu_backend());
  if (device.is_cpu()) return cpu_with_bfloat16;
  return cuda_backend(device.index);
}

}  // namespace moegrad
