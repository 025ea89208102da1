// The CUDA backend: one stream per device, a caching allocator, cuBLAS for the matmuls and a
// kernel file per family beside its CPU twin (cuda/softmax.cu next to tensor/cpu/softmax.cpp).
// Host-side bookkeeping (device registry, memory, transfers, error messages) is in
// cuda/runtime.cpp, compiled by the C++ compiler; the .cu files hold kernels and their
// launchers. Kernels added to Backend later are inherited, and throw "[op] has no cuda kernel".
//
// Errors: a failed CUDA or cuBLAS call is a DeviceError naming the op; kernel launches are checked
// at once, faults inside a kernel surface at the next sync point (MOEGRAD_CUDA_SYNC=1 syncs after
// every launch, so the failing op is named). Out-of-range indices are found by a kernel and
// reported at the next sync point (any copy to the host), with the CPU's message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda/caching_allocator.h"
#include "cuda/cuda.h"
#include "tensor/backend.h"

struct CUstream_st;    // cudaStream_t is CUstream_st*
struct cublasContext;  // cublasHandle_t is cublasContext*

namespace moegrad {

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int index);
  ~CudaBackend() override;
  const char* name() const override { return "cuda"; }

  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;
  void copy_from_host(void* device_dst, const void* host_src, std::size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* device_src, std::size_t nbytes) override;

  void fill(Tensor& out, double value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void unary(UnaryOp op, const Tensor& x, Tensor& out, double p0, double p1) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
              Tensor& out) override;
  void cumsum(const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
              Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, Tensor& out) override;
  void grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias,
                      Tensor& out) override;
  void grouped_matmul_weight_grad(const Tensor& x, const Tensor& dy, const Tensor& offsets, Tensor& dw,
                                  Tensor& db) override;
  void check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what) override;
  void softmax(const Tensor& x, Tensor& out, bool log) override;
  void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                          Tensor& mean, Tensor& rstd) override;
  void layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) override;
  void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) override;
  void scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) override;
  void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) override;
  void index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices) override;
  void sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices) override;
  void random_uniform(Tensor& out, std::uint64_t seed, std::uint64_t offset, double low, double high) override;
  void random_normal(Tensor& out, std::uint64_t seed, std::uint64_t offset, double mean, double std) override;

  // ---- for the kernel files ----
  int index() const { return index_; }
  CUstream_st* stream() const { return stream_; }
  cublasContext* cublas(const char* op);  // created on first use, bound to stream()
  // After a kernel launch: throws DeviceError naming `op` if the launch failed (and, with
  // MOEGRAD_CUDA_SYNC=1, if the kernel faulted).
  void check_launch(const char* op);
  // Waits for the stream, then reports the first failed deferred index check.
  void synchronize(const char* op);
  CachingAllocatorStats memory_stats() const { return allocator_->stats(); }
  void release_cached_memory() { allocator_->release_all(); }

  // Device scratch memory for one kernel call, returned to the cache when it goes out of scope
  // (safe: everything runs on one stream, so a later user of the block is ordered after this one).
  class Scratch {
   public:
    Scratch(CudaBackend& backend, std::size_t nbytes)
        : backend_(backend), nbytes_(nbytes), ptr_(backend.allocate(nbytes)) {}
    ~Scratch() { backend_.deallocate(ptr_, nbytes_); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <class T>
    T* as() const {
      return static_cast<T*>(ptr_);
    }

   private:
    CudaBackend& backend_;
    std::size_t nbytes_;
    void* ptr_;
  };

 private:
  struct PendingIndexCheck {
    std::string op, what, shape;
    std::int64_t size;
  };
  void make_current() const;
  void raise_failed_index_checks();

  int index_;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  std::unique_ptr<CachingAllocator> allocator_;
  bool sync_every_launch_ = false;
  // Each check_index_range writes (min, max) of its index into one slot of this device array;
  // the host keeps what it needs for the message until the next sync point reads them.
  static constexpr std::size_t kIndexCheckSlots = 256;
  std::int64_t* index_check_slots_ = nullptr;
  std::vector<PendingIndexCheck> pending_index_checks_;
};

// The backend of cuda(index) (a DeviceError when there is no such device).
CudaBackend& cuda_backend_at(int index);

// Launchers shared by the kernel files (defined in cuda/elementwise.cu and cuda/indexing.cu).
void launch_index_min_max(CudaBackend& backend, const std::int64_t* index, std::int64_t count,
                          std::int64_t* slot);
// Turns a non-success cudaError_t / cublasStatus_t into a DeviceError naming op and call.
void check_cuda_status(int status, const char* op, const char* call);
void check_cublas_status(int status, const char* op, const char* call);

}  // namespace moegrad
