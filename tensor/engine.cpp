// Reverse mode: sort the graph below the root (explicit stack: deep graphs must not overflow the
// call stack), then walk it from the root down, summing each node's incoming gradients before its
// rule runs. Leaves accumulate into .grad; rules run with grad mode off.
#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "tensor/backend.h"
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

// True when `t` alone reaches its memory (no other tensor, view or saved copy shares its impl or
// its storage): writing into it in place cannot change anything anyone else can see.
bool writable_in_place(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1 && t.is_contiguous();
}

// slot += g. Gradients are summed into whichever of the two nobody else holds, so a node reached
// by many paths (a residual stream, a shared weight) keeps one buffer instead of a new one per
// addition; when both are shared, a new tensor. Add is commutative, so the bits are the same.
void add_into(Tensor& slot, Tensor g) {
  if (!slot.defined()) {
    slot = std::move(g);
  } else if (writable_in_place(slot)) {
    backend_for(slot.device()).binary(BinaryOp::Add, slot, g, slot);
  } else if (writable_in_place(g)) {
    backend_for(g.device()).binary(BinaryOp::Add, g, slot, g);
    slot = std::move(g);
  } else {
    slot = add(slot, g);
  }
}

// A leaf's .grad: the first gradient is kept as it is when nobody else holds its storage (else a
// copy); later ones are added in place while nobody else holds the .grad tensor (a caller who kept
// p.grad() keeps the value it saw: then the sum is a new tensor).
void accumulate_into(TensorImpl& impl, Tensor g) {
  if (impl.grad == nullptr) {
    bool sole_owner = g.storage().use_count() == 1 && g.is_contiguous() && g.offset() == 0;
    impl.grad = (sole_owner ? g.detach() : g.detach().clone()).impl_ptr();
    return;
  }
  bool unshared = impl.grad.use_count() == 1 && impl.grad->storage.use_count() == 1;
  Tensor current(impl.grad);
  if (unshared && current.is_contiguous()) {
    backend_for(current.device()).binary(BinaryOp::Add, current, g, current);
    current.storage()->bump_version();
  } else {
    impl.grad = add(current, g).impl_ptr();
  }
}

void check_versions(const Node& node) {
  for (std::size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& input = node.inputs[i];
    // edges to computed inputs carry no storage: their rule checks them (tensor/graph.cpp)
    if (input.defined() && input.storage() && input.storage()->version() != node.input_versions[i]) {
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
      // Done with the incoming gradient and, unless the graph is kept, with what the rule saved:
      // free both now, before the gradients it returned are summed.
      grad_output = Tensor();
      if (!retain_graph) {
        node->backward = nullptr;
        node->released = true;
      }
    }
    if (input_grads.size() != node->inputs.size()) {
      throw AutogradError(fmt::format("[backward] internal: '{}' returned {} gradients for {} inputs", node->op,
                                      input_grads.size(), node->inputs.size()));
    }
    for (std::size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& input = node->inputs[i];
      Tensor g = std::move(input_grads[i]);  // moved: the use counts add_into reads must not see this vector
      if (!input.defined() || !input.requires_grad() || !g.defined()) continue;
      if (g.shape() != input.shape() || g.dtype() != input.dtype()) {
        throw AutogradError(fmt::format(
            "[backward] internal: '{}' returned a {} gradient of shape {} for a {} input of shape {}",
            node->op, dtype_name(g.dtype()), shape_str(g.shape()), dtype_name(input.dtype()),
            shape_str(input.shape())));
      }
      profiler::RegionScope region("gradient accumulation");
      if (input.grad_fn() != nullptr) {
        add_into(pending[input.grad_fn().get()], std::move(g));
      } else {
        accumulate_into(input.impl(), std::move(g));
      }
    }
    if (!retain_graph) node->inputs.clear();
  }
}

}  // namespace moegrad
