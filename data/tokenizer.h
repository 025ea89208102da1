// Tokenizers: text <-> int64 ids. Both kinds put the five special pieces at the same low ids, so
// masking and batching code (data/mlm.h, data/batching.h) can use the constants below with either:
//
//   0 [PAD]  1 [UNK]  2 [CLS]  3 [SEP]  4 [MASK]   then the ordinary pieces from 5 on.
//
// SentencePieceTokenizer wraps Google's SentencePiece (Kudo and Richardson 2018; libsentencepiece):
// a unigram-LM (Kudo 2018) or BPE (Sennrich et al. 2016) subword model trained on a corpus.
// CharTokenizer maps each UTF-8 character to its own id, enough for the small character LMs.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace moegrad::data {

inline constexpr std::int64_t kPadId = 0;
inline constexpr std::int64_t kUnkId = 1;
inline constexpr std::int64_t kClsId = 2;
inline constexpr std::int64_t kSepId = 3;
inline constexpr std::int64_t kMaskId = 4;
inline constexpr std::int64_t kSpecialTokenCount = 5;
inline constexpr std::array<std::string_view, 5> kSpecialPieces = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

// What both tokenizers offer, so examples can switch between them.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<std::int64_t>& ids) const = 0;
  virtual std::int64_t vocab_size() const = 0;
  // The id of a piece ("[MASK]", "▁the", "e"); throws when the vocabulary lacks it.
  virtual std::int64_t id_of(std::string_view piece) const = 0;
  virtual std::string piece_of(std::int64_t id) const = 0;  // throws outside [0, vocab_size)
};

struct SentencePieceOptions {
  std::int64_t vocab_size = 8000;     // DATA.md's default
  std::string model_type = "unigram";  // or "bpe"
  // Share of characters the model must cover; the rest map to [UNK]. 1.0 keeps every character of
  // our English corpora (SentencePiece's 0.9995 default is meant for CJK-sized alphabets).
  double character_coverage = 1.0;
  std::uint32_t seed = 0;  // SentencePiece's own generator (sentence sampling)
  // One thread trains the same model bit for bit on every run. More threads train faster, but
  // their EM sums run in another order: on the full pre-training corpus, 2 threads moved 6 of
  // 8,000 pieces to other ids.
  int threads = 1;
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads a model file written by train() (or by spm_train with the same special ids).
  explicit SentencePieceTokenizer(const std::string& model_path);
  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;
  ~SentencePieceTokenizer() override;

  // Trains on `sentences` and writes the model to model_path. [PAD] and [UNK] are SentencePiece's
  // pad and unk pieces (ids 0 and 1); [CLS], [SEP], [MASK] are user-defined symbols (2, 3, 4), so
  // they are matched as single pieces when they appear in text. No BOS/EOS pieces: BERT inputs add
  // [CLS]/[SEP] themselves. On a small corpus the vocabulary may come out smaller than asked
  // (vocab_size() tells), rather than training failing.
  static SentencePieceTokenizer train(const std::vector<std::string>& sentences, const std::string& model_path,
                                      const SentencePieceOptions& options = {});

  // SentencePiece normalises text first (NFKC, runs of spaces collapsed, leading/trailing spaces
  // dropped), so decode(encode(text)) == text for normalised text.
  std::vector<std::int64_t> encode(std::string_view text) const override;
  // [PAD] decodes to nothing, [UNK] to " ⁇ ", the user-defined symbols to their text.
  std::string decode(const std::vector<std::int64_t>& ids) const override;
  std::int64_t vocab_size() const override;
  std::int64_t id_of(std::string_view piece) const override;
  std::string piece_of(std::int64_t id) const override;

 private:
  SentencePieceTokenizer();
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

// One id per UTF-8 character (code point), ordinary characters sorted by code point after the five
// special pieces. Bytes that do not form valid UTF-8 count as one character each, so any byte
// string round-trips. Characters not in the vocabulary encode to [UNK]. Special pieces written in
// the text are not recognised: "[MASK]" is six characters.
class CharTokenizer : public Tokenizer {
 public:
  // Every character that occurs in the corpus.
  static CharTokenizer build(const std::vector<std::string>& corpus);
  // The ordinary characters, concatenated (what save() writes); order does not matter.
  static CharTokenizer from_alphabet(std::string_view alphabet);
  static CharTokenizer load(const std::string& path);
  void save(const std::string& path) const;

  std::vector<std::int64_t> encode(std::string_view text) const override;
  // [PAD] decodes to nothing, the other special ids to their piece ("[UNK]", "[MASK]", ...).
  std::string decode(const std::vector<std::int64_t>& ids) const override;
  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(pieces_.size()); }
  std::int64_t id_of(std::string_view piece) const override;
  std::string piece_of(std::int64_t id) const override;
  std::string alphabet() const;  // the ordinary characters in id order

 private:
  std::vector<std::string> pieces_;                    // id -> piece
  std::unordered_map<std::string, std::int64_t> ids_;  // piece -> id
};

// Splits text into UTF-8 characters; an invalid byte stands alone.
std::vector<std::string_view> utf8_characters(std::string_view text);

}  // namespace moegrad::data
