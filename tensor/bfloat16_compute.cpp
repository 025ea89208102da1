// BFloat16Compute (see the header): each kernel call with bfloat16 tensors runs the wrapped
// backend's float32 kernel on float32 stand-ins, then rounds the outputs back.
#include "tensor/bfloat16_compute.h"

#include <initializer_list>
#include <utility>
#include <vector>

namespace moegrad {

namespace {

bool is_bfloat16(const Tensor& t) { return t.defined() && t.dtype() == kBFloat16; }

bool any_bfloat16(std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) {
    if (is_bfloat16(*t)) return true;
  }
  return false;
}

// The float32 stand-ins of one kernel call. Tensors that are not bfloat16 (float32, int64 indices,
// undefined optional arguments) pass through as they are.
class Float32Stage {
 public:
  explicit Float32Stage(Backend& backend) : backend_(backend) {}

  // A contiguous float32 copy of a bfloat16 input (exact: every bfloat16 is a float32).
  Tensor input(const Tensor& t) {
    if (!is_bfloat16(t)) return t;
    Tensor wide = Tensor::empty(t.shape(), kFloat32, t.device());
    backend_.copy(t, wide);
    return wide;
  }

  // The float32 tensor the kernel writes in place of the bfloat16 output `out`; round_outputs()
  // rounds it into `out`. A kernel that adds into its output (scatter_add, index_add) needs the
  // stand-in to start from out's values: `accumulates`.
  Tensor output(const Tensor& out, bool accumulates = false) {
    if (!is_bfloat16(out)) return out;
    Tensor wide = accumulates ? input(out) : Tensor::empty(out.shape(), kFloat32, out.device());
    outputs_.emplace_back(out, wide);
    return wide;
  }

  void round_outputs() {
    for (auto& [out, wide] : outputs_) backend_.copy(wide, out);
  }

 private:
  Backend& backend_;
  std::vector<std::pair<Tensor, Tensor>> outputs_;  // (bfloat16 output, its float32 stand-in)
};

}  // namespace

// ---- elementwise ----

void BFloat16Compute::unary(UnaryOp op, const Tensor& x, Tensor& out, double p0, double p1) {
  if (!any_bfloat16({&x, &out})) return inner_.unary(op, x, out, p0, p1);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.unary(op, stage.input(x), out32, p0, p1);
  stage.round_outputs();
}

void BFloat16Compute::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  if (!any_bfloat16({&a, &b, &out})) return inner_.binary(op, a, b, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.binary(op, stage.input(a), stage.input(b), out32);
  stage.round_outputs();
}

