#include "data/token_classes.h"

#include <algorithm>
#include <cctype>

#include "data/tokenizer.h"

namespace moegrad::data {
namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // "▁", SentencePiece's word-start marker

bool is_special(std::string_view piece) {
  return std::find(kSpecialPieces.begin(), kSpecialPieces.end(), piece) != kSpecialPieces.end();
}

// Letters, digits or neither: SentencePiece splits a word where the character kind changes
// (split_by_unicode_script, split_by_number), so a piece is mostly of one kind.
enum class Kind { Empty, Letters, Digits, Other };

Kind kind_of(std::string_view text) {
  if (text.empty()) return Kind::Empty;
  bool digit = false, letter = false;
  for (unsigned char c : text) {
    digit = digit || std::isdigit(c);
    letter = letter || std::isalpha(c) || c >= 0x80;  // bytes of non-ASCII letters (é) count as letters
  }
  return digit ? Kind::Digits : letter ? Kind::Letters : Kind::Other;
}

std::string_view without_word_start(std::string_view piece) {
  return piece.substr(0, kWordStart.size()) == kWordStart ? piece.substr(kWordStart.size()) : piece;
}

}  // namespace

const std::vector<std::string_view>& function_words() {
  static const std::vector<std::string_view> words = {
      "a",    "an",   "the",   "and",  "or",   "but",  "nor",  "for",  "of",    "to",   "in",   "on",
      "at",   "by",   "with",  "from", "into", "unto", "upon", "as",   "that",  "which", "who",  "whom",
      "this", "these", "those", "it",  "he",   "him",  "his",  "she",  "her",   "they", "them", "their",
      "i",    "me",   "my",    "we",   "us",   "our",  "you",  "your", "ye",    "thou", "thee", "thy",
      "is",   "are",  "was",   "were", "be",   "been", "am",   "hath", "have",  "has",  "had",  "shall",
      "will", "not",  "no",    "so",   "then", "there", "if",  "all",  "when",  "what"};
  return words;
}

TokenClass classify_word(std::string_view word) {
  if (is_special(word)) return TokenClass::Special;
  Kind kind = kind_of(word);
  if (kind == Kind::Digits) return TokenClass::Digits;
  if (kind != Kind::Letters) return TokenClass::Punctuation;
  std::string lower(word);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto& list = function_words();
  if (std::find(list.begin(), list.end(), lower) != list.end()) return TokenClass::FunctionWord;
  if (std::isupper(static_cast<unsigned char>(word.front()))) return TokenClass::Capitalised;
  return TokenClass::ContentWord;
}

std::vector<TokenClass> classify_pieces(const std::vector<std::string>& pieces) {
  std::vector<TokenClass> classes(pieces.size(), TokenClass::ContentWord);
  std::size_t start = 0;  // the current word is pieces[start, i)
  std::string word;       // its text without "▁"
  auto close_word = [&](std::size_t end) {
    TokenClass word_class = classify_word(word);
    for (std::size_t j = start; j < end; ++j) classes[j] = word_class;
  };
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    std::string_view piece = pieces[i];
    std::string_view text = without_word_start(piece);
    bool starts_word = i == 0 || text.size() != piece.size() || is_special(piece) ||
                       is_special(pieces[i - 1]) || (kind_of(word) != Kind::Empty && kind_of(text) != kind_of(word));
    if (starts_word && i > 0) {
      close_word(i);
      start = i;
      word.clear();
    }
    word += text;
  }
  if (!pieces.empty()) close_word(pieces.size());
  return classes;
}

}  // namespace moegrad::data
