// The one device dispatch. Every op's public function checks its arguments, builds its autograd
// node and then calls backend_for(device).<kernel>(...). A backend overrides the kernels it has;
// the base versions throw "[softmax] has no cuda kernel", so a missing kernel is a clear error and
// no op ever tests which backend it runs on.
//
// Kernel contract: outputs are allocated by the caller with the right shape and dtype; kernels write
// them, never allocate tensors, and know nothing of autograd. Unless a comment says otherwise, inputs
// are contiguous and on the backend's device (the public op guarantees both).
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/tensor.h"

namespace moegrad {

enum class UnaryOp {
  Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, GeluErf, GeluTanh, Softplus, Erf, NormalCdf, Square,
  Sign,       // -1, 0, 1
  Clamp,      // min(max(x, p0), p1)
  PowScalar,  // x ** p0
  Reciprocal,
  Step,       // 1 where x > 0 else 0 (relu's derivative)
  Floor, Ceil,
};
const char* unary_op_name(UnaryOp op);

enum class BinaryOp { Add, Sub, Mul, Div, FloorDivide, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge };
const char* binary_op_name(BinaryOp op);

enum class ReduceOp { Sum, Max, Min, ArgMax, ArgMin };
const char* reduce_op_name(ReduceOp op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- memory ----
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
  virtual void copy_from_host(void* device_dst, const void* host_src, std::size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* device_src, std::size_t nbytes) = 0;

  // ---- elementwise: any strides (stride 0 for broadcast inputs), out has x's shape ----
  virtual void fill(Tensor& out, double value);
  virtual void copy(const Tensor& src, Tensor& dst);  // same shape, casts dtype, dst any strides
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& out, double p0, double p1);
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);  // same shape
  virtual void where(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out);

  // ---- reductions: x contiguous seen as (outer, length, inner), out (outer, inner) ----
  virtual void reduce(ReduceOp op, const Tensor& x, std::int64_t outer, std::int64_t length,
                      std::int64_t inner, Tensor& out);
  virtual void cumsum(const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
                      Tensor& out);

  // ---- matmul: a (B,M,K), b (B,K,N), out (B,M,N) contiguous. a and b may have batch stride 0
  // and either layout of their last two axes (row-major or transposed), which BLAS takes as flags.
  virtual void matmul(const Tensor& a, const Tensor& b, Tensor& out);
  // ---- grouped matmul (the MoE experts): out rows [offsets[g], offsets[g+1]) = x rows @ w[g] + bias[g].
  // x (N,K) contiguous; w (G,K,M) with either layout of its last two axes (gemm_operand); bias (G,M)
  // or undefined; offsets (G+1) int64; out (N,M): rows outside every group are written as 0. The
  // kernel checks 0 <= offsets[0] <= ... <= offsets[G] <= N itself (IndexError naming `op`).
  virtual void grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias,
                              Tensor& out);
  // The weight side of its backward: dw[g] = x_gᵀ dy_g (G,K,M) and, when db is defined,
  // db[g] = Σ rows of dy_g (G,M). A group with no rows gets zeros.
  virtual void grouped_matmul_weight_grad(const Tensor& x, const Tensor& dy, const Tensor& offsets, Tensor& dw,
                                          Tensor& db);

  // ---- rows: softmax over the last axis ----
  virtual void softmax(const Tensor& x, Tensor& out, bool log);
  // x (R,C); weight, bias (C) or undefined; saves mean, rstd (R) for the backward pass.
  virtual void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                  Tensor& out, Tensor& mean, Tensor& rstd);
  // grad_weight / grad_bias may be undefined (not wanted).
  virtual void layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& rstd, Tensor& grad_x,
                                   Tensor& grad_weight, Tensor& grad_bias);

  // ---- fused backward and loss kernels. The base versions compose the kernels above
  // (tensor/ops/composed_kernels.cpp), so a backend without them still runs; the CPU backend does
  // each in one pass. All tensors contiguous.
  // grad_in = grad_out · op'(x), for op GeluErf or GeluTanh; x, grad_out, grad_in share a shape.
  virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& grad_out, Tensor& grad_in);
  // Rows (R,C) of y = softmax(x) (log: y = log_softmax(x)) and of the gradient g:
  //   softmax: dx = y (g - Σ_c g y);  log_softmax: dx = g - exp(y) Σ_c g.
  virtual void softmax_backward(const Tensor& y, const Tensor& grad_out, Tensor& grad_in, bool log);
  // Attention's softmax: rows of y = softmax(scale·x + mask) over the last axis. x contiguous; mask
  // undefined or a view of x's shape and dtype with any strides (stride 0 on its broadcast axes).
  // Backward: dx = scale · y (g - Σ_c g y); the mask is a constant and needs no gradient.
  virtual void scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask, Tensor& out);
  virtual void scaled_masked_softmax_backward(const Tensor& y, const Tensor& grad_out, double scale,
                                              Tensor& grad_in);
  // logits (N,C), target (N) int64, labels already checked by the op. losses (N) =
  // logsumexp(logits_n) - logits_n[target_n], 0 where target_n == ignore_index; log_sum_exp (N)
  // is saved for the backward.
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                     Tensor& losses, Tensor& log_sum_exp);
  // grad_logits (N,C) = (softmax(logits_n) - onehot(target_n)) · row_grad_n, 0 on ignored rows.
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                      const Tensor& log_sum_exp, const Tensor& row_grad, Tensor& grad_logits);

  // ---- indexing: index is int64 and already bounds-checked by the public op ----
  // Throws IndexError naming op unless every entry of the int64 `index` lies in [0, size). A kernel,
  // so the check needs no host copy of the index (the CPU reads it in place).
  virtual void check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what);
  // out[i][j][k] = x[i][index[i][j][k]][k] (dim = 1), index and out share a shape.
  virtual void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out);
  // out[i][index[i][j][k]][k] += src[i][j][k] (dim = 1), accumulating into out.
  virtual void scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src);
  // out = x with axis `dim` replaced by the rows named in the 1-D index.
  virtual void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out);
  // out.select(dim, index[i]) += src.select(dim, i), accumulating into out.
  virtual void index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src);

  // ---- sorting along the last axis; indices are int64 ----
  virtual void topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices);
  virtual void sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices);

  // ---- random: element i is a function of (seed, offset + i) only (Philox 4x32-10),
  // so any backend reproduces the same numbers.
  virtual void random_uniform(Tensor& out, std::uint64_t seed, std::uint64_t offset, double low,
                              double high);
  virtual void random_normal(Tensor& out, std::uint64_t seed, std::uint64_t offset, double mean,
                             double std);
};

// The one place that maps a device to its backend.
Backend& backend_for(Device device);

}  // namespace moegrad
