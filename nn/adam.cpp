// Adam and AdamW, as PyTorch's torch.optim.Adam and torch.optim.AdamW.
//
// Adam (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1). For a
// parameter p with gradient g, learning rate η, weight decay λ, and t the number of updates this
// parameter has received (this one included):
//   g ← g + λ·p                         L2 weight decay, folded into the gradient (Adam only)
//   m ← β1·m + (1 − β1)·g               first moment estimate   (m and v start at 0)
//   v ← β2·v + (1 − β2)·g²              second moment estimate
//   m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)     bias correction for the zero start
//   p ← p − η·m̂ / (√v̂ + ε)               ε is added after the square root
//
// AdamW (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization", Algorithm 2): with L2
// in the gradient, Adam divides the decay by √v̂ too, so weights with large gradients are barely
// decayed. AdamW takes the decay out of the gradient and applies it to the weights directly:
//   p ← p − η·λ·p                       then the Adam step above with λ = 0.
// As in PyTorch the decay is scaled by the current learning rate η (the paper's schedule
// multiplier times its α), so a learning-rate schedule also schedules the decay.
//
// Both run as one fused pass per parameter where the tensors allow (tensor/fused_adam.h, the same
// operations in the same order, so the same bits); the op-by-op form below is the reference and
// the path for every other case.
#include <cmath>

#include <fmt/format.h>

#include "nn/optim.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/fused_adam.h"
#include "tensor/ops.h"

namespace moegrad::nn {

namespace {
std::vector<ParameterGroup> one_group(std::vector<Tensor> parameters, const AdamOptions& options) {
  return {{std::move(parameters), options.lr, options.weight_decay}};
}

void ensure_moments(ParameterState& state, const Tensor& parameter) {
  if (state.buffers.count("exp_avg")) return;
  state.buffers["exp_avg"] = zeros_like(parameter);
  state.buffers["exp_avg_sq"] = zeros_like(parameter);
}

// The whole update of one parameter in one pass, if tensor/fused_adam.h handles these tensors.
bool fused_update(const AdamOptions& options, const ParameterGroup& group, Tensor& parameter, const Tensor& gradient,
                  ParameterState& state, bool decoupled) {
  ensure_moments(state, parameter);
  AdamStepConstants constants;
  constants.lr = group.lr;
  constants.beta1 = options.beta1;
  constants.beta2 = options.beta2;
  constants.eps = options.eps;
  (decoupled ? constants.decoupled_weight_decay : constants.l2_weight_decay) = group.weight_decay;
  double t = static_cast<double>(state.step);
  constants.bias_correction1 = 1.0 - std::pow(options.beta1, t);
  constants.bias_correction2 = 1.0 - std::pow(options.beta2, t);
  return fused_adam_step(parameter, gradient, state.buffers["exp_avg"], state.buffers["exp_avg_sq"], constants);
}
}  // namespace

Adam::Adam(std::vector<Tensor> parameters, AdamOptions options)
    : Adam("Adam", one_group(std::move(parameters), options), options) {}

Adam::Adam(std::vector<ParameterGroup> groups, AdamOptions options) : Adam("Adam", std::move(groups), options) {}

Adam::Adam(std::string name, std::vector<ParameterGroup> groups, AdamOptions options)
    : Optimizer(std::move(name), std::move(groups), {"exp_avg", "exp_avg_sq"}), options_(options) {
  for (auto [what, beta] : {std::pair{"beta1", options.beta1}, std::pair{"beta2", options.beta2}}) {
    if (!(beta >= 0.0 && beta < 1.0)) {
      throw Error(fmt::format("[{}] {} must be in [0, 1), got {}", this->name(), what, beta));
    }
  }
  if (!(options.eps > 0.0) || !std::isfinite(options.eps)) {
    throw Error(fmt::format("[{}] eps must be a finite number > 0 (it keeps the step finite where v is 0), got {}",
                            this->name(), options.eps));
  }
}

void Adam::update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient, ParameterState& state) {
  if (fused_update(options_, group, parameter, gradient, state, false)) return;
  Tensor g = group.weight_decay != 0.0 ? gradient + group.weight_decay * parameter : gradient;
  adam_step(group.lr, parameter, g, state);
}

void Adam::adam_step(double lr, Tensor& parameter, const Tensor& gradient, ParameterState& state) const {
  const double beta1 = options_.beta1, beta2 = options_.beta2;
  ensure_moments(state, parameter);
  Tensor& m = state.buffers["exp_avg"];
  Tensor& v = state.buffers["exp_avg_sq"];

  // moments
  m = beta1 * m + (1.0 - beta1) * gradient;
  v = beta2 * v + (1.0 - beta2) * square(gradient);

  // bias-corrected step, arranged as PyTorch does: p ← p − (η / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
  double t = static_cast<double>(state.step);
  double bias_correction1 = 1.0 - std::pow(beta1, t);
  double bias_correction2 = 1.0 - std::pow(beta2, t);
  Tensor denominator = sqrt(v) / std::sqrt(bias_correction2) + options_.eps;
  parameter.copy_(parameter - (lr / bias_correction1) * (m / denominator));
}

namespace {
AdamOptions as_adam_options(const AdamWOptions& options) {
  return {options.lr, options.beta1, options.beta2, options.eps, options.weight_decay};
}
}  // namespace

AdamW::AdamW(std::vector<Tensor> parameters, AdamWOptions options)
    : Adam("AdamW", one_group(std::move(parameters), as_adam_options(options)), as_adam_options(options)) {}

AdamW::AdamW(std::vector<ParameterGroup> groups, AdamWOptions options)
    : Adam("AdamW", std::move(groups), as_adam_options(options)) {}

void AdamW::update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient, ParameterState& state) {
  if (fused_update(options_, group, parameter, gradient, state, true)) return;
  if (group.weight_decay != 0.0) parameter.copy_(parameter * (1.0 - group.lr * group.weight_decay));
  adam_step(group.lr, parameter, gradient, state);
}

}  // namespace moegrad::nn
