#include "data/corpus.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "tensor/errors.h"

namespace moegrad::data {

namespace {

std::string trim(const std::string& text, const char* characters = " \t\r\n") {
  std::size_t first = text.find_first_not_of(characters);
  if (first == std::string::npos) return "";
  std::size_t last = text.find_last_not_of(characters);
  return text.substr(first, last - first + 1);
}

// "Ge1:1", "1Sm2:3", "SSol8:14": an optional digit, letters, chapter digits, ':', verse digits.
bool is_verse_reference(const std::string& word) {
  std::size_t i = 0;
  auto skip = [&](auto predicate) {
    std::size_t start = i;
    while (i < word.size() && predicate(static_cast<unsigned char>(word[i]))) ++i;
    return i - start;
  };
  if (i < word.size() && std::isdigit(static_cast<unsigned char>(word[i]))) ++i;
  if (skip([](unsigned char c) { return std::isalpha(c); }) == 0) return false;
  if (skip([](unsigned char c) { return std::isdigit(c); }) == 0) return false;
  if (i >= word.size() || word[i] != ':') return false;
  ++i;
  return skip([](unsigned char c) { return std::isdigit(c); }) > 0 && i == word.size();
}

// Adjective lemmas may end in a syntactic marker: (a) prenominal, (p) predicate, (ip) immediately
// postnominal. The marker is not part of the word.
std::string strip_adjective_marker(const std::string& lemma) {
  for (const char* marker : {"(a)", "(p)", "(ip)"}) {
    std::string suffix = marker;
    if (lemma.size() > suffix.size() && lemma.compare(lemma.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return lemma.substr(0, lemma.size() - suffix.size());
    }
  }
  return lemma;
}

bool parse_int(const std::string& text, int base, int& value) {
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value, base);
  return error == std::errc() && stop == end && !text.empty();
}

Synset parse_synset_line(const std::string& line, const std::string& path, std::int64_t line_number) {
  auto fail = [&](const std::string& what) {
    return Error(fmt::format("[read_wordnet_data_file] {}:{}: {} in '{:.80}'", path, line_number, what, line));
  };
  std::size_t bar = line.find(" | ");
  if (bar == std::string::npos) throw fail("no ' | ' before the gloss");
  std::istringstream fields(line.substr(0, bar));
  Synset synset;
  std::string lexname, pos, word_count;
  if (!(fields >> synset.offset >> lexname >> pos >> word_count)) throw fail("fewer than 4 leading fields");
  // lex_filenum is 2 decimal digits, w_cnt 2 hexadecimal digits (wndb(5WN)).
  int lemma_count = 0;
  if (!parse_int(lexname, 10, synset.lexname)) throw fail("lexicographer file '" + lexname + "' is not a number");
  if (!parse_int(word_count, 16, lemma_count)) throw fail("lemma count '" + word_count + "' is not a hex number");
  if (pos.size() != 1 || std::string("nvasr").find(pos[0]) == std::string::npos) throw fail("POS '" + pos + "'");
  synset.pos = pos[0];
  for (int i = 0; i < lemma_count; ++i) {
    std::string word, lex_id;
    if (!(fields >> word >> lex_id)) throw fail(fmt::format("{} lemmas declared, fewer found", lemma_count));
    synset.lemmas.push_back(strip_adjective_marker(word));
  }
  if (synset.lexname < 0 || synset.lexname > 44) throw fail(fmt::format("lexicographer file {} outside 0..44", synset.lexname));
  split_gloss(line.substr(bar + 3), synset.gloss, synset.examples);
  return synset;
}

}  // namespace

// ---- King James Bible ----

std::vector<std::string> parse_kjv_listing(std::istream& in, const std::string& source) {
  std::vector<std::string> verses;
  std::string line;
  for (std::int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (trim(line).empty()) continue;
    std::size_t space = line.find(' ');
    if (space == std::string::npos || !is_verse_reference(line.substr(0, space))) {
      throw Error(fmt::format("[kjv_verses] {}:{}: expected 'Book1:1 text', got '{:.80}'", source, line_number, line));
    }
    verses.push_back(trim(line.substr(space + 1)));
  }
  return verses;
}

std::vector<std::string> kjv_verses(const std::string& command) {
  // stdin from /dev/null: without verse arguments `bible` would wait for interactive input.
  std::string full_command = command + " </dev/null";
  FILE* pipe = popen(full_command.c_str(), "r");
  if (pipe == nullptr) throw Error(fmt::format("[kjv_verses] cannot run '{}'", command));
  std::string output;
  std::array<char, 1 << 16> buffer;
  while (std::size_t got = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), got);
  int status = pclose(pipe);
  if (status != 0) {
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    throw Error(fmt::format("[kjv_verses] '{}' failed with exit status {}; install Debian's bible-kjv and "
                            "bible-kjv-text packages (tools/install_deps.sh)",
                            command, exit_code));
  }
  std::istringstream listing(output);
  std::vector<std::string> verses = parse_kjv_listing(listing, "output of '" + command + "'");
  if (verses.empty()) throw Error(fmt::format("[kjv_verses] '{}' printed no verses", command));
  return verses;
}

