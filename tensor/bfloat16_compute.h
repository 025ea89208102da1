// How ops compute on bfloat16 tensors: as bfloat16 hardware does, in float32, rounding each op's
// output to bfloat16. Reductions (sum, softmax's denominator, logsumexp, layer norm's statistics)
// and matmul therefore accumulate in float32, and only their results are rounded.
//
// Why a wrapper rather than bfloat16 kernels: every compute kernel (tensor/cpu/) is written for
// float/double, with OpenBLAS for matmul; a bfloat16 version of each would be ~30 copies of the
// same loops. Instead BFloat16Compute sits in front of a backend (backend_for hands it out, the one
// dispatch place): a call whose tensors are all float32/float64/int64 goes straight through; a call
// with bfloat16 tensors gets float32 copies of its bfloat16 inputs, runs the float32 kernel, and
// rounds the float32 outputs back into the caller's bfloat16 outputs (round to nearest even). The
// result is exactly "the float32 op on the same inputs, then rounded", at the cost of one widening
// copy per input. Only the value-moving kernels (fill, copy) read and write bfloat16 natively
// (tensor/cpu/elementwise.cpp). No op or paper module knows this layer exists.
#pragma once
#include "tensor/backend.h"

namespace moegrad {

class BFloat16Compute : public Backend {
 public:
  explicit BFloat16Compute(Backend& inner) : inner_(inner) {}
  const char* name() const override { return inner_.name(); }

  void* allocate(std::size_t nbytes) override { return inner_.allocate(nbytes); }
  void deallocate(void* ptr, std::size_t nbytes) override { inner_.deallocate(ptr, nbytes); }
  void copy_from_host(void* device_dst, const void* host_src, std::size_t nbytes) override {
    inner_.copy_from_host(device_dst, host_src, nbytes);
  }
  void copy_to_host(void* host_dst, const void* device_src, std::size_t nbytes) override {
    inner_.copy_to_host(host_dst, device_src, nbytes);
  }
  void fill(Tensor& out, double value) override { inner_.fill(out, value); }
  void copy(const Tensor& src, Tensor& dst) override { inner_.copy(src, dst); }
  void check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what) override {
    inner_.check_index_range(op, index, size, what);
  }

  void unary(UnaryOp op, const Tensor& x, Tensor& out, double p0, double p1) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
              Tensor& out) override;
  void cumsum(const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner, Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, Tensor& out) override;
  void grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias,
                      Tensor& out) override;
  void grouped_matmul_weight_grad(const Tensor& x, const Tensor& dy, const Tensor& offsets, Tensor& dw,
                                  Tensor& db) override;
  void softmax(const Tensor& x, Tensor& out, bool log) override;
  void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                          Tensor& mean, Tensor& rstd) override;
  void layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& grad_out, Tensor& grad_in) override;
  void softmax_backward(const Tensor& y, const Tensor& grad_out, Tensor& grad_in, bool log) override;
  void scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask, Tensor& out) override;
  void scaled_masked_softmax_backward(const Tensor& y, const Tensor& grad_out, double scale,
                                      Tensor& grad_in) override;
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

 private:
  Backend& inner_;
};

}  // namespace moegrad
