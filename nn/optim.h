// Optimizers: SGD (momentum, Nesterov, weight decay), Adam and AdamW, with PyTorch's semantics.
//
// An optimizer holds parameter groups, each with its own learning rate and weight decay (the usual
// use: no weight decay on biases and norm gains, see weight_decay_groups below). step() reads each
// parameter's .grad and writes the new value into the same tensor, so modules that hold the
// parameter see it; parameters that do not require grad, or got no gradient, are skipped.
//
// Typical loop:
//   nn::AdamW optimizer(model.parameters(), {.lr = 3e-4, .weight_decay = 0.01});
//   nn::Scheduler scheduler(optimizer, nn::warmup_cosine_decay(100, 10000));   // nn/schedule.h
//   for (...) {
//     optimizer.zero_grad();
//     loss.backward();
//     nn::clip_grad_norm(model.parameters(), 1.0);                              // nn/clip.h
//     optimizer.step();
//     scheduler.step();
//   }
//
// state() / load_state() export and import everything a resumed run needs (moment buffers,
// step counters, current learning rates) as named tensors, so a checkpoint can store them next to
// the model's state dict and training continues bit for bit.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace moegrad::nn {

struct ParameterGroup {
  std::vector<Tensor> parameters;
  double lr = 1e-3;
  double weight_decay = 0.0;
};

// What an optimizer keeps per parameter: how many updates it received (Adam's bias correction
// counts these, so a parameter frozen for a while is corrected by its own count) and named
// buffers ("momentum_buffer", "exp_avg", ...), created at its first update.
struct ParameterState {
  std::int64_t step = 0;
  std::map<std::string, Tensor> buffers;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that requires grad and has a gradient.
  void step();
  // Drops every parameter's gradient (the next backward starts from nothing).
  void zero_grad();

  const std::vector<ParameterGroup>& groups() const { return groups_; }
  const std::string& name() const { return name_; }
  std::int64_t step_count() const { return step_count_; }
  double lr() const { return groups_.front().lr; }  // the first group's current rate, for logging

  // Every group's lr becomes its base lr (the one it was built with) times `scale`: schedules
  // call this, so groups keep their ratios.
  void set_lr_scale(double scale);
  // The first group's lr becomes `lr`; the others are scaled by the same factor.
  void set_lr(double lr);

  // Keys: "step" (int64), "group{g}.lr" (float64), "group{g}.param{p}.step" (int64) and
  // "group{g}.param{p}.{buffer}" (the parameter's shape and dtype). Tensors are copies.
  std::map<std::string, Tensor> state() const;
  // Replaces the whole state with `state` (a missing parameter entry means "no state yet").
  // Unknown keys, out-of-range indices and shape mismatches throw before anything changes.
  // Buffers are cast to each parameter's dtype and moved to its device.
  void load_state(const std::map<std::string, Tensor>& state);

 protected:
  Optimizer(std::string name, std::vector<ParameterGroup> groups, std::vector<std::string> buffer_names);

  // The update rule for one parameter. Runs under NoGradGuard; state.step already counts this
  // update. `parameter` must be written in place (copy_) so every handle to it sees the change.
  virtual void update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient,
                      ParameterState& state) = 0;

  // Throws moegrad::Error "[name] ..." unless value >= 0 and finite.
  void check_non_negative(const char* what, double value) const;

 private:
  std::string name_;
  std::vector<ParameterGroup> groups_;
  std::vector<double> base_lrs_;
  std::vector<std::string> buffer_names_;  // the buffers load_state accepts
  std::vector<std::vector<ParameterState>> states_;  // [group][parameter]
  std::int64_t step_count_ = 0;
};

// ---------------- SGD (nn/sgd.cpp) ----------------

struct SGDOptions {
  double lr = 1e-3;            // PyTorch's default
  double momentum = 0.0;       // μ; 0 turns the momentum buffer off
  bool nesterov = false;       // needs momentum > 0
  double weight_decay = 0.0;   // L2: adds weight_decay·p to the gradient
};

class SGD : public Optimizer {
 public:
  // One group with options.lr and options.weight_decay.
  SGD(std::vector<Tensor> parameters, SGDOptions options = {});
  // Each group brings its own lr and weight decay; momentum and nesterov come from options.
  SGD(std::vector<ParameterGroup> groups, SGDOptions options = {});

 protected:
  void update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient,
              ParameterState& state) override;

 private:
  SGDOptions options_;
};

// ---------------- Adam and AdamW (nn/adam.cpp) ----------------

struct AdamOptions {
  double lr = 1e-3;           // Kingma & Ba's defaults for lr, betas and eps
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 added to the gradient, PyTorch's Adam default
};

// AdamW's options: the same fields, with PyTorch's AdamW default weight_decay = 0.01 (decoupled).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> parameters, AdamOptions options = {});
  Adam(std::vector<ParameterGroup> groups, AdamOptions options = {});

 protected:
  Adam(std::string name, std::vector<ParameterGroup> groups, AdamOptions options);
  void update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient,
              ParameterState& state) override;
  // The moment updates and the step p ← p − lr·m̂/(√v̂ + ε), shared by Adam and AdamW.
  void adam_step(double lr, Tensor& parameter, const Tensor& gradient, ParameterState& state) const;

  AdamOptions options_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> parameters, AdamWOptions options = {});
  AdamW(std::vector<ParameterGroup> groups, AdamWOptions options = {});

 protected:
  void update(const ParameterGroup& group, Tensor& parameter, const Tensor& gradient,
              ParameterState& state) override;
};

// ---------------- grouping a module's parameters ----------------

// Two groups over module's parameters, in named_parameters() order: those whose dotted name
// matches none of no_decay_patterns (lr, weight_decay), then those matching one (lr, 0). The
// default patterns keep biases and LayerNorm gains out of weight decay, as BERT and GPT-2 do.
// Frozen parameters are included; step() skips them while they stay frozen.
std::vector<ParameterGroup> weight_decay_groups(const Module& module, double lr, double weight_decay,
                                                const std::vector<std::string>& no_decay_patterns = {"*bias",
                                                                                                      "*norm*"});

}  // namespace moegrad::nn
