// Module: the base of every layer and model. It knows its parameters, buffers and child modules
// by name, so it can list them with dotted names ("encoder.layers.3.ffn.w1"), move them, switch
// train/eval, freeze them by pattern, and save/load them as a state dict. It has no forward():
// each layer has its own, with the arguments it needs; layers that map one tensor to one tensor
// derive from UnaryModule so Sequential can chain them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad::nn {

using NamedTensor = std::pair<std::string, Tensor>;
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Recursively, in registration order, with dotted names.
  std::vector<NamedTensor> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<NamedTensor> named_buffers() const;
  std::vector<std::pair<std::string, const Module*>> named_modules() const;  // "" is this module
  std::vector<std::pair<std::string, Module*>> named_modules();  // the same, to change what is found
  std::int64_t parameter_count() const;

  void train(bool training = true);  // this module and all children
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves (or casts) every parameter and buffer in place: handles held elsewhere stay valid.
  void to(Device device);
  void to(DType dtype);

  // Parameters and buffers by dotted name. load_state_dict copies values into the existing
  // tensors; strict mode names every missing, unexpected, shape- and dtype-mismatched key in one
  // error (non-strict mode casts another dtype to the model's).
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state, bool strict = true);

  // Sets requires_grad off (on) for parameters whose dotted name matches `pattern`, where '*'
  // matches any run of characters ("encoder.*", "*.router.*"). Returns how many matched.
  std::size_t freeze(const std::string& pattern);
  std::size_t unfreeze(const std::string& pattern);
  void zero_grad();

 protected:
  // Registers a trainable parameter (requires_grad is turned on) and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers state that is saved but not trained (e.g. running statistics, fixed maps).
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Swaps the child registered under `name` (registers it if there is none yet).
  void replace_module(const std::string& name, std::shared_ptr<Module> module);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, bool parameters, std::vector<NamedTensor>& out) const;

  bool training_ = true;
  std::vector<NamedTensor> parameters_;
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// A module that maps one tensor to one tensor (Linear, LayerNorm, activations, FeedForward...).
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// True when `name` matches `pattern` with '*' as a wildcard for any run of characters.
bool matches_pattern(const std::string& name, const std::string& pattern);

}  // namespace moegrad::nn
