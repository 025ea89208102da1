// MobileBERT's blocks and model: NoNorm by hand and by gradcheck, a bottleneck block against a
// reference built from plain ops, the taps the layer-wise losses read, config errors, and the
// parameter and FLOP counts against the formulas worked out by hand.
#include <cmath>

#include "distill/layerwise.h"
#include "distill/mobilebert.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::distill;

namespace {
Tensor doubles(std::vector<double> values, const Shape& shape) { return from_vector(values, shape); }

// N = 4, I = 2, H = 1, FFN 3, F = 2: small enough to count by hand.
MobileBertConfig tiny_config() {
  MobileBertConfig config;
  config.vocab_size = 11;
  config.max_positions = 8;
  config.inter_dim = 4;
  config.intra_dim = 2;
  config.heads = 1;
  config.ffn_hidden = 3;
  config.stacked_ffns = 2;
  config.layers = 2;
  return config;
}

// Every parameter of `module` redrawn uniform in [-0.5, 0.5) (NoNorm γ, β included), so a swapped
// weight or a skipped norm shows in the output.
void randomise(nn::Module& module, std::uint64_t seed) {
  NoGradGuard no_grad;
  Generator generator(seed);
  for (auto& [name, parameter] : module.named_parameters()) {
    Tensor target = parameter;
    target.copy_(uniform(parameter.shape(), -0.5, 0.5, generator, parameter.dtype()));
  }
}

Tensor affine(const Tensor& x, nn::Linear& linear) { return matmul(x, transpose(linear.weight, 0, 1)) + linear.bias; }
Tensor no_norm(const Tensor& x, nn::UnaryModule& norm) {
  auto& n = dynamic_cast<NoNorm&>(norm);
  return x * n.weight + n.bias;
}
}  // namespace

TEST_CASE("mobilebert: NoNorm is γ ∘ h + β, worked by hand, and starts as the identity") {
  NoNorm norm(2);
  norm.to(kFloat64);
  Tensor h = doubles({1, 2, 3, 4}, {2, 2});
  check_close(norm.forward(h), {1, 2, 3, 4}, 1e-15);  // γ = 1, β = 0 at init
  norm.load_state_dict({{"weight", doubles({2, 3}, {2})}, {"bias", doubles({1, -1}, {2})}});
  // row 0: [2·1 + 1, 3·2 − 1] = [3, 5];  row 1: [2·3 + 1, 3·4 − 1] = [7, 11]
  check_close(norm.forward(h), {3, 5, 7, 11}, 1e-15);
  CHECK_THROWS_WITH_AS(norm.forward(doubles({1, 2, 3}, {1, 3})), doctest::Contains("[NoNorm]"), ShapeError);
}

TEST_CASE("mobilebert: NoNorm passes gradcheck in float64 for h, γ and β") {
  // The module's forward with its own γ and β as gradcheck inputs (perturbed in place).
  NoNorm norm(4);
  norm.to(kFloat64);
  norm.load_state_dict({{"weight", leaf({4}, 2).detach()}, {"bias", leaf({4}, 3).detach()}});
  check_gradients([&](const std::vector<Tensor>& v) { return norm.forward(v[0]); },
                  {leaf({2, 3, 4}, 1), norm.weight, norm.bias});
  // the module's own forward, gradient into the input and the parameters
  Tensor x = leaf({3, 4}, 5);
  norm.zero_grad();
  norm.forward(x).sum().backward();
  check_close(norm.bias.grad(), {3, 3, 3, 3}, 1e-12);  // ∂Σ/∂β_n = number of rows
  check_close(norm.weight.grad(), sum(x.detach(), {0}), 1e-12);  // ∂Σ/∂γ_n = Σ_rows h_n
}

