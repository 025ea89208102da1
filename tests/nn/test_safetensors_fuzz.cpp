// A seeded mutation loop over a real checkpoint: thousands of corrupted variants (bit flips, byte
// changes in header and data, truncations, extensions, edits of the header-length field and of the
// JSON text) go through load_safetensors_from_bytes. Each must either load or throw moegrad::Error:
// no crash, no other exception, and (in the SANITIZE=1 build) no out-of-bounds read.
#include <cstring>
#include <random>

#include "nn/safetensors.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

constexpr int kIterations = 3000;  // a few seconds under AddressSanitizer

// The file being corrupted: every dtype, a dotted name, a 0-d and an empty tensor, metadata.
std::string real_checkpoint() {
  Generator generator(11);
  return nn::safetensors_bytes({{"encoder.layers.0.w", randn({3, 4}, generator)},
                                {"encoder.layers.0.b", randn({5}, generator, kFloat64)},
                                {"token_ids", randint(0, 100, {2, 3}, generator)},
                                {"scale", scalar(0.5)},
                                {"empty", zeros({0, 2})}},
                               {{"step", "5"}, {"format", "pt"}});
}

// Edits of the JSON text that keep it plausible, so the loader's later checks get exercised too.
const std::vector<std::pair<std::string, std::string>> kJsonEdits = {
    {"F32", "F64"},  {"F64", "I64"},     {"I64", "F32"},          {"F32", "BF16"},  {"F64", "U8"},
    {"shape", "shap"}, {"data_offsets", "offsets"}, {"dtype", "type"}, {"[", "[-1,"}, {"[", "[1e3,"},
    {"[", "[\"x\","}, {"[", "[4294967296,4294967296,"}, {"]", ",0]"}, {"]", ",18446744073709551615]"},
    {",", ",-"},     {"{", "{\"x\":1,"}, {"\"5\"", "5"},           {"__metadata__", "w"}, {":", ":null,\"z\":"},
    {"[", "[]"},     {"\"", ""},          {"}", "}}"},             {"0", "00"},     {"2", "-2"},
};

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : random_(seed) {}

  // One to three random mutations of `bytes`.
  std::string mutate(std::string bytes) {
    const int count = 1 + static_cast<int>(below(3));
    for (int i = 0; i < count; ++i) mutate_once(bytes);
    return bytes;
  }

 private:
  // mt19937_64's outputs are fixed by the standard (its distributions are not), so the same seed
  // makes the same variants everywhere.
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : random_() % n; }

  std::uint64_t header_length(const std::string& bytes) const {
    std::uint64_t length = 0;
    if (bytes.size() >= 8) std::memcpy(&length, bytes.data(), 8);
    return length;
  }
  void set_header_length(std::string& bytes, std::uint64_t length) const {
    if (bytes.size() >= 8) std::memcpy(bytes.data(), &length, 8);
  }
  // The header's span, clamped to the file, as the fuzzer believes it to be.
  std::pair<std::size_t, std::size_t> header_span(const std::string& bytes) const {
    if (bytes.size() <= 8) return {bytes.size(), bytes.size()};
    return {8, 8 + std::min<std::uint64_t>(header_length(bytes), bytes.size() - 8)};
  }

  void mutate_once(std::string& bytes) {
    if (bytes.empty()) {
      bytes.push_back(static_cast<char>(below(256)));
      return;
    }
    auto [header_begin, header_end] = header_span(bytes);
    switch (below(8)) {
      case 0:  // flip one bit anywhere
        bytes[below(bytes.size())] ^= static_cast<char>(1 << below(8));
        break;
      case 1:  // change a byte of the header
        if (header_end > header_begin) bytes[header_begin + below(header_end - header_begin)] = static_cast<char>(below(256));
        break;
      case 2:  // change a byte of the data section
        if (bytes.size() > header_end) bytes[header_end + below(bytes.size() - header_end)] = static_cast<char>(below(256));
        break;
      case 3:  // truncate
        bytes.resize(below(bytes.size()));
        break;
      case 4:  // extend with random bytes
        for (std::uint64_t i = 0, n = 1 + below(16); i < n; ++i) bytes.push_back(static_cast<char>(below(256)));
        break;
      case 5: {  // edit the header-length field
        const std::uint64_t length = header_length(bytes);
        const std::uint64_t choices[] = {length + 1 + below(16), length - 1 - below(16), random_(), 0,
                                         bytes.size() - 8, bytes.size(), std::uint64_t{1} << 62};
        set_header_length(bytes, choices[below(std::size(choices))]);
        break;
      }
      case 6:  // replace a digit of the header (shapes, offsets) with another
        for (int tries = 0; tries < 32 && header_end > header_begin; ++tries) {
          char& c = bytes[header_begin + below(header_end - header_begin)];
          if (c >= '0' && c <= '9') {
            c = static_cast<char>('0' + below(10));
            break;
          }
        }
        break;
      case 7:  // a JSON edit; usually the header-length field follows it so the JSON still parses
        edit_json(bytes, header_begin, header_end);
        break;
    }
  }

  void edit_json(std::string& bytes, std::size_t header_begin, std::size_t header_end) {
    const auto& [from, to] = kJsonEdits[below(kJsonEdits.size())];
    std::vector<std::size_t> positions;
    for (std::size_t at = bytes.find(from, header_begin); at != std::string::npos && at + from.size() <= header_end;
         at = bytes.find(from, at + 1)) {
      positions.push_back(at);
    }
    if (positions.empty()) return;
    bytes.replace(positions[below(positions.size())], from.size(), to);
    if (below(4) != 0 && bytes.size() >= 8) {
      set_header_length(bytes, header_length(bytes) + to.size() - from.size());
    }
  }

  std::mt19937_64 random_;
};

}  // namespace

TEST_CASE("thousands of corrupted variants of a real checkpoint each load or throw moegrad::Error") {
  const std::string original = real_checkpoint();
  REQUIRE(nn::load_safetensors_from_bytes(original, "original").tensors.size() == 5);

  Mutator mutator(20240601);
  int loaded = 0, rejected = 0, wrong_exceptions = 0;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    const std::string variant = mutator.mutate(original);
    try {
      nn::SafetensorsFile file = nn::load_safetensors_from_bytes(variant, "variant");
      // Whatever loaded must fit in the bytes it came from; reading every value lets the
      // sanitizers see any tensor that points outside its storage.
      std::size_t total_bytes = 0;
      for (const auto& [name, tensor] : file.tensors) {
        total_bytes += static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype());
        CHECK(tensor.to_vector<double>().size() == static_cast<std::size_t>(tensor.numel()));
      }
      CHECK(total_bytes <= variant.size());
      ++loaded;
    } catch (const Error& error) {
      ++rejected;
      const std::string message = error.what();
      if (!message.starts_with("[load_safetensors] variant: ")) {
        FAIL_CHECK("iteration " << iteration << ": message without the standard prefix: " << message);
      }
    } catch (const std::exception& error) {
      ++wrong_exceptions;
      FAIL_CHECK("iteration " << iteration << ": " << typeid(error).name() << ": " << error.what());
    } catch (...) {
      ++wrong_exceptions;
      FAIL_CHECK("iteration " << iteration << ": an exception that is not a std::exception");
    }
  }
  INFO(loaded << " variants loaded, " << rejected << " were rejected");
  CHECK(wrong_exceptions == 0);
  // Both outcomes occur: flips inside the data still load, broken headers do not.
  CHECK(loaded > kIterations / 20);
  CHECK(rejected > kIterations / 2);
}
