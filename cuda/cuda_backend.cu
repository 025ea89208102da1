// CUDA device memory and transfers. Every runtime call is checked; a missing driver or GPU is a
// DeviceError, never a crash.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <vector>

#include "cuda/cuda_backend.h"
#include "tensor/errors.h"

namespace moegrad {

void check_cuda(int status, const char* what) {
  if (status != cudaSuccess) {
    auto error = static_cast<cudaError_t>(status);
    throw DeviceError(fmt::format("[cuda] {} failed: {} ({})", what, cudaGetErrorString(error), cudaGetErrorName(error)));
  }
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
}

bool cuda_available() { return cuda_device_count() > 0; }

Backend& cuda_backend(int index) {
  static std::mutex mutex;
  static std::vector<std::unique_ptr<CudaBackend>> backends;
  std::lock_guard<std::mutex> lock(mutex);
  int count = cuda_device_count();
  if (index < 0 || index >= count) {
    throw DeviceError(fmt::format("[device] cuda:{} requested, but {} CUDA device(s) are visible", index, count));
  }
  if (backends.size() < static_cast<std::size_t>(count)) backends.resize(static_cast<std::size_t>(count));
  if (!backends[static_cast<std::size_t>(index)]) backends[static_cast<std::size_t>(index)] = std::make_unique<CudaBackend>(index);
  return *backends[static_cast<std::size_t>(index)];
}

void* CudaBackend::allocate(std::size_t nbytes) {
  check_cuda(cudaSetDevice(index_), "cudaSetDevice");
  void* ptr = nullptr;
  check_cuda(cudaMalloc(&ptr, nbytes == 0 ? 1 : nbytes), "cudaMalloc");
  return ptr;
}

void CudaBackend::deallocate(void* ptr, std::size_t) {
  cudaSetDevice(index_);
  cudaFree(ptr);  // no throw from a destructor path
}

void CudaBackend::copy_from_host(void* device_dst, const void* host_src, std::size_t nbytes) {
  check_cuda(cudaSetDevice(index_), "cudaSetDevice");
  check_cuda(cudaMemcpy(device_dst, host_src, nbytes, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
}

void CudaBackend::copy_to_host(void* host_dst, const void* device_src, std::size_t nbytes) {
  check_cuda(cudaSetDevice(index_), "cudaSetDevice");
  check_cuda(cudaMemcpy(host_dst, device_src, nbytes, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
}

}  // namespace moegrad
