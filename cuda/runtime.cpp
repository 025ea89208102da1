// The CUDA backend's host side: the device registry, the stream, memory (through the caching
// allocator), transfers, error messages and the deferred index checks. Compiled by the C++
// compiler; the kernels are in the .cu files of this folder.
#include "cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "tensor/errors.h"

namespace moegrad {

void check_cuda_status(int status, const char* op, const char* call) {
  if (status == cudaSuccess) return;
  auto error = static_cast<cudaError_t>(status);
  throw DeviceError(fmt::format("[{}] CUDA {} failed: {} ({})", op, call, cudaGetErrorString(error),
                                cudaGetErrorName(error)));
}

void check_cublas_status(int status, const char* op, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  auto error = static_cast<cublasStatus_t>(status);
  throw DeviceError(fmt::format("[{}] cuBLAS {} failed: {} ({})", op, call, cublasGetStatusString(error),
                                cublasGetStatusName(error)));
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the "no device" / "no driver" error
    return 0;
  }
  return count;
}

bool cuda_available() { return cuda_device_count() > 0; }

CudaBackend& cuda_backend_at(int index) {
  static std::mutex mutex;
  // Never destroyed: tensors held by other statics may be freed after this file's statics are gone.
  static auto* backends = new std::vector<std::unique_ptr<CudaBackend>>();
  std::lock_guard<std::mutex> lock(mutex);
  int count = cuda_device_count();
  if (index < 0 || index >= count) {
    throw DeviceError(fmt::format("[device] cuda:{} requested, but {} CUDA device(s) are visible", index, count));
  }
  if (backends->size() < static_cast<std::size_t>(count)) backends->resize(static_cast<std::size_t>(count));
  auto& slot = (*backends)[static_cast<std::size_t>(index)];
  if (!slot) slot = std::make_unique<CudaBackend>(index);
  return *slot;
}

Backend& cuda_backend(int index) { return cuda_backend_at(index); }

CudaBackend::CudaBackend(int index) : index_(index) {
  make_current();
  cudaStream_t stream = nullptr;
  check_cuda_status(cudaStreamCreate(&stream), "device", "cudaStreamCreate");
  stream_ = stream;
  int device = index;
  allocator_ = std::make_unique<CachingAllocator>(
      [device](std::size_t nbytes) -> void* {
        cudaSetDevice(device);
        void* ptr = nullptr;
        if (cudaMalloc(&ptr, nbytes) != cudaSuccess) {
          cudaGetLastError();  // out of memory is not sticky; clear it so the retry can succeed
          return nullptr;
        }
        return ptr;
      },
      [device](void* ptr) {
        cudaSetDevice(device);
        cudaFree(ptr);
      });
  void* slots = nullptr;
  check_cuda_status(cudaMalloc(&slots, 2 * kIndexCheckSlots * sizeof(std::int64_t)), "device", "cudaMalloc");
  index_check_slots_ = static_cast<std::int64_t*>(slots);
  const char* sync = std::getenv("MOEGRAD_CUDA_SYNC");
  sync_every_launch_ = sync != nullptr && std::string(sync) == "1";
}

