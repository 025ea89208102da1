// The CPU backend: OpenBLAS for matmul, OpenMP loops for the rest. Each kernel family lives in its
// own file of this folder (elementwise.cpp, reduce.cpp, matmul.cpp, softmax.cpp, ...).
#pragma once
#include "tensor/backend.h"

namespace moegrad {

class CpuBackend : public Backend {
 public:
  const char* name() const override { return "cpu"; }
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
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& grad_out, Tensor& grad_in) override;
  void softmax_backward(const Tensor& y, const Tensor& grad_out, Tensor& grad_in, bool log) override;
  void scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask, Tensor& out) override;
  void scaled_masked_softmax_backward(const Tensor& y, const Tensor& grad_out, double scale, Tensor& grad_in) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index, Tensor& losses,
                             Tensor& log_sum_exp) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                              const Tensor& log_sum_exp, const Tensor& row_grad, Tensor& grad_logits) override;
  void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) override;
  void scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) override;
  void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) override;
  void index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices) override;
  void sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices) override;
  void random_uniform(Tensor& out, std::uint64_t seed, std::uint64_t offset, double low, double high) override;
  void random_normal(Tensor& out, std::uint64_t seed, std::uint64_t offset, double mean, double std) override;
};

CpuBackend& cpu_backend();

// Both CPU thread pools at once: OpenMP's (elementwise kernels, reductions) and OpenBLAS's (GEMMs).
// Setting only OpenMP's left OpenBLAS on every core, and its idle workers spin in sched_yield
// between GEMMs: a --threads 1 run then spent as much time in the kernel as in user code.
void set_cpu_threads(int threads);

}  // namespace moegrad
