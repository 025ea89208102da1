#include <filesystem>
#include <fstream>
#include <iterator>

#include "data/tokenizer.h"
#include "tests/temp_directory.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

namespace {

// A few hundred short sentences from a small grammar: enough for a 100-piece vocabulary.
std::vector<std::string> synthetic_sentences() {
  const std::vector<std::string> subjects = {"the king", "a shepherd", "my brother", "the people", "his servant",
                                             "the prophet"};
  const std::vector<std::string> verbs = {"spake unto", "went before", "blessed", "remembered", "followed", "answered"};
  const std::vector<std::string> objects = {"the city.", "all the land.", "the house of the lord.", "them that day.",
                                            "the children of israel.", "his fathers."};
  std::vector<std::string> sentences;
  for (const std::string& subject : subjects) {
    for (const std::string& verb : verbs) {
      for (const std::string& object : objects) sentences.push_back(subject + " " + verb + " " + object);
    }
  }
  return sentences;  // 216
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("a trained SentencePiece model puts the five special pieces at ids 0 to 4") {
  TempDirectory dir;
  for (std::string model_type : {"unigram", "bpe"}) {
    INFO("model_type " << model_type);
    SentencePieceTokenizer tokenizer =
        SentencePieceTokenizer::train(synthetic_sentences(), dir.file(model_type + ".model"),
                                      {.vocab_size = 100, .model_type = model_type});
    CHECK(tokenizer.vocab_size() > kSpecialTokenCount);
    CHECK(tokenizer.vocab_size() <= 100);
    CHECK(tokenizer.id_of("[PAD]") == kPadId);
    CHECK(tokenizer.id_of("[UNK]") == kUnkId);
    CHECK(tokenizer.id_of("[CLS]") == kClsId);
    CHECK(tokenizer.id_of("[SEP]") == kSepId);
    CHECK(tokenizer.id_of("[MASK]") == kMaskId);
    CHECK(tokenizer.piece_of(kMaskId) == "[MASK]");
  }
}

TEST_CASE("SentencePiece encode then decode gives back normalised text") {
  TempDirectory dir;
  SentencePieceTokenizer tokenizer =
      SentencePieceTokenizer::train(synthetic_sentences(), dir.file("m.model"), {.vocab_size = 100});
  for (std::string text : {"the king blessed the city.", "his servant answered all the land.", "the prophet"}) {
    std::vector<std::int64_t> ids = tokenizer.encode(text);
    CHECK(!ids.empty());
    for (std::int64_t id : ids) CHECK(id >= kSpecialTokenCount);  // ordinary text holds no special piece
    CHECK(tokenizer.decode(ids) == text);
  }
  // Extra spaces are normalised away before encoding.
  CHECK(tokenizer.decode(tokenizer.encode("  the   king  ")) == "the king");
}

TEST_CASE("SentencePiece matches user-defined pieces in text, maps unseen characters to [UNK] and decodes [PAD] to nothing") {
  TempDirectory dir;
  SentencePieceTokenizer tokenizer =
      SentencePieceTokenizer::train(synthetic_sentences(), dir.file("m.model"), {.vocab_size = 100});
  std::vector<std::int64_t> ids = tokenizer.encode("[CLS] the king [MASK] [SEP]");
  CHECK(std::count(ids.begin(), ids.end(), kClsId) == 1);
  CHECK(std::count(ids.begin(), ids.end(), kMaskId) == 1);
  CHECK(std::count(ids.begin(), ids.end(), kSepId) == 1);
  std::vector<std::int64_t> unseen = tokenizer.encode("Q");  // no capital letters in the corpus
  CHECK(std::count(unseen.begin(), unseen.end(), kUnkId) == 1);
  std::vector<std::int64_t> padded = tokenizer.encode("the king");
  std::vector<std::int64_t> with_padding = padded;
  with_padding.insert(with_padding.end(), {kPadId, kPadId});
  CHECK(tokenizer.decode(with_padding) == tokenizer.decode(padded));
}

TEST_CASE("a SentencePiece model file loads back with the same vocabulary, and the same seed trains the same model") {
  TempDirectory dir;
  SentencePieceTokenizer trained =
      SentencePieceTokenizer::train(synthetic_sentences(), dir.file("a.model"), {.vocab_size = 100, .seed = 3});
  SentencePieceTokenizer loaded(dir.file("a.model"));
  CHECK(loaded.vocab_size() == trained.vocab_size());
  CHECK(loaded.encode("a shepherd followed his fathers.") == trained.encode("a shepherd followed his fathers."));
  SentencePieceTokenizer::train(synthetic_sentences(), dir.file("b.model"), {.vocab_size = 100, .seed = 3});
  CHECK(file_bytes(dir.file("a.model")) == file_bytes(dir.file("b.model")));
}

TEST_CASE("SentencePieceTokenizer errors name what is wrong") {
  TempDirectory dir;
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train({}, dir.file("m.model")),
                       doctest::Contains("[SentencePieceTokenizer::train] needs at least one sentence"), Error);
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train({"a"}, dir.file("m.model"), {.vocab_size = 5}),
                       doctest::Contains("vocab_size 5 leaves no room"), Error);
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer::train({"a"}, dir.file("m.model"), {.model_type = "word"}),
                       doctest::Contains("model_type 'word' should be 'unigram' or 'bpe'"), Error);
  std::string garbage = dir.write("garbage.model", "not a model");
  CHECK_THROWS_WITH_AS(SentencePieceTokenizer{garbage}, doctest::Contains(std::string("cannot load model '" + garbage + "'").c_str()), Error);

  SentencePieceTokenizer tokenizer =
      SentencePieceTokenizer::train(synthetic_sentences(), dir.file("m.model"), {.vocab_size = 100});
  CHECK_THROWS_WITH_AS(tokenizer.id_of("zebra"), doctest::Contains("piece 'zebra' is not in the"), IndexError);
  CHECK_THROWS_WITH_AS(tokenizer.decode({5, tokenizer.vocab_size()}),
                       doctest::Contains(std::string("[SentencePieceTokenizer::decode] token id " +
                                         std::to_string(tokenizer.vocab_size()) + " is out of range").c_str()),
                       IndexError);
  CHECK_THROWS_AS(tokenizer.piece_of(-1), IndexError);
}

