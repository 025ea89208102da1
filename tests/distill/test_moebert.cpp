// MoEBERT: the importance score on a one-input FFN worked by hand, the round-robin deal, the
// invariant that the experts together (shared neurons once) are the dense FFN; the split loaded into
// hash-routed MoE layers in place of a BERT's FFNs; the distillation objective by hand and gradcheck.
#include <cmath>

#include "distill/moebert.h"
#include "distill/moebert_adapt.h"
#include "moe/hash_router.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::distill;

namespace {
Tensor doubles(std::vector<double> values, const Shape& shape) { return from_vector(values, shape); }
}  // namespace

TEST_CASE("moebert: importance of each neuron of a 1-input FFN, worked by hand") {
  // D = 1, H = 2: w1 = [2, 3], b1 = 0, w2 = [5, 7], b2 = 0, x = 1, L = y = Σ_j w2_j gelu(w1_j).
  // ∂L/∂w2_j = gelu(w1_j), ∂L/∂w1_j = w2_j gelu'(w1_j), so I_j = |w1_j w2_j gelu'(w1_j) + w2_j gelu(w1_j)|
  // with gelu(a) = a Φ(a), gelu'(a) = Φ(a) + a φ(a).
  nn::FeedForward ffn(1, 2);
  ffn.to(kFloat64);
  ffn.load_state_dict({{"w1.weight", doubles({2, 3}, {2, 1})},
                       {"w1.bias", doubles({0, 0}, {2})},
                       {"w2.weight", doubles({5, 7}, {1, 2})},
                       {"w2.bias", doubles({0}, {1})}});
  ffn.forward(doubles({1}, {1, 1})).sum().backward();
  auto Phi = [](double a) { return 0.5 * (1.0 + std::erf(a / std::sqrt(2.0))); };
  auto phi = [](double a) { return std::exp(-0.5 * a * a) / std::sqrt(2.0 * M_PI); };
  auto expected = [&](double w1, double w2) {
    return std::abs(w1 * w2 * (Phi(w1) + w1 * phi(w1)) + w2 * w1 * Phi(w1));
  };
  check_close(neuron_importance(ffn), {expected(2, 5), expected(3, 7)}, 1e-10);
}

TEST_CASE("moebert: the top-s neurons go to every expert, the rest are dealt round-robin") {
  nn::FeedForward ffn(4, 8);
  // Ranked: 1, 3 | 7, 5, 2, 4, 0, 6.  Shared {1, 3}; expert 0 gets ranks 2, 4, 6 -> 7, 2, 0;
  // expert 1 gets ranks 3, 5, 7 -> 5, 4, 6.
  Tensor importance = doubles({0.1, 5, 0.3, 4, 0.2, 0.6, 0.05, 0.7}, {8});
  ExpertSplit split = split_into_experts(ffn, importance, 2, 2);
  CHECK(split.neurons.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 3, 7, 2, 0, 1, 3, 5, 4, 6});
  CHECK(split.w1.shape() == Shape{2, 4, 5});
  CHECK(split.b1.shape() == Shape{2, 5});
  CHECK(split.w2.shape() == Shape{2, 5, 4});
  CHECK(split.b2.shape() == Shape{2, 4});
  CHECK_THROWS_AS(split_into_experts(ffn, importance, 4, 2), Error);  // 6 neurons do not deal into 4
  CHECK_THROWS_AS(split_into_experts(ffn, doubles({1, 2}, {2}), 2, 2), ShapeError);
}

