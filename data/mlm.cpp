#include "data/mlm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/batching.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/shape.h"

namespace moegrad::data {

namespace {

void check_arguments(const Tensor& input_ids, const Tensor& attention_mask, std::int64_t vocab_size,
                     const MlmOptions& options) {
  if (!input_ids.defined() || !attention_mask.defined()) throw Error("[mask_tokens] input_ids or attention_mask is undefined");
  if (input_ids.dtype() != kInt64) {
    throw DTypeError(fmt::format("[mask_tokens] input_ids must be int64, got {}", dtype_name(input_ids.dtype())));
  }
  if (input_ids.dim() != 2 || attention_mask.shape() != input_ids.shape()) {
    throw ShapeError(fmt::format("[mask_tokens] expects input_ids (B,T) and an attention_mask of the same shape, got {} "
                                 "and {}",
                                 shape_str(input_ids.shape()), shape_str(attention_mask.shape())));
  }
  auto is_share = [](double p) { return p >= 0.0 && p <= 1.0; };
  if (!is_share(options.mask_probability) || !is_share(options.mask_token_share) ||
      !is_share(options.random_token_share) || options.mask_token_share + options.random_token_share > 1.0) {
    throw Error(fmt::format("[mask_tokens] mask_probability {}, mask_token_share {} and random_token_share {} must lie in "
                            "[0, 1], the two shares summing to at most 1",
                            options.mask_probability, options.mask_token_share, options.random_token_share));
  }
  if (options.mask_id < 0 || options.mask_id >= vocab_size) {
    throw IndexError(fmt::format("[mask_tokens] mask_id {} is outside the vocabulary [0, {})", options.mask_id, vocab_size));
  }
}

}  // namespace

MaskedBatch mask_tokens(const Tensor& input_ids, const Tensor& attention_mask, std::int64_t vocab_size,
                        Generator& generator, const MlmOptions& options) {
  check_arguments(input_ids, attention_mask, vocab_size, options);
  std::int64_t batch = input_ids.size(0), length = input_ids.size(1);
  std::vector<std::int64_t> ids = input_ids.to_vector<std::int64_t>();
  std::vector<double> real = attention_mask.to_vector<double>();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      throw IndexError(fmt::format("[mask_tokens] input_ids holds {} at flat position {}, outside the vocabulary [0, {})",
                                   ids[i], i, vocab_size));
    }
  }

  // The ids a random replacement may take: every id that is not special.
  std::set<std::int64_t> special(options.special_ids.begin(), options.special_ids.end());
  std::vector<std::int64_t> ordinary_ids;
  for (std::int64_t id = 0; id < vocab_size; ++id) {
    if (!special.count(id)) ordinary_ids.push_back(id);
  }
  if (ordinary_ids.empty() && options.random_token_share > 0.0) {
    throw Error(fmt::format("[mask_tokens] all {} ids are special: no ordinary token to draw for the random replacement",
                            vocab_size));
  }

  std::vector<std::int64_t> masked = ids;
  std::vector<std::int64_t> labels(ids.size(), options.ignore_index);
  for (std::int64_t b = 0; b < batch; ++b) {
    // candidates: real, non-special positions of row b
    std::vector<std::int64_t> candidates;
    for (std::int64_t t = 0; t < length; ++t) {
      auto flat = static_cast<std::size_t>(b * length + t);
      if (real[flat] != 0.0 && !special.count(ids[flat])) candidates.push_back(flat);
    }
    auto count = static_cast<std::int64_t>(candidates.size());
    std::int64_t chosen_count = 0;
    if (count > 0 && options.mask_probability > 0.0) {
      chosen_count = std::clamp<std::int64_t>(std::llround(options.mask_probability * static_cast<double>(count)), 1, count);
    }

    // choose: the first chosen_count places of a partial Fisher-Yates shuffle
    for (std::int64_t i = 0; i < chosen_count; ++i) {
      std::swap(candidates[static_cast<std::size_t>(i)],
                candidates[static_cast<std::size_t>(i + random_index(generator, count - i))]);
    }

    // replace: 80% [MASK], 10% random ordinary token, 10% unchanged
    for (std::int64_t i = 0; i < chosen_count; ++i) {
      auto flat = static_cast<std::size_t>(candidates[static_cast<std::size_t>(i)]);
      labels[flat] = ids[flat];
      double draw = generator.next_uniform();
      if (draw < options.mask_token_share) {
        masked[flat] = options.mask_id;
      } else if (draw < options.mask_token_share + options.random_token_share) {
        masked[flat] = ordinary_ids[static_cast<std::size_t>(
            random_index(generator, static_cast<std::int64_t>(ordinary_ids.size())))];
      }
    }
  }
  Device device = input_ids.device();
  return {from_vector(masked, {batch, length}).to(device), from_vector(labels, {batch, length}).to(device)};
}

}  // namespace moegrad::data
