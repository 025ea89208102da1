// dtypes on load: F32/F64/BF16/I64 load as they are; F16 and the small integer dtypes load
// converted to float32 / int64 only when asked; a model refuses weights of another dtype in strict
// mode. The bit patterns below are worked out by hand from the formats' definitions.
#include <cmath>
#include <cstring>
#include <limits>

#include "nn/layers.h"
#include "nn/safetensors.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

std::string file_with_header(const std::string& header, const std::string& data = "") {
  std::uint64_t length = header.size();
  return std::string(reinterpret_cast<const char*>(&length), 8) + header + data;
}

// A one-tensor file: tensor "t" of `dtype`, 1-D, holding the raw little-endian `values`.
template <class Raw>
std::string one_tensor(const std::string& dtype, const std::vector<Raw>& values) {
  const std::size_t bytes = values.size() * sizeof(Raw);
  const std::string header = fmt::format(R"({{"t": {{"dtype": "{}", "shape": [{}], "data_offsets": [0, {}]}}}})", dtype,
                                         values.size(), bytes);
  return file_with_header(header, std::string(reinterpret_cast<const char*>(values.data()), bytes));
}

Tensor load_converted(const std::string& bytes) {
  return nn::load_safetensors_from_bytes(bytes, "t.safetensors", {.convert_dtypes = true}).tensors.at("t");
}

}  // namespace

TEST_CASE("F16 loads as float32 when asked: normal, subnormal, zero, infinity and NaN") {
  // half: sign | 5-bit exponent (bias 15) | 10-bit mantissa
  //   0x3C00 = 1.0, 0xC000 = -2.0, 0x3555 = 0x155 fraction at 2^-2 = 1.3330078125 * 0.25,
  //   0x0001 = 2^-24 (smallest subnormal), 0x7BFF = 65504 (largest), 0x8000 = -0, 0x7C00 = inf, 0x7E00 = NaN
  const std::vector<std::uint16_t> bits = {0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF, 0x8000, 0x7C00, 0x7E00};
  Tensor t = load_converted(one_tensor("F16", bits));
  CHECK(t.dtype() == kFloat32);
  std::vector<float> v = t.to_vector<float>();
  CHECK(v[0] == 1.0f);
  CHECK(v[1] == -2.0f);
  CHECK(v[2] == 0.333251953125f);  // (1 + 341/1024) / 4
  CHECK(v[3] == std::ldexp(1.0f, -24));
  CHECK(v[4] == 65504.0f);
  CHECK((v[5] == 0.0f && std::signbit(v[5])));
  CHECK(v[6] == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(v[7]));
}

TEST_CASE("BF16 loads as bfloat16 without options: the top 16 bits of a float") {
  // 0x3F80 = 1.0, 0xC040 = -3.0, 0x3EAA -> 0x3EAA0000 = 0.33203125, 0x7F80 = inf, 0x0001 = 2^-133
  const std::vector<std::uint16_t> bits = {0x3F80, 0xC040, 0x3EAA, 0x7F80, 0x0001};
  Tensor t = nn::load_safetensors_from_bytes(one_tensor("BF16", bits), "t.safetensors").tensors.at("t");
  CHECK(t.dtype() == kBFloat16);
  std::vector<float> v = t.to_vector<float>();
  CHECK(v[0] == 1.0f);
  CHECK(v[1] == -3.0f);
  CHECK(v[2] == 0.33203125f);
  CHECK(v[3] == std::numeric_limits<float>::infinity());
  CHECK(v[4] == std::ldexp(1.0f, -133));
}

TEST_CASE("BOOL and the 8- to 32-bit integer dtypes load as int64 when asked, values unchanged") {
  CHECK(load_converted(one_tensor<std::uint8_t>("BOOL", {0, 1, 1})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 1, 1});
  CHECK(load_converted(one_tensor<std::uint8_t>("U8", {0, 200, 255})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 200, 255});
  CHECK(load_converted(one_tensor<std::int8_t>("I8", {-128, -1, 127})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{-128, -1, 127});
  CHECK(load_converted(one_tensor<std::int16_t>("I16", {-32768, 7})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{-32768, 7});
  CHECK(load_converted(one_tensor<std::uint16_t>("U16", {65535})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{65535});
  Tensor i32 = load_converted(one_tensor<std::int32_t>("I32", {std::numeric_limits<std::int32_t>::min(), -7, 1 << 30}));
  CHECK(i32.dtype() == kInt64);
  CHECK(i32.to_vector<std::int64_t>() == std::vector<std::int64_t>{-2147483648LL, -7, 1 << 30});
  CHECK(load_converted(one_tensor<std::uint32_t>("U32", {4294967295u})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{4294967295LL});
}

TEST_CASE("without the option, a dtype that would load converted is a DTypeError naming the tensor") {
  CHECK_THROWS_WITH_AS(nn::load_safetensors_from_bytes(one_tensor<std::uint16_t>("F16", {0x3C00}), "m.safetensors"),
                       doctest::Contains("[load_safetensors] m.safetensors: tensor 't' has dtype \"F16\", which "
                                         "moegrad holds as float32: load with LoadOptions{.convert_dtypes = true}"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(nn::load_safetensors_from_bytes(one_tensor<std::int32_t>("I32", {1}), "m.safetensors"),
                       doctest::Contains("tensor 't' has dtype \"I32\", which moegrad holds as int64"), DTypeError);
  // U64 has no lossless moegrad dtype even with the option.
  CHECK_THROWS_WITH_AS(load_converted(one_tensor<std::uint64_t>("U64", {1})),
                       doctest::Contains("tensor 't' has dtype \"U64\", which moegrad cannot load"), DTypeError);
  // Sizes are checked in the file's element size: 3 BF16 values are 6 bytes, not 12.
  const std::string short_data = file_with_header(R"({"t": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 12]}})",
                                                  std::string(12, '\0'));
  CHECK_THROWS_WITH_AS(load_converted(short_data), doctest::Contains("needs 3 elements of 2 bytes"), nn::IoError);
}

TEST_CASE("strict load_state_dict refuses float64 weights for a float32 model; non-strict casts") {
  nn::Linear layer(2, 2);
  std::map<std::string, Tensor> state = layer.state_dict();
  state["weight"] = state["weight"].to(kFloat64) * 2.0;
  CHECK_THROWS_WITH_AS(layer.load_state_dict(state),
                       doctest::Contains("dtype mismatches (strict mode does not cast; load with strict = false to "
                                         "cast): weight (checkpoint float64, model float32)"),
                       DTypeError);
  const std::vector<float> expected = state["weight"].to(kFloat32).to_vector<float>();
  CHECK(layer.weight.to_vector<float>() != expected);  // untouched by the refused load
  layer.load_state_dict(state, /*strict=*/false);
  CHECK(layer.weight.dtype() == kFloat32);
  CHECK(layer.weight.to_vector<float>() == expected);
}
