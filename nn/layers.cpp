#include "nn/layers.h"

#include <fmt/format.h>

#include "nn/config_checks.h"
#include "nn/init.h"
#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool with_bias, Generator& generator) {
  config_checks::positive("Linear", "in_features", in_features);
  config_checks::positive("Linear", "out_features", out_features);
  weight = register_parameter("weight", fan_in_uniform({out_features, in_features}, in_features, generator));
  if (with_bias) bias = register_parameter("bias", fan_in_uniform({out_features}, in_features, generator));
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() == 0 || x.size(-1) != weight.size(1)) {
    throw ShapeError(fmt::format("[Linear] input {} must end in {} features (weight {})", shape_str(x.shape()),
                                 weight.size(1), shape_str(weight.shape())));
  }
  Tensor y = matmul(x, transpose(weight, 0, 1));
  return bias.defined() ? y + bias : y;
}

Embedding::Embedding(std::int64_t vocabulary, std::int64_t dim, Generator& generator) {
  config_checks::positive("Embedding", "vocabulary", vocabulary);
  config_checks::positive("Embedding", "dim", dim);
  weight = register_parameter("weight", randn({vocabulary, dim}, generator));
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids); }

LayerNorm::LayerNorm(std::int64_t dim, double eps) : eps(eps) {
  config_checks::positive("LayerNorm", "dim", dim);
  config_checks::positive_finite("LayerNorm", "eps", eps);
  weight = register_parameter("weight", ones({dim}));
  bias = register_parameter("bias", zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

Dropout::Dropout(double p, Generator& generator) : p(p), generator_(&generator) {
  config_checks::probability("Dropout", "p", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), *generator_); }

Sequential::Sequential(std::vector<std::shared_ptr<UnaryModule>> layers) {
  for (auto& layer : layers) push_back(std::move(layer));
}

void Sequential::push_back(std::shared_ptr<UnaryModule> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& layer : layers_) y = layer->forward(y);
  return y;
}

Tensor activate(const Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::GeluErf: return gelu(x, GeluApproximation::Erf);
    case Activation::GeluTanh: return gelu(x, GeluApproximation::Tanh);
    case Activation::ReLU: return relu(x);
  }
  throw Error("[activate] unknown activation");
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::GeluErf: return "gelu";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::ReLU: return "relu";
  }
  throw Error("[activation_name] unknown activation");
}

Activation activation_from_name(const std::string& name) {
  if (name == "gelu") return Activation::GeluErf;
  if (name == "gelu_tanh") return Activation::GeluTanh;
  if (name == "relu") return Activation::ReLU;
  throw Error(fmt::format("[activation_from_name] activation must be \"gelu\", \"gelu_tanh\" or \"relu\", got \"{}\"",
                          name));
}

FeedForward::FeedForward(std::int64_t dim, std::int64_t hidden, double dropout_p, Generator& generator,
                         GeluApproximation approximation)
    : FeedForward(dim, hidden, dropout_p, generator,
                  approximation == GeluApproximation::Tanh ? Activation::GeluTanh : Activation::GeluErf) {}

FeedForward::FeedForward(std::int64_t dim, std::int64_t hidden, double dropout_p, Generator& generator,
                         Activation activation)
    : activation(activation) {
  config_checks::positive("FeedForward", "dim", dim);
  config_checks::positive("FeedForward", "hidden", hidden);
  config_checks::probability("FeedForward", "dropout", dropout_p);
  w1 = register_module("w1", std::make_shared<Linear>(dim, hidden, true, generator));
  w2 = register_module("w2", std::make_shared<Linear>(hidden, dim, true, generator));
  dropout = register_module("dropout", std::make_shared<Dropout>(dropout_p, generator));
}

Tensor FeedForward::forward(const Tensor& x) { return w2->forward(dropout->forward(activate(w1->forward(x), activation))); }

}  // namespace moegrad::nn
