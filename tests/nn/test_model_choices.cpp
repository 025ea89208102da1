// The config choices a benchmark or a user needs beyond BERT's own: the FFN activation, no segment
// embedding, and a plain Linear MLM head; each is checked against the arithmetic it stands for.
#include "nn/bert.h"
#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
nn::BertConfig tiny_bert() {
  nn::BertConfig config;
  config.vocab_size = 20;
  config.max_positions = 8;
  config.dim = 8;
  config.heads = 2;
  config.layers = 2;
  config.ffn_hidden = 16;
  config.dropout = 0.0;
  return config;
}

// Copies every parameter `to` shares by name with `from`.
void copy_shared_parameters(const nn::Module& from, nn::Module& to) {
  nn::StateDict source = from.state_dict();
  NoGradGuard no_grad;
  for (auto& [name, target] : to.named_parameters()) {
    if (auto found = source.find(name); found != source.end()) target.copy_(found->second);
  }
}
}  // namespace

TEST_CASE("activate computes erf GELU, tanh GELU and ReLU") {
  Tensor x = from_vector(std::vector<double>{1.0, -0.5, 2.0});
  // erf form: x/2 · (1 + erf(x/√2)); erf(1/√2) = 0.682689 -> 0.5 · 1.682689 = 0.841345
  check_close(nn::activate(x, nn::Activation::GeluErf), {0.8413447460685429, -0.15426876936299344, 1.9544997361036416},
              1e-12);
  // tanh form: x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))); at 1: tanh(0.797885 · 1.044715) = tanh(0.833554)
  // = 0.682384 -> 0.841192 (just below the erf value)
  check_close(nn::activate(x, nn::Activation::GeluTanh),
              {0.8411919906082768, -0.15428599017485606, 1.954597694087775}, 1e-12);
  check_close(nn::activate(x, nn::Activation::ReLU), {1.0, 0.0, 2.0}, 0.0);
  CHECK(nn::activation_from_name(nn::activation_name(nn::Activation::GeluTanh)) == nn::Activation::GeluTanh);
  CHECK_THROWS_WITH_AS(nn::activation_from_name("swish"),
                       doctest::Contains("activation must be \"gelu\", \"gelu_tanh\" or \"relu\", got \"swish\""), Error);
}

TEST_CASE("the encoder layer's FFN uses the configured activation") {
  for (nn::Activation activation : {nn::Activation::GeluErf, nn::Activation::GeluTanh, nn::Activation::ReLU}) {
    Generator generator(2);
    nn::TransformerLayerConfig config{.dim = 8, .heads = 2, .ffn_hidden = 16, .dropout = 0.0};
    config.activation = activation;
    nn::TransformerEncoderLayer layer(config, generator);
    auto& ffn = dynamic_cast<nn::FeedForward&>(*layer.ffn);
    CHECK(ffn.activation == activation);
    Tensor x = randn({5, 8}, generator).to(kFloat64);
    layer.to(kFloat64);
    // y = W2 act(W1 x + b1) + b2, written out with plain ops
    Tensor hidden = matmul(x, transpose(ffn.w1->weight, 0, 1)) + ffn.w1->bias;
    Tensor expected = matmul(nn::activate(hidden, activation), transpose(ffn.w2->weight, 0, 1)) + ffn.w2->bias;
    check_close(ffn.forward(x), expected, 1e-12);
  }
  // ReLU and tanh GELU differ from the erf default on the same weights: the choice is not ignored
  Generator a(4), b(4);
  nn::TransformerEncoderLayer erf_layer({.dim = 8, .heads = 2, .ffn_hidden = 16, .dropout = 0.0}, a);
  nn::TransformerEncoderLayer relu_layer(
      {.dim = 8, .heads = 2, .ffn_hidden = 16, .dropout = 0.0, .activation = nn::Activation::ReLU}, b);
  Tensor x = randn({1, 3, 8}, a);
  CHECK(max(abs(erf_layer.forward(x) - relu_layer.forward(x))).item() > 1e-4);
}