TEST_CASE("moebert: every expert's own neurons plus the shared ones once and b2 once equal the dense FFN") {
  Generator generator(3);
  nn::FeedForward ffn(6, 12, 0.0, generator);
  ffn.to(kFloat64);
  // Random biases too, so a bias copied to the wrong neuron would show.
  ffn.load_state_dict({{"w1.weight", leaf({12, 6}, 1).detach()},
                       {"w1.bias", leaf({12}, 2).detach()},
                       {"w2.weight", leaf({6, 12}, 3).detach()},
                       {"w2.bias", leaf({6}, 4).detach()}});
  Tensor x = leaf({5, 6}, 5).detach();
  Tensor dense = ffn.forward(x);
  for (std::int64_t shared : {0, 3, 12}) {
    INFO("shared neurons: " << shared);
    const std::int64_t experts = 3;
    ExpertSplit split = split_into_experts(ffn, leaf({12}, 6, 0.0, 1.0).detach(), experts, shared);
    Tensor out = select(split.b2, 0, 0);
    for (std::int64_t e = 0; e < experts; ++e) {
      // Expert e's hidden activations (5, H_e) and each column's contribution to the output.
      Tensor h = gelu(matmul(x, select(split.w1, 0, e)) + select(split.b1, 0, e));
      Tensor w2 = select(split.w2, 0, e);
      std::int64_t width = h.shape()[1];
      if (width > shared) out = out + matmul(narrow(h, 1, shared, width - shared), narrow(w2, 0, shared, width - shared));
      if (e == 0 && shared > 0) out = out + matmul(narrow(h, 1, 0, shared), narrow(w2, 0, 0, shared));
    }
    check_close(out, dense, 1e-12);
  }
}

// ---- the adapted MoE layer in a model, and the distillation objective (distill/moebert_adapt.h) ----

namespace {

nn::BertConfig tiny_bert() {
  nn::BertConfig config;
  config.vocab_size = 20;
  config.max_positions = 8;
  config.dim = 8;
  config.heads = 2;
  config.layers = 2;
  config.ffn_hidden = 12;
  config.dropout = 0.0;
  return config;
}

// A float64 copy of `source` in eval mode (same weights).
std::shared_ptr<nn::BertEncoder> copy_of(const nn::BertEncoder& source) {
  Generator generator(99);
  auto copy = std::make_shared<nn::BertEncoder>(source.config, generator);
  copy->to(kFloat64);
  copy->load_state_dict(source.state_dict());
  copy->eval();
  return copy;
}

nn::FeedForward& dense_ffn(nn::BertEncoder& encoder, std::size_t layer) {
  return dynamic_cast<nn::FeedForward&>(*(*encoder.layers)[layer].ffn);
}

// The dense FFN restricted to the given neurons: every other neuron's output weights set to 0.
void keep_only_neurons(nn::FeedForward& ffn, const std::vector<std::int64_t>& neurons) {
  std::vector<double> keep(static_cast<std::size_t>(ffn.w2->weight.size(1)), 0.0);
  for (std::int64_t j : neurons) keep[static_cast<std::size_t>(j)] = 1.0;
  NoGradGuard no_grad;
  ffn.w2->weight.copy_(detach(ffn.w2->weight) * from_vector(keep, {1, static_cast<std::int64_t>(keep.size())}));
}

std::vector<std::int64_t> expert_neurons(const ExpertSplit& split, std::int64_t e) {
  return select(split.neurons, 0, e).to_vector<std::int64_t>();
}

}  // namespace

TEST_CASE("moebert: a BERT whose FFNs became hash-routed experts gives, with every token sent to expert e, the "
          "dense BERT restricted to expert e's neurons") {
  Generator generator(11);
  nn::BertEncoder dense(tiny_bert(), generator);
  dense.to(kFloat64);
  dense.eval();
  std::vector<Tensor> importance = {leaf({12}, 21, 0.0, 1.0).detach(), leaf({12}, 22, 0.0, 1.0).detach()};
  Tensor ids = from_vector(std::vector<std::int64_t>{2, 7, 19, 4, 4, 11, 0, 13, 5, 8}, {2, 5});
  const std::int64_t experts = 3, shared = 3;  // H_e = 3 + 9/3 = 6
  for (std::int64_t e = 0; e < experts; ++e) {
    INFO("expert " << e);
    auto moe_model = copy_of(dense);
    std::vector<ExpertSplit> splits =
        adapt_encoder_to_moe(*moe_model, importance, experts, shared, full({20}, static_cast<double>(e), kInt64));
    CHECK(moe_model->state_dict().at("layers.1.ffn.w1").shape() == Shape{3, 8, 6});
    auto restricted = copy_of(dense);
    for (std::size_t layer = 0; layer < 2; ++layer) keep_only_neurons(dense_ffn(*restricted, layer), expert_neurons(splits[layer], e));
    check_close(moe_model->forward(ids), restricted->forward(ids), 1e-12);
  }
}

