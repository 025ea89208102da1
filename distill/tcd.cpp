// Transfer Capability Distillation's relation losses (see tcd.h for the equations and our reading).
#include "distill/tcd.h"

#include <fmt/format.h>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "tensor/errors.h"
#include "tensor/shape.h"

namespace moegrad::distill {
namespace {

// token_mask (B,T) as 0/1 in like's dtype (all ones when undefined), checked against like's (B, T).
Tensor real_tokens(const Tensor& token_mask, std::int64_t batch, std::int64_t tokens, const Tensor& like) {
  if (!token_mask.defined()) return ones({batch, tokens}, like.dtype(), like.device());
  if (token_mask.shape() != Shape{batch, tokens}) {
    throw ShapeError(fmt::format("[relation_distance] token_mask {} must be (B,T) = ({},{})",
                                 shape_str(token_mask.shape()), batch, tokens));
  }
  return to_dtype(ne(token_mask, scalar_like(token_mask, 0.0)), like.dtype());
}

const char* attention_tap(AttentionRelation which) {
  switch (which) {
    case AttentionRelation::Context: return "attention.context";
    case AttentionRelation::Query: return "attention.q";
    case AttentionRelation::Key: return "attention.k";
    case AttentionRelation::Value: return "attention.v";
  }
  return "attention.context";
}

// The mean over layers of D(student tap, teacher tap at g(l)).
Tensor layer_mean(const nn::Taps& student, const nn::Taps& teacher, const std::string& tap,
                  const std::vector<std::int64_t>& map, const Tensor& token_mask, RelationDistance distance) {
  Tensor total;
  for (std::size_t l = 0; l < map.size(); ++l) {
    Tensor d = relation_distance(student.get(fmt::format("layers.{}.{}", l, tap)),
                                 teacher.get(fmt::format("layers.{}.{}", map[l], tap)), token_mask, distance);
    total = total.defined() ? total + d : d;
  }
  return total / static_cast<double>(map.size());
}

}  // namespace

// R = X̂ X̂ᵀ with X̂ = X / √(‖x‖² + eps) row by row: (..., T, D) -> (..., T, T).
Tensor relation_matrix(const Tensor& x, double eps) {
  if (x.dim() < 2) throw ShapeError(fmt::format("[relation_matrix] x {} must be (..., T, D)", shape_str(x.shape())));
  Tensor normalised = x / sqrt(sum(square(x), {-1}, true) + eps);
  return matmul(normalised, transpose(normalised, -1, -2));
}

Tensor relation_distance(const Tensor& student, const Tensor& teacher, const Tensor& token_mask,
                         RelationDistance distance) {
  // Token vectors (B,T,D) or per-head vectors (B,H,T,Dh); widths may differ, the rest may not.
  bool per_head = student.dim() == 4;
  if ((student.dim() != 3 && !per_head) || teacher.dim() != student.dim() || student.shape()[0] != teacher.shape()[0] ||
      student.shape()[student.dim() - 2] != teacher.shape()[teacher.dim() - 2] ||
      (per_head && student.shape()[1] != teacher.shape()[1])) {
    throw ShapeError(fmt::format("[relation_distance] student {} and teacher {} must be (B,T,D) or (B,H,T,Dh) with "
                                 "equal B, T (and H); only the widths may differ",
                                 shape_str(student.shape()), shape_str(teacher.shape())));
  }
  std::int64_t batch = student.shape()[0], tokens = student.shape()[student.dim() - 2];
  std::int64_t heads = per_head ? student.shape()[1] : 1;
  Tensor real = real_tokens(token_mask, batch, tokens, student);  // (B,T)

  // Pair weights (B,1,T,T): 1 where query and key are both real.
  Tensor pairs = unsqueeze(unsqueeze(real, 2) * unsqueeze(real, 1), 1);
  Tensor r_student = relation_matrix(per_head ? student : unsqueeze(student, 1));          // (B,H,T,T)
  Tensor r_teacher = relation_matrix(detach(per_head ? teacher : unsqueeze(teacher, 1)));  // (B,H,T,T)
  // where() drops padded pairs before the distance, so they also get zero gradient.
  Tensor difference = where(pairs, r_student - r_teacher, scalar_like(r_student, 0.0));
  Tensor pointwise = distance == RelationDistance::MeanSquared ? square(difference) : abs(difference);

  // Per sequence: Σ over its real pairs and heads / (n_b² · H); then the mean over sequences that
  // have a real token.
  Tensor real_count = sum(real, {1});                                  // (B) n_b
  Tensor has_tokens = to_dtype(gt(real_count, scalar_like(real_count, 0.0)), real.dtype());
  double sequences = sum(has_tokens).item();
  if (sequences <= 0.0) throw Error("[relation_distance] the token mask leaves no real token to compare");
  Tensor denominator = maximum(square(real_count), scalar_like(real_count, 1.0)) * static_cast<double>(heads);
  Tensor per_sequence = sum(pointwise, {1, 2, 3}) / denominator;      // (B)
  return sum(per_sequence * has_tokens) / sequences;
}

std::int64_t tcd_layer_map(std::int64_t student_layer, std::int64_t student_layers, std::int64_t teacher_layers) {
  if (student_layers < 1 || teacher_layers < 1 || student_layer < 0 || student_layer >= student_layers) {
    throw Error(fmt::format("[tcd_layer_map] need 0 <= l < M, M >= 1, N >= 1; got l = {}, M = {}, N = {}",
                            student_layer, student_layers, teacher_layers));
  }
  std::int64_t m = student_layer + 1;
  return std::max<std::int64_t>(1, m * teacher_layers / student_layers) - 1;
}

TcdLoss tcd_loss(const nn::Taps& student, const nn::Taps& teacher, std::int64_t student_layers,
                 std::int64_t teacher_layers, const Tensor& token_mask, const TcdConfig& config) {
  std::vector<std::int64_t> map = config.layer_map;
  if (map.empty()) {
    for (std::int64_t l = 0; l < student_layers; ++l) map.push_back(tcd_layer_map(l, student_layers, teacher_layers));
  }
  if (static_cast<std::int64_t>(map.size()) != student_layers) {
    throw Error(fmt::format("[tcd_loss] layer_map has {} entries for {} student layers", map.size(), student_layers));
  }
  for (std::int64_t g : map) {
    if (g < 0 || g >= teacher_layers) {
      throw Error(fmt::format("[tcd_loss] layer_map entry {} is outside the teacher's {} layers", g, teacher_layers));
    }
  }
  if (!config.trunk && !config.inner && !config.attention) {
    throw Error("[tcd_loss] the config turns off all three positions (trunk, inner, attention)");
  }

  TcdLoss loss;
  Tensor zero = zeros({}, student.get(fmt::format("layers.0.trunk")).dtype());
  loss.trunk = config.trunk ? layer_mean(student, teacher, "trunk", map, token_mask, config.distance) : zero;
  loss.inner = zero;
  if (config.inner) {
    loss.inner = layer_mean(student, teacher, "ffn_branch", map, token_mask, config.distance);
    if (config.inner_includes_attention_branch) {
      loss.inner = loss.inner + layer_mean(student, teacher, "attention_branch", map, token_mask, config.distance);
    }
  }
  loss.attention = config.attention ? layer_mean(student, teacher, attention_tap(config.attention_tensor), map,
                                                 token_mask, config.distance)
                                    : zero;
  loss.total = (loss.trunk + loss.inner + loss.attention) * config.beta;
  return loss;
}

std::vector<std::string> tcd_tap_patterns(const TcdConfig& config) {
  // The trunk is always tapped: tcd_loss reads its dtype.
  std::vector<std::string> patterns = {"layers.*.trunk"};
  if (config.inner) patterns.push_back("layers.*.ffn_branch");
  if (config.inner && config.inner_includes_attention_branch) patterns.push_back("layers.*.attention_branch");
  if (config.attention) patterns.push_back(fmt::format("layers.*.{}", attention_tap(config.attention_tensor)));
  return patterns;
}

std::string tcd_positions_name(const TcdConfig& config) {
  std::string name;
  auto add = [&](bool on, const char* letter) {
    if (!on) return;
    if (!name.empty()) name += "+";
    name += letter;
  };
  add(config.trunk, "T");
  add(config.inner, "I");
  add(config.attention, "A");
  return name.empty() ? "none" : name;
}

}  // namespace moegrad::distill
