// The device-parameterised test runner: one case = a function of some input tensors; the case
// runs on the CPU and on the GPU from the same inputs, and the outputs and the gradients of every
// input that requires grad must agree within the case's tolerance. Integer outputs must agree
// exactly. Without a GPU every case is skipped (doctest's skip) and the binary says so once.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "tests/helpers.h"

namespace moegrad::testing {

// Whether the GPU test cases run; the first call prints why not when they do not.
inline bool gpu_tests_enabled() {
  static const bool enabled = [] {
    bool present = cuda_available();
    if (!present) {
      std::fprintf(stderr, "tests/cuda: no CUDA device visible (or a CPU-only build): the GPU test cases are "
                           "skipped, not run\n");
    }
    return present;
  }();
  return enabled;
}

struct DeviceCase {
  std::string name;
  std::function<std::vector<Tensor>()> inputs;             // built on the CPU
  std::function<Tensor(const std::vector<Tensor>&)> run;  // the op(s) under test
  double tolerance = 1e-10;                               // relative, as check_close
};

struct DeviceResult {
  Tensor output;              // on the CPU
  std::vector<Tensor> grads;  // per input; undefined where the input needs no grad
};

// Runs `c` with its inputs moved to `device`; a floating output is reduced to Σ out·w, with w
// fixed random weights, and differentiated, so every element's gradient matters.
inline DeviceResult run_case_on(const DeviceCase& c, Device device) {
  std::vector<Tensor> cpu_inputs = c.inputs(), inputs;
  for (const Tensor& input : cpu_inputs) {
    Tensor moved = input.detach().to(device);
    if (input.requires_grad()) moved.requires_grad_();
    inputs.push_back(moved);
  }
  Tensor out = c.run(inputs);
  DeviceResult result;
  result.output = out.detach().to(cpu());
  bool differentiable = out.requires_grad() && is_floating(out.dtype());
  if (differentiable) {
    Generator generator(99);
    Tensor weights = randn(out.shape(), generator, out.dtype()).to(device);
    (out * weights).sum().backward();
  }
  for (const Tensor& input : inputs) {
    result.grads.push_back(differentiable && input.requires_grad() && input.grad().defined() ? input.grad().to(cpu())
                                                                                            : Tensor());
  }
  return result;
}

inline void check_device_parity(const DeviceCase& c, Device device = cuda(0)) {
  INFO("case: " << c.name);
  DeviceResult expected = run_case_on(c, cpu());
  DeviceResult actual = run_case_on(c, device);
  REQUIRE(actual.output.dtype() == expected.output.dtype());
  REQUIRE(actual.output.shape() == expected.output.shape());
  if (is_floating(expected.output.dtype())) {
    check_close(actual.output, expected.output, c.tolerance);
  } else {
    CHECK(actual.output.to_vector<std::int64_t>() == expected.output.to_vector<std::int64_t>());
  }
  for (std::size_t i = 0; i < expected.grads.size(); ++i) {
    INFO("gradient of input " << i);
    REQUIRE(actual.grads[i].defined() == expected.grads[i].defined());
    if (expected.grads[i].defined()) check_close(actual.grads[i], expected.grads[i], c.tolerance);
  }
}

}  // namespace moegrad::testing
