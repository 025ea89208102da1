// A node of the define-by-run graph: the op that produced a tensor, edges to the tensors it read
// (its inputs, whose gradients it computes: leaves that require grad as themselves, computed
// inputs as their node, shape and dtype without their memory, see record) and its backward rule. Rules are lambdas written right
// below each op's forward, micrograd style; they return one gradient per input (an undefined
// Tensor where an input needs none) and are written with public ops.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;              // "matmul", shown in errors and by graph printing
  std::vector<Tensor> inputs;  // parents in the graph
  std::vector<std::uint64_t> input_versions;  // storage versions when the op ran
  BackwardFn backward;         // cleared (with inputs) once backward has used it
  std::weak_ptr<TensorImpl> output;  // weak: the output owns the node, not the other way round
  Shape output_shape;
  DType output_dtype = DType::Float32;
  bool released = false;
};

// Gradient recording is on by default; NoGradGuard turns it off for its scope (and backward runs
// its rules with it off).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op reading `inputs` must record a node (grad mode on and some input requires grad).
bool needs_graph(const std::vector<Tensor>& inputs);

// Hooks `out` into the graph as the result of `op` on `inputs`, if needs_graph(inputs).
// Saved tensors captured by `backward` must not include `out` itself (that would be a cycle):
// capture out.detach() instead.
Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

// Runs reverse mode from `root` seeded with `grad_root` (tensor/engine.cpp).
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph);

}  // namespace moegrad
