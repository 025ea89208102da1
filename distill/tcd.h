// Transfer Capability Distillation, TCD (Lu, Zhao, Qin, "Vanilla Transformers are Transfer
// Capability Teachers", arXiv 2403.01994, 2024; PAPERS.md §10). An MoE student pre-trains with its
// MLM loss plus losses that align the *relations* between its token representations with those of
// a frozen vanilla teacher:
//
//   R(X) = X̂ X̂ᵀ,  X̂ = rows of X (n × d, one sequence) divided by their L2 norms: R_ij = cos(x_i, x_j)
//   D(R_S, R_T) = mean over valid pairs (i, j) of (R_S,ij − R_T,ij)²
//   L_T = mean_l D(R(trunk_l^S), R(trunk_g(l)^T))              T: the layer output (residual stream)
//   L_I = mean_l D(R(ffn_l^S),   R(ffn_g(l)^T))                I: the FFN/MoE branch before its residual add
//   L_A = mean_l (1/H) Σ_h D(R(ctx_l,h^S), R(ctx_g(l),h^T))    A: per-head context softmax(QKᵀ/√d)V
//   L   = L_MLM + β (L_T + L_I + L_A),  β = 1
//
// The paper's method section was not at hand (PAPERS.md says so), so every choice above is OUR
// READING of it, and each is a field of TcdConfig with that reading as its default: which
// positions, which attention tensor (context, or Q, K, V), the distance, β, the layer map g, and
// whether the residual inner also covers the attention branch.
//
// Padding: token_mask (B,T) holds 1 for real tokens. A pair (i, j) counts only when both are real;
// each sequence's distance is the mean over its own n_b² real pairs, and the loss is the mean over
// sequences (and heads, and layers). R is n × n whatever the widths, so student and teacher may
// differ in width; for A head h meets head h, so the head counts must match (checked).
//
// The losses read the taps records both models fill in their forward (nn/taps.h); the teacher's
// tensors are detached, so only the student learns. tcd_tap_patterns() says what to tap.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/taps.h"

namespace moegrad::distill {

enum class RelationDistance {
  MeanSquared,   // mean (R_S − R_T)²: our reading of the paper (default)
  MeanAbsolute,  // mean |R_S − R_T|: an alternative to compare against
};

// Which per-head tensor the A position relates. Context is our reading; Q, K, V are PAPERS.md's options.
enum class AttentionRelation { Context, Query, Key, Value };

struct TcdConfig {
  bool trunk = true;      // L_T
  bool inner = true;      // L_I
  bool attention = true;  // L_A
  AttentionRelation attention_tensor = AttentionRelation::Context;
  // Also align the attention branch's output (before its residual add) as part of L_I.
  bool inner_includes_attention_branch = false;
  RelationDistance distance = RelationDistance::MeanSquared;
  double beta = 1.0;  // β
  // Teacher layer (0-based) for each student layer; empty: the identity when the depths match,
  // else tcd_layer_map's uniform map.
  std::vector<std::int64_t> layer_map;
};

// R(X): x (..., T, D) -> (..., T, T), rows divided by their norm (√(‖x‖² + eps), so a zero row,
// e.g. a token an MoE layer dropped, gives a zero row of R instead of NaN).
Tensor relation_matrix(const Tensor& x, double eps = 1e-12);

// D(R(student), R(teacher)) for token vectors (B,T,D_S) and (B,T,D_T), or per head (B,H,T,Dh)
// (then averaged over heads). Mean over each sequence's real pairs, then over sequences; sequences
// without a real token are left out. Throws when no sequence has one. Teacher detached.
Tensor relation_distance(const Tensor& student, const Tensor& teacher, const Tensor& token_mask = Tensor(),
                         RelationDistance distance = RelationDistance::MeanSquared);

// The uniform map from student layer l (0-based, of M) to a teacher layer (of N): the 1-based
// m = l + 1 goes to max(1, ⌊m·N/M⌋), TinyBERT's g(m) (so the last layer meets the last layer).
std::int64_t tcd_layer_map(std::int64_t student_layer, std::int64_t student_layers, std::int64_t teacher_layers);

struct TcdLoss {
  Tensor trunk;      // L_T (0 when off)
  Tensor inner;      // L_I
  Tensor attention;  // L_A
  Tensor total;      // β (L_T + L_I + L_A): add it to the student's MLM loss
};

// Reads "layers.i.trunk", "layers.i.ffn_branch" (and "layers.i.attention_branch"),
// "layers.i.attention.context|q|k|v" from both records.
TcdLoss tcd_loss(const nn::Taps& student, const nn::Taps& teacher, std::int64_t student_layers,
                 std::int64_t teacher_layers, const Tensor& token_mask, const TcdConfig& config = {});

// The taps patterns a record needs for tcd_loss with this config (pass to nn::Taps).
std::vector<std::string> tcd_tap_patterns(const TcdConfig& config);

// "T", "I+A", "T+I+A": the positions a config turns on, for tables and run names.
std::string tcd_positions_name(const TcdConfig& config);

}  // namespace moegrad::distill
