#include "nn/module.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tensor/graph.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad::nn {

namespace {
void check_name(const std::string& name) {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(fmt::format("[Module] name '{}' must be non-empty and contain no '.' (dots join nested names)", name));
  }
}
}  // namespace

bool matches_pattern(const std::string& name, const std::string& pattern) {
  // Classic wildcard match with backtracking to the last '*'.
  std::size_t n = 0, p = 0, star = std::string::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_name(name);
  if (!value.is_leaf()) value = value.detach();
  value.requires_grad_(true);
  parameters_.push_back({name, value});
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_name(name);
  buffers_.push_back({name, value});
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_name(name);
  if (!module) throw Error(fmt::format("[Module] child '{}' is null", name));
  children_.push_back({name, std::move(module)});
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> module) {
  for (auto& [child_name, child] : children_) {
    if (child_name == name) {
      if (!module) throw Error(fmt::format("[Module] replacement for child '{}' is null", name));
      child = std::move(module);
      return;
    }
  }
  add_child(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool parameters, std::vector<NamedTensor>& out) const {
  for (const auto& [name, tensor] : parameters ? parameters_ : buffers_) out.push_back({prefix + name, tensor});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, out);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  collect("", true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
  std::vector<NamedTensor> out;
  collect("", false, out);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out{{"", this}};
  for (const auto& [name, child] : children_) {
    for (auto& [sub, module] : child->named_modules()) out.push_back({sub.empty() ? name : name + "." + sub, module});
  }
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, child] : children_) {
    for (auto& [sub, module] : child->named_modules()) out.push_back({sub.empty() ? name : name + "." + sub, module});
  }
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& [name, tensor] : named_parameters()) count += tensor.numel();
  return count;
}

void Module::train(bool training) {
  training_ = training;
  for (auto& [name, child] : children_) child->train(training);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto* list : {&parameters_, &buffers_}) {
    for (auto& [name, tensor] : *list) tensor.set_data(tensor.detach().to(device));
  }
  for (auto& [name, child] : children_) child->to(device);
}

void Module::to(DType dtype) {
  NoGradGuard no_grad;
  for (auto& [name, tensor] : parameters_) tensor.set_data(tensor.detach().to(dtype));
  for (auto& [name, tensor] : buffers_) {
    if (is_floating(tensor.dtype())) tensor.set_data(tensor.detach().to(dtype));  // index buffers stay int64
  }
  for (auto& [name, child] : children_) child->to(dtype);
}

StateDict Module::state_dict() const {
  StateDict state;
  for (auto& [name, tensor] : named_parameters()) state[name] = tensor;
  for (auto& [name, tensor] : named_buffers()) state[name] = tensor;
  return state;
}

// Strict mode also refuses a dtype that differs from the model's (float64 weights for a float32
// model): the copy would cast them silently, and a float64 checkpoint usually means the wrong
// file. Non-strict mode casts.
void Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict own = state_dict();
  std::vector<std::string> missing, unexpected, mismatched, other_dtype;
  for (const auto& [name, tensor] : own) {
    auto found = state.find(name);
    if (found == state.end()) {
      missing.push_back(name);
    } else if (found->second.shape() != tensor.shape()) {
      mismatched.push_back(fmt::format("{} (checkpoint {}, model {})", name, shape_str(found->second.shape()),
                                       shape_str(tensor.shape())));
    } else if (found->second.dtype() != tensor.dtype()) {
      other_dtype.push_back(fmt::format("{} (checkpoint {}, model {})", name, dtype_name(found->second.dtype()),
                                        dtype_name(tensor.dtype())));
    }
  }
  for (const auto& [name, tensor] : state) {
    if (own.find(name) == own.end()) unexpected.push_back(name);
  }
  const bool shapes_fail = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  const bool dtypes_fail = strict && !other_dtype.empty();
  if (shapes_fail || dtypes_fail) {
    std::string message = "[load_state_dict] the state does not fit the model:";
    if (!missing.empty()) message += fmt::format(" missing keys: {};", fmt::join(missing, ", "));
    if (!unexpected.empty()) message += fmt::format(" unexpected keys: {};", fmt::join(unexpected, ", "));
    if (!mismatched.empty()) message += fmt::format(" shape mismatches: {};", fmt::join(mismatched, ", "));
    if (!other_dtype.empty()) {
      message += fmt::format(" dtype mismatches (strict mode does not cast; load with strict = false to cast): {};",
                             fmt::join(other_dtype, ", "));
    }
    if (!shapes_fail) throw DTypeError(message);
    throw ShapeError(message);
  }
  NoGradGuard no_grad;
  for (auto& [name, tensor] : own) {
    auto found = state.find(name);
    if (found == state.end()) continue;
    Tensor target = tensor;
    target.copy_(found->second.detach().to(target.device()));
  }
}

namespace {
std::size_t set_requires_grad(const Module& module, const std::string& pattern, bool flag) {
  std::size_t count = 0;
  for (auto& [name, tensor] : module.named_parameters()) {
    if (!matches_pattern(name, pattern)) continue;
    Tensor handle = tensor;
    handle.requires_grad_(flag);
    ++count;
  }
  return count;
}
}  // namespace

std::size_t Module::freeze(const std::string& pattern) { return set_requires_grad(*this, pattern, false); }
std::size_t Module::unfreeze(const std::string& pattern) { return set_requires_grad(*this, pattern, true); }

void Module::zero_grad() {
  for (auto& [name, tensor] : named_parameters()) {
    Tensor handle = tensor;
    handle.zero_grad();
  }
}

}  // namespace moegrad::nn
