#include "tensor/graph.h"

#include <fmt/format.h>

#include "tensor/errors.h"
#include "tensor/profiler.h"
#include "tensor/storage.h"

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

namespace {

// An input whose in-place modification the rule must notice: watched through a weak pointer, so
// watching keeps no memory alive (if the rule saved the tensor, the rule keeps it).
struct WatchedInput {
  std::size_t index;
  std::weak_ptr<Storage> storage;
  std::uint64_t version;
  Shape shape;
};

// What the graph keeps of an input that is not a leaf requiring grad: its node, shape and dtype,
// not its memory. The memory then lives only as long as the rule saved the tensor (or the caller
// holds it): an op's input that its rule does not need (a matmul output before its bias, the
// logits before the loss) is freed as soon as the forward lets go of it, not at its backward.
Tensor graph_edge(const Tensor& input) {
  if (!input.defined() || input.is_leaf()) return input.defined() && input.requires_grad() ? input : Tensor();
  auto edge = std::make_shared<TensorImpl>();
  edge->shape = input.shape();
  edge->strides = input.strides();
  edge->offset = input.offset();
  edge->dtype = input.dtype();
  edge->requires_grad = input.requires_grad();
  edge->grad_fn = input.grad_fn();
  return Tensor(std::move(edge));
}

// `rule`, first checking that no watched input was written in place since the forward read it.
BackwardFn checking_versions(const char* op, std::vector<WatchedInput> watched, BackwardFn rule) {
  if (watched.empty()) return rule;
  return [op, watched = std::move(watched), rule = std::move(rule)](const Tensor& grad_output) {
    for (const WatchedInput& input : watched) {
      std::shared_ptr<Storage> storage = input.storage.lock();
      if (storage && storage->version() != input.version) {
        throw AutogradError(fmt::format(
            "[backward] input {} of '{}' (shape {}) was modified in place after '{}' used it; its "
            "gradient would be wrong. Clone it before writing to it.",
            input.index, op, shape_str(input.shape), op));
      }
    }
    return rule(grad_output);
  };
}

}  // namespace

Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  profiler::op_recorded(op);  // every op passes here once, graph or not: the profiler's clock
  if (!needs_graph(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  std::vector<WatchedInput> watched;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    std::uint64_t version = input.defined() ? input.storage()->version() : 0;
    node->input_versions.push_back(version);
    if (input.defined() && !(input.is_leaf() && input.requires_grad())) {
      watched.push_back({i, input.storage(), version, input.shape()});
    }
    node->inputs.push_back(graph_edge(input));
  }
  node->backward = checking_versions(op, std::move(watched), std::move(backward));
  node->output = out.impl_ptr();
  node->output_shape = out.shape();
  node->output_dtype = out.dtype();
  out.impl().grad_fn = node;
  out.impl().requires_grad = true;
  return out;
}

}  // namespace moegrad