void BFloat16Compute::where(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out) {
  if (!any_bfloat16({&condition, &a, &b, &out})) return inner_.where(condition, a, b, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.where(stage.input(condition), stage.input(a), stage.input(b), out32);
  stage.round_outputs();
}

// ---- reductions: the float32 kernel accumulates, only the result is rounded ----

void BFloat16Compute::reduce(ReduceOp op, const Tensor& x, std::int64_t outer, std::int64_t length,
                             std::int64_t inner, Tensor& out) {
  if (!any_bfloat16({&x, &out})) return inner_.reduce(op, x, outer, length, inner, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.reduce(op, stage.input(x), outer, length, inner, out32);
  stage.round_outputs();
}

void BFloat16Compute::cumsum(const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
                             Tensor& out) {
  if (!any_bfloat16({&x, &out})) return inner_.cumsum(x, outer, length, inner, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.cumsum(stage.input(x), outer, length, inner, out32);
  stage.round_outputs();
}

// ---- matmul: float32 operands, sgemm, the product rounded ----

void BFloat16Compute::matmul(const Tensor& a, const Tensor& b, Tensor& out) {
  if (!any_bfloat16({&a, &b, &out})) return inner_.matmul(a, b, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.matmul(stage.input(a), stage.input(b), out32);
  stage.round_outputs();
}

void BFloat16Compute::grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias,
                                     Tensor& out) {
  if (!any_bfloat16({&x, &w, &bias, &out})) return inner_.grouped_matmul(x, w, offsets, bias, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.grouped_matmul(stage.input(x), stage.input(w), offsets, stage.input(bias), out32);
  stage.round_outputs();
}

void BFloat16Compute::grouped_matmul_weight_grad(const Tensor& x, const Tensor& dy, const Tensor& offsets,
                                                 Tensor& dw, Tensor& db) {
  if (!any_bfloat16({&x, &dy, &dw, &db})) return inner_.grouped_matmul_weight_grad(x, dy, offsets, dw, db);
  Float32Stage stage(inner_);
  Tensor dw32 = stage.output(dw), db32 = stage.output(db);
  inner_.grouped_matmul_weight_grad(stage.input(x), stage.input(dy), offsets, dw32, db32);
  stage.round_outputs();
}

// ---- rows ----

void BFloat16Compute::softmax(const Tensor& x, Tensor& out, bool log) {
  if (!any_bfloat16({&x, &out})) return inner_.softmax(x, out, log);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.softmax(stage.input(x), out32, log);
  stage.round_outputs();
}

void BFloat16Compute::layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                         Tensor& out, Tensor& mean, Tensor& rstd) {
  if (!any_bfloat16({&x, &weight, &bias, &out, &mean, &rstd})) {
    return inner_.layer_norm_forward(x, weight, bias, eps, out, mean, rstd);
  }
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out), mean32 = stage.output(mean), rstd32 = stage.output(rstd);
  inner_.layer_norm_forward(stage.input(x), stage.input(weight), stage.input(bias), eps, out32, mean32, rstd32);
  stage.round_outputs();
}

void BFloat16Compute::layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                          const Tensor& mean, const Tensor& rstd, Tensor& grad_x,
                                          Tensor& grad_weight, Tensor& grad_bias) {
  if (!any_bfloat16({&grad_out, &x, &weight, &mean, &rstd, &grad_x, &grad_weight, &grad_bias})) {
    return inner_.layer_norm_backward(grad_out, x, weight, mean, rstd, grad_x, grad_weight, grad_bias);
  }
  Float32Stage stage(inner_);
  Tensor dx = stage.output(grad_x), dweight = stage.output(grad_weight), dbias = stage.output(grad_bias);
  inner_.layer_norm_backward(stage.input(grad_out), stage.input(x), stage.input(weight), stage.input(mean),
                             stage.input(rstd), dx, dweight, dbias);
  stage.round_outputs();
}

void BFloat16Compute::unary_backward(UnaryOp op, const Tensor& x, const Tensor& grad_out, Tensor& grad_in) {
  if (!any_bfloat16({&x, &grad_out, &grad_in})) return inner_.unary_backward(op, x, grad_out, grad_in);
  Float32Stage stage(inner_);
  Tensor grad_in32 = stage.output(grad_in);
  inner_.unary_backward(op, stage.input(x), stage.input(grad_out), grad_in32);
  stage.round_outputs();
}

void BFloat16Compute::softmax_backward(const Tensor& y, const Tensor& grad_out, Tensor& grad_in, bool log) {
  if (!any_bfloat16({&y, &grad_out, &grad_in})) return inner_.softmax_backward(y, grad_out, grad_in, log);
  Float32Stage stage(inner_);
  Tensor grad_in32 = stage.output(grad_in);
  inner_.softmax_backward(stage.input(y), stage.input(grad_out), grad_in32, log);
  stage.round_outputs();
}

void BFloat16Compute::scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask, Tensor& out) {
  if (!any_bfloat16({&x, &mask, &out})) return inner_.scaled_masked_softmax(x, scale, mask, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.scaled_masked_softmax(stage.input(x), scale, stage.input(mask), out32);
  stage.round_outputs();
}

void BFloat16Compute::scaled_masked_softmax_backward(const Tensor& y, const Tensor& grad_out, double scale,
                                                     Tensor& grad_in) {
  if (!any_bfloat16({&y, &grad_out, &grad_in})) return inner_.scaled_masked_softmax_backward(y, grad_out, scale, grad_in);
  Float32Stage stage(inner_);
  Tensor grad_in32 = stage.output(grad_in);
  inner_.scaled_masked_softmax_backward(stage.input(y), stage.input(grad_out), scale, grad_in32);
  stage.round_outputs();
}

void BFloat16Compute::cross_entropy_forward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                            Tensor& losses, Tensor& log_sum_exp) {
  if (!any_bfloat16({&logits, &losses, &log_sum_exp})) {
    return inner_.cross_entropy_forward(logits, target, ignore_index, losses, log_sum_exp);
  }
  Float32Stage stage(inner_);
  Tensor losses32 = stage.output(losses), log_sum_exp32 = stage.output(log_sum_exp);
  inner_.cross_entropy_forward(stage.input(logits), target, ignore_index, losses32, log_sum_exp32);
  stage.round_outputs();
}

