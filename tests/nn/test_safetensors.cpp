// safetensors: round trips, the exact byte layout, one test per kind of bad file, atomic writes,
// and interop with the reference Python package (tests/python/safetensors_interop.py).
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "nn/safetensors.h"
#include "tests/helpers.h"
#include "tests/python_script.h"
#include "tests/temp_directory.h"

using namespace moegrad;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file with this exact header text (no padding) followed by `data`.
std::string file_with_header(const std::string& header, const std::string& data = "") {
  std::uint64_t length = header.size();
  std::string bytes(reinterpret_cast<const char*>(&length), 8);
  return bytes + header + data;
}

// Loading `bytes` throws ErrorType whose message starts with the standard prefix and names `problem`.
template <class ErrorType = nn::IoError>
void check_rejected(const std::string& bytes, const std::string& problem) {
  INFO("expected an error mentioning: " << problem);
  try {
    nn::load_safetensors_from_bytes(bytes, "bad.safetensors");
    FAIL("the file loaded");
  } catch (const ErrorType& error) {
    std::string message = error.what();
    INFO("message: " << message);
    CHECK(message.starts_with("[load_safetensors] bad.safetensors: "));
    CHECK(message.find(problem) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("save_safetensors then load_safetensors gives back names, dtypes, shapes, values and metadata") {
  TempDirectory directory;
  Generator generator(3);
  std::map<std::string, Tensor> tensors = {
      {"encoder.layers.0.w", randn({3, 4}, generator)},
      {"encoder.layers.0.b", randn({4}, generator, kFloat64)},
      {"token_ids", from_vector(std::vector<std::int64_t>{-(std::int64_t{1} << 40), -1, 0, 7}, {2, 2})},
      {"scale", scalar(2.5, kFloat64)},             // 0-d
      {"empty", zeros({0, 4})},                     // no elements
      {"transposed", transpose(randn({2, 3}, generator), 0, 1)},  // non-contiguous: saved row-major
  };
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "dots, 0-d and empty tensors"}};
  nn::save_safetensors(directory.file("weights.safetensors"), tensors, metadata);

  nn::SafetensorsFile file = nn::load_safetensors(directory.file("weights.safetensors"));
  CHECK(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, original] : tensors) {
    INFO("tensor " << name);
    REQUIRE(file.tensors.count(name) == 1);
    const Tensor& loaded = file.tensors.at(name);
    CHECK(loaded.dtype() == original.dtype());
    CHECK(loaded.shape() == original.shape());
    CHECK(loaded.to_vector<double>() == original.to_vector<double>());  // bit for bit
    CHECK_FALSE(loaded.requires_grad());
  }
  CHECK(file.tensors.at("scale").item() == 2.5);
  CHECK(file.tensors.at("token_ids").at({0, 0}) == -static_cast<double>(std::int64_t{1} << 40));
}

TEST_CASE("the written bytes follow the format: length, sorted names, packed offsets, spaces to 8 bytes") {
  std::map<std::string, Tensor> tensors = {{"b", from_vector(std::vector<float>{1.0f, 2.0f})},
                                           {"a", from_vector(std::vector<std::int64_t>{5, 6, 7})}};
  std::string bytes = nn::safetensors_bytes(tensors);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK(header_length % 8 == 0);
  REQUIRE(bytes.size() == 8 + header_length + 3 * 8 + 2 * 4);
  std::string header = bytes.substr(8, header_length);
  CHECK(header.find('{') == 0);
  CHECK(header.find("\"a\"") < header.find("\"b\""));  // name order: a's data comes first
  CHECK(header.find("\"data_offsets\":[0,24]") != std::string::npos);
  CHECK(header.find("\"data_offsets\":[24,32]") != std::string::npos);
  CHECK(header.find("\"dtype\":\"I64\"") != std::string::npos);
  CHECK(header.find("\"dtype\":\"F32\"") != std::string::npos);
  CHECK(header.find_last_not_of(' ') == header.find_last_of('}'));  // padding is spaces only

  const char* data = bytes.data() + 8 + header_length;
  std::int64_t a[3];
  float b[2];
  std::memcpy(a, data, sizeof a);
  std::memcpy(b, data + 24, sizeof b);
  CHECK((a[0] == 5 && a[1] == 6 && a[2] == 7));
  CHECK((b[0] == 1.0f && b[1] == 2.0f));
}

TEST_CASE("a file with no tensors is an 8-byte header of the format metadata and spaces, and loads empty") {
  std::string bytes = nn::safetensors_bytes({});
  CHECK(bytes == file_with_header(R"({"__metadata__":{"format":"pt"}})"));  // 32 bytes: no padding needed
  nn::SafetensorsFile file = nn::load_safetensors_from_bytes(bytes, "empty");
  CHECK(file.tensors.empty());
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}});
}

