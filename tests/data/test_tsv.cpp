#include "data/tsv.h"
#include "tests/temp_directory.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

TEST_CASE("single-sentence and pair TSV files round-trip through write_tsv and read_tsv") {
  TempDirectory dir;
  std::vector<Example> single = {{"pos", "a fine day", ""}, {"neg", "rain again \xc3\xa9t\xc3\xa9", ""}};
  write_tsv(dir.file("single.tsv"), single);
  CHECK(read_tsv(dir.file("single.tsv")) == single);

  std::vector<Example> pairs = {{"1", "dog", "a domestic animal"}, {"0", "dog", "a unit of length"}};
  write_tsv(dir.file("pairs.tsv"), pairs);
  CHECK(read_tsv(dir.file("pairs.tsv")) == pairs);
}

TEST_CASE("read_tsv skips empty lines and drops Windows line ends") {
  TempDirectory dir;
  std::string path = dir.write("task.tsv", "a\tfirst\r\n\nb\tsecond\n\n");
  std::vector<Example> expected = {{"a", "first", ""}, {"b", "second", ""}};
  CHECK(read_tsv(path) == expected);
}

TEST_CASE("read_tsv names file:line for a malformed line") {
  TempDirectory dir;
  std::string one_field = dir.write("one.tsv", "a\tgood\nno tab here\n");
  CHECK_THROWS_WITH_AS(read_tsv(one_field), doctest::Contains(std::string("[read_tsv] " + one_field + ":2: expected label<TAB>text").c_str()),
                       Error);
  std::string four_fields = dir.write("four.tsv", "a\tb\tc\td\n");
  CHECK_THROWS_WITH_AS(read_tsv(four_fields), doctest::Contains(std::string(four_fields + ":1: expected").c_str()), Error);
  std::string mixed = dir.write("mixed.tsv", "a\tb\n\na\tb\tc\n");
  CHECK_THROWS_WITH_AS(read_tsv(mixed), doctest::Contains(std::string(mixed + ":3: 3 fields, but the file's first line has 2").c_str()), Error);
  std::string no_label = dir.write("nolabel.tsv", "\ttext\n");
  CHECK_THROWS_WITH_AS(read_tsv(no_label), doctest::Contains(std::string(no_label + ":1: empty label").c_str()), Error);
  std::string latin1 = dir.write("latin1.tsv", "a\tcaf\xe9\n");
  CHECK_THROWS_WITH_AS(read_tsv(latin1), doctest::Contains(std::string(latin1 + ":1: the line is not valid UTF-8").c_str()), Error);
  CHECK_THROWS_WITH_AS(read_tsv(dir.file("absent.tsv")), doctest::Contains("[read_tsv] cannot open"), Error);
}

TEST_CASE("write_tsv refuses fields that would break the format") {
  TempDirectory dir;
  CHECK_THROWS_WITH_AS(write_tsv(dir.file("x.tsv"), {{"a", "one\ttwo", ""}}),
                       doctest::Contains("[write_tsv] example 0 for"), Error);
  CHECK_THROWS_WITH_AS(write_tsv(dir.file("x.tsv"), {{"a", "ok", ""}, {"b", "line\nbreak", ""}}),
                       doctest::Contains("example 1"), Error);
  CHECK_THROWS_WITH_AS(write_tsv(dir.file("x.tsv"), {{"", "text", ""}}), doctest::Contains("has an empty label"), Error);
}

TEST_CASE("is_valid_utf8 accepts well-formed text and rejects stray, overlong and surrogate bytes") {
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  CHECK_FALSE(is_valid_utf8("\xe9"));              // latin-1 é
  CHECK_FALSE(is_valid_utf8("\xc3"));              // cut short
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST_CASE("clean_text renders overstrikes and folds control characters and whitespace into single spaces") {
  CHECK(clean_text("no ____\b\b\b\bdoes anything") == "no does anything");
  CHECK(clean_text("*____\b\b\b\bthis* side") == "*this* side");
  CHECK(clean_text("  two\tlines\n\t\t-- Someone  \n") == "two lines -- Someone");
  CHECK(clean_text("\x01\x7f") == "");
  CHECK(clean_text("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 bytes are not control characters
}

TEST_CASE("LabelVocabulary sorts labels, numerically when they are all integers") {
  LabelVocabulary words({"noun.plant", "noun.animal", "noun.plant", "noun.act"});
  CHECK(words.labels() == std::vector<std::string>{"noun.act", "noun.animal", "noun.plant"});
  CHECK(words.id_of("noun.plant") == 2);
  CHECK(words.label_of(0) == "noun.act");

  LabelVocabulary numbers({"10", "2", "1", "0"});
  CHECK(numbers.labels() == std::vector<std::string>{"0", "1", "2", "10"});
  CHECK(numbers.id_of("10") == 3);

  std::vector<Example> examples = {{"b", "x", ""}, {"a", "y", ""}, {"b", "z", ""}};
  LabelVocabulary from_examples = LabelVocabulary::from_examples(examples);
  CHECK(from_examples.size() == 2);
  CHECK(from_examples.ids_of(examples).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 1});
  CHECK(label_counts(examples) == std::map<std::string, std::int64_t>{{"a", 1}, {"b", 2}});
}

TEST_CASE("LabelVocabulary names the known labels when asked for an unknown one") {
  LabelVocabulary vocabulary({"n", "v"});
  CHECK_THROWS_WITH_AS(vocabulary.id_of("r"),
                       doctest::Contains("[LabelVocabulary] unknown label 'r'; the 2 known labels are 'n', 'v'"), IndexError);
  CHECK_THROWS_WITH_AS(vocabulary.label_of(2), doctest::Contains("class id 2 is out of range [0, 2)"), IndexError);
}
