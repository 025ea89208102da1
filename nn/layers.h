// The basic layers. Shapes: B batch, T tokens, D features in, F features out, V vocabulary.
#pragma once
#include <memory>
#include <vector>

#include "nn/module.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace moegrad::nn {

class Taps;

// Per-token extras a model's forward hands to its FFN sublayers, all optional: int64 token ids
// (hash routing reads them) and a mask with 1 for real tokens and 0 for padding (padding is never
// routed and counts in no loss). Both have the token grid's shape, e.g. (B,T).
struct TokenContext {
  Tensor token_ids;
  Tensor token_mask;
};

// What fills a Transformer layer's FFN slot: (...,D) tokens -> (...,D). It is given the forward's
// token context and the caller's record (nn/taps.h; may be null) to write what it did into. A dense
// FeedForward ignores both; an MoE layer (moe/moe_layer.h) routes with the context and records its
// routing. Nothing is kept in the module between calls.
class FfnModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x, const TokenContext& context, Taps* record) = 0;
};

// y = x Wᵀ + b;  x (..., D), W (F, D) as in PyTorch (so checkpoints map one to one), b (F).
// Wᵀ is a transposed view: BLAS reads it with a flag, nothing is copied.
class Linear : public UnaryModule {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true,
         Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // bias undefined when bias = false
};

// ids (...) int64 -> (..., D): rows of the table W (V, D), N(0, 1) initialised like PyTorch.
class Embedding : public Module {
 public:
  Embedding(std::int64_t vocabulary, std::int64_t dim, Generator& generator = default_generator());
  Tensor forward(const Tensor& ids);
  Tensor operator()(const Tensor& ids) { return forward(ids); }
  Tensor weight;
};

// Normalises the last axis, then scales and shifts it per feature (weight 1, bias 0 at the start).
class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(std::int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  double eps;
};

// Zeroes elements with probability p in training mode only (inverted dropout).
class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  double p;

 private:
  Generator* generator_;
};

class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class GELU : public UnaryModule {
 public:
  explicit GELU(GeluApproximation approximation = GeluApproximation::Erf) : approximation(approximation) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximation); }
  GeluApproximation approximation;
};

// Applies its layers in order; they are named "0", "1", ... in parameter names.
class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<UnaryModule>> layers);
  void push_back(std::shared_ptr<UnaryModule> layer);
  Tensor forward(const Tensor& x) override;
  std::size_t size() const { return layers_.size(); }
  UnaryModule& operator[](std::size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

// A list of modules of any kind, named "0", "1", ... (e.g. "layers.3.attention.query.weight").
template <class M>
class ModuleList : public Module {
 public:
  void push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(modules_.size()), module);
    modules_.push_back(std::move(module));
  }
  std::size_t size() const { return modules_.size(); }
  M& operator[](std::size_t i) { return *modules_.at(i); }
  std::shared_ptr<M> at(std::size_t i) const { return modules_.at(i); }
  auto begin() { return modules_.begin(); }
  auto end() { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<M>> modules_;
};

// The FFN's nonlinearity: GELU in its exact erf form (BERT, Hendrycks & Gimpel 2016), GELU's tanh
// approximation (GPT-2; PyTorch's approximate="tanh") or ReLU (the original Transformer).
enum class Activation { GeluErf, GeluTanh, ReLU };
Tensor activate(const Tensor& x, Activation activation);
// Its name in config files: "gelu", "gelu_tanh", "relu" (from_name throws Error on any other name).
const char* activation_name(Activation activation);
Activation activation_from_name(const std::string& name);

// The Transformer's position-wise feed-forward block: y = W2 dropout(act(W1 x + b1)) + b2,
// D -> hidden -> D. An MoE layer replaces exactly this block.
class FeedForward : public FfnModule {
 public:
  FeedForward(std::int64_t dim, std::int64_t hidden, double dropout = 0.0, Generator& generator = default_generator(),
              Activation activation = Activation::GeluErf);
  // The GELU forms by their tensor-op name (kept for callers written before ReLU was a choice).
  FeedForward(std::int64_t dim, std::int64_t hidden, double dropout, Generator& generator,
              GeluApproximation approximation);
  Tensor forward(const Tensor& x);
  Tensor forward(const Tensor& x, const TokenContext&, Taps*) override { return forward(x); }
  std::shared_ptr<Linear> w1, w2;
  std::shared_ptr<Dropout> dropout;
  Activation activation;
};

}  // namespace moegrad::nn
