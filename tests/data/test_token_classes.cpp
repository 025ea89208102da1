// The token classes of examples/expert_specialisation.cpp, on pieces written out by hand.
#include <doctest/doctest.h>

#include "data/token_classes.h"

using namespace moegrad::data;

namespace {
const std::string kStart = "\xE2\x96\x81";  // "▁"
}

TEST_CASE("classify_word: special, digits, punctuation, function word, capitalised, content word, in that order") {
  CHECK(classify_word("[CLS]") == TokenClass::Special);
  CHECK(classify_word("[MASK]") == TokenClass::Special);
  CHECK(classify_word("12") == TokenClass::Digits);
  CHECK(classify_word("3rd") == TokenClass::Digits);  // any digit wins over the letters
  CHECK(classify_word(",") == TokenClass::Punctuation);
  CHECK(classify_word(";:") == TokenClass::Punctuation);
  CHECK(classify_word("the") == TokenClass::FunctionWord);
  CHECK(classify_word("And") == TokenClass::FunctionWord);  // a verse-initial "And" is still a function word
  CHECK(classify_word("unto") == TokenClass::FunctionWord);
  CHECK(classify_word("Jerusalem") == TokenClass::Capitalised);
  CHECK(classify_word("LORD") == TokenClass::Capitalised);
  CHECK(classify_word("waters") == TokenClass::ContentWord);
  CHECK(classify_word("theirs") == TokenClass::ContentWord);  // only whole words of the list match
}

TEST_CASE("classify_pieces: continuation pieces take their word's class; punctuation splits off") {
  std::vector<std::string> pieces = {"[CLS]", kStart + "And", kStart + "Jer", "usalem", ",", kStart + "the",
                                     kStart + "12", kStart + "wat", "ers", "[SEP]"};
  std::vector<TokenClass> expected = {TokenClass::Special,     TokenClass::FunctionWord, TokenClass::Capitalised,
                                      TokenClass::Capitalised, TokenClass::Punctuation,  TokenClass::FunctionWord,
                                      TokenClass::Digits,      TokenClass::ContentWord,  TokenClass::ContentWord,
                                      TokenClass::Special};
  CHECK(classify_pieces(pieces) == expected);
}

TEST_CASE("classify_pieces: a bare word-start piece joins the word after it; a number split in two stays digits") {
  // "▁" "1" "2" ":" and "▁" "(": the space marker takes the class of what follows it.
  std::vector<std::string> pieces = {kStart, "1", "2", ":", kStart, "(", "the"};
  std::vector<TokenClass> expected = {TokenClass::Digits,      TokenClass::Digits,      TokenClass::Digits,
                                      TokenClass::Punctuation, TokenClass::Punctuation, TokenClass::Punctuation,
                                      TokenClass::FunctionWord};
  CHECK(classify_pieces(pieces) == expected);
  CHECK(classify_pieces({}).empty());
  CHECK(kTokenClassNames[static_cast<std::size_t>(TokenClass::Capitalised)] == "capitalised");
}
