// TinyBERT's and MobileBERT's layer-wise losses: numbers worked by hand, padding kept out of every
// mean (and -1e9 out of the attention loss), gradchecks in float64, and a teacher/student pair of
// BertEncoders distilled through their taps records.
#include "distill/layerwise.h"
#include "nn/bert.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::distill;

namespace {
Tensor doubles(std::vector<double> values, const Shape& shape) { return from_vector(values, shape); }
Tensor mask(std::vector<std::int64_t> values, const Shape& shape) { return from_vector(values, shape); }
}  // namespace

TEST_CASE("layerwise: TinyBERT's uniform layer map g(m)") {
  // 4 student layers on 12 teacher layers: g(m) = 3m, g(0) = 0 embeddings, g(5) = 13 prediction.
  CHECK(tinybert_layer_map(0, 4, 12) == 0);
  CHECK(tinybert_layer_map(1, 4, 12) == 3);
  CHECK(tinybert_layer_map(2, 4, 12) == 6);
  CHECK(tinybert_layer_map(4, 4, 12) == 12);
  CHECK(tinybert_layer_map(5, 4, 12) == 13);
  // M does not divide N: floor(m·N/M); 3 student layers on 4: 1, 2, 4.
  CHECK(tinybert_layer_map(2, 3, 4) == 2);
  CHECK(tinybert_layer_map(3, 3, 4) == 4);
  CHECK_THROWS_AS(tinybert_layer_map(6, 4, 12), Error);
  CHECK_THROWS_AS(tinybert_layer_map(1, 4, 2), Error);
}

TEST_CASE("layerwise: hidden-state MSE counts real tokens only, with and without a projection") {
  // Token 0 is real, token 1 padding. Without projection: (1−1)² + (2−1)² over 1 token · 2 features = 0.5.
  Tensor student = doubles({1, 2, 30, 40}, {1, 2, 2});
  Tensor teacher = doubles({1, 1, 1, 1}, {1, 2, 2});
  check_close(hidden_state_mse(student, teacher, nullptr, mask({1, 0}, {1, 2})), {0.5}, 1e-12);
  check_close(feature_map_transfer(student, teacher, mask({1, 0}, {1, 2})), {0.5}, 1e-12);
  // All real: (0 + 1 + 29² + 39²) / 4 = 2363 / 4.
  check_close(feature_map_transfer(student, teacher), {590.75}, 1e-12);

  // W_h maps [a, b] to [a, b, a+b]: token 0 becomes [1, 2, 3]; against zeros, (1 + 4 + 9) / 3.
  nn::Linear projection(2, 3, false);
  projection.to(kFloat64);
  projection.load_state_dict({{"weight", doubles({1, 0, 0, 1, 1, 1}, {3, 2})}});
  check_close(hidden_state_mse(student, zeros({1, 2, 3}, kFloat64), &projection, mask({1, 0}, {1, 2})), {14.0 / 3.0},
              1e-12);
  CHECK_THROWS_AS(feature_map_transfer(student, zeros({1, 2, 3}, kFloat64)), ShapeError);
  CHECK_THROWS_AS(hidden_state_mse(student, teacher, nullptr, mask({0, 0}, {1, 2})), Error);
}

TEST_CASE("layerwise: attention-score MSE leaves padded queries and the -1e9 keys out") {
  // B = 1, H = 1, T = 2, token 1 is padding: only the (0,0) score counts: (2 − 1)² / 1 = 1.
  Tensor student = doubles({2, -1e9, 5, 6}, {1, 1, 2, 2}).requires_grad_();
  Tensor teacher = doubles({1, -1e9, 0, 0}, {1, 1, 2, 2});
  Tensor loss = attention_score_mse(student, teacher, mask({1, 0}, {1, 2}));
  check_close(loss, {1.0}, 1e-12);
  loss.backward();
  check_close(student.grad(), {2.0, 0.0, 0.0, 0.0}, 1e-12);  // d/ds (s − t)² = 2(s − t), zero elsewhere

  // Two heads, no padding: per-head MSEs 1 and 3 (over 4 entries each), averaged: 2.
  Tensor two_heads = doubles({1, 1, 1, 1, 2, 2, 2, 2}, {1, 2, 2, 2});
  Tensor zero_scores = doubles({0, 0, 0, 0, 2 - std::sqrt(3.0), 2 - std::sqrt(3.0), 2 - std::sqrt(3.0),
                                2 - std::sqrt(3.0)},
                               {1, 2, 2, 2});
  check_close(attention_score_mse(two_heads, zero_scores), {2.0}, 1e-12);

  // A -1e9 inside the counted entries (mask not passed) is refused, not averaged in.
  CHECK_THROWS_WITH_AS(attention_score_mse(student, teacher), doctest::Contains("[attention_score_mse]"), Error);
}

