#include "nn/bert.h"
#include "nn/gpt.h"
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
}  // namespace

TEST_CASE("attention records q, k, v, scores, probabilities and context per head") {
  Generator generator(0);
  nn::MultiHeadAttention attention(8, 2, 0.0, generator);
  nn::Taps taps;
  Tensor x = randn({3, 5, 8}, generator);
  Tensor y = attention.forward(x, Tensor(), false, &taps);
  CHECK(y.shape() == Shape{3, 5, 8});
  CHECK(taps.get("attention.q").shape() == Shape{3, 2, 5, 4});
  CHECK(taps.get("attention.scores").shape() == Shape{3, 2, 5, 5});
  CHECK(taps.get("attention.context").shape() == Shape{3, 2, 5, 4});
  check_close(sum(taps.get("attention.probs"), {-1}), std::vector<double>(30, 1.0), 1e-5);
}

TEST_CASE("padding keys get zero attention and a causal mask hides the future") {
  Generator generator(0);
  nn::MultiHeadAttention attention(4, 1, 0.0, generator);
  nn::Taps taps;
  Tensor x = randn({1, 3, 4}, generator);
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 0}, {1, 3});
  attention.forward(x, mask, false, &taps);
  Tensor probs = taps.get("attention.probs");
  for (std::int64_t q = 0; q < 3; ++q) CHECK(probs.at({0, 0, q, 2}) == 0.0);
  attention.forward(x, Tensor(), true, &taps);
  probs = taps.get("attention.probs");
  CHECK(probs.at({0, 0, 0, 1}) == 0.0);
  CHECK(probs.at({0, 0, 0, 0}) == doctest::Approx(1.0));
  CHECK(probs.at({0, 0, 1, 2}) == 0.0);
}

TEST_CASE("the output at a causal position does not depend on later tokens") {
  Generator generator(0);
  nn::MultiHeadAttention attention(4, 2, 0.0, generator);
  Tensor x = randn({1, 4, 4}, generator);
  Tensor changed = x.clone();
  {
    NoGradGuard no_grad;
    changed.narrow(1, 3, 1).fill_(9.0);
  }
  Tensor a = attention.forward(x, Tensor(), true), b = attention.forward(changed, Tensor(), true);
  check_close(a.narrow(1, 0, 3), b.narrow(1, 0, 3), 1e-6);
}

TEST_CASE("attention passes gradcheck with a padding mask") {
  Generator generator(0);
  nn::MultiHeadAttention attention(4, 2, 0.0, generator);
  attention.to(kFloat64);
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 0, 1, 1, 0, 0}, {2, 4});
  check_gradients([&](const std::vector<Tensor>& v) { return attention.forward(v[0], mask); }, {leaf({2, 4, 4}, 1)});
}

TEST_CASE("post-LN and pre-LN layers record the trunk, the hidden state and both branches") {
  Generator generator(0);
  for (bool norm_first : {false, true}) {
    nn::TransformerLayerConfig config{8, 2, 16, 0.0, 1e-5, norm_first, false};
    nn::TransformerEncoderLayer layer(config, generator);
    nn::Taps taps;
    Tensor x = randn({2, 3, 8}, generator);
    Tensor y = layer.forward(x, Tensor(), &taps);
    check_close(taps.get("trunk"), y, 0.0);
    if (norm_first) {
      check_close(taps.get("hidden"), x + taps.get("attention_branch"), 1e-6);
      check_close(y, taps.get("hidden") + taps.get("ffn_branch"), 1e-6);
    } else {
      check_close(taps.get("hidden"), layer.norm1->forward(x + taps.get("attention_branch")), 1e-5);
    }
  }
}

TEST_CASE("the FFN sublayer can be swapped for another module") {
  Generator generator(0);
  nn::TransformerEncoderLayer layer(nn::TransformerLayerConfig{8, 2, 16, 0.0, 1e-5, true, false}, generator);
  layer.set_ffn(std::make_shared<nn::FeedForward>(8, 4, 0.0, generator));
  bool found = false;
  for (auto& [name, tensor] : layer.named_parameters()) found = found || name == "ffn.w1.weight";
  CHECK(found);
  CHECK(layer.forward(ones({1, 2, 8})).shape() == Shape{1, 2, 8});
}

TEST_CASE("taps can be filtered by pattern") {
  Generator generator(0);
  nn::BertEncoder encoder(tiny_bert(), generator);
  nn::Taps taps({"*.trunk"});
  encoder.forward(randint(0, 20, {2, 5}, generator), Tensor(), Tensor(), &taps);
  CHECK(taps.names() == std::vector<std::string>{"layers.0.trunk", "layers.1.trunk"});
  CHECK_THROWS_WITH_AS(taps.get("layers.0.hidden"), doctest::Contains("recorded: layers.0.trunk"), Error);
}

TEST_CASE("BERT encodes, predicts masked tokens and classifies with the right shapes") {
  Generator generator(0);
  nn::BertForMaskedLM mlm(tiny_bert(), generator);
  Tensor ids = randint(0, 20, {2, 6}, generator);
  Tensor mask = ones({2, 6}, kInt64);
  CHECK(mlm.forward(ids, Tensor(), mask).shape() == Shape{2, 6, 20});
  nn::BertForSequenceClassification classifier(tiny_bert(), 3, generator);
  CHECK(classifier.forward(ids).shape() == Shape{2, 3});
  nn::Taps taps;
  mlm.forward(ids, Tensor(), mask, &taps);
  CHECK(taps.has("embeddings"));
  CHECK(taps.has("layers.1.attention.probs"));
  CHECK(taps.get("layers.1.ffn_branch").shape() == Shape{2, 6, 8});
}

TEST_CASE("a padded BERT input gives the same real-token outputs as the unpadded one") {
  Generator generator(0);
  nn::BertEncoder encoder(tiny_bert(), generator);
  encoder.eval();
  Tensor ids = from_vector(std::vector<std::int64_t>{3, 4, 5}, {1, 3});
  Tensor padded = from_vector(std::vector<std::int64_t>{3, 4, 5, 0, 0}, {1, 5});
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 0, 0}, {1, 5});
  check_close(encoder.forward(padded, Tensor(), mask).narrow(1, 0, 3), encoder.forward(ids), 1e-5);
}

TEST_CASE("BERT config round-trips through JSON") {
  nn::BertConfig config = tiny_bert();
  nn::BertConfig back = nn::BertConfig::from_json(config.to_json());
  CHECK(back.to_json() == config.to_json());
  CHECK_THROWS_WITH_AS(nn::BertConfig::from_json({{"dim", 8}}), doctest::Contains("[BertConfig] bad config JSON"), Error);
}

TEST_CASE("a tiny GPT learns to repeat a fixed sequence") {
  Generator generator(0);
  nn::GptConfig config;
  config.vocab_size = 6;
  config.max_positions = 8;
  config.dim = 16;
  config.heads = 2;
  config.layers = 1;
  config.ffn_hidden = 32;
  config.dropout = 0.0;
  nn::GptModel model(config, generator);
  Tensor ids = from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 0, 1}, {1, 8});
  Tensor inputs = ids.narrow(1, 0, 7), targets = ids.narrow(1, 1, 7);
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 60; ++step) {
    Tensor loss = cross_entropy(model.forward(inputs), targets);
    model.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (auto& parameter : model.parameters()) parameter.copy_(parameter - parameter.grad() * 0.1);
    (step == 0 ? first : last) = loss.item();
  }
  CHECK(last < first * 0.5);
  std::vector<std::int64_t> sampled = model.generate({0, 1, 2}, 3, 0.01, generator);
  CHECK(sampled == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
}