void BFloat16Compute::cross_entropy_backward(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                             const Tensor& log_sum_exp, const Tensor& row_grad,
                                             Tensor& grad_logits) {
  if (!any_bfloat16({&logits, &log_sum_exp, &row_grad, &grad_logits})) {
    return inner_.cross_entropy_backward(logits, target, ignore_index, log_sum_exp, row_grad, grad_logits);
  }
  Float32Stage stage(inner_);
  Tensor grad_logits32 = stage.output(grad_logits);
  inner_.cross_entropy_backward(stage.input(logits), target, ignore_index, stage.input(log_sum_exp),
                                stage.input(row_grad), grad_logits32);
  stage.round_outputs();
}

// ---- indexing: exact in any dtype, but the kernels are typed, so they run on stand-ins too ----

void BFloat16Compute::gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
  if (!any_bfloat16({&x, &out})) return inner_.gather(x, dim, index, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.gather(stage.input(x), dim, index, out32);
  stage.round_outputs();
}

void BFloat16Compute::scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) {
  if (!any_bfloat16({&out, &src})) return inner_.scatter_add(out, dim, index, src);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out, /*accumulates=*/true);
  inner_.scatter_add(out32, dim, index, stage.input(src));
  stage.round_outputs();
}

void BFloat16Compute::index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
  if (!any_bfloat16({&x, &out})) return inner_.index_select(x, dim, index, out);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.index_select(stage.input(x), dim, index, out32);
  stage.round_outputs();
}

void BFloat16Compute::index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) {
  if (!any_bfloat16({&out, &src})) return inner_.index_add(out, dim, index, src);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out, /*accumulates=*/true);
  inner_.index_add(out32, dim, index, stage.input(src));
  stage.round_outputs();
}

// ---- sorting ----

void BFloat16Compute::topk(const Tensor& x, std::int64_t k, bool largest, Tensor& values, Tensor& indices) {
  if (!any_bfloat16({&x, &values})) return inner_.topk(x, k, largest, values, indices);
  Float32Stage stage(inner_);
  Tensor values32 = stage.output(values);
  inner_.topk(stage.input(x), k, largest, values32, indices);
  stage.round_outputs();
}

void BFloat16Compute::sort(const Tensor& x, bool descending, Tensor& values, Tensor& indices) {
  if (!any_bfloat16({&x, &values})) return inner_.sort(x, descending, values, indices);
  Float32Stage stage(inner_);
  Tensor values32 = stage.output(values);
  inner_.sort(stage.input(x), descending, values32, indices);
  stage.round_outputs();
}

// ---- random: the float32 draw, rounded (so a bfloat16 randn is the float32 randn, rounded) ----

void BFloat16Compute::random_uniform(Tensor& out, std::uint64_t seed, std::uint64_t offset, double low,
                                     double high) {
  if (!is_bfloat16(out)) return inner_.random_uniform(out, seed, offset, low, high);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.random_uniform(out32, seed, offset, low, high);
  stage.round_outputs();
}

void BFloat16Compute::random_normal(Tensor& out, std::uint64_t seed, std::uint64_t offset, double mean,
                                    double std) {
  if (!is_bfloat16(out)) return inner_.random_normal(out, seed, offset, mean, std);
  Float32Stage stage(inner_);
  Tensor out32 = stage.output(out);
  inner_.random_normal(out32, seed, offset, mean, std);
  stage.round_outputs();
}

}  // namespace moegrad
