#include "data/batching.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::data {

namespace {

std::int64_t length_of(const std::vector<std::int64_t>& ids) { return static_cast<std::int64_t>(ids.size()); }

std::vector<std::vector<std::int64_t>> cut_into_batches(const std::vector<std::int64_t>& order, std::int64_t batch_size,
                                                        bool drop_last) {
  std::vector<std::vector<std::int64_t>> batches;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_size)) {
    std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(batch_size));
    if (drop_last && end - start < static_cast<std::size_t>(batch_size)) break;
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

void check_batch_arguments(const char* op, std::int64_t dataset_size, std::int64_t batch_size) {
  if (dataset_size < 0 || batch_size < 1) {
    throw Error(fmt::format("[{}] needs dataset_size >= 0 and batch_size >= 1, got {} and {}", op, dataset_size, batch_size));
  }
}

}  // namespace

std::vector<std::int64_t> truncate(const std::vector<std::int64_t>& ids, std::int64_t max_length) {
  if (max_length < 0) throw Error(fmt::format("[truncate] max_length must be >= 0, got {}", max_length));
  return std::vector<std::int64_t>(ids.begin(), ids.begin() + std::min(length_of(ids), max_length));
}

PaddedBatch pad_batch(const std::vector<std::vector<std::int64_t>>& sequences, const PaddingOptions& options) {
  if (sequences.empty()) throw Error("[pad_batch] needs at least one sequence, got none");
  if (options.max_length == 0 || options.max_length < -1) {
    throw Error(fmt::format("[pad_batch] max_length must be -1 (no limit) or positive, got {}", options.max_length));
  }
  if (options.pad_to_max_length && options.max_length < 0) {
    throw Error("[pad_batch] pad_to_max_length needs a max_length");
  }
  if (options.pad_id < 0) throw Error(fmt::format("[pad_batch] pad_id must be a token id >= 0, got {}", options.pad_id));

  // T: the padded length.
  std::int64_t length = 0;
  for (const auto& ids : sequences) length = std::max(length, length_of(ids));
  if (options.max_length > 0) length = options.pad_to_max_length ? options.max_length : std::min(length, options.max_length);

  auto batch = static_cast<std::int64_t>(sequences.size());
  std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * length), options.pad_id);
  std::vector<std::int64_t> mask(ids.size(), 0);
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::vector<std::int64_t>& sequence = sequences[static_cast<std::size_t>(b)];
    std::int64_t kept = std::min(length_of(sequence), length);
    for (std::int64_t t = 0; t < kept; ++t) {
      ids[static_cast<std::size_t>(b * length + t)] = sequence[static_cast<std::size_t>(t)];
      mask[static_cast<std::size_t>(b * length + t)] = 1;
    }
  }
  return {from_vector(ids, {batch, length}), from_vector(mask, {batch, length})};
}

BertInput bert_single(const std::vector<std::int64_t>& a, std::int64_t max_length) {
  if (max_length < 2) throw Error(fmt::format("[bert_single] max_length must leave room for [CLS] and [SEP], got {}", max_length));
  BertInput input;
  input.ids.push_back(kClsId);
  std::vector<std::int64_t> kept = truncate(a, max_length - 2);
  input.ids.insert(input.ids.end(), kept.begin(), kept.end());
  input.ids.push_back(kSepId);
  input.segments.assign(input.ids.size(), 0);
  return input;
}

BertInput bert_pair(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b, std::int64_t max_length) {
  if (max_length < 3) {
    throw Error(fmt::format("[bert_pair] max_length must leave room for [CLS] and two [SEP], got {}", max_length));
  }
  // Trim the longer text one token at a time, so a short text keeps all of its tokens.
  std::int64_t keep_a = length_of(a), keep_b = length_of(b);
  while (keep_a + keep_b > max_length - 3) {
    if (keep_a > keep_b) {
      --keep_a;
    } else {
      --keep_b;
    }
  }
  BertInput input;
  input.ids.push_back(kClsId);
  input.ids.insert(input.ids.end(), a.begin(), a.begin() + keep_a);
  input.ids.push_back(kSepId);
  input.segments.assign(input.ids.size(), 0);
  input.ids.insert(input.ids.end(), b.begin(), b.begin() + keep_b);
  input.ids.push_back(kSepId);
  input.segments.resize(input.ids.size(), 1);
  return input;
}

BertBatch pad_bert_batch(const std::vector<BertInput>& inputs, std::int64_t pad_id) {
  std::vector<std::vector<std::int64_t>> ids, segments;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].ids.size() != inputs[i].segments.size()) {
      throw ShapeError(fmt::format("[pad_bert_batch] input {} has {} ids but {} segment ids", i, inputs[i].ids.size(),
                                   inputs[i].segments.size()));
    }
    ids.push_back(inputs[i].ids);
    segments.push_back(inputs[i].segments);
  }
  PaddedBatch padded_ids = pad_batch(ids, {.pad_id = pad_id});
  PaddedBatch padded_segments = pad_batch(segments, {.pad_id = 0});
  return {padded_ids.input_ids, padded_segments.input_ids, padded_ids.attention_mask};
}

std::int64_t random_index(Generator& generator, std::int64_t n) {
  if (n < 1) throw Error(fmt::format("[random_index] needs n >= 1, got {}", n));
  auto index = static_cast<std::int64_t>(std::floor(generator.next_uniform() * static_cast<double>(n)));
  return std::min(index, n - 1);
}

std::vector<std::int64_t> shuffled_indices(std::int64_t n, Generator& generator) {
  if (n < 0) throw Error(fmt::format("[shuffled_indices] needs n >= 0, got {}", n));
  if (n == 0) return {};
  return randperm(n, generator).to_vector<std::int64_t>();
}

std::vector<std::vector<std::int64_t>> sequential_batches(std::int64_t dataset_size, std::int64_t batch_size,
                                                          bool drop_last) {
  check_batch_arguments("sequential_batches", dataset_size, batch_size);
  std::vector<std::int64_t> order(static_cast<std::size_t>(dataset_size));
  for (std::int64_t i = 0; i < dataset_size; ++i) order[static_cast<std::size_t>(i)] = i;
  return cut_into_batches(order, batch_size, drop_last);
}

std::vector<std::vector<std::int64_t>> shuffled_batches(std::int64_t dataset_size, std::int64_t batch_size,
                                                        Generator& generator, bool drop_last) {
  check_batch_arguments("shuffled_batches", dataset_size, batch_size);
  return cut_into_batches(shuffled_indices(dataset_size, generator), batch_size, drop_last);
}

}  // namespace moegrad::data
