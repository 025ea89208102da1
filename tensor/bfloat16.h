// bfloat16: the top 16 bits of a float32 (1 sign bit, the same 8 exponent bits, 7 mantissa bits),
// the storage type of DType::BFloat16. It keeps float32's range and gives up precision: the
// spacing of representable numbers is 2^-7 relative, so 1 + 2^-8 is already halfway between two
// neighbours. It only stores numbers; arithmetic converts to float (tensor/bfloat16_compute.h).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace moegrad {

struct bfloat16 {
  std::uint16_t bits = 0;

  bfloat16() = default;
  explicit bfloat16(float value) : bits(round_from_float(value)) {}
  // Rounds a double once, straight to bfloat16: going through float first would round twice and
  // can land on the wrong neighbour when the float lies exactly halfway.
  explicit bfloat16(double value) : bits(round_from_double(value)) {}
  explicit bfloat16(std::int64_t value) : bfloat16(static_cast<double>(value)) {}

  // Exact: every bfloat16 is a float.
  explicit operator float() const { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }
  explicit operator double() const { return static_cast<double>(static_cast<float>(*this)); }
  explicit operator std::int64_t() const { return static_cast<std::int64_t>(static_cast<float>(*this)); }

  static bfloat16 from_bits(std::uint16_t raw) {
    bfloat16 b;
    b.bits = raw;
    return b;
  }

  // Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit, then drop the low 16
  // bits. A tie (low half exactly 0x8000) then rounds up only when the kept part is odd. NaN is
  // kept a quiet NaN (adding could carry it into infinity); infinities pass through unchanged,
  // and finite values past the largest bfloat16 round to infinity as IEEE rounding does.
  static std::uint16_t round_from_float(float value) {
    const std::uint32_t raw = std::bit_cast<std::uint32_t>(value);
    if (std::isnan(value)) return static_cast<std::uint16_t>((raw >> 16) | 0x0040);
    const std::uint32_t lowest_kept_bit = (raw >> 16) & 1u;
    return static_cast<std::uint16_t>((raw + 0x7FFFu + lowest_kept_bit) >> 16);
  }

  // double -> float rounding toward zero, with the lowest float bit set when anything was cut off
  // ("round to odd"): the float then has 16 more bits than bfloat16 needs and remembers whether
  // the rest was zero, so the final float -> bfloat16 rounding is the correctly rounded result.
  static std::uint16_t round_from_double(double value) {
    if (std::isnan(value)) return round_from_float(static_cast<float>(value));
    float nearest = static_cast<float>(value);
    if (static_cast<double>(nearest) == value) return round_from_float(nearest);
    if (std::fabs(static_cast<double>(nearest)) > std::fabs(value)) nearest = std::nextafter(nearest, 0.0f);
    const std::uint32_t sticky = std::bit_cast<std::uint32_t>(nearest) | 1u;
    return round_from_float(std::bit_cast<float>(sticky));
  }
};

}  // namespace moegrad
