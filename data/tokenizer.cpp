#include "data/tokenizer.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "tensor/errors.h"

namespace moegrad::data {

namespace {

// Hands the training sentences to SentencePiece one by one, without a temporary text file.
class VectorSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentenceIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  std::size_t index_ = 0;
};

void check_status(const sentencepiece::util::Status& status, const std::string& what) {
  if (!status.ok()) throw Error(fmt::format("[SentencePieceTokenizer] {}: {}", what, status.ToString()));
}

void check_id(const char* op, std::int64_t id, std::int64_t vocab_size) {
  if (id < 0 || id >= vocab_size) {
    throw IndexError(fmt::format("[{}] token id {} is out of range [0, {})", op, id, vocab_size));
  }
}

}  // namespace

// ---- SentencePiece ----

SentencePieceTokenizer::SentencePieceTokenizer()
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path) : SentencePieceTokenizer() {
  check_status(processor_->Load(model_path), "cannot load model '" + model_path + "'");
  // The rest of moegrad relies on the special ids: refuse a model that puts them elsewhere.
  for (std::int64_t id = 0; id < kSpecialTokenCount; ++id) {
    std::string piece = id < processor_->GetPieceSize() ? processor_->IdToPiece(static_cast<int>(id)) : "(none)";
    if (piece != kSpecialPieces[static_cast<std::size_t>(id)]) {
      throw Error(fmt::format("[SentencePieceTokenizer] model '{}' has '{}' at id {}, expected '{}'; train it with "
                              "SentencePieceTokenizer::train (or spm_train --pad_id=0 --pad_piece=[PAD] --unk_id=1 "
                              "--unk_piece=[UNK] --bos_id=-1 --eos_id=-1 --user_defined_symbols=[CLS],[SEP],[MASK])",
                              model_path, piece, id, kSpecialPieces[static_cast<std::size_t>(id)]));
    }
  }
}

SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

SentencePieceTokenizer SentencePieceTokenizer::train(const std::vector<std::string>& sentences,
                                                     const std::string& model_path,
                                                     const SentencePieceOptions& options) {
  if (sentences.empty()) throw Error("[SentencePieceTokenizer::train] needs at least one sentence, got none");
  if (options.vocab_size <= kSpecialTokenCount) {
    throw Error(fmt::format("[SentencePieceTokenizer::train] vocab_size {} leaves no room beside the {} special pieces",
                            options.vocab_size, kSpecialTokenCount));
  }
  if (options.model_type != "unigram" && options.model_type != "bpe") {
    throw Error(fmt::format("[SentencePieceTokenizer::train] model_type '{}' should be 'unigram' or 'bpe'",
                            options.model_type));
  }
  // SentencePiece places its meta pieces (pad, unk, bos, eos) at the ids given here and fills the
  // lowest free ids with the user-defined symbols in order: [CLS] 2, [SEP] 3, [MASK] 4.
  std::unordered_map<std::string, std::string> arguments = {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"character_coverage", fmt::format("{}", options.character_coverage)},
      {"pad_id", std::to_string(kPadId)},
      {"pad_piece", std::string(kSpecialPieces[kPadId])},
      {"unk_id", std::to_string(kUnkId)},
      {"unk_piece", std::string(kSpecialPieces[kUnkId])},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"user_defined_symbols", fmt::format("{},{},{}", kSpecialPieces[kClsId], kSpecialPieces[kSepId],
                                           kSpecialPieces[kMaskId])},
      {"hard_vocab_limit", "false"},
      {"num_threads", std::to_string(std::max(1, options.threads))},
      {"minloglevel", "2"},  // only errors: the trainer otherwise logs every EM step
  };
  sentencepiece::SetRandomGeneratorSeed(options.seed);
  VectorSentenceIterator iterator(sentences);
  std::string model;
  check_status(sentencepiece::SentencePieceTrainer::Train(arguments, &iterator, &model), "training failed");

  std::ofstream out(model_path, std::ios::binary);
  out.write(model.data(), static_cast<std::streamsize>(model.size()));
  out.close();
  if (!out) throw Error(fmt::format("[SentencePieceTokenizer::train] writing '{}' failed", model_path));
  return SentencePieceTokenizer(model_path);
}

