// TCD's relation losses: a 3-token example worked by hand, padding kept out of every matrix and
// mean, the layer map, f64 gradchecks of each loss, bad input, and a BERT teacher/student pair
// read through their taps records.
#include <cmath>

#include "distill/tcd.h"
#include "nn/bert.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::distill;

namespace {
Tensor doubles(std::vector<double> values, const Shape& shape) { return from_vector(values, shape); }
Tensor mask(std::vector<std::int64_t> values, const Shape& shape) { return from_vector(values, shape); }

// The hand example. Student rows x1 = (1,0), x2 = (0,1), x3 = (1,1); teacher rows y1 = (1,0),
// y2 = (1,0), y3 = (0,2).
//   R_S = cos(x_i, x_j) = | 1    0    1/√2 |      R_T = | 1 1 0 |
//                         | 0    1    1/√2 |            | 1 1 0 |
//                         | 1/√2 1/√2 1    |            | 0 0 1 |
//   R_S − R_T: the diagonal 0; (1,2) and (2,1): 0 − 1 = −1; (1,3), (3,1), (2,3), (3,2): 1/√2 − 0.
//   Σ squares = 2·1 + 4·(1/2) = 4, over 3² = 9 pairs: D = 4/9.
//   Σ absolutes = 2·1 + 4·(1/√2) = 2 + 2√2, over 9: (2 + 2√2)/9.
//   Token 3 padding: only pairs among {1,2} count: squares 0 + 1 + 1 + 0 = 2, over 2² = 4: D = 1/2.
const std::vector<double> kStudent = {1, 0, 0, 1, 1, 1};
const std::vector<double> kTeacher = {1, 0, 1, 0, 0, 2};
}  // namespace

TEST_CASE("tcd: the relation matrix is the cosine of every pair of rows") {
  Tensor r = relation_matrix(doubles(kStudent, {3, 2}));
  double h = 1.0 / std::sqrt(2.0);
  check_close(r, {1, 0, h, 0, 1, h, h, h, 1}, 1e-9);
  // Rows scale away: R(3X) = R(X). A zero row gives a zero row of R, not NaN.
  check_close(relation_matrix(doubles({3, 0, 0, 3, 3, 3}, {3, 2})), r, 1e-9);
  check_close(relation_matrix(doubles({0, 0, 1, 0}, {2, 2})), {0, 0, 0, 1}, 1e-9);
}

TEST_CASE("tcd: relation distance on the 3-token example worked by hand") {
  Tensor s = doubles(kStudent, {1, 3, 2}), t = doubles(kTeacher, {1, 3, 2});
  check_close(relation_distance(s, t), {4.0 / 9.0}, 1e-9);
  check_close(relation_distance(s, t, mask({1, 1, 1}, {1, 3})), {4.0 / 9.0}, 1e-9);
  check_close(relation_distance(s, t, Tensor(), RelationDistance::MeanAbsolute), {(2.0 + 2.0 * std::sqrt(2.0)) / 9.0},
              1e-9);
  // Identical relations give 0 even at different widths: the teacher here is the student with a
  // zero third feature appended, so every cosine is the same.
  check_close(relation_distance(s, doubles({1, 0, 0, 0, 1, 0, 1, 1, 0}, {1, 3, 3})), {0.0}, 1e-12);
}

