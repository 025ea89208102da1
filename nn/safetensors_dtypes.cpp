// safetensors dtypes and the widening conversions to moegrad's dtypes (see nn/safetensors_dtypes.h).
#include "nn/safetensors_dtypes.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

namespace moegrad::nn {

namespace {

// Every dtype of the format (huggingface/safetensors: Dtype), with what it loads as.
const std::array<FileDType, 15> kFileDTypes = {{
    {"F32", 4, DType::Float32, true},
    {"F64", 8, DType::Float64, true},
    {"I64", 8, DType::Int64, true},
    {"F16", 2, DType::Float32, false},
    {"BF16", 2, DType::BFloat16, true},
    {"BOOL", 1, DType::Int64, false},
    {"U8", 1, DType::Int64, false},
    {"I8", 1, DType::Int64, false},
    {"I16", 2, DType::Int64, false},
    {"U16", 2, DType::Int64, false},
    {"I32", 4, DType::Int64, false},
    {"U32", 4, DType::Int64, false},
    {"U64", 8, std::nullopt, false},
    {"F8_E4M3", 1, std::nullopt, false},
    {"F8_E5M2", 1, std::nullopt, false},
}};

// IEEE half -> float: sign, 5 exponent bits (bias 15), 10 mantissa bits. Subnormals (exponent 0)
// are mantissa * 2^-24; exponent 31 is infinity or NaN.
float half_to_float(std::uint16_t bits) {
  const float sign = (bits & 0x8000) ? -1.0f : 1.0f;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  if (exponent == 31) return mantissa == 0 ? sign * INFINITY : NAN;
  return sign * std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
}

template <class Source, class Target, class Convert>
void convert_each(const char* source, std::int64_t count, void* target, Convert convert) {
  Target* out = static_cast<Target*>(target);
  for (std::int64_t i = 0; i < count; ++i) {
    Source value;
    std::memcpy(&value, source + i * sizeof(Source), sizeof(Source));  // the file's bytes need not be aligned
    out[i] = convert(value);
  }
}

template <class Source>
void widen_integers(const char* source, std::int64_t count, void* target) {
  convert_each<Source, std::int64_t>(source, count, target, [](Source v) { return static_cast<std::int64_t>(v); });
}

}  // namespace

std::optional<FileDType> file_dtype(const std::string& name) {
  for (const FileDType& dtype : kFileDTypes) {
    if (dtype.name == name) return dtype;
  }
  return std::nullopt;
}

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::BFloat16: return "BF16";
  }
  return "?";
}

void convert_elements(const FileDType& from, const char* source, std::int64_t count, void* target) {
  const std::string& name = from.name;
  if (from.exact_match) {
    std::memcpy(target, source, static_cast<std::size_t>(count) * from.element_bytes);
  } else if (name == "F16") {
    convert_each<std::uint16_t, float>(source, count, target, half_to_float);
  } else if (name == "BOOL") {
    convert_each<std::uint8_t, std::int64_t>(source, count, target, [](std::uint8_t v) { return v != 0 ? 1 : 0; });
  } else if (name == "U8") {
    widen_integers<std::uint8_t>(source, count, target);
  } else if (name == "I8") {
    widen_integers<std::int8_t>(source, count, target);
  } else if (name == "I16") {
    widen_integers<std::int16_t>(source, count, target);
  } else if (name == "U16") {
    widen_integers<std::uint16_t>(source, count, target);
  } else if (name == "I32") {
    widen_integers<std::int32_t>(source, count, target);
  } else if (name == "U32") {
    widen_integers<std::uint32_t>(source, count, target);
  }
}

}  // namespace moegrad::nn
