// matmul: (M,K)@(K,N), and batched (...,M,K)@(...,K,N). Transposed operands reach BLAS as flags.
//   a (B,M,K), b (B,K,N) -> out (B,M,N);  da = g b^T  (B,M,N)@(B,N,K),  db = a^T g  (B,K,M)@(B,M,N)
// The backward products are matmuls of transposed views, so they copy nothing either.
#include "tensor/creation.h"
#include "tensor/gemm_layout.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// A (B,rows,cols) view BLAS can read: itself when possible, otherwise a contiguous copy.
Tensor as_gemm_operand(const Tensor& t3) {
  if (gemm_operand(t3)) return t3;
  Tensor copy = Tensor::empty(t3.shape(), t3.dtype(), t3.device());
  backend_for(t3.device()).copy(t3, copy);
  return copy;
}

// The graph node: a and b are 2-D or 3-D with equal (or stride-0) batch.
Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  bool batched = a.dim() == 3;
  std::int64_t batch = batched ? a.shape()[0] : 1;
  auto as3 = [&](const Tensor& t) {
    if (batched) return t;
    return t.as_strided({1, t.shape()[0], t.shape()[1]}, {0, t.strides()[0], t.strides()[1]}, t.offset());
  };
  Tensor a3 = as_gemm_operand(as3(a)), b3 = as_gemm_operand(as3(b));
  std::int64_t m = a.shape()[a.dim() - 2], n = b.shape()[b.dim() - 1];
  Shape out_shape = batched ? Shape{batch, m, n} : Shape{m, n};
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  Tensor out3 = out.as_strided({batch, m, n}, {m * n, n, 1}, 0);
  backend_for(a.device()).matmul(a3, b3, out3);
  return record("matmul", out, {a, b}, [a, b](const Tensor& g) {
    return std::vector<Tensor>{a.requires_grad() ? batched_matmul(g, transpose(b, -1, -2)) : Tensor(),
                               b.requires_grad() ? batched_matmul(transpose(a, -1, -2), g) : Tensor()};
  });
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  detail::check_defined("matmul", a_in, "first input");
  detail::check_defined("matmul", b_in, "second input");
  detail::check_same_device("matmul", a_in, b_in);
  if (a_in.dim() == 0 || b_in.dim() == 0) {
    throw ShapeError(fmt::format("[matmul] shapes {} and {}: both operands need at least one dimension",
                                 shape_str(a_in.shape()), shape_str(b_in.shape())));
  }
  if (a_in.dtype() != b_in.dtype() || !is_floating(a_in.dtype())) {
    throw DTypeError(fmt::format("[matmul] operands must share a floating dtype, got {} and {}", detail::describe(a_in),
                                 detail::describe(b_in)));
  }
  // vectors, as in PyTorch: (K) is a row on the left and a column on the right
  if (a_in.dim() == 1) return squeeze(matmul(unsqueeze(a_in, 0), b_in), -2);
  if (b_in.dim() == 1) return squeeze(matmul(a_in, unsqueeze(b_in, -1)), -1);
  std::int64_t k_a = a_in.size(-1), k_b = b_in.size(-2);
  if (k_a != k_b) {
    throw ShapeError(fmt::format("[matmul] shapes {} and {} are not compatible: inner dimensions {} and {} differ",
                                 shape_str(a_in.shape()), shape_str(b_in.shape()), k_a, k_b));
  }
  std::int64_t m = a_in.size(-2), n = b_in.size(-1);
  if (a_in.dim() == 2 && b_in.dim() == 2) return batched_matmul(a_in, b_in);
  if (b_in.dim() == 2) {
    // (...,M,K)@(K,N): one big GEMM over all rows
    Shape out_shape(a_in.shape().begin(), a_in.shape().end() - 1);
    out_shape.push_back(n);
    return reshape(batched_matmul(reshape(a_in, {-1, k_a}), b_in), out_shape);
  }
  Shape batch_a(a_in.shape().begin(), a_in.shape().end() - 2), batch_b(b_in.shape().begin(), b_in.shape().end() - 2);
  Shape batch = broadcast_shapes("matmul", batch_a, batch_b);
  Shape shape_a = batch, shape_b = batch, out_shape = batch;
  shape_a.insert(shape_a.end(), {m, k_a});
  shape_b.insert(shape_b.end(), {k_b, n});
  out_shape.insert(out_shape.end(), {m, n});
  Tensor a3 = reshape(expand(a_in, shape_a), {-1, m, k_a});
  Tensor b3 = reshape(expand(b_in, shape_b), {-1, k_b, n});
  return reshape(batched_matmul(a3, b3), out_shape);
}

}  // namespace moegrad