TEST_CASE("layerwise: attention transfer is the teacher-to-student KL per head and query, averaged") {
  // Query 0: KL([.5,.5] ‖ [.25,.75]) = 0.5 ln(4/3) = 0.143841
  // Query 1: KL([.25,.75] ‖ [.5,.5]) = 0.25 ln 0.5 + 0.75 ln 1.5 = 0.130812;  mean 0.137327.
  Tensor teacher = doubles({0.5, 0.5, 0.25, 0.75}, {1, 1, 2, 2});
  Tensor student = doubles({0.25, 0.75, 0.5, 0.5}, {1, 1, 2, 2});
  check_close(attention_transfer(student, teacher), {0.1373265360835137}, 1e-12);
  CHECK(attention_transfer(teacher, teacher).item() == doctest::Approx(0.0));

  // The same two tokens followed by a padded one: its key (probability 0) and its query row
  // (anything) are left out, so the value is unchanged and no log 0 appears.
  Tensor padded_teacher = doubles({0.5, 0.5, 0, 0.25, 0.75, 0, 0.3, 0.3, 0.4}, {1, 1, 3, 3});
  Tensor padded_student = doubles({0.25, 0.75, 0, 0.5, 0.5, 0, 0.9, 0.05, 0.05}, {1, 1, 3, 3}).requires_grad_();
  Tensor loss = attention_transfer(padded_student, padded_teacher, mask({1, 1, 0}, {1, 3}));
  check_close(loss, {0.1373265360835137}, 1e-12);
  loss.backward();
  // d/dp_s of −p_t log p_s = −p_t / p_s / (2 queries): finite, and zero on every padded entry.
  check_close(padded_student.grad(), {-1.0, -1.0 / 3.0, 0, -0.25, -0.75, 0, 0, 0, 0}, 1e-12);
}

TEST_CASE("layerwise: MobileBERT's FMT mean and variance terms, worked by hand, off by default") {
  // Student tokens [1, 3] and [2, 2]: means 2, 2; population variances 1, 0.
  // Teacher tokens [0, 0] and [1, 3]: means 0, 2; variances 0, 1.
  Tensor student = doubles({1, 3, 2, 2}, {1, 2, 2});
  Tensor teacher = doubles({0, 0, 1, 3}, {1, 2, 2});
  // L_mean = ((0 − 2)² + (2 − 2)²) / 2 = 2;  L_var = ((0 − 1)² + (1 − 0)²) / 2 = 1
  FeatureMomentLoss moments = feature_moment_transfer(student, teacher);
  check_close(moments.mean, {2.0}, 1e-12);
  check_close(moments.variance, {1.0}, 1e-12);
  // L_FMT = ((1−0)² + (3−0)² + (2−1)² + (2−3)²) / (2·2) = 12 / 4 = 3, alone by default
  check_close(feature_map_transfer(student, teacher), {3.0}, 1e-12);
  // 3 + 0.5·2 + 2·1 = 6
  check_close(feature_map_transfer(student, teacher, Tensor(), {.mean = 0.5, .variance = 2.0}), {6.0}, 1e-12);
  // Token 1 padding: L_FMT = 10 / 2 = 5, L_mean = 4, L_var = 1; 5 + 4 + 1 = 10
  check_close(feature_map_transfer(student, teacher, mask({1, 0}, {1, 2}), {.mean = 1.0, .variance = 1.0}), {10.0},
              1e-12);
  CHECK_THROWS_AS(feature_moment_transfer(student, zeros({1, 2, 3}, kFloat64)), ShapeError);
}

