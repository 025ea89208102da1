// Stochastic gradient descent with momentum, as PyTorch's torch.optim.SGD (dampening 0).
//
// For a parameter p with gradient g, learning rate η, weight decay λ and momentum μ:
//   g ← g + λ·p                         L2 weight decay, folded into the gradient
//   b ← g            at the first step  the momentum buffer starts at the gradient, not at 0
//   b ← μ·b + g      afterwards
//   d ← g + μ·b      with Nesterov momentum (Sutskever et al., 2013, in PyTorch's form)
//   d ← b            with classical momentum;  d ← g when μ = 0 (no buffer is kept)
//   p ← p − η·d
#include <fmt/format.h>

#include "nn/optim.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad::nn {

SGD::SGD(std::vector<Tensor> parameters, SGDOptions options)
    : SGD(std::vector<ParameterGroup>{{std::move(parameters), options.lr, options.weight_decay}}, options) {}

SGD::SGD(std::vector<ParameterGroup> groups, SGDOptions options)
    : Optimizer("SGD", std::move(groups), {"momentum_buffer"}), options_(options) {
  check_non_negative("momentum", options.momentum);
  if (options.nesterov && options.momentum == 0.0) {
    throw Error("[SGD] nesterov momentum needs momentum > 0, got momentum 0");
  }
}

void SGD::update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient, ParameterState& state) {
  Tensor direction = gradient;
  if (group.weight_decay != 0.0) direction = direction + group.weight_decay * parameter;

  if (options_.momentum != 0.0) {
    auto found = state.buffers.find("momentum_buffer");
    Tensor buffer = found == state.buffers.end() ? direction.clone() : options_.momentum * found->second + direction;
    state.buffers["momentum_buffer"] = buffer;
    direction = options_.nesterov ? direction + options_.momentum * buffer : buffer;
  }

  parameter.copy_(parameter - group.lr * direction);
}

}  // namespace moegrad::nn
