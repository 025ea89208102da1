#include <filesystem>
#include <sstream>

#include "data/corpus.h"
#include "tests/temp_directory.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

namespace {

// A WordNet data file in the real layout: licence lines (two leading spaces), then synsets.
const char* kFakeNounFile =
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  \n"
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04431553 n 0000 | that which is perceived "
    "or known or inferred to have its own distinct existence (living or nonliving)  \n"
    "00015388 05 n 03 animal 0 animate_being 0 beast 0 002 @ 00004475 n 0000 ~ 00017402 n 0000 | a living organism "
    "characterized by voluntary movement; \"the animals of the forest\"; \"beasts of burden\"  \n";

}  // namespace

TEST_CASE("parse_kjv_listing strips the verse reference from each line") {
  std::istringstream listing(
      "Ge1:1 In the beginning God created the heaven and the earth.\n"
      "1Sm2:3 Talk no more so exceeding proudly;\n"
      "\n"
      "SSol8:14 Make haste, my beloved.\n");
  std::vector<std::string> verses = parse_kjv_listing(listing, "listing");
  CHECK(verses == std::vector<std::string>{"In the beginning God created the heaven and the earth.",
                                           "Talk no more so exceeding proudly;", "Make haste, my beloved."});
}

TEST_CASE("parse_kjv_listing names source:line of a line without a reference") {
  std::istringstream listing("Ge1:1 fine\nGenesis 1\n");
  CHECK_THROWS_WITH_AS(parse_kjv_listing(listing, "bible output"),
                       doctest::Contains("[kjv_verses] bible output:2: expected 'Book1:1 text', got 'Genesis 1'"), Error);
}

TEST_CASE("kjv_verses reads the verses a command prints and explains a failing command") {
  CHECK(kjv_verses("printf 'Ge1:1 In the beginning\\nRev22:21 Amen.\\n'") ==
        std::vector<std::string>{"In the beginning", "Amen."});
  CHECK_THROWS_WITH_AS(kjv_verses("exit 3"),
                       doctest::Contains("[kjv_verses] 'exit 3' failed with exit status 3; install Debian's bible-kjv"), Error);
  CHECK_THROWS_WITH_AS(kjv_verses("true"), doctest::Contains("printed no verses"), Error);
}

TEST_CASE("the installed King James Bible has 31,102 verses from Genesis 1:1 to Revelation 22:21") {
  if (std::system("command -v bible >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: bible-kjv is not installed");
    return;
  }
  std::vector<std::string> verses = kjv_verses();
  CHECK(verses.size() == 31102);
  CHECK(verses.front() == "In the beginning God created the heaven and the earth.");
  CHECK(verses.back() == "The grace of our Lord Jesus Christ be with you all. Amen.");
}

TEST_CASE("split_gloss separates the definition from quoted examples, even an unterminated one") {
  std::string definition;
  std::vector<std::string> examples;
  split_gloss("draw air into, and expel out of, the lungs; \"I can breathe better\"; \"The patient is respiring\"  ",
              definition, examples);
  CHECK(definition == "draw air into, and expel out of, the lungs");
  CHECK(examples == std::vector<std::string>{"I can breathe better", "The patient is respiring"});

  split_gloss("capable of taking gases into a solution; \"an assimilative substance  ", definition, examples);
  CHECK(definition == "capable of taking gases into a solution");
  CHECK(examples == std::vector<std::string>{"an assimilative substance"});

  split_gloss("expressing the actor: \"Hemingway favors active constructions\"", definition, examples);
  CHECK(definition == "expressing the actor");
  CHECK(examples.size() == 1);

  split_gloss("a plant or animal that is atypically small  ", definition, examples);
  CHECK(definition == "a plant or animal that is atypically small");
  CHECK(examples.empty());
}

TEST_CASE("read_wordnet_data_file skips the licence and reads offset, lexname, POS, lemmas, gloss and examples") {
  TempDirectory dir;
  std::vector<Synset> synsets = read_wordnet_data_file(dir.write("data.noun", kFakeNounFile));
  REQUIRE(synsets.size() == 2);
  CHECK(synsets[0].offset == "00001740");
  CHECK(synsets[0].lexname == 3);
  CHECK(synsets[0].pos == 'n');
  CHECK(synsets[0].lemmas == std::vector<std::string>{"entity"});
  CHECK(synsets[0].gloss ==
        "that which is perceived or known or inferred to have its own distinct existence (living or nonliving)");
  CHECK(synsets[1].lemmas == std::vector<std::string>{"animal", "animate_being", "beast"});
  CHECK(synsets[1].gloss == "a living organism characterized by voluntary movement");
  CHECK(synsets[1].examples == std::vector<std::string>{"the animals of the forest", "beasts of burden"});
  CHECK(lexname_name(synsets[1].lexname) == "noun.animal");
}

