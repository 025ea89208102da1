// Reverse mode: sort the graph below the root (explicit stack: deep graphs must not overflow the
// call stack), then walk it from the root down, summing each node's incoming gradients before its
// rule runs. Leaves accumulate into .grad; rules run with grad mode off.
#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "tensor/graph.h"
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"

namespace moegrad {

namespace {

// Nodes reachable from `root`, each after every node that feeds it a gradient (root first).
// Owning pointers: releasing a node's inputs during the walk must not free nodes still to come.
std::vector<std::shared_ptr<Node>> reverse_topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_set<Node*> seen{root.get()};
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next_input] = stack.back();
    if (next_input < node->inputs.size()) {
      const Tensor& input = node->inputs[next_input++];
      if (!input.defined() || !input.requires_grad() || input.grad_fn() == nullptr) continue;
      const std::shared_ptr<Node>& child = input.grad_fn();
      if (seen.insert(child.get()).second) stack.push_back({child, 0});
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}

// The gradient is stored as its own tensor: it is only ever replaced (grad + g), never written in
// place, so sharing storage with the rule's result is safe only when nobody else holds that storage.
void accumulate_into(TensorImpl& impl, const Tensor& gradient) {
  Tensor g = gradient;
  if (impl.grad == nullptr) {
    bool sole_owner = g.storage().use_count() == 1 && g.is_contiguous() && g.offset() == 0;
    impl.grad = (sole_owner ? g.detach() : g.detach().clone()).impl_ptr();
  } else {
    impl.grad = add(Tensor(impl.grad), g).impl_ptr();
  }
}

void check_versions(const Node& node) {
  for (std::size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& input = node.inputs[i];
    if (input.defined() && input.storage()->version() != node.input_versions[i]) {
      throw AutogradError(fmt::format(
          "[backward] input {} of '{}' (shape {}) was modified in place after '{}' used it; its "
          "gradient would be wrong. Clone it before writing to it.",
          i, node.op, shape_str(input.shape()), node.op));
    }
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph) {
  if (!root.requires_grad()) {
    throw AutogradError(fmt::format(
        "[backward] the tensor of shape {} does not require grad: no input of the computation had "
        "requires_grad set, or it was computed under NoGradGuard",
        shape_str(root.shape())));
  }
  if (grad_root.shape() != root.shape()) {
    throw ShapeError(fmt::format("[backward] gradient of shape {} given for a tensor of shape {}",
                                 shape_str(grad_root.shape()), shape_str(root.shape())));
  }
  NoGradGuard no_grad;
  profiler::PhaseScope phase(profiler::Phase::Backward);
  if (root.is_leaf()) {
    accumulate_into(root.impl(), grad_root.to(root.dtype()));
    return;
  }

  std::unordered_map<Node*, Tensor> pending;  // summed gradient waiting at each node
  pending[root.grad_fn().get()] = grad_root.to(root.dtype());
  for (const std::shared_ptr<Node>& node : reverse_topological_order(root.grad_fn())) {
    auto found = pending.find(node.get());
    if (found == pending.end()) continue;  // no gradient reached it (its consumers returned none)
    Tensor grad_output = std::move(found->second);
    pending.erase(found);
    if (node->released) {
      throw AutogradError(fmt::format(
          "[backward] the graph through '{}' was already freed by an earlier backward(); call the "
          "first backward(retain_graph=true) to run backward through it again",
          node->op));
    }
    check_versions(*node);
    if (auto output = node->output.lock(); output && output->retains_grad) accumulate_into(*output, grad_output);

    std::vector<Tensor> input_grads;
    {
      profiler::RegionScope region(node->op, " backward");
      input_grads = node->backward(grad_output);
    }
    if (input_grads.size() != node->inputs.size()) {
      throw AutogradError(fmt::format("[backward] internal: '{}' returned {} gradients for {} inputs", node->op,
                                      input_grads.size(), node->inputs.size()));
    }
    for (std::size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& input = node->inputs[i];
      const Tensor& g = input_grads[i];
      if (!input.defined() || !input.requires_grad() || !g.defined()) continue;
      if (g.shape() != input.shape() || g.dtype() != input.dtype()) {
        throw AutogradError(fmt::format(
            "[backward] internal: '{}' returned a {} gradient of shape {} for a {} input of shape {}",
            node->op, dtype_name(g.dtype()), shape_str(g.shape()), dtype_name(input.dtype()),
            shape_str(input.shape())));
      }
      profiler::RegionScope region("gradient accumulation");
      if (input.grad_fn() != nullptr) {
        Tensor& slot = pending[input.grad_fn().get()];
        slot = slot.defined() ? add(slot, g) : g;
      } else {
        accumulate_into(input.impl(), g);
      }
    }
    if (!retain_graph) {
      node->backward = nullptr;
      node->inputs.clear();
      node->released = true;
    }
  }
}

}  // namespace moegrad
