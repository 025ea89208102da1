// Helpers shared by the op front files: argument checks with the standard messages, and the
// "allocate the output, run the kernel" step. Internal to tensor/ops.
#pragma once
#include <fmt/format.h>

#include <vector>

#include "tensor/graph.h"
#include "tensor/backend.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad::detail {

// "float32 [2,3] on cpu"
inline std::string describe(const Tensor& t) {
  return fmt::format("{} {} on {}", dtype_name(t.dtype()), shape_str(t.shape()), t.device().str());
}

inline void check_defined(const char* op, const Tensor& t, const char* what = "input") {
  if (!t.defined()) throw Error(fmt::format("[{}] {} is an undefined tensor", op, what));
}

inline void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device()) {
    throw DeviceError(fmt::format("[{}] tensors are on different devices: {} and {}; move one with .to()", op,
                                  describe(a), describe(b)));
  }
}

inline void check_floating(const char* op, const Tensor& t) {
  if (!is_floating(t.dtype())) {
    throw DTypeError(fmt::format("[{}] expects a floating tensor (float32, float64 or bfloat16), got {}", op, describe(t)));
  }
}

inline void check_index_dtype(const char* op, const Tensor& index, const char* what = "index") {
  if (index.dtype() != kInt64) {
    throw DTypeError(fmt::format("[{}] {} must be int64, got {}", op, what, describe(index)));
  }
}

using moegrad::check_index_range;  // public in tensor/ops.h

inline Tensor run_unary(UnaryOp op, const Tensor& x, double p0 = 0.0, double p1 = 0.0) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).unary(op, x, out, p0, p1);
  return out;
}

// Promotes a and b to a common dtype and broadcasts them to a common shape (broadcast_to records
// the node whose backward sums the gradient back down).
std::pair<Tensor, Tensor> promote_and_broadcast(const char* op, const Tensor& a, const Tensor& b);

}  // namespace moegrad::detail
