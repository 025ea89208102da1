#include <filesystem>
#include <set>

#include "data/tasks.h"
#include "tests/temp_directory.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

namespace {

Synset make_synset(char pos, int lexname, std::vector<std::string> lemmas, std::string gloss) {
  Synset synset;
  synset.pos = pos;
  synset.lexname = lexname;
  synset.lemmas = std::move(lemmas);
  synset.gloss = std::move(gloss);
  return synset;
}

// 400 synsets over 4 POS, each with two lemmas of its own and a distinct gloss; lemma "shared"
// belongs to the first synset of every POS, so negatives for it must avoid those four glosses.
std::vector<Synset> synthetic_synsets() {
  std::vector<Synset> synsets;
  const char parts[] = {'n', 'v', 's', 'r'};
  for (int i = 0; i < 400; ++i) {
    char pos = parts[i % 4];
    std::vector<std::string> lemmas = {"word_" + std::to_string(i), "term" + std::to_string(i)};
    if (i < 4) lemmas.push_back("shared");
    synsets.push_back(make_synset(pos, pos == 'n' ? 4 + i % 3 : 0, lemmas, "meaning number " + std::to_string(i)));
  }
  return synsets;
}

std::set<std::string> labels_of(const TaskSplits& splits) {
  std::set<std::string> labels;
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    for (const Example& example : splits[split]) labels.insert(example.label);
  }
  return labels;
}

// Every example sits in the split its key (text_a, or text_b for pairs) hashes to.
void check_splits_follow_the_hash(const TaskSplits& splits) {
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    for (const Example& example : splits[split]) {
      INFO(split_name(split) << ": " << example.text_a << " | " << example.text_b);
      CHECK(split_of(example.text_b.empty() ? example.text_a : example.text_b) == split);
    }
  }
}

}  // namespace