TEST_CASE("tcd: padding is left out of every relation matrix and every mean") {
  Tensor s = doubles(kStudent, {1, 3, 2}), t = doubles(kTeacher, {1, 3, 2});
  check_close(relation_distance(s, t, mask({1, 1, 0}, {1, 3})), {0.5}, 1e-9);
  // Whatever the padded token holds, the distance and its gradient do not see it.
  Tensor other = doubles({1, 0, 0, 1, -7, 40}, {1, 3, 2}).requires_grad_();
  Tensor loss = relation_distance(other, t, mask({1, 1, 0}, {1, 3}));
  check_close(loss, {0.5}, 1e-9);
  loss.backward();
  std::vector<double> grad = other.grad().to_vector<double>();
  CHECK(grad[4] == 0.0);
  CHECK(grad[5] == 0.0);

  // Two sequences, the second with one padded token: each is averaged over its own real pairs,
  // then the sequences are averaged: (4/9 + 1/2) / 2 = 17/36 (not all pairs pooled: 6/13).
  Tensor s2 = doubles({1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 5, 5}, {2, 3, 2});
  Tensor t2 = doubles({1, 0, 1, 0, 0, 2, 1, 0, 1, 0, 9, 9}, {2, 3, 2});
  check_close(relation_distance(s2, t2, mask({1, 1, 1, 1, 1, 0}, {2, 3})), {17.0 / 36.0}, 1e-9);
  // A sequence with no real token is left out of the mean: only the first counts.
  check_close(relation_distance(s2, t2, mask({1, 1, 1, 0, 0, 0}, {2, 3})), {4.0 / 9.0}, 1e-9);
}

TEST_CASE("tcd: per-head relations are averaged over heads") {
  // Head 0 is the hand example (4/9); head 1 has identical student and teacher rows (0): mean 2/9.
  std::vector<double> same = {2, 1, 0, 3, 1, 1};
  std::vector<double> student = kStudent, teacher = kTeacher;
  student.insert(student.end(), same.begin(), same.end());
  teacher.insert(teacher.end(), same.begin(), same.end());
  check_close(relation_distance(doubles(student, {1, 2, 3, 2}), doubles(teacher, {1, 2, 3, 2})), {2.0 / 9.0}, 1e-9);
}

TEST_CASE("tcd: the uniform layer map") {
  // Equal depths: the identity.
  for (std::int64_t l = 0; l < 4; ++l) CHECK(tcd_layer_map(l, 4, 4) == l);
  // 2 student layers on 4: m·N/M = 2, 4 -> teacher layers 1 and 3 (0-based): the last meets the last.
  CHECK(tcd_layer_map(0, 2, 4) == 1);
  CHECK(tcd_layer_map(1, 2, 4) == 3);
  // 4 student layers on 2: ⌊m/2⌋ = 0, 1, 1, 2, at least 1 -> 0, 0, 0, 1.
  CHECK(tcd_layer_map(0, 4, 2) == 0);
  CHECK(tcd_layer_map(1, 4, 2) == 0);
  CHECK(tcd_layer_map(2, 4, 2) == 0);
  CHECK(tcd_layer_map(3, 4, 2) == 1);
  CHECK_THROWS_AS(tcd_layer_map(2, 2, 4), Error);
  CHECK_THROWS_AS(tcd_layer_map(-1, 2, 4), Error);
  CHECK_THROWS_AS(tcd_layer_map(0, 0, 4), Error);
}

namespace {
// A record shaped like a Transformer's taps: trunk and ffn_branch (B,T,D), context (B,H,T,Dh).
nn::Taps record_of(const std::vector<Tensor>& trunk, const std::vector<Tensor>& ffn, const std::vector<Tensor>& context) {
  nn::Taps taps;
  for (std::size_t l = 0; l < trunk.size(); ++l) {
    taps.put(fmt::format("layers.{}.trunk", l), trunk[l]);
    taps.put(fmt::format("layers.{}.ffn_branch", l), ffn[l]);
    taps.put(fmt::format("layers.{}.attention.context", l), context[l]);
  }
  return taps;
}
}  // namespace

