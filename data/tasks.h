// The four downstream tasks of DATA.md, built from the installed packages and written as GLUE-style
// TSV files (data/tsv.h), one folder per task holding train.tsv, dev.tsv and test.tsv.
//
//   fortune-topic  label = fortune category, text = one fortune (its first 128 words)
//   wn-lexname     label = noun lexicographer file ("noun.animal"), text = a noun gloss
//   wn-match       label = 1 if text_b defines a synset of lemma text_a, else 0 (balanced 50/50)
//   wn-pos         label = n, v, a (satellites merged in), r; text = a gloss
//
// Splits are deterministic: FNV-1a (64-bit) of the split key, mod 10: 0 -> dev, 1 -> test, else
// train. The key is the text for single-sentence tasks and the gloss (text_b) for wn-match, so one
// gloss never appears in two splits. Texts that occur with two different labels are dropped (the
// label is ambiguous), repeated texts with the same label are kept once.
//
// What is dropped or merged, and why:
//   fortune-topic  only the 8 topical categories DATA.md names (people, definitions, computers,
//                  songs-poems, politics, science, work, men-women); the others are left out.
//   wn-lexname     classes with fewer than min_examples_per_class (100) glosses are dropped: in
//                  WordNet 3.0 these are noun.Tops (51 glosses, the unique beginners) and
//                  noun.motive (42). 24 classes remain.
//   wn-pos         satellite adjectives (s) are labelled a; synsets without a gloss are skipped.
//   wn-match       one positive and one negative per synset; a synset whose positive already
//                  appeared, or for which no negative is found, adds neither, to keep the balance.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/corpus.h"
#include "data/tsv.h"

namespace moegrad::data {

enum class Split { Train, Dev, Test };

std::uint64_t fnv1a_64(std::string_view text);
// fnv1a_64(key) % 10: 0 -> Dev, 1 -> Test, else Train.
Split split_of(std::string_view key);
const char* split_name(Split split);  // "train", "dev", "test"

struct TaskSplits {
  std::vector<Example> train, dev, test;

  std::vector<Example>& operator[](Split split);
  const std::vector<Example>& operator[](Split split) const;
  std::int64_t size() const { return static_cast<std::int64_t>(train.size() + dev.size() + test.size()); }
};

// The first max_words whitespace-separated words of text, joined by single spaces.
std::string first_words(std::string_view text, std::size_t max_words);

// Drops texts seen with two labels, keeps the first of repeated ones, then splits by the hash of
// each example's text_a (single sentences) or text_b (pairs).
TaskSplits split_examples(const std::vector<Example>& examples);

// The categories DATA.md uses for fortune-topic.
const std::vector<std::string>& fortune_topic_categories();

TaskSplits build_fortune_topic(const std::string& fortune_directory = kFortuneDirectory,
                               const std::vector<std::string>& categories = fortune_topic_categories(),
                               std::size_t max_words = 128);
TaskSplits build_wn_lexname(const std::vector<Synset>& synsets, std::int64_t min_examples_per_class = 100);
TaskSplits build_wn_pos(const std::vector<Synset>& synsets);
// Negatives: for a lemma, a gloss drawn from the same POS (satellites count as adjectives) and the
// same split that defines none of that lemma's synsets. The lemma of each synset and the negative
// gloss are drawn from a Generator seeded with `seed`.
TaskSplits build_wn_match(const std::vector<Synset>& synsets, std::uint64_t seed = 0);

// Writes directory/train.tsv, dev.tsv and test.tsv (creating the directory); read_task reads them.
void write_task(const TaskSplits& splits, const std::string& directory);
TaskSplits read_task(const std::string& directory);

// All four tasks into output_directory/<task name>/; returns the task names written.
std::vector<std::string> build_all_tasks(const std::string& output_directory,
                                         const std::string& wordnet_directory = kWordNetDirectory,
                                         const std::string& fortune_directory = kFortuneDirectory,
                                         std::uint64_t seed = 0);

}  // namespace moegrad::data
