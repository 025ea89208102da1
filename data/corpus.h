// Text corpora from Debian packages (see DATA.md): the King James Bible (bible-kjv), WordNet 3.0
// (wordnet-base) and the fortune files (fortunes). Each reader has a form that takes a path or a
// stream, so tests feed it small files of their own.
#pragma once
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace moegrad::data {

inline constexpr const char* kBibleCommand = "bible -f gen1:1-rev22:21";
inline constexpr const char* kWordNetDirectory = "/usr/share/wordnet";
inline constexpr const char* kFortuneDirectory = "/usr/share/games/fortunes";

// ---- King James Bible ----
// `bible -f` prints one verse a line, "Ge1:1 In the beginning God created ..."; the whole book is
// 31,102 lines. kjv_verses() runs the command and returns the verse texts without their reference.
std::vector<std::string> kjv_verses(const std::string& command = kBibleCommand);
// The parser behind it: each non-empty line must start with a reference ("Ge1:1", "1Sm2:3") and a
// space. `source` names the input in errors.
std::vector<std::string> parse_kjv_listing(std::istream& in, const std::string& source);

// ---- WordNet ----
// One line of a WordNet data file (wndb(5WN)):
//   offset lex_filenum ss_type w_cnt [word lex_id]... p_cnt [pointer]... [frames] | gloss
struct Synset {
  std::string offset;               // 8 digits, unique within one POS
  int lexname = 0;                  // lexicographer file number, 0..44 (see lexname_name)
  char pos = 'n';                   // n noun, v verb, a adjective, s satellite adjective, r adverb
  std::vector<std::string> lemmas;  // as stored: underscores for spaces, adjective markers "(a)" removed
  std::string gloss;                // the definition, without its examples
  std::vector<std::string> examples;  // the quoted example sentences, without quotes
};

// Parses one data file; lines starting with two spaces (the licence header) are skipped.
std::vector<Synset> read_wordnet_data_file(const std::string& path);
// data.noun, data.verb, data.adj, data.adv of `directory`, in that order.
std::vector<Synset> wordnet_synsets(const std::string& directory = kWordNetDirectory);
// "noun.animal" for 5, from lexnames(5WN).
const std::string& lexname_name(int lexname);

// Splits a gloss field into its definition and its quoted examples. An example runs from a double
// quote to the next one, or to the end when the closing quote is missing (a few glosses lack it).
void split_gloss(const std::string& gloss_field, std::string& definition, std::vector<std::string>& examples);

// ---- fortunes ----
// Records separated by lines holding only "%"; each record keeps its line breaks (no trailing one).
// Blank records are dropped.
std::vector<std::string> read_fortunes(const std::string& path);
// /usr/share/games/fortunes/<category>
std::vector<std::string> fortunes(const std::string& category, const std::string& directory = kFortuneDirectory);

// ---- pre-training text ----
// Every KJV verse, then every WordNet gloss and example sentence (DATA.md): one string each.
std::vector<std::string> pretraining_corpus(const std::string& wordnet_directory = kWordNetDirectory,
                                            const std::string& bible_command = kBibleCommand);

}  // namespace moegrad::data