TEST_CASE("tcd: tcd_loss sums the positions over mapped layers, times beta") {
  Tensor s = doubles(kStudent, {1, 3, 2}), t = doubles(kTeacher, {1, 3, 2});
  Tensor s_heads = reshape(s, {1, 1, 3, 2}), t_heads = reshape(t, {1, 1, 3, 2});
  Tensor junk = doubles({5, -1, 2, 2, -3, 1}, {1, 3, 2});
  // Student: 1 layer. Teacher: 2 layers; the map sends student layer 0 to teacher layer 1 (0-based),
  // so teacher layer 0 holds junk that must not be read.
  nn::Taps student = record_of({s}, {s}, {s_heads});
  nn::Taps teacher = record_of({junk, t}, {junk, s}, {reshape(junk, {1, 1, 3, 2}), t_heads});
  // L_T = 4/9 (the hand example), L_I = 0 (same rows), L_A = 4/9; β = 1: 8/9.
  TcdLoss loss = tcd_loss(student, teacher, 1, 2, Tensor());
  check_close(loss.trunk, {4.0 / 9.0}, 1e-9);
  check_close(loss.inner, {0.0}, 1e-12);
  check_close(loss.attention, {4.0 / 9.0}, 1e-9);
  check_close(loss.total, {8.0 / 9.0}, 1e-9);

  TcdConfig only_trunk;
  only_trunk.inner = only_trunk.attention = false;
  only_trunk.beta = 2.0;
  check_close(tcd_loss(student, teacher, 1, 2, Tensor(), only_trunk).total, {8.0 / 9.0}, 1e-9);
  CHECK(tcd_positions_name(only_trunk) == "T");
  CHECK(tcd_positions_name(TcdConfig{}) == "T+I+A");

  // An explicit map pointing at the junk layer changes the result.
  TcdConfig to_junk;
  to_junk.layer_map = {0};
  CHECK(tcd_loss(student, teacher, 1, 2, Tensor(), to_junk).trunk.item() != doctest::Approx(4.0 / 9.0));
  // Padding mask reaches every position: token 3 out -> L_T = L_A = 1/2.
  check_close(tcd_loss(student, teacher, 1, 2, mask({1, 1, 0}, {1, 3})).total, {1.0}, 1e-9);
}

TEST_CASE("tcd: each loss passes gradcheck in float64 with padding") {
  Tensor token_mask = mask({1, 1, 1, 1, 1, 0, 1, 0, 0}, {3, 3});
  Tensor teacher_tokens = leaf({3, 3, 5}, 1);
  Tensor teacher_heads = leaf({3, 2, 3, 2}, 2);
  for (RelationDistance distance : {RelationDistance::MeanSquared, RelationDistance::MeanAbsolute}) {
    check_gradients([&](const std::vector<Tensor>& v) { return relation_distance(v[0], teacher_tokens, token_mask, distance); },
                    {leaf({3, 3, 4}, 3)});
    check_gradients([&](const std::vector<Tensor>& v) { return relation_distance(v[0], teacher_heads, token_mask, distance); },
                    {leaf({3, 2, 3, 2}, 4)});
  }
  check_gradients([&](const std::vector<Tensor>& v) { return relation_matrix(v[0]); }, {leaf({2, 3, 4}, 5)});

  // The whole loss through two records, each position and all together.
  nn::Taps teacher = record_of({leaf({3, 3, 4}, 6), leaf({3, 3, 4}, 7)}, {leaf({3, 3, 4}, 8), leaf({3, 3, 4}, 9)},
                               {leaf({3, 2, 3, 2}, 10), leaf({3, 2, 3, 2}, 11)});
  for (int which = 0; which < 4; ++which) {
    TcdConfig config;
    if (which < 3) {
      config.trunk = which == 0;
      config.inner = which == 1;
      config.attention = which == 2;
    }
    config.beta = 0.5;
    check_gradients(
        [&](const std::vector<Tensor>& v) {
          return tcd_loss(record_of({v[0]}, {v[1]}, {v[2]}), teacher, 1, 2, token_mask, config).total;
        },
        {leaf({3, 3, 3}, 12), leaf({3, 3, 3}, 13), leaf({3, 2, 3, 4}, 14)});
  }
}

