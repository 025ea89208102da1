// A counter-based random generator (Philox 4x32-10, Salmon et al., SC'11). A draw of n numbers
// uses counters offset .. offset+n-1 and advances the offset by n, so element i of a draw depends
// only on (seed, offset + i): a CUDA kernel reproduces the CPU stream exactly, and a saved
// (seed, offset) pair resumes it.
#pragma once
#include <array>
#include <cstdint>

namespace moegrad {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n counters and returns the first one.
  std::uint64_t advance(std::uint64_t n) {
    std::uint64_t first = offset_;
    offset_ += n;
    return first;
  }
  // One uniform double in [0, 1) from the next counter, for code that draws on the host.
  double next_uniform();

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

// The process-wide generator that layers use when none is handed to them (dropout), seeded by
// manual_seed() as in PyTorch. Code that must be reproducible passes its own Generator instead.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

// The raw block: four 32-bit words for (key = seed, counter).
std::array<std::uint32_t, 4> philox4x32(std::uint64_t seed, std::uint64_t counter);
// Element `counter`'s U[0,1) double (53 random bits) and N(0,1) draw (Box-Muller on the block).
double philox_uniform(std::uint64_t seed, std::uint64_t counter);
double philox_normal(std::uint64_t seed, std::uint64_t counter);

}  // namespace moegrad
