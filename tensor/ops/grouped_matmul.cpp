// grouped_matmul: G matmuls over consecutive row blocks, the MoE layer's experts in one op.
//   x (N,K) sorted so that rows [o_g, o_{g+1}) belong to group g;  w (G,K,M);  b (G,M) optional
//   y[r] = x[r] · w[g] + b[g]  for r in group g;   y[r] = 0 for rows in no group
// Backward, per group, each weight touched once (cost linear in G, nothing of size G·K·M zeroed per
// group as a slice's backward would):
//   dx_g = dy_g · w[g]ᵀ      (the same op on wᵀ, a transposed view)
//   dw[g] = x_gᵀ · dy_g,  db[g] = Σ_rows dy_g
// The offsets name a range of rows; they need not start at 0 or end at N. An expert-parallel
// process holding experts [e0, e0+G) runs the op on its G weights with those experts' G+1 offsets.
#include "tensor/creation.h"
#include "tensor/gemm_layout.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

void check_grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets, const Tensor& bias) {
  const char* op = "grouped_matmul";
  detail::check_defined(op, x, "x");
  detail::check_defined(op, w, "w");
  detail::check_defined(op, offsets, "group offsets");
  detail::check_same_device(op, x, w);
  detail::check_same_device(op, x, offsets);
  detail::check_index_dtype(op, offsets, "group offsets");
  if (x.dim() != 2 || w.dim() != 3 || x.size(1) != w.size(1)) {
    throw ShapeError(fmt::format("[{}] expects x (N,K) and w (G,K,M) with equal K, got x {} and w {}", op,
                                 detail::describe(x), detail::describe(w)));
  }
  if (offsets.dim() != 1 || offsets.size(0) != w.size(0) + 1) {
    throw ShapeError(fmt::format("[{}] group offsets must be (G+1) = ({}) for w {}, got {}", op, w.size(0) + 1,
                                 shape_str(w.shape()), detail::describe(offsets)));
  }
  if (x.dtype() != w.dtype() || !is_floating(x.dtype())) {
    throw DTypeError(fmt::format("[{}] x and w must share a floating dtype, got {} and {}", op, detail::describe(x),
                                 detail::describe(w)));
  }
  if (bias.defined()) {
    detail::check_same_device(op, x, bias);
    if (bias.shape() != Shape{w.size(0), w.size(2)} || bias.dtype() != x.dtype()) {
      throw ShapeError(fmt::format("[{}] bias must be (G,M) = ({},{}) of x's dtype, got {}", op, w.size(0), w.size(2),
                                   detail::describe(bias)));
    }
  }
}

// A weight BLAS can read as it is (either layout), otherwise a contiguous copy.
Tensor readable_weight(const Tensor& w) { return gemm_operand(w) ? w : w.contiguous(); }

}  // namespace

Tensor grouped_matmul(const Tensor& x_in, const Tensor& w, const Tensor& group_offsets, const Tensor& bias) {
  check_grouped_matmul(x_in, w, group_offsets, bias);
  Tensor x = x_in.contiguous(), offsets = group_offsets.contiguous();
  Tensor out = Tensor::empty({x.size(0), w.size(2)}, x.dtype(), x.device());
  backend_for(x.device()).grouped_matmul(x, readable_weight(w), offsets,
                                         bias.defined() ? bias.contiguous() : bias, out);
  return record("grouped_matmul", out, {x, w, bias}, [x, w, offsets, bias](const Tensor& g) {
    Tensor dy = g.contiguous();
    Tensor dx = x.requires_grad() ? grouped_matmul(dy, transpose(w, 1, 2), offsets) : Tensor();
    Tensor dw, db;
    if (w.requires_grad() || (bias.defined() && bias.requires_grad())) {
      dw = Tensor::empty(w.shape(), w.dtype(), w.device());
      if (bias.defined() && bias.requires_grad()) db = Tensor::empty(bias.shape(), bias.dtype(), bias.device());
      backend_for(x.device()).grouped_matmul_weight_grad(x.detach(), dy, offsets, dw, db);
      if (!w.requires_grad()) dw = Tensor();
    }
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace moegrad