TEST_CASE("tcd: bad input is a clear error") {
  Tensor s = doubles(kStudent, {1, 3, 2}), t = doubles(kTeacher, {1, 3, 2});
  CHECK_THROWS_AS(relation_distance(s, doubles({1, 0, 1, 0}, {1, 2, 2})), ShapeError);           // T differs
  CHECK_THROWS_AS(relation_distance(s, reshape(t, {1, 1, 3, 2})), ShapeError);                 // ranks differ
  CHECK_THROWS_AS(relation_distance(doubles(kStudent, {3, 2}), doubles(kTeacher, {3, 2})), ShapeError);  // no batch
  CHECK_THROWS_AS(relation_distance(s, t, mask({1, 1}, {1, 2})), ShapeError);                  // mask shape
  CHECK_THROWS_AS(relation_distance(s, t, mask({0, 0, 0}, {1, 3})), Error);                    // nothing real
  CHECK_THROWS_AS(relation_distance(reshape(s, {1, 1, 3, 2}), doubles({1, 0, 1, 0, 0, 2, 1, 0, 1, 0, 0, 2}, {1, 2, 3, 2})),
                  ShapeError);  // head counts differ
  CHECK_THROWS_AS(relation_matrix(doubles({1, 2}, {2})), ShapeError);

  nn::Taps student = record_of({s}, {s}, {reshape(s, {1, 1, 3, 2})});
  nn::Taps teacher = record_of({t}, {t}, {reshape(t, {1, 1, 3, 2})});
  TcdConfig wrong_map;
  wrong_map.layer_map = {0, 0};
  CHECK_THROWS_AS(tcd_loss(student, teacher, 1, 1, Tensor(), wrong_map), Error);
  wrong_map.layer_map = {3};
  CHECK_THROWS_AS(tcd_loss(student, teacher, 1, 1, Tensor(), wrong_map), Error);
  TcdConfig nothing;
  nothing.trunk = nothing.inner = nothing.attention = false;
  CHECK_THROWS_AS(tcd_loss(student, teacher, 1, 1, Tensor(), nothing), Error);
  TcdConfig query;
  query.attention_tensor = AttentionRelation::Query;  // not in these records: Taps::get names what is there
  CHECK_THROWS_AS(tcd_loss(student, teacher, 1, 1, Tensor(), query), Error);
}

TEST_CASE("tcd: a BERT student and teacher through their taps records") {
  nn::BertConfig config;
  config.vocab_size = 20;
  config.dim = 8;
  config.heads = 2;
  config.layers = 2;
  config.ffn_hidden = 16;
  config.dropout = 0.0;
  Generator g1(1), g2(1), g3(2);
  nn::BertEncoder student(config, g1), twin(config, g2), other(config, g3);
  twin.eval();
  other.eval();
  Tensor ids = from_vector(std::vector<std::int64_t>{2, 7, 9, 3, 2, 5, 3, 0}, {2, 4});
  Tensor token_mask = mask({1, 1, 1, 1, 1, 1, 1, 0}, {2, 4});
  TcdConfig tcd;
  auto run = [&](nn::BertEncoder& model) {
    nn::Taps record(tcd_tap_patterns(tcd));
    model.forward(ids, Tensor(), token_mask, &record);
    return record;
  };
  nn::Taps s = run(student);
  // Same weights: every relation matches.
  check_close(tcd_loss(s, run(twin), 2, 2, token_mask, tcd).total, {0.0}, 1e-9);
  // Other weights: a positive loss whose gradient reaches the student and not the teacher.
  nn::Taps t = run(other);
  TcdLoss loss = tcd_loss(s, t, 2, 2, token_mask, tcd);
  CHECK(loss.trunk.item() > 0.0);
  CHECK(loss.inner.item() > 0.0);
  CHECK(loss.attention.item() > 0.0);
  loss.total.backward();
  CHECK(student.layers->at(0)->attention->query->weight.grad().defined());
  CHECK_FALSE(other.layers->at(0)->attention->query->weight.grad().defined());
}
