// gradcheck: compares the gradients backward() computes with central differences, in float64.
// For a function f of tensor inputs, it draws a fixed random cotangent v of f's output shape and
// checks d<v, f>/dx_j = (<v, f(x + eps e_j)> - <v, f(x - eps e_j)>) / 2eps for every element j of
// every input that requires grad (PyTorch's tolerances: |analytic - numeric| <= atol + rtol |numeric|).
// Inputs may be non-contiguous views; they must be float64 and must not overlap themselves.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // names the input, the element and both values of the worst mismatch
  double worst_error = 0.0;
};

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const TensorFunction& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace moegrad