// ---- WordNet ----

void split_gloss(const std::string& gloss_field, std::string& definition, std::vector<std::string>& examples) {
  // Pull out the quoted examples; what is left is the definition, in ';'-separated parts.
  std::string rest;
  examples.clear();
  for (std::size_t i = 0; i < gloss_field.size(); ++i) {
    if (gloss_field[i] != '"') {
      rest += gloss_field[i];
      continue;
    }
    std::size_t close = gloss_field.find('"', i + 1);
    std::size_t end = close == std::string::npos ? gloss_field.size() : close;
    std::string example = trim(gloss_field.substr(i + 1, end - i - 1));
    if (!example.empty()) examples.push_back(example);
    i = end;
  }
  // Rejoin the definition's non-empty parts with "; " and drop separators left at the ends.
  definition.clear();
  std::istringstream parts(rest);
  std::string part;
  while (std::getline(parts, part, ';')) {
    part = trim(part, " \t:,");
    if (part.empty()) continue;
    if (!definition.empty()) definition += "; ";
    definition += part;
  }
}

std::vector<Synset> read_wordnet_data_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw Error(fmt::format("[read_wordnet_data_file] cannot open '{}': install Debian's wordnet-base package "
                            "(tools/install_deps.sh) or pass the directory that holds data.noun",
                            path));
  }
  std::vector<Synset> synsets;
  std::string line;
  for (std::int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (line.rfind("  ", 0) == 0 || trim(line).empty()) continue;  // licence header
    synsets.push_back(parse_synset_line(line, path, line_number));
  }
  return synsets;
}

std::vector<Synset> wordnet_synsets(const std::string& directory) {
  std::vector<Synset> all;
  for (const char* part : {"noun", "verb", "adj", "adv"}) {
    std::vector<Synset> synsets = read_wordnet_data_file(directory + "/data." + part);
    all.insert(all.end(), std::make_move_iterator(synsets.begin()), std::make_move_iterator(synsets.end()));
  }
  return all;
}

const std::string& lexname_name(int lexname) {
  static const std::vector<std::string> names = {
      "adj.all",           "adj.pert",          "adv.all",          "noun.Tops",          "noun.act",
      "noun.animal",       "noun.artifact",     "noun.attribute",   "noun.body",          "noun.cognition",
      "noun.communication", "noun.event",       "noun.feeling",     "noun.food",          "noun.group",
      "noun.location",     "noun.motive",       "noun.object",      "noun.person",        "noun.phenomenon",
      "noun.plant",        "noun.possession",   "noun.process",     "noun.quantity",      "noun.relation",
      "noun.shape",        "noun.state",        "noun.substance",   "noun.time",          "verb.body",
      "verb.change",       "verb.cognition",    "verb.communication", "verb.competition", "verb.consumption",
      "verb.contact",      "verb.creation",     "verb.emotion",     "verb.motion",        "verb.perception",
      "verb.possession",   "verb.social",       "verb.stative",     "verb.weather",       "adj.ppl"};
  if (lexname < 0 || lexname >= static_cast<int>(names.size())) {
    throw IndexError(fmt::format("[lexname_name] lexicographer file {} is outside 0..{}", lexname, names.size() - 1));
  }
  return names[static_cast<std::size_t>(lexname)];
}

// ---- fortunes ----

std::vector<std::string> read_fortunes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(fmt::format("[read_fortunes] cannot open '{}': install Debian's fortunes package (tools/install_deps.sh)",
                            path));
  }
  std::vector<std::string> records;
  std::string record, line;
  auto finish_record = [&] {
    while (!record.empty() && record.back() == '\n') record.pop_back();
    if (!trim(record).empty()) records.push_back(record);
    record.clear();
  };
  while (std::getline(in, line)) {
    if (line == "%") {
      finish_record();
    } else {
      record += line + '\n';
    }
  }
  finish_record();  // the last record may lack its closing "%"
  return records;
}

std::vector<std::string> fortunes(const std::string& category, const std::string& directory) {
  return read_fortunes(directory + "/" + category);
}

// ---- pre-training text ----

std::vector<std::string> pretraining_corpus(const std::string& wordnet_directory, const std::string& bible_command) {
  std::vector<std::string> corpus = kjv_verses(bible_command);
  for (const Synset& synset : wordnet_synsets(wordnet_directory)) {
    if (!synset.gloss.empty()) corpus.push_back(synset.gloss);
    corpus.insert(corpus.end(), synset.examples.begin(), synset.examples.end());
  }
  return corpus;
}

}  // namespace moegrad::data