TEST_CASE("fnv1a_64 matches the published FNV-1a test values") {
  CHECK(fnv1a_64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a_64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a_64("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("split_of sends about 10% of texts to dev, 10% to test and 80% to train, the same every time") {
  std::map<Split, int> counts;
  for (int i = 0; i < 20000; ++i) ++counts[split_of("text " + std::to_string(i))];
  CHECK(counts[Split::Dev] == doctest::Approx(2000).epsilon(0.08));
  CHECK(counts[Split::Test] == doctest::Approx(2000).epsilon(0.08));
  CHECK(counts[Split::Train] == doctest::Approx(16000).epsilon(0.02));
  CHECK(split_of("a") == (fnv1a_64("a") % 10 == 0 ? Split::Dev : fnv1a_64("a") % 10 == 1 ? Split::Test : Split::Train));
}

TEST_CASE("split_examples keeps one copy of a repeated text and drops texts seen with two labels") {
  std::vector<Example> examples = {{"x", "same text", ""}, {"x", "same text", ""}, {"x", "contested", ""},
                                   {"y", "contested", ""}, {"y", "unique", ""}};
  TaskSplits splits = split_examples(examples);
  CHECK(splits.size() == 2);
  check_splits_follow_the_hash(splits);
  std::vector<Example> all = splits.train;
  all.insert(all.end(), splits.dev.begin(), splits.dev.end());
  all.insert(all.end(), splits.test.begin(), splits.test.end());
  CHECK(std::count(all.begin(), all.end(), Example{"x", "same text", ""}) == 1);
  CHECK(std::count(all.begin(), all.end(), Example{"y", "unique", ""}) == 1);
}

TEST_CASE("first_words keeps the first words, joined by single spaces") {
  CHECK(first_words("  one two\tthree\nfour ", 3) == "one two three");
  CHECK(first_words("short", 128) == "short");
}

TEST_CASE("build_fortune_topic labels cleaned, truncated fortunes with their category") {
  TempDirectory dir;
  std::string people, work;
  for (int i = 0; i < 60; ++i) people += "A person number " + std::to_string(i) + " said\n\t\t-- Somebody\n%\n";
  for (int i = 0; i < 40; ++i) work += "Work item " + std::to_string(i) + " one two three four five six\n%\n";
  dir.write("people", people);
  dir.write("work", work + "A person number 0 said -- Somebody\n%\n");  // the same text in two categories
  TaskSplits splits = build_fortune_topic(dir.path(), {"people", "work"}, 4);
  CHECK(labels_of(splits) == std::set<std::string>{"people", "work"});
  CHECK(splits.size() == 99);  // 101 records; the text in both categories dropped from both
  check_splits_follow_the_hash(splits);
  for (const Example& example : splits.train) CHECK(example.text_a.find('\t') == std::string::npos);
  CHECK(std::any_of(splits.train.begin(), splits.train.end(),
                    [](const Example& e) { return e.text_a == "Work item 7 one"; }) ==
        (split_of("Work item 7 one") == Split::Train));

  TaskSplits again = build_fortune_topic(dir.path(), {"people", "work"}, 4);
  CHECK(again.train == splits.train);
  CHECK(again.test == splits.test);
}

TEST_CASE("build_wn_lexname keeps noun glosses and drops classes below the minimum") {
  std::vector<Synset> synsets;
  for (int i = 0; i < 30; ++i) synsets.push_back(make_synset('n', 5, {"a"}, "an animal " + std::to_string(i)));
  for (int i = 0; i < 10; ++i) synsets.push_back(make_synset('n', 20, {"p"}, "a plant " + std::to_string(i)));
  for (int i = 0; i < 3; ++i) synsets.push_back(make_synset('n', 3, {"t"}, "a top " + std::to_string(i)));
  for (int i = 0; i < 50; ++i) synsets.push_back(make_synset('v', 29, {"v"}, "to act " + std::to_string(i)));
  TaskSplits splits = build_wn_lexname(synsets, 10);
  CHECK(labels_of(splits) == std::set<std::string>{"noun.animal", "noun.plant"});
  CHECK(splits.size() == 40);
  check_splits_follow_the_hash(splits);
}

TEST_CASE("build_wn_pos labels glosses n, v, a, r with satellites merged into a") {
  TaskSplits splits = build_wn_pos(synthetic_synsets());
  CHECK(labels_of(splits) == std::set<std::string>{"n", "v", "a", "r"});
  CHECK(splits.size() == 400);
  CHECK(label_counts(splits.train).at("a") + label_counts(splits.dev).at("a") + label_counts(splits.test).at("a") == 100);
  check_splits_follow_the_hash(splits);
}

TEST_CASE("build_wn_match is balanced 50/50 in every split, and its negatives never define the lemma") {
  std::vector<Synset> synsets = synthetic_synsets();
  TaskSplits splits = build_wn_match(synsets, 7);
  std::map<std::string, std::set<std::string>> glosses_of;  // lemma text -> its glosses
  for (const Synset& synset : synsets) {
    for (std::string lemma : synset.lemmas) {
      std::replace(lemma.begin(), lemma.end(), '_', ' ');
      glosses_of[lemma].insert(synset.gloss);
    }
  }
  std::map<std::string, Split> split_of_gloss;
  for (Split split : {Split::Train, Split::Dev, Split::Test}) {
    std::map<std::string, std::int64_t> counts = label_counts(splits[split]);
    CHECK(counts["0"] == counts["1"]);
    for (const Example& example : splits[split]) {
      INFO(example.label << " " << example.text_a << " | " << example.text_b);
      CHECK(example.text_a.find('_') == std::string::npos);
      CHECK(glosses_of[example.text_a].count(example.text_b) == (example.label == "1" ? 1u : 0u));
      auto [found, inserted] = split_of_gloss.emplace(example.text_b, split);
      CHECK(found->second == split);  // a gloss never appears in two splits
    }
  }
  CHECK(splits.size() > 700);  // nearly every synset finds a negative
  check_splits_follow_the_hash(splits);

  TaskSplits same = build_wn_match(synsets, 7), other = build_wn_match(synsets, 8);
  CHECK(same.train == splits.train);
  CHECK(same.dev == splits.dev);
  CHECK(other.train != splits.train);
}

TEST_CASE("write_task and read_task round-trip the three splits") {
  TempDirectory dir;
  TaskSplits splits = build_wn_match(synthetic_synsets(), 1);
  write_task(splits, dir.file("tasks/wn-match"));
  CHECK(std::filesystem::exists(dir.file("tasks/wn-match/train.tsv")));
  TaskSplits read = read_task(dir.file("tasks/wn-match"));
  CHECK(read.train == splits.train);
  CHECK(read.dev == splits.dev);
  CHECK(read.test == splits.test);
}

TEST_CASE("the four tasks built from the installed packages have the label sets DATA.md describes") {
  if (!std::filesystem::exists(std::string(kWordNetDirectory) + "/data.noun") ||
      !std::filesystem::exists(std::string(kFortuneDirectory) + "/people")) {
    MESSAGE("skipped: wordnet-base or fortunes is not installed");
    return;
  }
  TempDirectory dir;
  CHECK(build_all_tasks(dir.path()) == std::vector<std::string>{"fortune-topic", "wn-lexname", "wn-match", "wn-pos"});
  auto all_labels = [](const TaskSplits& splits) { return labels_of(splits); };
  TaskSplits fortune = read_task(dir.file("fortune-topic"));
  CHECK(all_labels(fortune).size() == 8);
  TaskSplits lexname = read_task(dir.file("wn-lexname"));
  CHECK(all_labels(lexname).size() == 24);
  CHECK(all_labels(lexname).count("noun.Tops") == 0);
  CHECK(all_labels(read_task(dir.file("wn-pos"))) == std::set<std::string>{"a", "n", "r", "v"});
  TaskSplits match = read_task(dir.file("wn-match"));
  CHECK(label_counts(match.test).at("0") == label_counts(match.test).at("1"));
  // The dev and test splits hold roughly a tenth each.
  CHECK(static_cast<double>(lexname.test.size()) / static_cast<double>(lexname.size()) == doctest::Approx(0.1).epsilon(0.1));
  auto sizes = [](const TaskSplits& splits) {
    return std::to_string(splits.train.size()) + "/" + std::to_string(splits.dev.size()) + "/" +
           std::to_string(splits.test.size());
  };
  MESSAGE("train/dev/test sizes: fortune-topic " << sizes(fortune) << ", wn-lexname " << sizes(lexname) << ", wn-match "
                                                 << sizes(match));
}
