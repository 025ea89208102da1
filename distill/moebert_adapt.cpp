// MoEBERT's adapted MoE layer, the in-place swap of a BERT's FFNs, and the distillation objective
// (see moebert_adapt.h for the equations).
#include "distill/moebert_adapt.h"

#include <fmt/format.h>

#include <string>
#include <utility>

#include "distill/layerwise.h"
#include "moe/hash_router.h"
#include "tensor/errors.h"
#include "tensor/graph.h"
#include "tensor/shape.h"

namespace moegrad::distill {

void load_split(moe::MoELayer& layer, const ExpertSplit& split) {
  std::pair<Tensor*, const Tensor*> pairs[] = {{&layer.w1, &split.w1}, {&layer.b1, &split.b1},
                                               {&layer.w2, &split.w2}, {&layer.b2, &split.b2}};
  const char* names[] = {"w1", "b1", "w2", "b2"};
  for (int i = 0; i < 4; ++i) {
    if (!pairs[i].second->defined() || pairs[i].first->shape() != pairs[i].second->shape()) {
      throw ShapeError(fmt::format("[load_split] the layer's {} is {} but the split's is {}", names[i],
                                   shape_str(pairs[i].first->shape()),
                                   pairs[i].second->defined() ? shape_str(pairs[i].second->shape()) : "undefined"));
    }
  }
  NoGradGuard no_grad;
  for (auto [into, from] : pairs) into->copy_(*from);
}

std::shared_ptr<moe::MoELayer> adapted_moe_layer(const ExpertSplit& split, std::shared_ptr<moe::Router> router) {
  if (!split.w1.defined() || split.w1.dim() != 3) throw ShapeError("[adapted_moe_layer] the split has no (E,D,H_e) w1");
  if (!router || router->num_experts() != split.w1.size(0)) {
    throw Error(fmt::format("[adapted_moe_layer] the router must route to the split's {} experts, got {}",
                            split.w1.size(0), router ? router->num_experts() : 0));
  }
  moe::MoELayerConfig config;
  config.dim = split.w1.size(1);
  config.expert_hidden = split.w1.size(2);
  config.capacity_factor_train = 0.0;  // dropless: like the dense FFN, every token is processed
  config.capacity_factor_eval = 0.0;
  config.z_loss_weight = 0.0;
  config.activation = split.activation;
  auto layer = std::make_shared<moe::MoELayer>(config, std::move(router));
  layer->to(split.w1.dtype());
  load_split(*layer, split);
  return layer;
}

std::vector<ExpertSplit> adapt_encoder_to_moe(nn::BertEncoder& encoder, const std::vector<Tensor>& importance,
                                              std::int64_t experts, std::int64_t shared,
                                              const Tensor& expert_of_token) {
  const std::size_t layers = encoder.layers->size();
  if (importance.size() != layers) {
    throw Error(fmt::format("[adapt_encoder_to_moe] need one importance vector per layer ({}), got {}", layers,
                            importance.size()));
  }
  std::vector<ExpertSplit> splits;
  for (std::size_t i = 0; i < layers; ++i) {
    nn::TransformerEncoderLayer& layer = (*encoder.layers)[i];
    auto* dense = dynamic_cast<nn::FeedForward*>(layer.ffn.get());
    if (!dense) throw Error(fmt::format("[adapt_encoder_to_moe] layer {}'s FFN is not a dense FeedForward", i));
    splits.push_back(split_into_experts(*dense, importance[i], experts, shared));
    layer.set_ffn(adapted_moe_layer(splits.back(), std::make_shared<moe::HashRouter>(expert_of_token, experts)));
  }
  return splits;
}

Tensor prediction_kl(const Tensor& student_logits, const Tensor& teacher_logits) {
  if (student_logits.dim() == 0 || student_logits.shape() != teacher_logits.shape()) {
    throw ShapeError(fmt::format("[prediction_kl] student logits {} and teacher logits {} must have the same shape "
                                 "with a class axis",
                                 shape_str(student_logits.shape()), shape_str(teacher_logits.shape())));
  }
  Tensor teacher_log_probs = log_softmax(detach(teacher_logits), -1);
  Tensor per_row = sum(exp(teacher_log_probs) * (teacher_log_probs - log_softmax(student_logits, -1)), {-1});
  return mean(per_row);
}

MoebertLoss moebert_loss(const nn::Taps& student, const nn::Taps& teacher, std::int64_t layers,
                         const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& task_loss,
                         double lambda, const Tensor& token_mask) {
  if (!(lambda >= 0.0)) throw Error(fmt::format("[moebert_loss] λ must be >= 0, got {}", lambda));
  if (layers < 0) throw Error(fmt::format("[moebert_loss] layers must be >= 0, got {}", layers));
  if (!task_loss.defined() || task_loss.dim() != 0) {
    throw ShapeError("[moebert_loss] the task loss must be a 0-d tensor");
  }
  MoebertLoss loss;
  // l = 0 is the embedding output, l >= 1 the output of layer l ("layers.{l−1}.trunk").
  for (std::int64_t l = 0; l <= layers; ++l) {
    std::string name = l == 0 ? "embeddings" : fmt::format("layers.{}.trunk", l - 1);
    Tensor term = hidden_state_mse(student.get(name), teacher.get(name), nullptr, token_mask);
    loss.hidden = l == 0 ? term : loss.hidden + term;
  }
  loss.prediction = prediction_kl(student_logits, teacher_logits);
  loss.total = task_loss + (loss.hidden + loss.prediction) * lambda;
  return loss;
}

}  // namespace moegrad::distill
