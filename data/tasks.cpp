#include "data/tasks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "data/batching.h"
#include "tensor/errors.h"
#include "tensor/random.h"

namespace moegrad::data {

namespace {

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string lemma_text(const std::string& lemma) {
  std::string text = lemma;
  std::replace(text.begin(), text.end(), '_', ' ');
  return text;
}

// (text_a, text_b) of an example, as a hash key.
using TextPair = std::pair<std::string_view, std::string_view>;
struct TextPairHash {
  std::size_t operator()(const TextPair& pair) const {
    std::hash<std::string_view> hash;
    return hash(pair.first) * 31 + hash(pair.second);
  }
};

}  // namespace

std::uint64_t fnv1a_64(std::string_view text) {
  // Fowler-Noll-Vo 1a: xor in each byte, then multiply by the 64-bit FNV prime.
  std::uint64_t hash = 14695981039346656037ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

Split split_of(std::string_view key) {
  switch (fnv1a_64(key) % 10) {
    case 0: return Split::Dev;
    case 1: return Split::Test;
    default: return Split::Train;
  }
}

const char* split_name(Split split) {
  switch (split) {
    case Split::Train: return "train";
    case Split::Dev: return "dev";
    case Split::Test: return "test";
  }
  return "?";
}

std::vector<Example>& TaskSplits::operator[](Split split) {
  return split == Split::Train ? train : split == Split::Dev ? dev : test;
}

const std::vector<Example>& TaskSplits::operator[](Split split) const {
  return split == Split::Train ? train : split == Split::Dev ? dev : test;
}

std::string first_words(std::string_view text, std::size_t max_words) {
  std::istringstream words{std::string(text)};
  std::string word, out;
  for (std::size_t count = 0; count < max_words && words >> word; ++count) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

TaskSplits split_examples(const std::vector<Example>& examples) {
  // Which texts carry more than one label: those are ambiguous and dropped. Keys view the
  // examples' own strings, so nothing is copied.
  std::unordered_map<TextPair, const std::string*, TextPairHash> first_label;
  std::unordered_set<TextPair, TextPairHash> ambiguous, emitted;
  first_label.reserve(examples.size());
  for (const Example& example : examples) {
    auto [found, inserted] = first_label.emplace(TextPair{example.text_a, example.text_b}, &example.label);
    if (!inserted && *found->second != example.label) ambiguous.insert(found->first);
  }
  TaskSplits splits;
  emitted.reserve(examples.size());
  for (const Example& example : examples) {
    TextPair text{example.text_a, example.text_b};
    if (ambiguous.count(text) || !emitted.insert(text).second) continue;
    splits[split_of(example.text_b.empty() ? example.text_a : example.text_b)].push_back(example);
  }
  return splits;
}

const std::vector<std::string>& fortune_topic_categories() {
  static const std::vector<std::string> categories = {"people",   "definitions", "computers", "songs-poems",
                                                      "politics", "science",     "work",      "men-women"};
  return categories;
}

TaskSplits build_fortune_topic(const std::string& fortune_directory, const std::vector<std::string>& categories,
                               std::size_t max_words) {
  std::vector<Example> examples;
  for (const std::string& category : categories) {
    for (const std::string& record : fortunes(category, fortune_directory)) {
      std::string text = first_words(clean_text(record), max_words);
      if (!text.empty()) examples.push_back({category, text, ""});
    }
  }
  return split_examples(examples);
}

TaskSplits build_wn_lexname(const std::vector<Synset>& synsets, std::int64_t min_examples_per_class) {
  std::vector<Example> examples;
  for (const Synset& synset : synsets) {
    if (synset.pos == 'n' && !synset.gloss.empty()) examples.push_back({lexname_name(synset.lexname), synset.gloss, ""});
  }
  TaskSplits splits = split_examples(examples);

  // Drop the classes too small to learn or to measure (counted over all three splits).
  std::map<std::string, std::int64_t> counts;
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    for (const Example& example : splits[split]) ++counts[example.label];
  }
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    std::erase_if(splits[split], [&](const Example& e) { return counts[e.label] < min_examples_per_class; });
  }
  return splits;
}

TaskSplits build_wn_pos(const std::vector<Synset>& synsets) {
  std::vector<Example> examples;
  for (const Synset& synset : synsets) {
    if (synset.gloss.empty()) continue;
    char pos = synset.pos == 's' ? 'a' : synset.pos;  // satellites are adjectives
    examples.push_back({std::string(1, pos), synset.gloss, ""});
  }
  return split_examples(examples);
}

TaskSplits build_wn_match(const std::vector<Synset>& synsets, std::uint64_t seed) {
  // Every gloss each lemma has (case-folded), to reject a "negative" that really defines it.
  std::unordered_map<std::string, std::unordered_set<std::string_view>> glosses_of_lemma;
  // Candidate negatives: synsets grouped by (split of their gloss, POS).
  std::map<std::pair<Split, char>, std::vector<std::size_t>> pools;
  auto pos_group = [](char pos) { return pos == 's' ? 'a' : pos; };
  for (std::size_t i = 0; i < synsets.size(); ++i) {
    const Synset& synset = synsets[i];
    if (synset.gloss.empty() || synset.lemmas.empty()) continue;
    for (const std::string& lemma : synset.lemmas) glosses_of_lemma[lowercase(lemma_text(lemma))].insert(synset.gloss);
    pools[{split_of(synset.gloss), pos_group(synset.pos)}].push_back(i);
  }

  // One positive (a lemma of the synset, its gloss) and one negative (the same lemma, another
  // gloss of the same POS and split) per synset, in file order.
  constexpr int kNegativeAttempts = 20;
  Generator generator(seed);
  TaskSplits splits;
  // (lemma, gloss) pairs already written, viewing the map's lemma keys and the synsets' glosses.
  std::unordered_set<TextPair, TextPairHash> emitted;
  for (const Synset& synset : synsets) {
    if (synset.gloss.empty() || synset.lemmas.empty()) continue;
    std::string lemma = lemma_text(synset.lemmas[static_cast<std::size_t>(
        random_index(generator, static_cast<std::int64_t>(synset.lemmas.size())))]);
    auto lemma_entry = glosses_of_lemma.find(lowercase(lemma));
    std::string_view key = lemma_entry->first;
    const std::unordered_set<std::string_view>& own_glosses = lemma_entry->second;
    if (emitted.count({key, synset.gloss})) continue;

    Split split = split_of(synset.gloss);
    const std::vector<std::size_t>& pool = pools[{split, pos_group(synset.pos)}];
    const std::string* negative = nullptr;
    for (int attempt = 0; attempt < kNegativeAttempts && negative == nullptr; ++attempt) {
      const std::string& candidate =
          synsets[pool[static_cast<std::size_t>(random_index(generator, static_cast<std::int64_t>(pool.size())))]].gloss;
      if (!own_glosses.count(candidate) && !emitted.count({key, candidate})) negative = &candidate;
    }
    if (negative == nullptr) continue;

    emitted.insert({key, synset.gloss});
    emitted.insert({key, *negative});
    splits[split].push_back({"1", lemma, synset.gloss});
    splits[split].push_back({"0", lemma, *negative});
  }
  return splits;
}

void write_task(const TaskSplits& splits, const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw Error(fmt::format("[write_task] cannot create '{}': {}", directory, error.message()));
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    write_tsv(directory + "/" + split_name(split) + ".tsv", splits[split]);
  }
}

TaskSplits read_task(const std::string& directory) {
  TaskSplits splits;
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    splits[split] = read_tsv(directory + "/" + split_name(split) + ".tsv");
  }
  return splits;
}

std::vector<std::string> build_all_tasks(const std::string& output_directory, const std::string& wordnet_directory,
                                         const std::string& fortune_directory, std::uint64_t seed) {
  std::vector<Synset> synsets = wordnet_synsets(wordnet_directory);
  write_task(build_fortune_topic(fortune_directory), output_directory + "/fortune-topic");
  write_task(build_wn_lexname(synsets), output_directory + "/wn-lexname");
  write_task(build_wn_match(synsets, seed), output_directory + "/wn-match");
  write_task(build_wn_pos(synsets), output_directory + "/wn-pos");
  return {"fortune-topic", "wn-lexname", "wn-match", "wn-pos"};
}

}  // namespace moegrad::data