TEST_CASE("moebert: with a random hash map each token's output is the FFN restricted to its own expert") {
  Generator generator(5);
  nn::FeedForward ffn(6, 12, 0.0, generator);
  ffn.to(kFloat64);
  ffn.load_state_dict({{"w1.weight", leaf({12, 6}, 1).detach()},
                       {"w1.bias", leaf({12}, 2).detach()},
                       {"w2.weight", leaf({6, 12}, 3).detach()},
                       {"w2.bias", leaf({6}, 4).detach()}});
  ExpertSplit split = split_into_experts(ffn, leaf({12}, 6, 0.0, 1.0).detach(), 4, 4);  // H_e = 4 + 2
  Generator map_generator(8);
  Tensor map = moe::HashRouter::balanced_map(10, 4, map_generator);
  auto layer = adapted_moe_layer(split, std::make_shared<moe::HashRouter>(map, 4));
  Tensor x = leaf({7, 6}, 9).detach();
  std::vector<std::int64_t> ids = {3, 0, 9, 3, 5, 1, 7};
  Tensor out = layer->apply(x, {from_vector(ids), Tensor()}).output;
  std::vector<std::int64_t> experts = map.to_vector<std::int64_t>();
  for (std::int64_t t = 0; t < 7; ++t) {
    std::int64_t e = experts[static_cast<std::size_t>(ids[static_cast<std::size_t>(t)])];
    INFO("token " << t << " -> expert " << e);
    nn::FeedForward restricted(6, 12, 0.0, generator);
    restricted.to(kFloat64);
    restricted.load_state_dict(ffn.state_dict());
    keep_only_neurons(restricted, expert_neurons(split, e));
    check_close(select(out, 0, t), restricted.forward(select(x, 0, t)), 1e-12);
  }
}

namespace {

// Taps of a 1-layer model by hand: "embeddings" and "layers.0.trunk", each (1,2,2).
nn::Taps taps_of(const Tensor& embeddings, const Tensor& trunk) {
  nn::Taps taps;
  taps.put("embeddings", embeddings);
  taps.put("layers.0.trunk", trunk);
  return taps;
}

}  // namespace

TEST_CASE("moebert: the distillation objective matches numbers worked by hand") {
  // Embeddings: S = [[1,2],[3,4]], T = [[1,0],[3,2]]: squared errors 0,4,0,4 -> 8 / (2 tokens · 2) = 2.
  // Layer 1:    S = [[0,0],[1,1]], T = [[1,0],[1,−1]]: squared errors 1,0,0,4 -> 5 / 4 = 1.25.
  // Σ_l MSE = 3.25.  Logits z^S = [0,0], z^T = [ln 3, 0]: p^T = [3/4, 1/4], p^S = [1/2, 1/2],
  // KL = 0.75 ln(0.75/0.5) + 0.25 ln(0.25/0.5) = 0.304099 − 0.173287 = 0.130812.
  // L_task = 0.5, λ = 2: L = 0.5 + 2 (3.25 + 0.130812) = 7.261624.
  Tensor student_embeddings = doubles({1, 2, 3, 4}, {1, 2, 2}).requires_grad_();
  nn::Taps student = taps_of(student_embeddings, doubles({0, 0, 1, 1}, {1, 2, 2}));
  nn::Taps teacher = taps_of(doubles({1, 0, 3, 2}, {1, 2, 2}), doubles({1, 0, 1, -1}, {1, 2, 2}));
  Tensor student_logits = doubles({0, 0}, {1, 2}), teacher_logits = doubles({std::log(3.0), 0}, {1, 2});
  Tensor task = full({}, 0.5, kFloat64);
  MoebertLoss loss = moebert_loss(student, teacher, 1, student_logits, teacher_logits, task, 2.0);
  const double kl = 0.75 * std::log(1.5) + 0.25 * std::log(0.5);
  check_close(loss.hidden, {3.25}, 1e-12);
  check_close(loss.prediction, {kl}, 1e-12);
  check_close(loss.total, {0.5 + 2.0 * (3.25 + kl)}, 1e-12);
  CHECK(std::abs(kl - 0.130812) < 1e-6);

  // The second token is padding: embeddings 4 / (1 · 2) = 2, layer 1: 1 / 2 = 0.5.
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 0}, {1, 2});
  check_close(moebert_loss(student, teacher, 1, student_logits, teacher_logits, task, 2.0, mask).hidden, {2.5}, 1e-12);

  // ∂L/∂E^S = λ · 2 (E^S − E^T) / 4 = [0, 2, 0, 2] (without the mask).
  loss.total.backward();
  check_close(student_embeddings.grad(), {0, 2, 0, 2}, 1e-12);
}