TEST_CASE("the writer puts format pt in the metadata and keeps a format the caller gives") {
  CHECK(nn::load_safetensors_from_bytes(nn::safetensors_bytes({{"w", zeros({1})}}), "default").metadata ==
        std::map<std::string, std::string>{{"format", "pt"}});
  CHECK(nn::load_safetensors_from_bytes(nn::safetensors_bytes({{"w", zeros({1})}}, {{"format", "np"}}), "given")
            .metadata == std::map<std::string, std::string>{{"format", "np"}});
}

TEST_CASE("save_safetensors refuses an undefined tensor and the reserved name __metadata__") {
  CHECK_THROWS_WITH_AS(nn::safetensors_bytes({{"w", Tensor()}}), doctest::Contains("tensor 'w' is undefined"), Error);
  CHECK_THROWS_WITH_AS(nn::safetensors_bytes({{"__metadata__", zeros({1})}}), doctest::Contains("reserved"), Error);
}

TEST_CASE("files too short or with a header length that lies are rejected before anything is read") {
  check_rejected(std::string("\x01\x02\x03", 3), "3 bytes, fewer than the 8");
  check_rejected(file_with_header("{}").substr(0, 9), "runs past the end of the file");
  std::string huge = file_with_header("{}");
  const std::uint64_t terabyte = std::uint64_t{1} << 40;
  std::memcpy(huge.data(), &terabyte, 8);
  check_rejected(huge, "over the 100000000-byte limit");
}

TEST_CASE("a header that is not a JSON object, or whose entries are malformed, is rejected by name") {
  check_rejected(file_with_header("{\"w\": "), "the header should be one JSON object padded with spaces, but the "
                                               "parser stopped at header byte 7");
  check_rejected(file_with_header("[1, 2]"), "must be a JSON object, got [1,2]");
  check_rejected(file_with_header(R"({"w": 3})"), "the entry of tensor 'w' must be an object");
  check_rejected(file_with_header(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})"), "has no \"dtype\" field");
  check_rejected(file_with_header(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})"), "has no \"shape\" field");
  check_rejected(file_with_header(R"({"w": {"dtype": "F32", "shape": [1]}})", "abcd"), "no \"data_offsets\" field");
  check_rejected(file_with_header(R"({"w": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                 "dtype of tensor 'w' must be a string");
  check_rejected(file_with_header(R"({"w": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", "abcd"),
                 "shape of tensor 'w' must be an array");
  check_rejected(file_with_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})", "abcd"),
                 "must be two non-negative integers [begin, end], got [4]");
  check_rejected(file_with_header(R"({"__metadata__": ["a"]})"), "__metadata__ must be an object");
  check_rejected(file_with_header(R"({"__metadata__": {"step": 5}})"), "but 'step' holds 5");
  // Nesting within the depth limit is described, not printed.
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  check_rejected(file_with_header(deep), "must be a JSON object, got a JSON array of 1 entries");
  check_rejected(file_with_header("{\"w\": " + deep + "}"), "tensor 'w' must be an object");
}