CudaBackend::~CudaBackend() {
  if (cublas_) cublasDestroy(cublas_);
  if (index_check_slots_) cudaFree(index_check_slots_);
  allocator_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::make_current() const { check_cuda_status(cudaSetDevice(index_), "device", "cudaSetDevice"); }

void* CudaBackend::allocate(std::size_t nbytes) {
  make_current();
  void* ptr = allocator_->allocate(nbytes);
  if (ptr == nullptr) {
    CachingAllocatorStats stats = allocator_->stats();
    throw DeviceError(fmt::format("[allocate] out of GPU memory on cuda:{}: {} bytes requested, {} bytes in use by "
                                  "tensors (the cache was emptied before giving up)",
                                  index_, nbytes, stats.allocated_bytes));
  }
  return ptr;
}

void CudaBackend::deallocate(void* ptr, std::size_t nbytes) { allocator_->deallocate(ptr, nbytes); }

// Pageable host memory: cudaMemcpyAsync returns once the source is staged, so the caller may free
// it at once; the copy is ordered before every later kernel on the stream.
void CudaBackend::copy_from_host(void* device_dst, const void* host_src, std::size_t nbytes) {
  if (nbytes == 0) return;
  make_current();
  check_cuda_status(cudaMemcpyAsync(device_dst, host_src, nbytes, cudaMemcpyHostToDevice, stream_), "to",
                    "cudaMemcpyAsync (host to device)");
}

// A sync point: waits for the queued kernels, so deferred errors are raised here.
void CudaBackend::copy_to_host(void* host_dst, const void* device_src, std::size_t nbytes) {
  make_current();
  if (nbytes > 0) {
    check_cuda_status(cudaMemcpyAsync(host_dst, device_src, nbytes, cudaMemcpyDeviceToHost, stream_), "to",
                      "cudaMemcpyAsync (device to host)");
  }
  synchronize("to");
}

cublasContext* CudaBackend::cublas(const char* op) {
  if (cublas_ == nullptr) {
    make_current();
    cublasHandle_t handle = nullptr;
    check_cublas_status(cublasCreate(&handle), op, "cublasCreate");
    cublas_ = handle;
    check_cublas_status(cublasSetStream(cublas_, stream_), op, "cublasSetStream");
  }
  return cublas_;
}

void CudaBackend::check_launch(const char* op) {
  check_cuda_status(cudaGetLastError(), op, "kernel launch");
  if (sync_every_launch_) check_cuda_status(cudaStreamSynchronize(stream_), op, "kernel (MOEGRAD_CUDA_SYNC=1)");
}

void CudaBackend::synchronize(const char* op) {
  make_current();
  check_cuda_status(cudaStreamSynchronize(stream_), op, "cudaStreamSynchronize (an earlier kernel failed; "
                    "run with MOEGRAD_CUDA_SYNC=1 to name it)");
  raise_failed_index_checks();
}

// ---------------- deferred index checks ----------------

void CudaBackend::check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what) {
  if (index.numel() == 0) return;
  if (pending_index_checks_.size() == kIndexCheckSlots) raise_failed_index_checks();
  std::int64_t* slot = index_check_slots_ + 2 * pending_index_checks_.size();
  launch_index_min_max(*this, index.data<std::int64_t>(), index.numel(), slot);
  pending_index_checks_.push_back({op, what, shape_str(index.shape()), size});
}

void CudaBackend::raise_failed_index_checks() {
  if (pending_index_checks_.empty()) return;
  std::vector<PendingIndexCheck> checks;
  checks.swap(pending_index_checks_);
  std::vector<std::int64_t> bounds(2 * checks.size());
  check_cuda_status(cudaMemcpyAsync(bounds.data(), index_check_slots_, bounds.size() * sizeof(std::int64_t),
                                    cudaMemcpyDeviceToHost, stream_),
                    "check_index_range", "cudaMemcpyAsync (device to host)");
  check_cuda_status(cudaStreamSynchronize(stream_), "check_index_range", "cudaStreamSynchronize");
  for (std::size_t i = 0; i < checks.size(); ++i) {
    std::int64_t low = bounds[2 * i], high = bounds[2 * i + 1];
    const PendingIndexCheck& check = checks[i];
    if (low < 0 || high >= check.size) {
      throw IndexError(fmt::format("[{}] {} holds values in [{}, {}] but must lie in [0, {}) (shape {}; found on "
                                   "cuda:{} at the next sync point, so the op's result was not used)",
                                   check.op, check.what, low, high, check.size, check.shape, index_));
    }
  }
}

// ---------------- cuda/cuda.h ----------------

namespace {
std::atomic<int>& tf32_setting() {  // -1: not read from the environment yet
  static std::atomic<int> setting{-1};
  return setting;
}
}  // namespace

void set_cuda_tf32(bool allowed) { tf32_setting() = allowed ? 1 : 0; }

bool cuda_tf32() {
  int setting = tf32_setting();
  if (setting < 0) {
    const char* text = std::getenv("MOEGRAD_TF32");
    setting = text != nullptr && std::string(text) == "1" ? 1 : 0;
    tf32_setting() = setting;
  }
  return setting == 1;
}

void cuda_synchronize(int index) { cuda_backend_at(index).synchronize("cuda_synchronize"); }
CachingAllocatorStats cuda_memory_stats(int index) { return cuda_backend_at(index).memory_stats(); }
void cuda_release_cached_memory(int index) { cuda_backend_at(index).release_cached_memory(); }

}  // namespace moegrad