std::vector<std::int64_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  check_status(processor_->Encode(text, &ids), "encode failed");
  return std::vector<std::int64_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  for (std::int64_t id : ids) {
    check_id("SentencePieceTokenizer::decode", id, vocab_size());
    narrow.push_back(static_cast<int>(id));
  }
  std::string text;
  check_status(processor_->Decode(narrow, &text), "decode failed");
  return text;
}

std::int64_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

std::int64_t SentencePieceTokenizer::id_of(std::string_view piece) const {
  int id = processor_->PieceToId(piece);  // the unk id for unknown pieces
  if (processor_->IdToPiece(id) != piece) {
    throw IndexError(fmt::format("[SentencePieceTokenizer::id_of] piece '{}' is not in the {}-piece vocabulary", piece,
                                 vocab_size()));
  }
  return id;
}

std::string SentencePieceTokenizer::piece_of(std::int64_t id) const {
  check_id("SentencePieceTokenizer::piece_of", id, vocab_size());
  return processor_->IdToPiece(static_cast<int>(id));
}

// ---- characters ----

std::vector<std::string_view> utf8_characters(std::string_view text) {
  std::vector<std::string_view> characters;
  std::size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
    bool complete = i + length <= text.size();
    for (std::size_t k = 1; complete && k < length; ++k) {
      complete = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (!complete) length = 1;  // a stray byte is a character of its own
    characters.push_back(text.substr(i, length));
    i += length;
  }
  return characters;
}

CharTokenizer CharTokenizer::build(const std::vector<std::string>& corpus) {
  std::set<std::string_view> seen;  // byte order of UTF-8 is code-point order
  for (const std::string& text : corpus) {
    for (std::string_view character : utf8_characters(text)) seen.insert(character);
  }
  std::string alphabet;
  for (std::string_view character : seen) alphabet += character;
  return from_alphabet(alphabet);
}

CharTokenizer CharTokenizer::from_alphabet(std::string_view alphabet) {
  std::vector<std::string_view> characters = utf8_characters(alphabet);
  std::set<std::string_view> sorted(characters.begin(), characters.end());
  CharTokenizer tokenizer;
  for (std::string_view piece : kSpecialPieces) tokenizer.pieces_.emplace_back(piece);
  for (std::string_view character : sorted) tokenizer.pieces_.emplace_back(character);
  for (std::size_t id = 0; id < tokenizer.pieces_.size(); ++id) {
    tokenizer.ids_[tokenizer.pieces_[id]] = static_cast<std::int64_t>(id);
  }
  return tokenizer;
}

CharTokenizer CharTokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("[CharTokenizer::load] cannot open '{}'", path));
  std::string alphabet((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return from_alphabet(alphabet);
}

void CharTokenizer::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary);
  out << alphabet();
  out.close();
  if (!out) throw Error(fmt::format("[CharTokenizer::save] writing '{}' failed", path));
}

std::vector<std::int64_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<std::int64_t> ids;
  for (std::string_view character : utf8_characters(text)) {
    auto found = ids_.find(std::string(character));
    // A special piece's text is a multi-character string, so a single character never hits one.
    ids.push_back(found == ids_.end() ? kUnkId : found->second);
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  std::string text;
  for (std::int64_t id : ids) {
    check_id("CharTokenizer::decode", id, vocab_size());
    if (id != kPadId) text += pieces_[static_cast<std::size_t>(id)];
  }
  return text;
}

std::int64_t CharTokenizer::id_of(std::string_view piece) const {
  auto found = ids_.find(std::string(piece));
  if (found == ids_.end()) {
    throw IndexError(fmt::format("[CharTokenizer::id_of] piece '{}' is not in the {}-piece vocabulary", piece,
                                 vocab_size()));
  }
  return found->second;
}

std::string CharTokenizer::piece_of(std::int64_t id) const {
  check_id("CharTokenizer::piece_of", id, vocab_size());
  return pieces_[static_cast<std::size_t>(id)];
}

std::string CharTokenizer::alphabet() const {
  std::string text;
  for (std::size_t id = kSpecialTokenCount; id < pieces_.size(); ++id) text += pieces_[id];
  return text;
}

}  // namespace moegrad::data
