#include <numeric>

#include "data/batching.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

TEST_CASE("pad_batch pads to the longest sequence with pad ids and marks real tokens with 1") {
  PaddedBatch batch = pad_batch({{7, 8, 9}, {5}, {}});
  CHECK(batch.input_ids.shape() == Shape{3, 3});
  CHECK(batch.input_ids.dtype() == kInt64);
  CHECK(batch.input_ids.to_vector<std::int64_t>() == std::vector<std::int64_t>{7, 8, 9, 5, 0, 0, 0, 0, 0});
  CHECK(batch.attention_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1, 1, 0, 0, 0, 0, 0});
}

TEST_CASE("pad_batch truncates to max_length and can pad every batch to max_length") {
  PaddedBatch cut = pad_batch({{1, 2, 3, 4, 5}, {6}}, {.pad_id = 0, .max_length = 3});
  CHECK(cut.input_ids.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 3, 6, 0, 0});
  PaddedBatch short_batch = pad_batch({{6}}, {.max_length = 3});
  CHECK(short_batch.input_ids.shape() == Shape{1, 1});  // no longer than needed
  PaddedBatch fixed = pad_batch({{6}}, {.pad_id = 9, .max_length = 3, .pad_to_max_length = true});
  CHECK(fixed.input_ids.to_vector<std::int64_t>() == std::vector<std::int64_t>{6, 9, 9});
  CHECK(fixed.attention_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 0});
  CHECK(truncate({1, 2, 3}, 2) == std::vector<std::int64_t>{1, 2});
  CHECK(truncate({1, 2, 3}, 10) == std::vector<std::int64_t>{1, 2, 3});
}

TEST_CASE("pad_batch refuses an empty batch and meaningless lengths") {
  CHECK_THROWS_WITH_AS(pad_batch({}), doctest::Contains("[pad_batch] needs at least one sequence"), Error);
  CHECK_THROWS_WITH_AS(pad_batch({{1}}, {.max_length = 0}),
                       doctest::Contains("max_length must be -1 (no limit) or positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(pad_batch({{1}}, {.pad_to_max_length = true}), doctest::Contains("pad_to_max_length needs a max_length"),
                       Error);
  CHECK_THROWS_WITH_AS(truncate({1}, -2), doctest::Contains("[truncate] max_length must be >= 0, got -2"), Error);
}

TEST_CASE("bert_single and bert_pair lay out [CLS] a [SEP] b [SEP] with segments 0 then 1") {
  BertInput single = bert_single({10, 11}, 8);
  CHECK(single.ids == std::vector<std::int64_t>{kClsId, 10, 11, kSepId});
  CHECK(single.segments == std::vector<std::int64_t>{0, 0, 0, 0});
  CHECK(bert_single({10, 11, 12, 13}, 4).ids == std::vector<std::int64_t>{kClsId, 10, 11, kSepId});

  BertInput pair = bert_pair({10, 11}, {20}, 16);
  CHECK(pair.ids == std::vector<std::int64_t>{kClsId, 10, 11, kSepId, 20, kSepId});
  CHECK(pair.segments == std::vector<std::int64_t>{0, 0, 0, 0, 1, 1});
}

TEST_CASE("bert_pair trims the longer text first, one token at a time") {
  // 3 slots for text: a (5 tokens) shrinks to 2 before b (1 token) loses anything.
  BertInput pair = bert_pair({10, 11, 12, 13, 14}, {20}, 6);
  CHECK(pair.ids == std::vector<std::int64_t>{kClsId, 10, 11, kSepId, 20, kSepId});
  // Equal lengths: b gives the first token, then a.
  CHECK(bert_pair({10, 11}, {20, 21}, 6).ids == std::vector<std::int64_t>{kClsId, 10, 11, kSepId, 20, kSepId});
  CHECK(bert_pair({10, 11}, {20, 21}, 5).ids == std::vector<std::int64_t>{kClsId, 10, kSepId, 20, kSepId});
  CHECK_THROWS_WITH_AS(bert_pair({1}, {2}, 2), doctest::Contains("[bert_pair] max_length must leave room"), Error);
  CHECK_THROWS_WITH_AS(bert_single({1}, 1), doctest::Contains("[bert_single] max_length must leave room"), Error);
}

TEST_CASE("pad_bert_batch pads ids, segments and the attention mask together") {
  BertBatch batch = pad_bert_batch({bert_pair({10}, {20}, 8), bert_single({30}, 8)});
  CHECK(batch.input_ids.shape() == Shape{2, 5});
  CHECK(batch.input_ids.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{kClsId, 10, kSepId, 20, kSepId, kClsId, 30, kSepId, kPadId, kPadId});
  CHECK(batch.segment_ids.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0, 1, 1, 0, 0, 0, 0, 0});
  CHECK(batch.attention_mask.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
  CHECK_THROWS_WITH_AS(pad_bert_batch({{{1, 2}, {0}}}), doctest::Contains("input 0 has 2 ids but 1 segment ids"),
                       ShapeError);
}

TEST_CASE("shuffled_indices is a permutation that depends only on the generator's seed") {
  Generator a(4), b(4), c(5);
  std::vector<std::int64_t> first = shuffled_indices(50, a);
  CHECK(first == shuffled_indices(50, b));
  CHECK(first != shuffled_indices(50, c));
  std::vector<std::int64_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> expected(50);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(sorted == expected);
  CHECK(first != expected);
  CHECK(shuffled_indices(0, a).empty());
}

TEST_CASE("random_index draws uniformly from [0, n)") {
  Generator generator(1);
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 8000; ++i) ++counts[static_cast<std::size_t>(random_index(generator, 4))];
  for (int count : counts) CHECK(count == doctest::Approx(2000).epsilon(0.08));
  CHECK_THROWS_WITH_AS(random_index(generator, 0), doctest::Contains("[random_index] needs n >= 1, got 0"), Error);
}

TEST_CASE("sequential_batches and shuffled_batches cover every index once, the last batch shorter unless dropped") {
  auto batches = sequential_batches(10, 4);
  CHECK(batches == std::vector<std::vector<std::int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});
  CHECK(sequential_batches(10, 4, true).size() == 2);
  CHECK(sequential_batches(0, 4).empty());

  Generator generator(2);
  auto epoch = shuffled_batches(10, 3, generator);
  REQUIRE(epoch.size() == 4);
  CHECK(epoch.back().size() == 1);
  std::vector<std::int64_t> seen;
  for (const auto& batch : epoch) seen.insert(seen.end(), batch.begin(), batch.end());
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  // The next epoch draws a new order; the same seed replays both epochs.
  auto next_epoch = shuffled_batches(10, 3, generator);
  CHECK(next_epoch != epoch);
  Generator replay(2);
  CHECK(shuffled_batches(10, 3, replay) == epoch);
  CHECK(shuffled_batches(10, 3, replay) == next_epoch);
  CHECK_THROWS_WITH_AS(shuffled_batches(10, 0, generator),
                       doctest::Contains("[shuffled_batches] needs dataset_size >= 0 and batch_size >= 1, got 10 and 0"),
                       Error);
}
