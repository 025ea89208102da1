// Every config field of the nn/ modules and optimizers is checked where the object is built, and
// the error names the field: one CHECK per field, with a value a person would plausibly mistype.
#include <limits>

#include "nn/attention.h"
#include "nn/bert.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

template <class Build>
void check_refused(Build build, const std::string& message) {
  INFO("expected: " << message);
  CHECK_THROWS_WITH_AS(build(), doctest::Contains(message.c_str()), Error);
}
}  // namespace

TEST_CASE("layers name the field that is out of range") {
  check_refused([] { (void)nn::Linear(0, 4); }, "[Linear] in_features must be > 0, got 0");
  check_refused([] { (void)nn::Linear(4, -1); }, "[Linear] out_features must be > 0, got -1");
  check_refused([] { (void)nn::Embedding(0, 4); }, "[Embedding] vocabulary must be > 0, got 0");
  check_refused([] { (void)nn::Embedding(10, 0); }, "[Embedding] dim must be > 0, got 0");
  check_refused([] { (void)nn::LayerNorm(0); }, "[LayerNorm] dim must be > 0, got 0");
  check_refused([] { (void)nn::LayerNorm(4, 0.0); }, "[LayerNorm] eps must be a finite number > 0, got 0");
  check_refused([] { (void)nn::LayerNorm(4, kNaN); }, "[LayerNorm] eps must be a finite number > 0, got nan");
  check_refused([] { (void)nn::Dropout(1.5); }, "[Dropout] p must be in [0, 1], got 1.5");
  check_refused([] { (void)nn::Dropout(kNaN); }, "[Dropout] p must be in [0, 1], got nan");
  check_refused([] { (void)nn::FeedForward(8, 0); }, "[FeedForward] hidden must be > 0, got 0");
  check_refused([] { (void)nn::FeedForward(8, 16, -0.1); }, "[FeedForward] dropout must be in [0, 1], got -0.1");
}

TEST_CASE("attention needs a positive width that splits evenly into a positive number of heads") {
  check_refused([] { (void)nn::MultiHeadAttention(10, 4); }, "[MultiHeadAttention] dim = 10 must split evenly into heads = 4");
  check_refused([] { (void)nn::MultiHeadAttention(0, 4); }, "[MultiHeadAttention] dim must be > 0, got 0");
  check_refused([] { (void)nn::MultiHeadAttention(8, 0); }, "[MultiHeadAttention] heads must be > 0, got 0");
  check_refused([] { (void)nn::MultiHeadAttention(8, 2, 2.0); }, "[MultiHeadAttention] dropout must be in [0, 1], got 2");
}

TEST_CASE("a transformer layer config is checked field by field") {
  auto layer = [](auto change) {
    return [change] {
      nn::TransformerLayerConfig config{.dim = 8, .heads = 2, .ffn_hidden = 16};
      change(config);
      nn::TransformerEncoderLayer built(config);
    };
  };
  check_refused(layer([](auto& c) { c.heads = 3; }), "[TransformerEncoderLayer] config.dim = 8 must split evenly into config.heads = 3");
  check_refused(layer([](auto& c) { c.ffn_hidden = 0; }), "[TransformerEncoderLayer] config.ffn_hidden must be > 0");
  check_refused(layer([](auto& c) { c.dropout = -1; }), "[TransformerEncoderLayer] config.dropout must be in [0, 1]");
  check_refused(layer([](auto& c) { c.layer_norm_eps = -1e-5; }), "[TransformerEncoderLayer] config.layer_norm_eps must be a finite number > 0");
}

