#include "autograd/gradcheck.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/graph.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad {

namespace {

// Storage offset of the element with row-major position `linear` in view t.
std::int64_t element_offset(const Tensor& t, std::int64_t linear) {
  std::int64_t offset = t.offset();
  for (std::int64_t axis = t.dim() - 1; axis >= 0; --axis) {
    offset += (linear % t.shape()[axis]) * t.strides()[axis];
    linear /= t.shape()[axis];
  }
  return offset;
}

double projected(const TensorFunction& fn, const std::vector<Tensor>& inputs, const Tensor& cotangent) {
  NoGradGuard no_grad;
  return sum(mul(fn(inputs).to(kFloat64), cotangent)).item();
}

void check_input(const Tensor& t, std::size_t i) {
  if (t.dtype() != kFloat64 || !t.device().is_cpu()) {
    throw DTypeError(fmt::format("[gradcheck] input {} is {} on {}; central differences need float64 on cpu", i,
                                 dtype_name(t.dtype()), t.device().str()));
  }
  for (std::int64_t axis = 0; axis < t.dim(); ++axis) {
    if (t.strides()[axis] == 0 && t.shape()[axis] > 1) {
      throw Error(fmt::format("[gradcheck] input {} (shape {}) is broadcast (stride 0): perturbing one element would "
                              "move several; pass a materialised tensor",
                              i, shape_str(t.shape())));
    }
  }
}

}  // namespace

GradcheckResult gradcheck(const TensorFunction& fn, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].requires_grad()) check_input(inputs[i], i);
    if (inputs[i].requires_grad() && !inputs[i].is_leaf()) {
      throw AutogradError(fmt::format("[gradcheck] input {} must be a leaf (detach() it, then requires_grad_())", i));
    }
  }
  // analytic: backward of <v, f(x)>
  for (const auto& input : inputs) {
    if (input.requires_grad()) const_cast<Tensor&>(input).zero_grad();
  }
  Tensor output = fn(inputs);
  Generator generator(options.seed);
  Tensor cotangent = randn(output.shape(), generator, kFloat64);
  if (!output.requires_grad()) {
    throw AutogradError("[gradcheck] the function's output does not require grad: no input reaches it");
  }
  sum(mul(output.to(kFloat64), cotangent)).backward();

  GradcheckResult result;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.requires_grad()) continue;
    std::vector<double> analytic =
        input.grad().defined() ? input.grad().to_vector<double>() : std::vector<double>(input.numel(), 0.0);
    double* storage = static_cast<double*>(input.storage()->data());
    for (std::int64_t j = 0; j < input.numel(); ++j) {
      double& element = storage[element_offset(input, j)];
      double original = element;
      element = original + options.eps;
      double plus = projected(fn, inputs, cotangent);
      element = original - options.eps;
      double minus = projected(fn, inputs, cotangent);
      element = original;
      double numeric = (plus - minus) / (2.0 * options.eps);
      double error = std::abs(analytic[j] - numeric);
      bool fine = error <= options.atol + options.rtol * std::abs(numeric) || (std::isnan(numeric) && std::isnan(analytic[j]));
      if (!fine && (result.ok || error > result.worst_error)) {
        result.message = fmt::format("input {} (shape {}), element {}: backward gives {:.8g}, central differences {:.8g}",
                                     i, shape_str(input.shape()), j, analytic[j], numeric);
      }
      if (!fine) result.ok = false;
      if (error > result.worst_error || std::isnan(error)) result.worst_error = error;
    }
  }
  return result;
}

}  // namespace moegrad
