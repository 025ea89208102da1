// Parsing a safetensors header safely: limits checked on the raw text before any JSON is built,
// and the rules nlohmann's parser does not enforce by itself (see nn/safetensors_json.cpp).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace moegrad::nn {

inline constexpr int kMaxHeaderDepth = 128;            // the reference reader's (serde_json's) limit
inline constexpr std::int64_t kMaxArrayLength = 1024;  // shapes and data_offsets are short
inline constexpr std::int64_t kMaxTensors = 100'000;   // entries of the header object

// The header text [begin, end) as JSON, or an IoError "[load_safetensors] <where>: ..." saying
// what was expected.
nlohmann::json parse_header(const std::string& where, const char* begin, const char* end);

}  // namespace moegrad::nn
