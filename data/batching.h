// Turning examples into batches: padding id sequences to one (B,T) tensor with an attention mask,
// BERT's [CLS] a [SEP] b [SEP] layout with segment ids, and seeded shuffling into index batches.
//
// B batch size, T padded length.
#pragma once
#include <cstdint>
#include <vector>

#include "data/tokenizer.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace moegrad::data {

struct PaddedBatch {
  Tensor input_ids;       // (B,T) int64, pad_id after each sequence's end
  Tensor attention_mask;  // (B,T) int64, 1 on real tokens, 0 on padding
};

struct PaddingOptions {
  std::int64_t pad_id = kPadId;
  std::int64_t max_length = -1;    // longer sequences are cut to their first max_length ids; -1: no limit
  bool pad_to_max_length = false;  // T = max_length (fixed shapes) instead of the longest sequence
};

// T is the longest (possibly truncated) sequence, or max_length when pad_to_max_length is set.
PaddedBatch pad_batch(const std::vector<std::vector<std::int64_t>>& sequences, const PaddingOptions& options = {});

// The first max_length ids (all of them when shorter).
std::vector<std::int64_t> truncate(const std::vector<std::int64_t>& ids, std::int64_t max_length);

// ---- BERT inputs (Devlin et al. 2019, section 3: "[CLS] A [SEP] B [SEP]", segment A = 0, B = 1) ----
struct BertInput {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> segments;  // 0 for [CLS], A and its [SEP]; 1 for B and its [SEP]
};

// [CLS] a [SEP], a cut so the whole fits in max_length (>= 2).
BertInput bert_single(const std::vector<std::int64_t>& a, std::int64_t max_length);
// [CLS] a [SEP] b [SEP]; to fit max_length (>= 3), the longer of a and b loses its last token
// until both fit, as BERT's _truncate_seq_pair does.
BertInput bert_pair(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b, std::int64_t max_length);

struct BertBatch {
  Tensor input_ids;       // (B,T) int64
  Tensor segment_ids;     // (B,T) int64, 0 on padding
  Tensor attention_mask;  // (B,T) int64, 1 real, 0 pad
};
BertBatch pad_bert_batch(const std::vector<BertInput>& inputs, std::int64_t pad_id = kPadId);

// ---- seeded order ----
// A uniform integer in [0, n) from one draw of the generator.
std::int64_t random_index(Generator& generator, std::int64_t n);
// A random permutation of 0..n-1 (moegrad::randperm): same generator state, same order.
std::vector<std::int64_t> shuffled_indices(std::int64_t n, Generator& generator);

// The batches of one epoch over a data set of `dataset_size` examples, as lists of example
// indices: in order, or shuffled by the generator (each call draws a fresh order). The last batch
// is shorter when batch_size does not divide dataset_size, unless drop_last.
std::vector<std::vector<std::int64_t>> sequential_batches(std::int64_t dataset_size, std::int64_t batch_size,
                                                          bool drop_last = false);
std::vector<std::vector<std::int64_t>> shuffled_batches(std::int64_t dataset_size, std::int64_t batch_size,
                                                        Generator& generator, bool drop_last = false);

}  // namespace moegrad::data
