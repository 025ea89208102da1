#include "tensor/graph.h"

#include "tensor/profiler.h"

namespace moegrad {

namespace {
thread_local bool grad_mode_enabled = true;
}

bool grad_enabled() { return grad_mode_enabled; }

NoGradGuard::NoGradGuard() : previous_(grad_mode_enabled) { grad_mode_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_mode_enabled = previous_; }

bool needs_graph(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled) return false;
  for (const auto& input : inputs) {
    if (input.defined() && input.requires_grad()) return true;
  }
  return false;
}

Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  profiler::op_recorded(op);  // every op passes here once, graph or not: the profiler's clock
  if (!needs_graph(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  for (const auto& input : inputs) node->input_versions.push_back(input.defined() ? input.storage()->version() : 0);
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->output = out.impl_ptr();
  node->output_shape = out.shape();
  node->output_dtype = out.dtype();
  out.impl().grad_fn = node;
  out.impl().requires_grad = true;
  return out;
}

}  // namespace moegrad