TEST_CASE("layerwise: each loss passes gradcheck in float64 with padding") {
  Tensor token_mask = mask({1, 1, 1, 1, 1, 0}, {2, 3});
  Tensor teacher_hidden = leaf({2, 3, 4}, 1);
  nn::Linear projection(3, 4, false);
  projection.to(kFloat64);
  check_gradients([&](const std::vector<Tensor>& v) { return hidden_state_mse(v[0], teacher_hidden, &projection, token_mask); },
                  {leaf({2, 3, 3}, 2)});
  check_gradients([&](const std::vector<Tensor>& v) { return feature_map_transfer(v[0], teacher_hidden, token_mask); },
                  {leaf({2, 3, 4}, 3)});
  check_gradients(
      [&](const std::vector<Tensor>& v) {
        return feature_map_transfer(v[0], teacher_hidden, token_mask, {.mean = 0.7, .variance = 1.3});
      },
      {leaf({2, 3, 4}, 8)});
  Tensor teacher_scores = leaf({2, 2, 3, 3}, 4, -3.0, 3.0);
  check_gradients([&](const std::vector<Tensor>& v) { return attention_score_mse(v[0], teacher_scores, token_mask); },
                  {leaf({2, 2, 3, 3}, 5, -3.0, 3.0)});
  Tensor teacher_probs = softmax(leaf({2, 2, 3, 3}, 6, -2.0, 2.0), -1).detach();
  check_gradients([&](const std::vector<Tensor>& v) { return attention_transfer(v[0], teacher_probs, token_mask); },
                  {leaf({2, 2, 3, 3}, 7, 0.1, 1.0)});
}

TEST_CASE("layerwise: TinyBERT loss from a BertEncoder teacher's and a smaller student's taps trains the student only") {
  nn::BertConfig teacher_config;
  teacher_config.vocab_size = 20;
  teacher_config.max_positions = 8;
  teacher_config.dim = 16;
  teacher_config.heads = 2;
  teacher_config.layers = 4;
  teacher_config.ffn_hidden = 32;
  teacher_config.dropout = 0.0;
  nn::BertConfig student_config = teacher_config;
  student_config.dim = 8;
  student_config.layers = 2;
  student_config.ffn_hidden = 16;
  Generator generator(7);
  nn::BertEncoder teacher(teacher_config, generator), student(student_config, generator);
  TinyBertProjections projections(2, 8, 16, generator);

  Tensor ids = from_vector(std::vector<std::int64_t>{1, 5, 7, 2, 9, 3, 4, 6, 0, 0}, {2, 5});
  Tensor attention_mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 5});
  nn::Taps teacher_taps, student_taps;
  teacher.forward(ids, Tensor(), attention_mask, &teacher_taps);
  student.forward(ids, Tensor(), attention_mask, &student_taps);

  TinyBertLoss loss = tinybert_loss(student_taps, teacher_taps, projections, 4, attention_mask);
  CHECK(loss.embedding.item() > 0.0);
  CHECK(loss.attention.item() > 0.0);
  CHECK(loss.hidden.item() > 0.0);
  CHECK_FALSE(loss.prediction.defined());
  CHECK(std::isfinite(loss.total.item()));
  CHECK(loss.total.item() < 1e3);  // no -1e9 got in
  loss.total.backward();

  for (const auto& [name, parameter] : student.named_parameters()) {
    INFO("student " << name);
    REQUIRE(parameter.grad().defined());
  }
  // The last layer's attention is compared through layer 2's scores, so its query weight must move.
  CHECK(sum(abs(student.layers->at(1)->named_parameters()[0].second.grad())).item() > 0.0);
  for (const auto& [name, parameter] : projections.named_parameters()) {
    INFO("projection " << name);
    REQUIRE(parameter.grad().defined());
  }
  CHECK(projections.named_parameters().size() == 3);  // W_e and W_h for 2 student layers
  for (const auto& [name, parameter] : teacher.named_parameters()) {
    INFO("teacher " << name);
    CHECK_FALSE(parameter.grad().defined());
  }
}
