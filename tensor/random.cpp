#include "tensor/random.h"

#include <cmath>

namespace moegrad {

std::array<std::uint32_t, 4> philox4x32(std::uint64_t seed, std::uint64_t counter) {
  // Constants from the Philox paper (Salmon et al. 2011): round multipliers and Weyl key steps.
  constexpr std::uint32_t kMultiplier0 = 0xD2511F53, kMultiplier1 = 0xCD9E8D57;
  constexpr std::uint32_t kKeyStep0 = 0x9E3779B9, kKeyStep1 = 0xBB67AE85;
  std::uint32_t key0 = static_cast<std::uint32_t>(seed), key1 = static_cast<std::uint32_t>(seed >> 32);
  std::array<std::uint32_t, 4> c = {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32),
                                    0u, 0u};
  for (int round = 0; round < 10; ++round) {
    std::uint64_t product0 = static_cast<std::uint64_t>(kMultiplier0) * c[0];
    std::uint64_t product1 = static_cast<std::uint64_t>(kMultiplier1) * c[2];
    std::uint32_t high0 = static_cast<std::uint32_t>(product0 >> 32), low0 = static_cast<std::uint32_t>(product0);
    std::uint32_t high1 = static_cast<std::uint32_t>(product1 >> 32), low1 = static_cast<std::uint32_t>(product1);
    c = {high1 ^ c[1] ^ key0, low1, high0 ^ c[3] ^ key1, low0};
    key0 += kKeyStep0;
    key1 += kKeyStep1;
  }
  return c;
}

namespace {
// 53 random bits -> [0, 1)
double to_unit(std::uint32_t high, std::uint32_t low) {
  std::uint64_t bits = (static_cast<std::uint64_t>(high) << 21) ^ (low >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}
}  // namespace

double philox_uniform(std::uint64_t seed, std::uint64_t counter) {
  auto block = philox4x32(seed, counter);
  return to_unit(block[0], block[1]);
}

double philox_normal(std::uint64_t seed, std::uint64_t counter) {
  auto block = philox4x32(seed, counter);
  double u1 = 1.0 - to_unit(block[0], block[1]);  // (0, 1]: log stays finite
  double u2 = to_unit(block[2], block[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(std::uint64_t seed) { default_generator().set_state(seed, 0); }

double Generator::next_uniform() { return philox_uniform(seed_, advance(1)); }

}  // namespace moegrad
