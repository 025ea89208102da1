// The Optimizer base: groups, the step loop that skips frozen parameters, learning-rate scaling,
// and the export/import of the optimizer state as named tensors. The update rules themselves are
// in nn/sgd.cpp and nn/adam.cpp.
#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tensor/graph.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"

namespace moegrad::nn {

Optimizer::Optimizer(std::string name, std::vector<ParameterGroup> groups, std::vector<std::string> buffer_names)
    : name_(std::move(name)), groups_(std::move(groups)), buffer_names_(std::move(buffer_names)) {
  std::set<const TensorImpl*> seen;
  std::size_t parameter_count = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const ParameterGroup& group = groups_[g];
    check_non_negative(fmt::format("lr of group {}", g).c_str(), group.lr);
    check_non_negative(fmt::format("weight_decay of group {}", g).c_str(), group.weight_decay);
    for (std::size_t p = 0; p < group.parameters.size(); ++p) {
      const Tensor& parameter = group.parameters[p];
      std::string where = fmt::format("parameter {} of group {}", p, g);
      if (!parameter.defined()) throw Error(fmt::format("[{}] {} is an undefined tensor", name_, where));
      if (!is_floating(parameter.dtype())) {
        throw DTypeError(fmt::format("[{}] {} has dtype {}; only floating tensors can be trained", name_, where,
                                     dtype_name(parameter.dtype())));
      }
      if (!parameter.is_leaf()) {
        throw Error(fmt::format("[{}] {} (shape {}) is the result of an op, not a leaf; optimize the leaves "
                                "(parameters) it was computed from",
                                name_, where, shape_str(parameter.shape())));
      }
      // A parameter listed twice would be updated twice per step.
      if (!seen.insert(parameter.impl_ptr().get()).second) {
        throw Error(fmt::format("[{}] {} (shape {}) appears more than once in the optimizer's groups", name_,
                                where, shape_str(parameter.shape())));
      }
    }
    parameter_count += group.parameters.size();
    base_lrs_.push_back(group.lr);
    states_.emplace_back(group.parameters.size());
  }
  if (parameter_count == 0) throw Error(fmt::format("[{}] got no parameters to optimize", name_));
}

void Optimizer::check_non_negative(const char* what, double value) const {
  if (!(value >= 0.0) || !std::isfinite(value)) {
    throw Error(fmt::format("[{}] {} must be a finite number >= 0, got {}", name_, what, value));
  }
}

void Optimizer::step() {
  NoGradGuard no_grad;
  profiler::PhaseScope phase(profiler::Phase::Optimizer);
  ++step_count_;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    ParameterGroup& group = groups_[g];
    for (std::size_t p = 0; p < group.parameters.size(); ++p) {
      Tensor& parameter = group.parameters[p];
      Tensor gradient = parameter.grad();
      if (!parameter.requires_grad() || !gradient.defined()) continue;  // frozen, or unused by the loss
      if (gradient.device() != parameter.device()) {
        throw DeviceError(fmt::format("[{}] parameter {} of group {} is on {} but its gradient is on {}", name_, p,
                                      g, parameter.device().str(), gradient.device().str()));
      }
      ParameterState& state = states_[g][p];
      ++state.step;
      update(group, parameter, gradient, state);
    }
  }
}

void Optimizer::zero_grad() {
  for (ParameterGroup& group : groups_) {
    for (Tensor& parameter : group.parameters) parameter.zero_grad();
  }
}

void Optimizer::set_lr_scale(double scale) {
  check_non_negative("the learning-rate scale", scale);
  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = base_lrs_[g] * scale;
}

void Optimizer::set_lr(double lr) {
  check_non_negative("lr", lr);
  if (base_lrs_.front() == 0.0) {
    if (groups_.size() > 1) {
      throw Error(fmt::format("[{}] set_lr cannot keep the groups' ratios: the first group was built with lr 0; "
                              "use set_lr_scale",
                              name_));
    }
    groups_.front().lr = lr;
    return;
  }
  set_lr_scale(lr / base_lrs_.front());
}

// ---------------- state export / import ----------------

std::map<std::string, Tensor> Optimizer::state() const {
  NoGradGuard no_grad;
  std::map<std::string, Tensor> out;
  out["step"] = scalar(static_cast<double>(step_count_), kInt64);
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    out[fmt::format("group{}.lr", g)] = scalar(groups_[g].lr, kFloat64);
    for (std::size_t p = 0; p < states_[g].size(); ++p) {
      const ParameterState& state = states_[g][p];
      if (state.step == 0 && state.buffers.empty()) continue;
      std::string prefix = fmt::format("group{}.param{}.", g, p);
      out[prefix + "step"] = scalar(static_cast<double>(state.step), kInt64);
      for (const auto& [buffer_name, buffer] : state.buffers) out[prefix + buffer_name] = buffer.detach().clone();
    }
  }
  return out;
}

