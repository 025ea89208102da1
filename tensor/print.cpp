// tensor([[1.0000, 2.0000],
//         [3.0000, 4.0000]], shape=[2,2], dtype=float32, requires_grad)
// Long axes show their first and last three entries around "...".
#include <fmt/format.h>

#include <string>

#include "tensor/graph.h"
#include "tensor/print.h"

namespace moegrad {

namespace {

constexpr std::int64_t kEdgeItems = 3;
constexpr std::int64_t kSummariseAbove = 1000;

std::string format_value(double value, DType dtype) {
  if (dtype == DType::Int64) return fmt::format("{}", static_cast<std::int64_t>(value));
  return fmt::format("{:.4f}", value);
}

void format_axis(const std::vector<double>& values, const Shape& shape, std::size_t axis, std::int64_t start,
                 std::int64_t stride, bool summarise, DType dtype, int indent, std::string& out) {
  if (axis == shape.size()) {
    out += format_value(values[static_cast<std::size_t>(start)], dtype);
    return;
  }
  std::int64_t size = shape[axis];
  std::int64_t inner = stride / std::max<std::int64_t>(size, 1);
  out += '[';
  for (std::int64_t i = 0; i < size; ++i) {
    if (summarise && size > 2 * kEdgeItems && i == kEdgeItems) {
      out += axis + 1 == shape.size() ? "..., " : "...,\n" + std::string(static_cast<std::size_t>(indent + 1), ' ');
      i = size - kEdgeItems;
    }
    format_axis(values, shape, axis + 1, start + i * inner, inner, summarise, dtype, indent + 1, out);
    if (i + 1 < size) out += axis + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' ');
  }
  out += ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> values = to_vector<double>();
  std::string out = "tensor(";
  format_axis(values, shape(), 0, 0, numel(), numel() > kSummariseAbove, dtype(), 7, out);
  out += fmt::format(", shape={}, dtype={}", shape_str(shape()), dtype_name(dtype()));
  if (!device().is_cpu()) out += ", device=" + device().str();
  if (grad_fn()) out += ", grad_fn=" + grad_fn()->op;
  else if (requires_grad()) out += ", requires_grad";
  return out + ")";
}

}  // namespace moegrad