TEST_CASE("a dtype moegrad cannot load, or not a dtype at all, is a DTypeError naming the tensor") {
  check_rejected<DTypeError>(
      file_with_header(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", "ab"),
      "tensor 'w' has dtype \"F8_E4M3\", which moegrad cannot load without losing values (it has F32, F64, BF16 and I64)");
  check_rejected<DTypeError>(file_with_header(R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                             "tensor 'w' has dtype \"F33\", which is not a safetensors dtype");
}

TEST_CASE("shapes must hold non-negative integers whose product fits in 64 bits") {
  auto with_shape = [](const std::string& shape) {
    return file_with_header(R"({"w": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 0]}})");
  };
  check_rejected(with_shape("[2, -1]"), "the shape [2,-1] of tensor 'w' must hold non-negative integers");
  check_rejected(with_shape("[2.5]"), "must hold non-negative integers");
  check_rejected(with_shape("[\"3\"]"), "must hold non-negative integers");
  check_rejected(with_shape("[4294967296, 4294967296, 4]"), "more elements than fit in 64 bits");
  check_rejected(with_shape("[0, 4294967296, 4294967296]"), "more elements than fit in 64 bits");
  check_rejected(with_shape("[100000000000000000000]"), "must hold non-negative integers");  // not even a uint64
  check_rejected(with_shape("[18446744073709551615]"),
                 "has a dimension 18446744073709551615 too large for a 64-bit signed size");
}

TEST_CASE("data_offsets must lie in the data section and hold exactly numel times the dtype size") {
  auto with_offsets = [](const std::string& offsets, const std::string& data) {
    return file_with_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": )" + offsets + "}}", data);
  };
  check_rejected(with_offsets("[0, 16]", std::string(8, 'x')), "reach past the end of the data section (8 bytes)");
  check_rejected(with_offsets("[8, 0]", std::string(8, 'x')), "end before they begin");
  check_rejected(with_offsets("[0, 4]", std::string(4, 'x')), "needs 2 elements of 4 bytes, but its data_offsets [0,4]");
  check_rejected(with_offsets("[0, -8]", std::string(8, 'x')), "two non-negative integers");
}

TEST_CASE("the tensors' regions must tile the data section: no overlap, no hole, no trailing bytes") {
  const std::string two = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                              "b": {"dtype": "F32", "shape": [1], "data_offsets": )";
  check_rejected(file_with_header(two + "[2, 6]}}", std::string(6, 'x')), "'a' [0, 4) and 'b' [2, 6) overlap");
  check_rejected(file_with_header(two + "[8, 12]}}", std::string(12, 'x')), "bytes [4, 8) of the data section belong to no tensor");
  check_rejected(file_with_header(two + "[4, 8]}}", std::string(11, 'x')), "3 bytes of trailing data");
  // Out of order in the header but tiling once sorted is fine; empty tensors take no room.
  const std::string reordered = R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                                    "e": {"dtype": "F64", "shape": [0, 3], "data_offsets": [4, 4]},
                                    "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  float values[2] = {1.5f, -2.0f};
  nn::SafetensorsFile file =
      nn::load_safetensors_from_bytes(file_with_header(reordered, std::string(reinterpret_cast<char*>(values), 8)), "ok");
  CHECK(file.tensors.at("a").item() == 1.5);
  CHECK(file.tensors.at("b").item() == -2.0);
  CHECK(file.tensors.at("e").shape() == Shape{0, 3});
}

TEST_CASE("load_safetensors names a missing file and a directory") {
  TempDirectory directory;
  CHECK_THROWS_WITH_AS(nn::load_safetensors(directory.file("absent.safetensors")),
                       doctest::Contains("absent.safetensors: no such file"), nn::IoError);
  CHECK_THROWS_WITH_AS(nn::load_safetensors(directory.path()), doctest::Contains("not a regular file"),
                       nn::IoError);
}

TEST_CASE("a save that dies half-way leaves the previous file intact and no temp file behind") {
  TempDirectory directory;
  const std::string path = directory.file("model.safetensors");
  nn::save_safetensors(path, {{"w", from_vector(std::vector<float>{1, 2, 3})}});
  const std::string before = read_text(path);

  // The process "dies" after half of the new file reached the temp file.
  std::string new_bytes = nn::safetensors_bytes({{"w", from_vector(std::vector<float>{9, 9, 9, 9, 9})}});
  std::string seen_temp;
  auto crash = [&](const std::string& temp_path) {
    seen_temp = temp_path;
    CHECK(fs::file_size(temp_path) == new_bytes.size() / 2);
    throw std::runtime_error("simulated crash");
  };
  CHECK_THROWS_WITH_AS(nn::write_file_atomically(path, new_bytes, "save_safetensors", crash), "simulated crash",
                       std::runtime_error);
  CHECK(seen_temp == path + ".tmp-" + std::to_string(::getpid()));
  CHECK(read_text(path) == before);
  CHECK_FALSE(fs::exists(seen_temp));

  // A tensor map that cannot be serialised fails before the file is touched.
  CHECK_THROWS_AS(nn::save_safetensors(path, {{"a", zeros({2})}, {"b", Tensor()}}), Error);
  CHECK(read_text(path) == before);
  CHECK(std::distance(fs::directory_iterator(directory.path()), fs::directory_iterator()) == 1);

  // A save that completes replaces the file.
  nn::save_safetensors(path, {{"w", from_vector(std::vector<float>{9, 9, 9, 9, 9})}});
  CHECK(read_text(path) == new_bytes);
  CHECK(std::distance(fs::directory_iterator(directory.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a save into a directory that does not exist is an IoError naming the path") {
  CHECK_THROWS_WITH_AS(nn::save_safetensors("/nonexistent-moegrad-dir/w.safetensors", {}),
                       doctest::Contains("[save_safetensors] /nonexistent-moegrad-dir/w.safetensors: cannot create"),
                       nn::IoError);
}

// ---------------- interop with the reference implementation (Python's safetensors) ----------------

namespace {

// Runs tests/python/safetensors_interop.py <mode> <file> in the venv (tests/python_script.h).
void run_interop_script(const std::string& mode, const std::string& file, const TempDirectory& directory) {
  run_python_script("safetensors_interop.py", fmt::format("{} '{}'", mode, file), directory.file(mode + ".log"));
}

}  // namespace

TEST_CASE("a file moegrad writes loads in Python's safetensors with the same names, dtypes, shapes and values") {
  TempDirectory directory;
  const std::string path = directory.file("from_moegrad.safetensors");
  // The values the script expects, built from arange so both sides can write them down.
  nn::save_safetensors(path,
                       {{"encoder.layers.0.w", arange(0.0, 6.0, 1.0, kFloat32).reshape({2, 3}) * 0.5},
                        {"encoder.layers.0.b", from_vector(std::vector<double>{-1.5, 0.25, 3.0e300})},
                        {"token_ids", from_vector(std::vector<std::int64_t>{-(std::int64_t{1} << 40), -1, 0,
                                                                             (std::int64_t{1} << 40) + 3},
                                                  {2, 2})},
                        {"scale", scalar(2.5, kFloat64)},
                        {"empty", zeros({0, 4})}},
                       {{"format", "pt"}, {"note", "written by moegrad"}});
  run_interop_script("check", path, directory);
}

TEST_CASE("a file Python's safetensors writes loads in moegrad with the same names, dtypes, shapes and values") {
  TempDirectory directory;
  const std::string path = directory.file("from_python.safetensors");
  run_interop_script("write", path, directory);
  nn::SafetensorsFile file = nn::load_safetensors(path);

  CHECK(file.metadata == std::map<std::string, std::string>{{"source", "python"}, {"answer", "42"}});
  REQUIRE(file.tensors.size() == 6);
  const Tensor& f32 = file.tensors.at("python.f32");  // arange(12) / 4, shape (3, 4)
  CHECK(f32.dtype() == kFloat32);
  CHECK(f32.shape() == Shape{3, 4});
  for (int i = 0; i < 12; ++i) CHECK(f32.to_vector<double>()[i] == i / 4.0);
  const Tensor& f64 = file.tensors.at("python.f64");  // arange(5) * 0.1
  CHECK(f64.dtype() == kFloat64);
  CHECK(f64.shape() == Shape{5});
  for (int i = 0; i < 5; ++i) CHECK(f64.to_vector<double>()[i] == i * 0.1);
  const Tensor& i64 = file.tensors.at("python.i64");
  CHECK(i64.dtype() == kInt64);
  CHECK(i64.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{-(std::int64_t{1} << 40), -1, 0, 7, (std::int64_t{1} << 40) + 3});
  const Tensor& dotted = file.tensors.at("python.layers.0.w");
  CHECK(dotted.shape() == Shape{2, 2});
  CHECK(dotted.to_vector<double>() == std::vector<double>{1, 2, 3, 4});
  CHECK(file.tensors.at("python.scalar").shape() == Shape{});
  CHECK(file.tensors.at("python.scalar").item() == 3.25);
  CHECK(file.tensors.at("python.empty").shape() == Shape{2, 0});
  CHECK(file.tensors.at("python.empty").dtype() == kFloat32);
}

TEST_CASE("F16, BOOL and small integers written by Python's safetensors load converted, values exact") {
  TempDirectory directory;
  const std::string path = directory.file("dtypes.safetensors");
  run_interop_script("write_dtypes", path, directory);
  CHECK_THROWS_WITH_AS(nn::load_safetensors(path), doctest::Contains("has dtype \"BOOL\""), DTypeError);
  nn::SafetensorsFile file = nn::load_safetensors(path, {.convert_dtypes = true});
  CHECK(file.tensors.at("f16").dtype() == kFloat32);
  CHECK(file.tensors.at("f16").to_vector<float>() == std::vector<float>{1.0f, -2.5f, 65504.0f, std::ldexp(1.0f, -24)});
  CHECK(file.tensors.at("bool").to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 1});
  CHECK(file.tensors.at("u8").to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 255});
  CHECK(file.tensors.at("i8").to_vector<std::int64_t>() == std::vector<std::int64_t>{-128, 127});
  CHECK(file.tensors.at("i16").to_vector<std::int64_t>() == std::vector<std::int64_t>{-32768, 32767});
  CHECK(file.tensors.at("i32").shape() == Shape{1, 2});
  CHECK(file.tensors.at("i32").dtype() == kInt64);
  CHECK(file.tensors.at("i32").to_vector<std::int64_t>() == std::vector<std::int64_t>{-2147483648LL, 2147483647LL});
}
