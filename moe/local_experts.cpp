// Adaptive mixtures of local experts (Jacobs, Jordan, Nowlan & Hinton 1991): the module and its three
// losses. Equations and the legend (N cases, D inputs, E experts, F outputs) are in local_experts.h.
#include "moe/local_experts.h"

#include <fmt/format.h>

#include "tensor/errors.h"

namespace moegrad::moe {

namespace {

// Linear D -> F when hidden is 0, else Linear D -> hidden, ReLU, Linear hidden -> F.
std::shared_ptr<nn::Sequential> make_network(std::int64_t in, std::int64_t hidden, std::int64_t out,
                                             Generator& generator) {
  auto network = std::make_shared<nn::Sequential>();
  if (hidden == 0) {
    network->push_back(std::make_shared<nn::Linear>(in, out, true, generator));
    return network;
  }
  network->push_back(std::make_shared<nn::Linear>(in, hidden, true, generator));
  network->push_back(std::make_shared<nn::ReLU>());
  network->push_back(std::make_shared<nn::Linear>(hidden, out, true, generator));
  return network;
}

std::string shape_and_dtype(const Tensor& t) {
  return fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape()));
}

// Every loss takes d (N,F), x (N,E), o (N,E,F); this checks they agree before any op runs, so the
// message names the loss and all three shapes rather than some inner broadcast.
void check_loss_inputs(const char* loss, const Tensor& target, const Tensor& gate_logits,
                       const Tensor& expert_outputs) {
  if (!target.defined() || !gate_logits.defined() || !expert_outputs.defined()) {
    throw Error(fmt::format("[{}] target, gate_logits and expert_outputs must all be defined tensors", loss));
  }
  std::string shapes = fmt::format("target d {}, gate_logits x {}, expert_outputs o {}", shape_and_dtype(target),
                                   shape_and_dtype(gate_logits), shape_and_dtype(expert_outputs));
  if (!is_floating(target.dtype()) || !is_floating(gate_logits.dtype()) || !is_floating(expert_outputs.dtype())) {
    throw DTypeError(fmt::format("[{}] expects floating tensors, got {}", loss, shapes));
  }
  if (target.device() != gate_logits.device() || target.device() != expert_outputs.device()) {
    throw DeviceError(fmt::format("[{}] tensors are on different devices: {} on {}, {} on {}, {} on {}", loss,
                                  shape_str(target.shape()), target.device().str(), shape_str(gate_logits.shape()),
                                  gate_logits.device().str(), shape_str(expert_outputs.shape()),
                                  expert_outputs.device().str()));
  }
  bool ranks_ok = target.dim() == 2 && gate_logits.dim() == 2 && expert_outputs.dim() == 3;
  bool sizes_agree = ranks_ok && gate_logits.size(0) == target.size(0) && expert_outputs.size(0) == target.size(0) &&
                     expert_outputs.size(1) == gate_logits.size(1) && expert_outputs.size(2) == target.size(1);
  if (!sizes_agree) {
    throw ShapeError(fmt::format("[{}] expected target d (N,F), gate_logits x (N,E), expert_outputs o (N,E,F); got {}",
                                 loss, shapes));
  }
  if (target.size(0) == 0 || gate_logits.size(1) == 0 || target.size(1) == 0) {
    throw ShapeError(fmt::format("[{}] needs at least one case, one expert and one output feature; got {}", loss,
                                 shapes));
  }
}

// ‖d − o_i‖² for every case and expert: d (N,F) -> (N,1,F) broadcast against o (N,E,F) -> (N,E).
Tensor squared_errors(const Tensor& target, const Tensor& expert_outputs) {
  return sum(square(sub(unsqueeze(target, 1), expert_outputs)), {2});
}

}  // namespace