TEST_CASE("BERT and GPT configs are checked before any weight is made") {
  auto bert = [](auto change) {
    return [change] {
      nn::BertConfig config{.vocab_size = 20, .max_positions = 8, .dim = 8, .heads = 2, .layers = 1, .ffn_hidden = 16};
      change(config);
      nn::BertEncoder built(config);
    };
  };
  check_refused(bert([](auto& c) { c.vocab_size = 0; }), "[BertEncoder] config.vocab_size must be > 0");
  check_refused(bert([](auto& c) { c.max_positions = -1; }), "[BertEncoder] config.max_positions must be > 0");
  check_refused(bert([](auto& c) { c.type_vocab_size = -1; }), "[BertEncoder] config.type_vocab_size must be >= 0");  // 0: no segments
  check_refused(bert([](auto& c) { c.heads = 3; }), "[BertEncoder] config.dim = 8 must split evenly into config.heads = 3");
  check_refused(bert([](auto& c) { c.layers = -2; }), "[BertEncoder] config.layers must be >= 0");
  check_refused(bert([](auto& c) { c.ffn_hidden = 0; }), "[BertEncoder] config.ffn_hidden must be > 0");
  check_refused(bert([](auto& c) { c.dropout = 1.1; }), "[BertEncoder] config.dropout must be in [0, 1]");
  check_refused(bert([](auto& c) { c.layer_norm_eps = 0; }), "[BertEncoder] config.layer_norm_eps must be a finite number > 0");
  check_refused(bert([](auto& c) { c.init_std = kInfinity; }), "[BertEncoder] config.init_std must be a finite number >= 0");

  auto gpt = [](auto change) {
    return [change] {
      nn::GptConfig config{.vocab_size = 20, .max_positions = 8, .dim = 8, .heads = 2, .layers = 1, .ffn_hidden = 16};
      change(config);
      nn::GptModel built(config);
    };
  };
  check_refused(gpt([](auto& c) { c.vocab_size = 0; }), "[GptModel] config.vocab_size must be > 0");
  check_refused(gpt([](auto& c) { c.max_positions = 0; }), "[GptModel] config.max_positions must be > 0");
  check_refused(gpt([](auto& c) { c.dim = 0; }), "[GptModel] config.dim must be > 0");
  check_refused(gpt([](auto& c) { c.heads = 5; }), "[GptModel] config.dim = 8 must split evenly into config.heads = 5");
  check_refused(gpt([](auto& c) { c.layers = -1; }), "[GptModel] config.layers must be >= 0");
  check_refused(gpt([](auto& c) { c.ffn_hidden = -16; }), "[GptModel] config.ffn_hidden must be > 0");
  check_refused(gpt([](auto& c) { c.dropout = kNaN; }), "[GptModel] config.dropout must be in [0, 1]");
  check_refused(gpt([](auto& c) { c.init_std = -0.02; }), "[GptModel] config.init_std must be a finite number >= 0");
  check_refused([] { (void)nn::BertForSequenceClassification(nn::BertConfig{.vocab_size = 20, .dim = 8, .heads = 2, .layers = 0}, 0); },
                "[BertForSequenceClassification] classes must be positive, got 0");
}

TEST_CASE("optimizer hyperparameters and schedules are checked when built") {
  Tensor w = zeros({2});
  w.requires_grad_(true);
  check_refused([&] { (void)nn::Adam({w}, {.lr = -1e-3}); }, "[Adam] lr of group 0 must be a finite number >= 0, got -0.001");
  check_refused([&] { (void)nn::Adam({w}, {.lr = kNaN}); }, "[Adam] lr of group 0 must be a finite number >= 0, got nan");
  check_refused([&] { (void)nn::Adam({w}, {.beta1 = 1.0}); }, "[Adam] beta1 must be in [0, 1), got 1");
  check_refused([&] { (void)nn::AdamW({w}, {.beta2 = -0.5}); }, "[AdamW] beta2 must be in [0, 1), got -0.5");
  check_refused([&] { (void)nn::Adam({w}, {.eps = 0.0}); }, "[Adam] eps must be a finite number > 0");
  check_refused([&] { (void)nn::AdamW({w}, {.weight_decay = -0.01}); }, "[AdamW] weight_decay of group 0 must be a finite number >= 0");
  check_refused([&] { (void)nn::SGD({w}, {.momentum = -0.9}); }, "[SGD] momentum must be a finite number >= 0, got -0.9");
  check_refused([&] { (void)nn::SGD({w}, {.lr = kInfinity}); }, "[SGD] lr of group 0 must be a finite number >= 0, got inf");
  check_refused([&] { (void)nn::SGD({w}, {.nesterov = true}); }, "[SGD] nesterov momentum needs momentum > 0");
  check_refused([] { nn::warmup_constant(-1); }, "[warmup_constant] warmup_steps must be >= 0, got -1");
  check_refused([] { nn::warmup_linear_decay(10, 10); }, "[warmup_linear_decay] total_steps (10) must be greater than warmup_steps (10)");
  check_refused([] { nn::warmup_cosine_decay(0, 100, 1.5); }, "[warmup_cosine_decay] final_ratio must be in [0, 1], got 1.5");
}
