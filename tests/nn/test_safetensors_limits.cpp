// The loader's defences against hostile headers (nn/safetensors_json.cpp): limits checked before
// any JSON is built, NUL bytes, keys given twice, and parser errors that say what was expected.
#include <cstring>

#include "nn/safetensors.h"
#include "nn/safetensors_json.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

std::string file_with_header(const std::string& header, const std::string& data = "") {
  std::uint64_t length = header.size();
  return std::string(reinterpret_cast<const char*>(&length), 8) + header + data;
}

// The IoError message of loading `bytes`, or "" when it loads.
std::string rejection(const std::string& bytes) {
  try {
    nn::load_safetensors_from_bytes(bytes, "bad.safetensors");
  } catch (const nn::IoError& error) {
    return error.what();
  }
  return "";
}

const std::string kEntry = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";

}  // namespace

TEST_CASE("a header nested deeper than 128 levels is refused at once, before parsing") {
  // 100 MB of '[' took 7.4 GB and over 40 s in nlohmann's parser; the pre-scan stops at byte 128,
  // which the message reports (timing is for make bench; the byte offset shows nothing was parsed).
  const std::string brackets(100'000'000 - 8, '[');
  const std::string message = rejection(file_with_header(brackets));
  CHECK(message.find("the header nests deeper than 128 levels (at byte 128)") != std::string::npos);
  CHECK(rejection(file_with_header(std::string(20'000, '{') + "\"a\":")).find("nests deeper than 128") !=
        std::string::npos);
  // 128 levels are allowed through to the usual checks.
  const std::string at_limit = std::string(128, '[') + std::string(128, ']');
  CHECK(rejection(file_with_header(at_limit)).find("must be a JSON object") != std::string::npos);
  // Brackets inside strings are not nesting.
  const std::string in_name = "{\"" + std::string(500, '[') + "\": " + kEntry + "}";
  CHECK(nn::load_safetensors_from_bytes(file_with_header(in_name, "abcd"), "ok").tensors.size() == 1);
}

TEST_CASE("too many tensors or an array too long for a shape are refused before parsing") {
  std::string many = "{";
  for (std::int64_t i = 0; i < nn::kMaxTensors + 2; ++i) many += fmt::format("\"t{}\":0,", i);
  many += "\"last\":0}";
  CHECK(rejection(file_with_header(many)).find("the header has more than 100000 tensors") != std::string::npos);
  std::string long_shape = R"({"w": {"dtype": "F32", "shape": [)";
  for (int i = 0; i < 2000; ++i) long_shape += "1,";
  long_shape += R"(1], "data_offsets": [0, 4]}})";
  CHECK(rejection(file_with_header(long_shape, "abcd")).find("an array in the header has more than 1024 entries") !=
        std::string::npos);
}

TEST_CASE("a NUL in the header is refused: only spaces may pad it") {
  const std::string header = "{\"w\": " + kEntry + "}";
  CHECK(nn::load_safetensors_from_bytes(file_with_header(header + "    ", "abcd"), "ok").tensors.size() == 1);
  const std::string hidden = header + std::string(1, '\0') + "{\"evil\": 1}";
  CHECK(rejection(file_with_header(hidden, "abcd")).find("byte 61 of the header is a NUL") != std::string::npos);
  CHECK(rejection(file_with_header(header + std::string(3, '\0'), "abcd")).find("is a NUL") != std::string::npos);
}

TEST_CASE("a tensor name or an entry key given twice is refused, not resolved by keeping the last") {
  const std::string two_w = "{\"w\": " + kEntry + ", \"w\": " + kEntry + "}";
  CHECK(rejection(file_with_header(two_w, "abcd")).find("the header names \"w\" twice") != std::string::npos);
  const std::string two_shapes = R"({"w": {"dtype": "F32", "shape": [1], "shape": [2], "data_offsets": [0, 4]}})";
  CHECK(rejection(file_with_header(two_shapes, "abcd")).find("the entry of \"w\" has the key \"shape\" twice") !=
        std::string::npos);
  const std::string two_offsets = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "data_offsets": [0, 4]}})";
  CHECK(rejection(file_with_header(two_offsets, "abcd")).find("has the key \"data_offsets\" twice") != std::string::npos);
  const std::string two_dtypes = R"({"w": {"dtype": "F64", "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  CHECK(rejection(file_with_header(two_dtypes, "abcd")).find("has the key \"dtype\" twice") != std::string::npos);
  const std::string two_metadata = R"({"__metadata__": {"a": "1"}, "__metadata__": {"a": "2"}})";
  CHECK(rejection(file_with_header(two_metadata)).find("the header names \"__metadata__\" twice") != std::string::npos);
  const std::string metadata_key_twice = R"({"__metadata__": {"a": "1", "a": "2"}})";
  CHECK(rejection(file_with_header(metadata_key_twice)).find("the entry of \"__metadata__\" has the key \"a\" twice") !=
        std::string::npos);
  // The same key in two different objects is fine.
  const std::string two_tensors = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  CHECK(nn::load_safetensors_from_bytes(file_with_header(two_tensors, "abcdefgh"), "ok").tensors.size() == 2);
}

TEST_CASE("a parse error says what was expected and where, without nlohmann's exception code") {
  const std::string message = rejection(file_with_header("{\"w\": [1, 2,]}"));
  CHECK(message.starts_with("[load_safetensors] bad.safetensors: the header should be one JSON object padded with "
                            "spaces, but the parser stopped at header byte 13: parse error"));
  CHECK(message.find("[json.exception") == std::string::npos);
  CHECK(rejection(file_with_header("{} x")).find("parser stopped at header byte 4") != std::string::npos);
  CHECK(rejection(file_with_header("")).find("the parser stopped at header byte 1") != std::string::npos);
}
