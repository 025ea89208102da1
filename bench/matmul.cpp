// matmul speed against a raw cblas_sgemm call on the same buffers, side by side in one run.
// Reports the ratio raw_time / moegrad_time per shape (1.00 = no overhead; the core's target is
// >= 0.95). Each round times both, alternating, and the medians are compared, so a noisy
// neighbour slows both sides alike.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "bench/timing.h"
#include "moegrad.h"

using namespace moegrad;
using bench::median;
using bench::seconds_since;

int main() {
  fmt::print("{:>6} {:>6} {:>12} {:>12} {:>10} {:>8}\n", "shape", "rounds", "cblas ms", "moegrad ms", "GFLOP/s", "ratio");
  Generator generator(0);
  bool all_fast = true;
  for (std::int64_t n : {256, 512, 1024, 2048}) {
    Tensor a = randn({n, n}, generator), b = randn({n, n}, generator);
    Tensor c = zeros({n, n});
    int rounds = n <= 512 ? 41 : (n == 1024 ? 21 : 11);
    std::vector<double> raw, ours;
    Tensor result;
    auto time_raw = [&] {
      auto start = std::chrono::steady_clock::now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n), static_cast<int>(n),
                  1.0f, a.data<float>(), static_cast<int>(n), b.data<float>(), static_cast<int>(n), 0.0f, c.data<float>(),
                  static_cast<int>(n));
      return seconds_since(start);
    };
    auto time_moegrad = [&] {
      auto start = std::chrono::steady_clock::now();
      result = matmul(a, b);
      return seconds_since(start);
    };
    for (int round = -1; round < rounds; ++round) {  // round -1 warms up both
      // alternate which side runs first, so neither always meets a cold cache
      double our_time = 0.0, raw_time = 0.0;
      if (round % 2 == 0) {
        our_time = time_moegrad();
        raw_time = time_raw();
      } else {
        raw_time = time_raw();
        our_time = time_moegrad();
      }
      if (round >= 0) {
        raw.push_back(raw_time);
        ours.push_back(our_time);
      }
    }
    double ratio = median(raw) / median(ours);
    all_fast = all_fast && ratio >= 0.95;
    double gflops = 2.0 * static_cast<double>(n * n * n) / median(ours) / 1e9;
    fmt::print("{:>6} {:>6} {:>12.3f} {:>12.3f} {:>10.1f} {:>8.3f}\n", fmt::format("{}³", n), rounds, median(raw) * 1e3,
               median(ours) * 1e3, gflops, ratio);
  }
  fmt::print("matmul vs raw cblas_sgemm: {}\n", all_fast ? "every ratio >= 0.95" : "some ratio below 0.95");
  return 0;
}