TEST_CASE("moebert: gradcheck of the objective in float64; the teacher gets no gradient") {
  Tensor teacher_embeddings = leaf({2, 3, 4}, 31), teacher_trunk = leaf({2, 3, 4}, 32), teacher_logits = leaf({2, 5}, 33);
  nn::Taps teacher = taps_of(teacher_embeddings, teacher_trunk);
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 0, 1, 1, 1}, {2, 3});
  auto objective = [&](const std::vector<Tensor>& v) {
    return moebert_loss(taps_of(v[0], v[1]), teacher, 1, v[2], teacher_logits, sum(square(v[2])) * 0.1, 1.5, mask).total;
  };
  check_gradients(objective, {leaf({2, 3, 4}, 34), leaf({2, 3, 4}, 35), leaf({2, 5}, 36)});
  objective({leaf({2, 3, 4}, 34), leaf({2, 3, 4}, 35), leaf({2, 5}, 36)}).backward();
  CHECK_FALSE(teacher_embeddings.grad().defined());
  CHECK_FALSE(teacher_trunk.grad().defined());
  CHECK_FALSE(teacher_logits.grad().defined());
}

TEST_CASE("moebert: bad input to the adaptation and the objective is an error naming the op") {
  nn::FeedForward ffn(4, 8);
  ExpertSplit split = split_into_experts(ffn, doubles({1, 2, 3, 4, 5, 6, 7, 8}, {8}), 2, 2);
  // A router for 3 experts cannot drive a 2-expert split.
  CHECK_THROWS_WITH_AS(adapted_moe_layer(split, std::make_shared<moe::HashRouter>(full({5}, 0.0, kInt64), 3)),
                       doctest::Contains("[adapted_moe_layer]"), Error);
  // A layer of another expert width.
  moe::MoELayerConfig config;
  config.dim = 4;
  config.expert_hidden = 3;
  moe::MoELayer other(config, std::make_shared<moe::HashRouter>(full({5}, 0.0, kInt64), 2));
  CHECK_THROWS_WITH_AS(load_split(other, split), doctest::Contains("[load_split] the layer's w1"), ShapeError);

  Generator generator(2);
  nn::BertEncoder encoder(tiny_bert(), generator);
  Tensor map = full({20}, 0.0, kInt64);
  CHECK_THROWS_WITH_AS(adapt_encoder_to_moe(encoder, {doubles(std::vector<double>(12, 1.0), {12})}, 3, 3, map),
                       doctest::Contains("one importance vector per layer"), Error);
  std::vector<Tensor> importance(2, doubles(std::vector<double>(12, 1.0), {12}));
  adapt_encoder_to_moe(encoder, importance, 3, 3, map);
  CHECK_THROWS_WITH_AS(adapt_encoder_to_moe(encoder, importance, 3, 3, map), doctest::Contains("not a dense"), Error);

  nn::Taps student = taps_of(leaf({1, 2, 2}, 1), leaf({1, 2, 2}, 2)), teacher = taps_of(leaf({1, 2, 2}, 3), leaf({1, 2, 2}, 4));
  Tensor logits = leaf({1, 3}, 5), task = full({}, 0.0, kFloat64);
  CHECK_THROWS_WITH_AS(moebert_loss(student, teacher, 1, logits, logits, task, -1.0), doctest::Contains("[moebert_loss]"),
                       Error);
  CHECK_THROWS_AS(moebert_loss(student, teacher, 2, logits, logits, task, 1.0), Error);  // no layers.1.trunk
  CHECK_THROWS_AS(moebert_loss(student, teacher, 1, logits, leaf({1, 4}, 6), task, 1.0), ShapeError);
  CHECK_THROWS_AS(moebert_loss(student, teacher, 1, logits, logits, leaf({2}, 7), 1.0), ShapeError);
  nn::Taps narrow_teacher = taps_of(leaf({1, 2, 3}, 8), leaf({1, 2, 2}, 9));
  CHECK_THROWS_AS(moebert_loss(student, narrow_teacher, 1, logits, logits, task, 1.0), ShapeError);
}