TEST_CASE("a BERT config's activation reaches every layer's FFN") {
  nn::BertConfig config = tiny_bert();
  config.activation = nn::Activation::GeluTanh;
  Generator generator(0);
  nn::BertEncoder encoder(config, generator);
  for (auto& layer : *encoder.layers) {
    CHECK(dynamic_cast<nn::FeedForward&>(*layer->ffn).activation == nn::Activation::GeluTanh);
  }
}

TEST_CASE("BERT without segment embeddings: no table, no segment ids, and token + position only") {
  nn::BertConfig config = tiny_bert();
  config.type_vocab_size = 0;
  Generator generator(1);
  nn::BertEncoder plain(config, generator);
  CHECK(plain.embeddings->segment == nullptr);
  for (auto& [name, parameter] : plain.named_parameters()) CHECK(name.find("segment") == std::string::npos);
  Tensor ids = randint(0, 20, {2, 5}, generator);
  CHECK_THROWS_WITH_AS(plain.forward(ids, zeros({2, 5}, kInt64)),
                       doctest::Contains("[BertEmbeddings] segment ids given, but the config has no segment embedding"),
                       Error);
  // the same weights in a BERT with segments whose segment-0 row is zero give the same output
  nn::BertEncoder with_segments(tiny_bert(), generator);
  copy_shared_parameters(plain, with_segments);
  {
    NoGradGuard no_grad;
    with_segments.embeddings->segment->weight.zero_();
  }
  check_close(plain.forward(ids), with_segments.forward(ids), 1e-6);
}

TEST_CASE("the Linear MLM head is h Wᵀ + b at every position, with no tied transform") {
  nn::BertConfig config = tiny_bert();
  config.mlm_head = nn::MlmHead::Linear;
  Generator generator(3);
  nn::BertForMaskedLM model(config, generator);
  CHECK(model.transform == nullptr);
  CHECK(model.transform_norm == nullptr);
  CHECK(!model.output_bias.defined());
  CHECK(model.decoder->weight.shape() == Shape{20, 8});
  std::vector<std::string> names;
  for (auto& [name, parameter] : model.named_parameters()) {
    if (name.find("encoder.") != 0) names.push_back(name);
  }
  CHECK(names == std::vector<std::string>{"decoder.weight", "decoder.bias"});
  {
    NoGradGuard no_grad;
    model.decoder->bias.copy_(randn({20}, generator));  // BERT's init leaves it 0: make it count
  }
  Tensor ids = randint(0, 20, {2, 5}, generator);
  Tensor h = model.encoder->forward(ids);
  Tensor expected = matmul(h, transpose(model.decoder->weight, 0, 1)) + model.decoder->bias;
  check_close(model.forward(ids), expected, 1e-6);
  // the tied default keeps its parts
  nn::BertForMaskedLM tied(tiny_bert(), generator);
  CHECK(tied.decoder == nullptr);
  CHECK(tied.transform != nullptr);
}

TEST_CASE("BERT config JSON carries the new choices and reads older files with BERT's defaults") {
  nn::BertConfig config = tiny_bert();
  config.type_vocab_size = 0;
  config.activation = nn::Activation::ReLU;
  config.mlm_head = nn::MlmHead::Linear;
  nlohmann::json json = config.to_json();
  CHECK(json["activation"] == "relu");
  CHECK(json["mlm_head"] == "linear");
  nn::BertConfig back = nn::BertConfig::from_json(json);
  CHECK(back.type_vocab_size == 0);
  CHECK(back.activation == nn::Activation::ReLU);
  CHECK(back.mlm_head == nn::MlmHead::Linear);
  CHECK(back.to_json() == json);

  nlohmann::json old = tiny_bert().to_json();  // as written before the fields existed
  old.erase("activation");
  old.erase("mlm_head");
  nn::BertConfig from_old = nn::BertConfig::from_json(old);
  CHECK(from_old.activation == nn::Activation::GeluErf);
  CHECK(from_old.mlm_head == nn::MlmHead::TiedTransform);

  json["mlm_head"] = "untied";
  CHECK_THROWS_WITH_AS(nn::BertConfig::from_json(json),
                       doctest::Contains("mlm_head must be \"tied_transform\" or \"linear\", got \"untied\""), Error);
  config.type_vocab_size = -1;
  CHECK_THROWS_WITH_AS((void)nn::BertEncoder{config}, doctest::Contains("config.type_vocab_size"), Error);
}