TEST_CASE("mobilebert: a bottleneck block equals the same arithmetic written with plain ops") {
  for (bool value_from_input : {true, false}) {
    INFO("value_from_block_input = " << value_from_input);
    MobileBertConfig config = tiny_config();
    config.value_from_block_input = value_from_input;
    Generator generator(1);
    MobileBertBlock block(config, generator);
    block.to(kFloat64);
    randomise(block, 2);
    Tensor x = leaf({2, 3, 4}, 3).detach();
    Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 1, 1, 0}, {2, 3});

    // reference, H = 1 so the head dim is I = 2
    Tensor b = no_norm(affine(x, *block.bottleneck_in), *block.bottleneck_norm);
    Tensor qk_in = value_from_input ? no_norm(affine(x, *block.query_key_in), *block.query_key_norm) : b;
    Tensor v_in = value_from_input ? x : b;
    BottleneckAttention& att = *block.attention;
    Tensor q = affine(qk_in, *att.query), k = affine(qk_in, *att.key), v = affine(v_in, *att.value);
    Tensor scores = matmul(q, transpose(k, 1, 2)) / std::sqrt(2.0);
    // sequence 1's last token is padding: its key gets −1e9
    Tensor key_is_pad = doubles({0, 0, 0, 0, 0, 1}, {2, 1, 3});
    scores = scores + key_is_pad * -1e9;
    Tensor a = no_norm(b + affine(matmul(softmax(scores, -1), v), *att.output), *block.attention_norm);
    for (std::size_t f = 0; f < 2; ++f) {
      StackedFfn& ffn = (*block.ffns)[f];
      a = no_norm(a + affine(relu(affine(a, *ffn.w1)), *ffn.w2), *ffn.norm);
    }
    Tensor expected = no_norm(x + affine(a, *block.bottleneck_out), *block.output_norm);

    nn::Taps taps;
    Tensor y = block.forward(x, mask, &taps);
    CHECK(y.shape() == Shape{2, 3, 4});
    check_close(y, expected, 1e-12);
    CHECK(taps.get("attention.probs").shape() == Shape{2, 1, 3, 3});
    CHECK(taps.get("bottleneck").shape() == Shape{2, 3, 2});
    CHECK(taps.get("trunk").shape() == Shape{2, 3, 4});
  }
}

TEST_CASE("mobilebert: a block passes gradcheck in float64 (input and every weight via the input path)") {
  MobileBertConfig config = tiny_config();
  config.heads = 2;
  config.norm = BlockNorm::LayerNorm;
  config.activation = BlockActivation::GELU;
  Generator generator(4);
  MobileBertBlock block(config, generator);
  block.to(kFloat64);
  randomise(block, 5);
  check_gradients([&](const std::vector<Tensor>& v) { return block.forward(v[0], Tensor(), nullptr); },
                  {leaf({1, 3, 4}, 6)});
}

TEST_CASE("mobilebert: encoder, MLM head and classifier shapes; the taps carry nn/ BERT's names") {
  MobileBertConfig student = tiny_config();
  MobileBertConfig teacher = tiny_config();
  teacher.intra_dim = 8;  // inverted bottleneck: wider inside than the shared width 4
  teacher.ffn_hidden = 16;
  teacher.stacked_ffns = 1;
  teacher.norm = BlockNorm::LayerNorm;
  teacher.activation = BlockActivation::GELU;
  Tensor ids = from_vector(std::vector<std::int64_t>{2, 5, 6, 3, 2, 7, 3, 0}, {2, 4});
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 0}, {2, 4});
  Tensor labels = from_vector(std::vector<std::int64_t>{-100, 9, -100, -100, -100, -100, 8, -100}, {2, 4});

  MobileBertForMaskedLM student_model(student), teacher_model(teacher);
  nn::Taps student_taps, teacher_taps;
  auto out = student_model.forward(ids, Tensor(), mask, labels, &student_taps);
  CHECK(out.logits.shape() == Shape{2, 11});  // the two labelled positions only
  CHECK(out.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{9, 8});
  CHECK(student_model.forward(ids, Tensor(), mask).logits.shape() == Shape{2, 4, 11});
  {
    NoGradGuard no_grad;
    teacher_model.forward(ids, Tensor(), mask, labels, &teacher_taps);
  }
  for (const auto* taps : {&student_taps, &teacher_taps}) {
    CHECK(taps->get("embeddings").shape() == Shape{2, 4, 4});
    CHECK(taps->get("layers.1.trunk").shape() == Shape{2, 4, 4});
    CHECK(taps->get("layers.1.attention.probs").shape() == Shape{2, 1, 4, 4});
  }
  // The layer-wise losses read both records as they are, and train the student only.
  Tensor loss = feature_map_transfer(student_taps.get("layers.1.trunk"), teacher_taps.get("layers.1.trunk"), mask) +
                attention_transfer(student_taps.get("layers.1.attention.probs"),
                                   teacher_taps.get("layers.1.attention.probs"), mask);
  loss.backward();
  CHECK(student_model.encoder->token->weight.grad().defined());
  CHECK(!teacher_model.encoder->token->weight.grad().defined());

  // Progressive transfer runs the first l layers only.
  nn::Taps partial;
  CHECK(student_model.encoder->forward(ids, Tensor(), mask, &partial, 1).shape() == Shape{2, 4, 4});
  CHECK(partial.has("layers.0.trunk"));
  CHECK(!partial.has("layers.1.trunk"));
  CHECK_THROWS_AS(student_model.encoder->forward(ids, Tensor(), mask, nullptr, 3), Error);

  MobileBertForSequenceClassification classifier(student, 3);
  CHECK(classifier.forward(ids, Tensor(), mask).shape() == Shape{2, 3});
}