namespace {
// "group12" with prefix "group" -> 12; anything else -> nullopt.
std::optional<std::size_t> parse_index(const std::string& text, const std::string& prefix) {
  if (text.size() <= prefix.size() || text.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::size_t value = 0;
  for (std::size_t i = prefix.size(); i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + static_cast<std::size_t>(text[i] - '0');
  }
  return value;
}

std::vector<std::string> split_on_dots(const std::string& key) {
  std::vector<std::string> parts(1);
  for (char c : key) {
    if (c == '.') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}
}  // namespace

void Optimizer::load_state(const std::map<std::string, Tensor>& state) {
  NoGradGuard no_grad;
  // Build the new state aside, so a bad entry leaves the optimizer as it was.
  std::int64_t new_step_count = 0;
  std::vector<double> new_lrs;
  for (const ParameterGroup& group : groups_) new_lrs.push_back(group.lr);
  std::vector<std::vector<ParameterState>> new_states;
  for (const ParameterGroup& group : groups_) new_states.emplace_back(group.parameters.size());

  auto fail = [&](const std::string& key, const std::string& why) {
    return Error(fmt::format("[{}] load_state: entry '{}' {}", name_, key, why));
  };
  auto single_value = [&](const std::string& key, const Tensor& value) {
    if (!value.defined() || value.numel() != 1) {
      throw fail(key, fmt::format("must hold one value, got shape {}",
                                  value.defined() ? shape_str(value.shape()) : "undefined"));
    }
    return value.item();
  };

  for (const auto& [key, value] : state) {
    std::vector<std::string> parts = split_on_dots(key);
    if (parts.size() == 1 && parts[0] == "step") {
      new_step_count = static_cast<std::int64_t>(single_value(key, value));
      continue;
    }
    std::optional<std::size_t> g = parse_index(parts[0], "group");
    if (!g || (parts.size() != 2 && parts.size() != 3)) {
      throw fail(key, fmt::format("is not a key of this optimizer; expected step, group<g>.lr, "
                                  "group<g>.param<p>.step or group<g>.param<p>.<buffer> with buffer one of {}",
                                  buffer_names_));
    }
    if (*g >= groups_.size()) throw fail(key, fmt::format("names a group, but there are {}", groups_.size()));
    if (parts.size() == 2) {
      if (parts[1] != "lr") throw fail(key, "is not a key of this optimizer; the group entry is 'lr'");
      new_lrs[*g] = single_value(key, value);
      check_non_negative("the loaded lr", new_lrs[*g]);
      continue;
    }
    std::optional<std::size_t> p = parse_index(parts[1], "param");
    if (!p) throw fail(key, "is not a key of this optimizer; expected group<g>.param<p>.<name>");
    const std::vector<Tensor>& parameters = groups_[*g].parameters;
    if (*p >= parameters.size()) {
      throw fail(key, fmt::format("names a parameter, but group {} has {}", *g, parameters.size()));
    }
    const Tensor& parameter = parameters[*p];
    ParameterState& target = new_states[*g][*p];
    const std::string& field = parts[2];
    if (field == "step") {
      target.step = static_cast<std::int64_t>(single_value(key, value));
      continue;
    }
    if (std::find(buffer_names_.begin(), buffer_names_.end(), field) == buffer_names_.end()) {
      throw fail(key, fmt::format("is not a buffer of {}; its buffers are {}", name_, buffer_names_));
    }
    if (!value.defined() || value.shape() != parameter.shape()) {
      throw fail(key, fmt::format("has shape {} but the parameter has shape {}",
                                  value.defined() ? shape_str(value.shape()) : "undefined",
                                  shape_str(parameter.shape())));
    }
    target.buffers[field] = value.detach().to(parameter.dtype()).to(parameter.device()).clone();
  }

  step_count_ = new_step_count;
  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = new_lrs[g];
  states_ = std::move(new_states);
}

// ---------------- grouping ----------------

std::vector<ParameterGroup> weight_decay_groups(const Module& module, double lr, double weight_decay,
                                                const std::vector<std::string>& no_decay_patterns) {
  ParameterGroup decay{{}, lr, weight_decay};
  ParameterGroup no_decay{{}, lr, 0.0};
  for (const auto& [name, parameter] : module.named_parameters()) {
    bool exempt = std::any_of(no_decay_patterns.begin(), no_decay_patterns.end(),
                              [&](const std::string& pattern) { return matches_pattern(name, pattern); });
    (exempt ? no_decay : decay).parameters.push_back(parameter);
  }
  return {decay, no_decay};
}

}  // namespace moegrad::nn
