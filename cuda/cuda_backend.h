// The CUDA backend: device memory through the CUDA runtime, matmul through cuBLAS, kernels in
// cuda/<family>.cu beside their CPU twins in tensor/cpu/<family>.cpp. Kernels not written yet are
// inherited from Backend, which throws "[op] has no cuda kernel".
#pragma once
#include "tensor/backend.h"

namespace moegrad {

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index) {}
  const char* name() const override { return "cuda"; }
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;
  void copy_from_host(void* device_dst, const void* host_src, std::size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* device_src, std::size_t nbytes) override;

 private:
  int index_;
};

// Throws DeviceError naming `what` and CUDA's own message when status is not cudaSuccess.
void check_cuda(int status, const char* what);

}  // namespace moegrad