TEST_CASE("mobilebert: bad configs and inputs are refused with the field named") {
  MobileBertConfig config = tiny_config();
  config.heads = 3;  // I = 2 does not split into 3 heads
  CHECK_THROWS_WITH_AS(MobileBertEncoder{config}, doctest::Contains("config.intra_dim"), Error);
  config = tiny_config();
  config.stacked_ffns = 0;
  CHECK_THROWS_WITH_AS(MobileBertEncoder{config}, doctest::Contains("config.stacked_ffns"), Error);
  config = tiny_config();
  config.dropout = 1.5;
  CHECK_THROWS_WITH_AS(MobileBertBlock(config, default_generator()), doctest::Contains("config.dropout"), Error);
  CHECK_THROWS_AS(MobileBertForSequenceClassification(tiny_config(), 0), Error);

  MobileBertBlock block(tiny_config(), default_generator());
  CHECK_THROWS_AS(block.forward(zeros({1, 3, 5}), Tensor(), nullptr), ShapeError);  // width 5, not N = 4
  MobileBertEncoder encoder(tiny_config());
  CHECK_THROWS_AS(encoder.forward(zeros({2, 9}, kInt64)), ShapeError);  // 9 tokens > max_positions 8
  CHECK_THROWS_AS(encoder.forward(zeros({2, 3}, kInt64), Tensor(), zeros({2, 4}, kInt64)), ShapeError);
}

TEST_CASE("mobilebert: parameter counts match the formula worked by hand and the modules") {
  // N = 4, I = 2, FFN 3, F = 2, V from the block input:
  //   attention = W_q, W_k, W_o (2·2 + 2 each = 18) + W_v (4·2 + 2 = 10) + Q/K bottleneck (10) + its norm (4) = 42
  //   ffn       = 2 × (W_1 (2·3 + 3 = 9) + W_2 (3·2 + 2 = 8) + norm 4) = 42
  //   other     = in (4·2 + 2 = 10) + norm 4 + attention norm 4 + out (2·4 + 4 = 12) + norm 8 = 38
  BlockParameterCounts counts = block_parameter_counts(tiny_config());
  CHECK(counts.attention == 42);
  CHECK(counts.ffn == 42);
  CHECK(counts.other == 38);
  CHECK(counts.attention_to_ffn() == doctest::Approx(1.0));
  MobileBertBlock block(tiny_config(), default_generator());
  CHECK(block.parameter_count() == 122);
  std::int64_t attention_side = 0;
  for (auto& [name, p] : block.named_parameters()) {
    if (name.rfind("attention.", 0) == 0 || name.rfind("query_key_", 0) == 0) attention_side += p.numel();
  }
  CHECK(attention_side == 42);

  // embeddings (11 + 8 + 2)·4 + norm 8 = 92, two blocks 244: 336
  CHECK(encoder_parameter_count(tiny_config()) == 336);
  CHECK(MobileBertEncoder(tiny_config()).parameter_count() == 336);

  // V from the bottleneck: no Q/K bottleneck, W_v is 2·2 + 2: attention = 4 × 6 = 24.
  MobileBertConfig shared = tiny_config();
  shared.value_from_block_input = false;
  CHECK(block_parameter_counts(shared).attention == 24);
  CHECK(MobileBertBlock(shared, default_generator()).parameter_count() == block_parameter_counts(shared).total());

  // The paper's student: 4 stacked FFNs bring attention:FFN from 0.84 (F = 1) to 0.21 with these
  // counts (Q/K bottleneck and the 512-wide W_v on the attention side, biases and norms included).
  MobileBertConfig paper = MobileBertConfig::paper_student();
  CHECK(block_parameter_counts(paper).attention == 3 * (128 * 128 + 128) + (512 * 128 + 128) + (512 * 128 + 128) + 256);
  CHECK(block_parameter_counts(paper).ffn == 4 * ((128 * 512 + 512) + (512 * 128 + 128) + 256));
}

TEST_CASE("mobilebert: forward FLOPs follow the matmul count worked by hand") {
  // tiny config, T = 3, per token multiply-adds: in 8 + Q/K bottleneck 8 + W_q, W_k, W_o 12 + W_v 8
  // + FFNs 2·2·2·3 = 24 + out 8 = 68; per block 3·68 + 2·9·2 = 240; 2 blocks, ×2 FLOPs = 960.
  CHECK(encoder_forward_flops(tiny_config(), 3) == doctest::Approx(960.0));
}
