// Which kind of token a SentencePiece piece is, for asking what an MoE expert receives. ST-MoE
// (Zoph et al. 2022, §7 and Table 13) found encoder experts that take punctuation, proper nouns,
// numbers or the sentinel tokens, and decoder experts with no such pattern; examples/
// expert_specialisation.cpp counts these classes per expert.
//
//   pieces "▁And" "▁Jer" "usalem" "," "▁the" "▁12" "[SEP]"
//   class  function capitalised capitalised punctuation function digits special
//
// A word's continuation pieces ("usalem") take the class of the word they belong to, so a name
// split in two counts as a name twice, not as a name and a content word.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moegrad::data {

enum class TokenClass { Punctuation, Capitalised, Digits, FunctionWord, ContentWord, Special };
inline constexpr std::int64_t kTokenClassCount = 6;
inline constexpr std::array<std::string_view, 6> kTokenClassNames = {"punctuation", "capitalised", "digits",
                                                                     "function word", "content word", "special"};

// A fixed short list of English function words (articles, pronouns, prepositions, conjunctions,
// auxiliaries), lower case, the KJV's archaic forms included ("thou", "thee", "unto", "hath").
const std::vector<std::string_view>& function_words();

// The class of one whole word, given without SentencePiece's "▁" (U+2581) marker. In order:
// "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]" are special; any ASCII digit makes digits; no letter
// makes punctuation; a function word in any case ("And") is a function word; an upper-case first
// letter makes capitalised (names, and words starting a verse); anything else is a content word.
TokenClass classify_word(std::string_view word);

// One class per piece of a tokenised sequence. Pieces join into words: a piece starting with "▁",
// a special piece, or a piece of another kind (letters / digits / other characters) than the word
// before it starts a new word, and a bare "▁" belongs to the word after it. Each piece gets its
// word's class (classify_word on the word's text).
std::vector<TokenClass> classify_pieces(const std::vector<std::string>& pieces);

}  // namespace moegrad::data
