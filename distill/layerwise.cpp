// TinyBERT's and MobileBERT's layer-wise losses (see layerwise.h for the equations).
#include "distill/layerwise.h"

#include <fmt/format.h>

#include <string>

#include "distill/kd.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/shape.h"

namespace moegrad::distill {
namespace {

// The −1e9 the attention writes at padded keys (nn/attention.cpp); anything this low is a mask.
constexpr double kMaskedScore = -1e8;

// token_mask (B,T) as 0/1 in like's dtype; all ones when undefined. like is (B,T,D) or (B,H,T,T):
// its token axis is the one before last.
Tensor real_tokens(const Tensor& token_mask, const Tensor& like, const char* op) {
  Shape grid = {like.shape()[0], like.shape()[like.dim() - 2]};
  if (!token_mask.defined()) return ones(grid, like.dtype(), like.device());
  if (token_mask.shape() != grid) {
    throw ShapeError(fmt::format("[{}] token_mask {} must be (B,T) = {}", op, shape_str(token_mask.shape()),
                                 shape_str(grid)));
  }
  return to_dtype(ne(token_mask, scalar_like(token_mask, 0.0)), like.dtype());
}

void check_same_shape(const char* op, const Tensor& student, const Tensor& teacher, std::int64_t dims) {
  if (student.dim() != dims || student.shape() != teacher.shape()) {
    throw ShapeError(fmt::format("[{}] student {} and teacher {} must have the same {}-d shape", op,
                                 shape_str(student.shape()), shape_str(teacher.shape()), dims));
  }
}

double count_or_throw(const Tensor& weights, const char* op) {
  double count = sum(weights).item();
  if (count <= 0.0) throw Error(fmt::format("[{}] the token mask leaves no real token to compare", op));
  return count;
}

// Which (query, key) entries of a (B,H,T,T) attention tensor count: both tokens real. -> (B,1,T,T)
Tensor real_pairs(const Tensor& real /*(B,T)*/) {
  return unsqueeze(unsqueeze(real, 1), 3) * unsqueeze(unsqueeze(real, 1), 2);
}

}  // namespace

std::int64_t tinybert_layer_map(std::int64_t m, std::int64_t student_layers, std::int64_t teacher_layers) {
  if (student_layers < 1 || teacher_layers < student_layers || m < 0 || m > student_layers + 1) {
    throw Error(fmt::format("[tinybert_layer_map] need 1 <= M <= N and 0 <= m <= M+1, got m = {}, M = {}, N = {}", m,
                            student_layers, teacher_layers));
  }
  if (m == student_layers + 1) return teacher_layers + 1;  // prediction layer to prediction layer
  return m * teacher_layers / student_layers;              // g(0) = 0: embeddings to embeddings
}

Tensor hidden_state_mse(const Tensor& student, const Tensor& teacher, nn::Linear* projection, const Tensor& token_mask) {
  // H^S W_h (B,T,D_T); the teacher is a target, not a path for gradient.
  Tensor projected = projection ? projection->forward(student) : student;
  check_same_shape("hidden_state_mse", projected, teacher, 3);
  Tensor real = real_tokens(token_mask, teacher, "hidden_state_mse");  // (B,T)
  // Squared error per token (B,T), summed over real tokens, divided by (real tokens · D_T).
  Tensor per_token = sum(square(projected - detach(teacher)), {-1});
  double count = count_or_throw(real, "hidden_state_mse") * static_cast<double>(teacher.shape()[2]);
  return sum(per_token * real) / count;
}

Tensor feature_map_transfer(const Tensor& student, const Tensor& teacher, const Tensor& token_mask,
                            FeatureMomentWeights moment_weights) {
  check_same_shape("feature_map_transfer", student, teacher, 3);  // MobileBERT compares 512-wide maps directly
  Tensor loss = hidden_state_mse(student, teacher, nullptr, token_mask);
  if (moment_weights.mean == 0.0 && moment_weights.variance == 0.0) return loss;  // the paper's eq. (1)
  FeatureMomentLoss moments = feature_moment_transfer(student, teacher, token_mask);
  return loss + moments.mean * moment_weights.mean + moments.variance * moment_weights.variance;
}

FeatureMomentLoss feature_moment_transfer(const Tensor& student, const Tensor& teacher, const Tensor& token_mask) {
  check_same_shape("feature_moment_transfer", student, teacher, 3);
  Tensor real = real_tokens(token_mask, teacher, "feature_moment_transfer");  // (B,T)
  double count = count_or_throw(real, "feature_moment_transfer");
  // per-token mean μ_t and population variance σ²_t over the D features: (B,T)
  auto moments = [](const Tensor& h) {
    Tensor mu = mean(h, {-1});
    return std::pair{mu, mean(square(h - unsqueeze(mu, -1)), {-1})};
  };
  auto [student_mean, student_variance] = moments(student);
  auto [teacher_mean, teacher_variance] = moments(detach(teacher));
  return {sum(square(teacher_mean - student_mean) * real) / count,
          sum(square(teacher_variance - student_variance) * real) / count};
}

Tensor attention_score_mse(const Tensor& student_scores, const Tensor& teacher_scores, const Tensor& token_mask) {
  check_same_shape("attention_score_mse", student_scores, teacher_scores, 4);
  Tensor teacher = detach(teacher_scores);
  Tensor pairs = real_pairs(real_tokens(token_mask, teacher, "attention_score_mse"));  // (B,1,T,T)

  // A −1e9 among the counted entries means a mask we were not told about: refuse, do not average it.
  for (const Tensor& scores : {detach(student_scores), teacher}) {
    if (min(where(pairs, scores, scalar_like(scores, 0.0))).item() <= kMaskedScore) {
      throw Error("[attention_score_mse] a masked score (-1e9) lies among the counted entries: pass the token_mask "
                  "the model was run with (causal masks are not supported)");
    }
  }
  // Drop the uncounted entries before squaring: where() also gives them zero gradient.
  Tensor difference = where(pairs, student_scores - teacher, scalar_like(teacher, 0.0));  // (B,H,T,T)
  double count = count_or_throw(pairs, "attention_score_mse") * static_cast<double>(teacher.shape()[1]);
  return sum(square(difference)) / count;
}

Tensor attention_transfer(const Tensor& student_probs, const Tensor& teacher_probs, const Tensor& token_mask) {
  check_same_shape("attention_transfer", student_probs, teacher_probs, 4);
  Tensor real = real_tokens(token_mask, teacher_probs, "attention_transfer");  // (B,T)
  Tensor real_keys = unsqueeze(unsqueeze(real, 1), 2);                           // (B,1,1,T)
  Tensor real_queries = unsqueeze(real, 1);                                      // (B,1,T)

  // Teacher distribution on real keys (padded keys hold ~0 anyway); log of the student's, with
  // padded keys set to 1 so no log 0 (and no 0·∞ in the gradient) appears. The floor of 1e-30 only
  // keeps a student probability that underflowed to 0 from making the loss infinite.
  Tensor target = where(real_keys, detach(teacher_probs), scalar_like(teacher_probs, 0.0));
  Tensor log_student = log(clamp(where(real_keys, student_probs, scalar_like(student_probs, 1.0)), 1e-30, std::nullopt));
  // KL per (batch, head, query) (B,H,T) = Σ_keys p_t (log p_t − log p_s), then the mean over heads
  // and real queries.
  Tensor per_query = sum(kl_div(log_student, target, Reduction::None), {-1});
  double count = count_or_throw(real, "attention_transfer") * static_cast<double>(teacher_probs.shape()[1]);
  return sum(per_query * real_queries) / count;
}

TinyBertProjections::TinyBertProjections(std::int64_t student_layers, std::int64_t student_dim,
                                         std::int64_t teacher_dim, Generator& generator)
    : student_layers(student_layers) {
  if (student_layers < 1) throw Error(fmt::format("[TinyBertProjections] need >= 1 student layer, got {}", student_layers));
  hidden = register_module("hidden", std::make_shared<nn::ModuleList<nn::Linear>>());
  if (student_dim == teacher_dim) return;  // nothing to project
  embedding = register_module("embedding", std::make_shared<nn::Linear>(student_dim, teacher_dim, false, generator));
  for (std::int64_t m = 1; m <= student_layers; ++m) {
    hidden->push_back(std::make_shared<nn::Linear>(student_dim, teacher_dim, false, generator));
  }
}

nn::Linear* TinyBertProjections::embedding_projection() { return embedding.get(); }

nn::Linear* TinyBertProjections::hidden_projection(std::int64_t m) {
  if (hidden->size() == 0) return nullptr;
  return &(*hidden)[static_cast<std::size_t>(m - 1)];
}

TinyBertLoss tinybert_loss(const nn::Taps& student, const nn::Taps& teacher, TinyBertProjections& projections,
                           std::int64_t teacher_layers, const Tensor& token_mask, const Tensor& student_logits,
                           const Tensor& teacher_logits) {
  const std::int64_t M = projections.student_layers;
  auto layer = [](std::int64_t m) { return "layers." + std::to_string(m - 1) + "."; };
  TinyBertLoss loss;

  // m = 0: embeddings to embeddings.
  loss.embedding = hidden_state_mse(student.get("embeddings"), teacher.get("embeddings"),
                                    projections.embedding_projection(), token_mask);

  // m = 1..M: student layer m against teacher layer g(m), attention scores and layer outputs.
  for (std::int64_t m = 1; m <= M; ++m) {
    std::string s = layer(m), t = layer(tinybert_layer_map(m, M, teacher_layers));
    Tensor attention = attention_score_mse(student.get(s + "attention.scores"), teacher.get(t + "attention.scores"),
                                           token_mask);
    Tensor hidden = hidden_state_mse(student.get(s + "trunk"), teacher.get(t + "trunk"),
                                     projections.hidden_projection(m), token_mask);
    loss.attention = loss.attention.defined() ? loss.attention + attention : attention;
    loss.hidden = loss.hidden.defined() ? loss.hidden + hidden : hidden;
  }
  loss.total = loss.embedding + loss.attention + loss.hidden;

  // m = M+1: the prediction layer, soft cross-entropy at t = 1 (distill/kd.h).
  if (student_logits.defined()) {
    loss.prediction = soft_cross_entropy(student_logits, teacher_logits, 1.0);
    loss.total = loss.total + loss.prediction;
  }
  return loss;
}

}  // namespace moegrad::distill