LocalExperts::LocalExperts(const LocalExpertsConfig& config, Generator& generator) : config(config) {
  if (config.input_features <= 0 || config.output_features <= 0 || config.num_experts <= 0) {
    throw Error(fmt::format("[LocalExperts] input_features, output_features and num_experts must be positive, got "
                            "D={} F={} E={}",
                            config.input_features, config.output_features, config.num_experts));
  }
  if (config.expert_hidden < 0 || config.gate_hidden < 0) {
    throw Error(fmt::format("[LocalExperts] expert_hidden and gate_hidden must be >= 0 (0: one Linear), got {} and {}",
                            config.expert_hidden, config.gate_hidden));
  }
  experts = register_module("experts", std::make_shared<nn::ModuleList<nn::Sequential>>());
  for (std::int64_t i = 0; i < config.num_experts; ++i) {
    experts->push_back(make_network(config.input_features, config.expert_hidden, config.output_features, generator));
  }
  gate = register_module("gate",
                         make_network(config.input_features, config.gate_hidden, config.num_experts, generator));
}

LocalExpertsOutput LocalExperts::forward(const Tensor& x) {
  if (!x.defined() || x.dim() != 2 || x.size(1) != config.input_features) {
    throw ShapeError(fmt::format("[LocalExperts] input must be (N,D) with D = {}, got {}", config.input_features,
                                 x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor")));
  }
  LocalExpertsOutput out;

  // Gate: logits x (N,E), probabilities p = softmax over the experts (N,E).
  out.gate_logits = gate->forward(x);
  out.gate_probabilities = softmax(out.gate_logits, 1);

  // Experts: each sees every case; E outputs (N,F) stacked on axis 1 -> o (N,E,F).
  std::vector<Tensor> outputs;
  for (auto& expert : *experts) outputs.push_back(expert->forward(x));
  out.expert_outputs = stack(outputs, 1);

  // Mixture: Σ_i p_i o_i, p (N,E) -> (N,E,1) weighting o (N,E,F), summed over E -> (N,F).
  out.mixture = sum(mul(unsqueeze(out.gate_probabilities, 2), out.expert_outputs), {1});
  return out;
}

// E^c = ‖d − Σ_i p_i o_i‖²: the error of the blend, so each expert's gradient depends on all others.
Tensor cooperative_loss_per_case(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  check_loss_inputs("cooperative_loss", target, gate_logits, expert_outputs);
  Tensor p = softmax(gate_logits, 1);                                 // (N,E)
  Tensor mixture = sum(mul(unsqueeze(p, 2), expert_outputs), {1});   // (N,F)
  return sum(square(sub(target, mixture)), {1});                      // (N)
}

Tensor cooperative_loss(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  return mean(cooperative_loss_per_case(target, gate_logits, expert_outputs));
}

// E^c = Σ_i p_i ‖d − o_i‖²: each expert's own error, weighted by the gate.
Tensor competitive_loss_per_case(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  check_loss_inputs("competitive_loss", target, gate_logits, expert_outputs);
  Tensor p = softmax(gate_logits, 1);                                 // (N,E)
  return sum(mul(p, squared_errors(target, expert_outputs)), {1});    // (N)
}

Tensor competitive_loss(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  return mean(competitive_loss_per_case(target, gate_logits, expert_outputs));
}

// E^c = −log Σ_i p_i exp(−½‖d − o_i‖²) = −logsumexp_i(log p_i − ½‖d − o_i‖²). Written the first way,
// exp(−½·1e4) is 0 in any float and the loss becomes log 0; the second way logsumexp subtracts the
// largest term first, and log p comes from log_softmax, never from log of a p that underflowed.
Tensor log_mixture_loss_per_case(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  check_loss_inputs("log_mixture_loss", target, gate_logits, expert_outputs);
  Tensor log_p = log_softmax(gate_logits, 1);                                        // (N,E)
  Tensor log_joint = sub(log_p, squared_errors(target, expert_outputs) * 0.5);   // (N,E)
  return neg(logsumexp(log_joint, {1}));                                             // (N)
}

Tensor log_mixture_loss(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  return mean(log_mixture_loss_per_case(target, gate_logits, expert_outputs));
}

// h_i = p_i exp(−½‖d − o_i‖²) / Σ_j (same) = softmax_i(log p_i − ½‖d − o_i‖²): the same stable
// terms as the log form, normalised over the experts.
Tensor expert_posterior(const Tensor& target, const Tensor& gate_logits, const Tensor& expert_outputs) {
  check_loss_inputs("expert_posterior", target, gate_logits, expert_outputs);
  Tensor log_p = log_softmax(gate_logits, 1);
  return softmax(sub(log_p, squared_errors(target, expert_outputs) * 0.5), 1);
}

}  // namespace moegrad::moe
