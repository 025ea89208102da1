// Masked-language-model inputs, as BERT builds them (Devlin et al. 2019, section 3.1, "Task #1:
// Masked LM", and appendix A.1): choose 15% of the token positions to predict; of those, 80% are
// replaced by [MASK], 10% by a random token and 10% keep their token, so the model cannot learn
// that only [MASK] positions matter. The loss is taken at the chosen positions only: the labels hold
// the original id there and ignore_index (-100, what cross_entropy skips) everywhere else.
//
// How this code chooses, step by step (B batch, T length):
//   candidates  positions with attention_mask 1 whose id is not special ([PAD] [UNK] [CLS] [SEP]
//               [MASK] by default): specials and padding are never chosen.
//   choose      per sequence, exactly round(mask_probability * candidates) positions, at least one
//               when there is a candidate, drawn without replacement (as BERT's
//               create_pretraining_data.py does, rather than one coin flip per position).
//   replace     one uniform draw per chosen position: < 0.8 -> [MASK], < 0.9 -> an ordinary
//               (non-special) token drawn uniformly, else unchanged.
// Every draw comes from the Generator in row-major order: same seed, same masks.
#pragma once
#include <cstdint>
#include <vector>

#include "data/tokenizer.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace moegrad::data {

struct MlmOptions {
  double mask_probability = 0.15;   // share of candidate positions chosen (BERT: 15%)
  double mask_token_share = 0.8;    // of the chosen, replaced by [MASK] (BERT: 80%)
  double random_token_share = 0.1;  // of the chosen, replaced by a random token (BERT: 10%)
  std::int64_t ignore_index = -100;
  std::int64_t mask_id = kMaskId;
  std::vector<std::int64_t> special_ids = {kPadId, kUnkId, kClsId, kSepId, kMaskId};
};

struct MaskedBatch {
  Tensor input_ids;  // (B,T) int64: the input with the chosen positions replaced
  Tensor labels;     // (B,T) int64: the original id at chosen positions, ignore_index elsewhere
};

// input_ids (B,T) int64 with ids in [0, vocab_size); attention_mask (B,T), nonzero on real tokens.
MaskedBatch mask_tokens(const Tensor& input_ids, const Tensor& attention_mask, std::int64_t vocab_size,
                        Generator& generator, const MlmOptions& options = {});

}  // namespace moegrad::data
