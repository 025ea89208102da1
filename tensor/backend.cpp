#include "tensor/backend.h"

#include <fmt/format.h>

#include "tensor/errors.h"

namespace moegrad {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::GeluErf: return "gelu";
    case UnaryOp::GeluTanh: return "gelu_tanh";
    case UnaryOp::Softplus: return "softplus";
    case UnaryOp::Erf: return "erf";
    case UnaryOp::NormalCdf: return "normal_cdf";
    case UnaryOp::Square: return "square";
    case UnaryOp::Sign: return "sign";
    case UnaryOp::Clamp: return "clamp";
    case UnaryOp::PowScalar: return "pow";
    case UnaryOp::Reciprocal: return "reciprocal";
    case UnaryOp::Step: return "step";
    case UnaryOp::Floor: return "floor";
    case UnaryOp::Ceil: return "ceil";
  }
  return "unary";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::FloorDivide: return "floor_divide";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Ne: return "ne";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Le: return "le";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Ge: return "ge";
  }
  return "binary";
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
    case ReduceOp::ArgMax: return "argmax";
    case ReduceOp::ArgMin: return "argmin";
  }
  return "reduce";
}

namespace {
[[noreturn]] void no_kernel(const Backend& backend, const char* op) {
  throw DeviceError(fmt::format("[{}] has no {} kernel", op, backend.name()));
}
}  // namespace

void Backend::fill(Tensor&, double) { no_kernel(*this, "fill"); }
void Backend::copy(const Tensor&, Tensor&) { no_kernel(*this, "copy"); }
void Backend::unary(UnaryOp op, const Tensor&, Tensor&, double, double) { no_kernel(*this, unary_op_name(op)); }
void Backend::binary(BinaryOp op, const Tensor&, const Tensor&, Tensor&) { no_kernel(*this, binary_op_name(op)); }
void Backend::where(const Tensor&, const Tensor&, const Tensor&, Tensor&) { no_kernel(*this, "where"); }
void Backend::reduce(ReduceOp op, const Tensor&, std::int64_t, std::int64_t, std::int64_t, Tensor&) {
  no_kernel(*this, reduce_op_name(op));
}
void Backend::cumsum(const Tensor&, std::int64_t, std::int64_t, std::int64_t, Tensor&) { no_kernel(*this, "cumsum"); }
void Backend::matmul(const Tensor&, const Tensor&, Tensor&) { no_kernel(*this, "matmul"); }
void Backend::grouped_matmul(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  no_kernel(*this, "grouped_matmul");
}
void Backend::grouped_matmul_weight_grad(const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&) {
  no_kernel(*this, "grouped_matmul");
}
void Backend::check_index_range(const char* op, const Tensor&, std::int64_t, const char*) { no_kernel(*this, op); }
void Backend::softmax(const Tensor&, Tensor&, bool log) { no_kernel(*this, log ? "log_softmax" : "softmax"); }
void Backend::layer_norm_forward(const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor&) {
  no_kernel(*this, "layer_norm");
}
void Backend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  Tensor&, Tensor&, Tensor&) {
  no_kernel(*this, "layer_norm_backward");
}
void Backend::gather(const Tensor&, std::int64_t, const Tensor&, Tensor&) { no_kernel(*this, "gather"); }
void Backend::scatter_add(Tensor&, std::int64_t, const Tensor&, const Tensor&) { no_kernel(*this, "scatter_add"); }
void Backend::index_select(const Tensor&, std::int64_t, const Tensor&, Tensor&) { no_kernel(*this, "index_select"); }
void Backend::index_add(Tensor&, std::int64_t, const Tensor&, const Tensor&) { no_kernel(*this, "index_add"); }
void Backend::topk(const Tensor&, std::int64_t, bool, Tensor&, Tensor&) { no_kernel(*this, "topk"); }
void Backend::sort(const Tensor&, bool, Tensor&, Tensor&) { no_kernel(*this, "sort"); }
void Backend::random_uniform(Tensor&, std::uint64_t, std::uint64_t, double, double) { no_kernel(*this, "rand"); }
void Backend::random_normal(Tensor&, std::uint64_t, std::uint64_t, double, double) { no_kernel(*this, "randn"); }

}  // namespace moegrad