TEST_CASE("utf8_characters splits text into code points and leaves a stray byte on its own") {
  std::vector<std::string_view> characters = utf8_characters("a\xc3\xa9\xe2\x82\xac\xff!");
  CHECK(characters == std::vector<std::string_view>{"a", "\xc3\xa9", "\xe2\x82\xac", "\xff", "!"});
  CHECK(utf8_characters("\xc3").size() == 1);  // a cut-off sequence
}

TEST_CASE("CharTokenizer gives each character of the corpus an id after the specials, sorted by code point") {
  CharTokenizer tokenizer = CharTokenizer::build({"bad cab", "caf\xc3\xa9"});
  // characters: ' ' a b c d f é
  CHECK(tokenizer.vocab_size() == kSpecialTokenCount + 7);
  CHECK(tokenizer.id_of(" ") == 5);
  CHECK(tokenizer.id_of("a") == 6);
  CHECK(tokenizer.id_of("\xc3\xa9") == 11);
  CHECK(tokenizer.id_of("[MASK]") == kMaskId);
  CHECK(tokenizer.alphabet() == " abcdf\xc3\xa9");
  CHECK(tokenizer.encode("cab") == std::vector<std::int64_t>{8, 6, 7});
}

TEST_CASE("CharTokenizer round-trips text, maps unseen characters to [UNK] and decodes specials") {
  CharTokenizer tokenizer = CharTokenizer::build({"In the beginning God created the heaven and the earth. \xc3\xa9"});
  std::string text = "the earth and the heaven \xc3\xa9";
  CHECK(tokenizer.decode(tokenizer.encode(text)) == text);
  CHECK(tokenizer.encode("z") == std::vector<std::int64_t>{kUnkId});
  std::vector<std::int64_t> ids = tokenizer.encode("God");
  ids.insert(ids.begin(), kClsId);
  ids.insert(ids.end(), {kMaskId, kPadId, kPadId});
  CHECK(tokenizer.decode(ids) == "[CLS]God[MASK]");
  CHECK_THROWS_WITH_AS(tokenizer.decode({99}), doctest::Contains("[CharTokenizer::decode] token id 99 is out of range"),
                       IndexError);
  CHECK_THROWS_WITH_AS(tokenizer.id_of("xy"), doctest::Contains("piece 'xy' is not in the"), IndexError);
}

TEST_CASE("CharTokenizer round-trips bytes that are not valid UTF-8, and saves and loads its alphabet") {
  TempDirectory dir;
  std::string bytes = "ok\xff\xfe\xc3";
  CharTokenizer tokenizer = CharTokenizer::build({bytes});
  CHECK(tokenizer.decode(tokenizer.encode(bytes)) == bytes);
  tokenizer.save(dir.file("chars.txt"));
  CharTokenizer loaded = CharTokenizer::load(dir.file("chars.txt"));
  CHECK(loaded.vocab_size() == tokenizer.vocab_size());
  CHECK(loaded.encode(bytes) == tokenizer.encode(bytes));
  CHECK_THROWS_WITH_AS(CharTokenizer::load(dir.file("absent")), doctest::Contains("[CharTokenizer::load] cannot open"),
                       Error);
}