TEST_CASE("WordNet lemma counts are hexadecimal and adjective markers are stripped") {
  TempDirectory dir;
  // 0a = 10 lemmas; "(p)", "(a)" and "(ip)" mark syntactic positions, not spelling.
  std::string line = "00020410 00 s 0a w0 0 w1 0 w2 0 w3 0 w4 0 w5 0 w6 0 w7 0 out_of_reach(p) 0 galore(ip) 0 000 "
                     "| inaccessible and difficult to reach  \n";
  std::vector<Synset> synsets = read_wordnet_data_file(dir.write("data.adj", line));
  REQUIRE(synsets.size() == 1);
  CHECK(synsets[0].pos == 's');
  CHECK(synsets[0].lemmas.size() == 10);
  CHECK(synsets[0].lemmas[8] == "out_of_reach");
  CHECK(synsets[0].lemmas[9] == "galore");
}

TEST_CASE("read_wordnet_data_file names path:line of a malformed synset") {
  TempDirectory dir;
  std::string no_gloss = dir.write("a", "00001740 03 n 01 entity 0 000\n");
  CHECK_THROWS_WITH_AS(read_wordnet_data_file(no_gloss),
                       doctest::Contains(std::string("[read_wordnet_data_file] " + no_gloss + ":1: no ' | ' before the gloss").c_str()), Error);
  std::string bad_pos = dir.write("b", "  licence\n00001740 03 x 01 entity 0 000 | a gloss\n");
  CHECK_THROWS_WITH_AS(read_wordnet_data_file(bad_pos), doctest::Contains(std::string(bad_pos + ":2: POS 'x'").c_str()), Error);
  std::string few_lemmas = dir.write("c", "00001740 03 n 03 entity 0 | a gloss\n");
  CHECK_THROWS_WITH_AS(read_wordnet_data_file(few_lemmas), doctest::Contains("3 lemmas declared, fewer found"), Error);
  std::string bad_lexname = dir.write("d", "00001740 77 n 01 entity 0 000 | a gloss\n");
  CHECK_THROWS_WITH_AS(read_wordnet_data_file(bad_lexname), doctest::Contains("lexicographer file 77 outside 0..44"), Error);
  CHECK_THROWS_WITH_AS(read_wordnet_data_file(dir.file("absent")), doctest::Contains("install Debian's wordnet-base"), Error);
  CHECK_THROWS_WITH_AS(lexname_name(45), doctest::Contains("[lexname_name] lexicographer file 45 is outside 0..44"),
                       IndexError);
}

TEST_CASE("the installed WordNet 3.0 has 117,659 synsets, 82,115 of them nouns") {
  if (!std::filesystem::exists(std::string(kWordNetDirectory) + "/data.noun")) {
    MESSAGE("skipped: wordnet-base is not installed");
    return;
  }
  std::vector<Synset> synsets = wordnet_synsets();
  CHECK(synsets.size() == 117659);
  CHECK(std::count_if(synsets.begin(), synsets.end(), [](const Synset& s) { return s.pos == 'n'; }) == 82115);
  CHECK(std::all_of(synsets.begin(), synsets.end(), [](const Synset& s) { return !s.lemmas.empty(); }));
}

TEST_CASE("read_fortunes splits records on lines holding only %, keeping a last record without one") {
  TempDirectory dir;
  std::string path = dir.write("people", "A bore talks.\n\t\t-- Anon\n%\n%\nOne line\n%\n  \n%\nLast, no closing mark\n");
  std::vector<std::string> records = read_fortunes(path);
  CHECK(records == std::vector<std::string>{"A bore talks.\n\t\t-- Anon", "One line", "Last, no closing mark"});
  CHECK(fortunes("people", dir.path()) == records);
  CHECK_THROWS_WITH_AS(fortunes("absent", dir.path()), doctest::Contains("[read_fortunes] cannot open"), Error);
}

TEST_CASE("pretraining_corpus is the verses followed by every gloss and example sentence") {
  TempDirectory dir;
  dir.write("wordnet/data.noun", kFakeNounFile);
  dir.write("wordnet/data.verb", "00001740 29 v 01 breathe 0 000 01 + 02 00 | draw air; \"breathe deeply\"\n");
  dir.write("wordnet/data.adj", "");
  dir.write("wordnet/data.adv", "");
  std::vector<std::string> corpus = pretraining_corpus(dir.file("wordnet"), "printf 'Ge1:1 Let there be light.\\n'");
  CHECK(corpus == std::vector<std::string>{
                      "Let there be light.",
                      "that which is perceived or known or inferred to have its own distinct existence (living or nonliving)",
                      "a living organism characterized by voluntary movement", "the animals of the forest",
                      "beasts of burden", "draw air", "breathe deeply"});
}
