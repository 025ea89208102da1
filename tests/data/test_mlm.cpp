#include "data/mlm.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

namespace {

constexpr std::int64_t kVocab = 1000;

// B rows of [CLS] w... [SEP] [PAD]..., with ordinary ids in [5, kVocab) and `real` tokens per row
// (the specials included), the rest padding.
struct Rows {
  Tensor ids, mask;
};
Rows make_rows(std::int64_t batch, std::int64_t length, std::int64_t real, std::uint64_t seed) {
  Generator generator(seed);
  std::vector<std::int64_t> words = randint(kSpecialTokenCount, kVocab, {batch * length}, generator).to_vector<std::int64_t>();
  std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * length), kPadId), mask(ids.size(), 0);
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t t = 0; t < real; ++t) {
      auto flat = static_cast<std::size_t>(b * length + t);
      ids[flat] = t == 0 ? kClsId : t == real - 1 ? kSepId : words[flat];
      mask[flat] = 1;
    }
  }
  return {from_vector(ids, {batch, length}), from_vector(mask, {batch, length})};
}

}  // namespace

TEST_CASE("mask_tokens chooses 15% of positions, then 80% [MASK], 10% random, 10% unchanged") {
  Rows rows = make_rows(64, 258, 258, 1);  // 256 ordinary tokens per row
  Generator generator(5);
  MaskedBatch masked = mask_tokens(rows.ids, rows.mask, kVocab, generator);
  std::vector<std::int64_t> original = rows.ids.to_vector<std::int64_t>();
  std::vector<std::int64_t> input = masked.input_ids.to_vector<std::int64_t>();
  std::vector<std::int64_t> labels = masked.labels.to_vector<std::int64_t>();

  double chosen = 0, to_mask = 0, to_random = 0, unchanged = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == -100) continue;
    ++chosen;
    if (input[i] == kMaskId) {
      ++to_mask;
    } else if (input[i] != original[i]) {
      ++to_random;
    } else {
      ++unchanged;
    }
  }
  CHECK(chosen == 64 * 38);  // round(0.15 * 256) = 38 per row, exactly
  CHECK(to_mask / chosen == doctest::Approx(0.8).epsilon(0.04));
  CHECK(to_random / chosen == doctest::Approx(0.1).epsilon(0.2));
  CHECK(unchanged / chosen == doctest::Approx(0.1).epsilon(0.2));
}

TEST_CASE("mask_tokens never chooses special tokens or padding, and labels hold the original ids") {
  Rows rows = make_rows(16, 40, 25, 2);
  Generator generator(9);
  MaskedBatch masked = mask_tokens(rows.ids, rows.mask, kVocab, generator);
  CHECK(masked.input_ids.shape() == Shape{16, 40});
  CHECK(masked.labels.dtype() == kInt64);
  std::vector<std::int64_t> original = rows.ids.to_vector<std::int64_t>();
  std::vector<std::int64_t> input = masked.input_ids.to_vector<std::int64_t>();
  std::vector<std::int64_t> labels = masked.labels.to_vector<std::int64_t>();
  std::vector<std::int64_t> real = rows.mask.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    bool special = original[i] < kSpecialTokenCount;
    if (special || real[i] == 0) {
      CHECK(labels[i] == -100);
      CHECK(input[i] == original[i]);
    }
    if (labels[i] == -100) {
      CHECK(input[i] == original[i]);  // only chosen positions change
    } else {
      CHECK(labels[i] == original[i]);
      CHECK((input[i] == kMaskId || input[i] >= kSpecialTokenCount));  // random tokens are never special
    }
  }
}

TEST_CASE("mask_tokens is deterministic: the same seed gives the same masks, another seed others") {
  Rows rows = make_rows(8, 64, 50, 3);
  Generator first(11), second(11), third(12);
  MaskedBatch a = mask_tokens(rows.ids, rows.mask, kVocab, first);
  MaskedBatch b = mask_tokens(rows.ids, rows.mask, kVocab, second);
  MaskedBatch c = mask_tokens(rows.ids, rows.mask, kVocab, third);
  CHECK(a.input_ids.to_vector<std::int64_t>() == b.input_ids.to_vector<std::int64_t>());
  CHECK(a.labels.to_vector<std::int64_t>() == b.labels.to_vector<std::int64_t>());
  CHECK(a.labels.to_vector<std::int64_t>() != c.labels.to_vector<std::int64_t>());
}

TEST_CASE("mask_tokens picks at least one token of a short row and none of a row without candidates") {
  // Row 0: [CLS] 7 8 [SEP]: round(0.15 * 2) = 0, raised to 1. Row 1: only specials and padding.
  Tensor ids = from_vector(std::vector<std::int64_t>{kClsId, 7, 8, kSepId, kClsId, kSepId, kPadId, kPadId}, {2, 4});
  Tensor mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 0, 0}, {2, 4});
  Generator generator(0);
  std::vector<std::int64_t> labels = mask_tokens(ids, mask, 10, generator).labels.to_vector<std::int64_t>();
  CHECK(std::count_if(labels.begin(), labels.begin() + 4, [](std::int64_t l) { return l != -100; }) == 1);
  CHECK(std::count(labels.begin() + 4, labels.end(), -100) == 4);

  MlmOptions always_mask{.mask_probability = 1.0, .mask_token_share = 1.0, .random_token_share = 0.0};
  MaskedBatch all = mask_tokens(ids, mask, 10, generator, always_mask);
  CHECK(all.input_ids.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{kClsId, kMaskId, kMaskId, kSepId, kClsId, kSepId, kPadId, kPadId});
  CHECK(all.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{-100, 7, 8, -100, -100, -100, -100, -100});
}

TEST_CASE("mask_tokens errors print the shapes, dtypes and values at fault") {
  Generator generator(0);
  Tensor ids = from_vector(std::vector<std::int64_t>{5, 6, 7, 8}, {2, 2});
  Tensor mask = ones({2, 2}, kInt64);
  CHECK_THROWS_WITH_AS(mask_tokens(ids.to(kFloat32), mask, 10, generator),
                       doctest::Contains("[mask_tokens] input_ids must be int64, got float32"), DTypeError);
  CHECK_THROWS_WITH_AS(mask_tokens(ids, ones({2, 3}, kInt64), 10, generator),
                       doctest::Contains("expects input_ids (B,T) and an attention_mask of the same shape, got [2,2] and [2,3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(mask_tokens(ids, mask, 8, generator),
                       doctest::Contains("input_ids holds 8 at flat position 3, outside the vocabulary [0, 8)"), IndexError);
  CHECK_THROWS_WITH_AS(mask_tokens(ids, mask, 10, generator, {.mask_token_share = 0.9, .random_token_share = 0.2}),
                       doctest::Contains("the two shares summing to at most 1"), Error);
  CHECK_THROWS_WITH_AS(mask_tokens(ids, mask, 10, generator, {.mask_id = 12}),
                       doctest::Contains("mask_id 12 is outside the vocabulary [0, 10)"), IndexError);
}
