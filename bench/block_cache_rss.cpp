// Does the CPU block cache keep memory flat when every step allocates new sizes? 1,000 training
// steps of a small MLP whose batch size changes every step (as an MoE expert's batch does), RSS
// read from /proc after steps 100 and 1,000, with the cache on and off (each in a fresh process,
// so one run's freed memory does not hide the other's). Flat means the growth from step 100 to
// 1,000 is small next to the cache's limit; before size classes this run kept a block per
// distinct size.
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "moegrad.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "tensor/cpu/block_cache.h"

using namespace moegrad;

namespace {

double rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return -1;
}

// One configuration, in this process: prints a table row.
void measure(const char* label) {
  omp_set_num_threads(1);  // memory is the question here; one thread keeps the run short on a busy machine
  Generator generator(5);
  nn::Linear first(64, 128, true, generator), second(128, 64, true, generator);
  nn::Adam optimizer({first.weight, first.bias, second.weight, second.bias}, {.lr = 1e-3});
  double at_100 = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= 1000; ++step) {
    // 1..512 tokens: mostly distinct sizes from step to step
    const std::int64_t tokens = 1 + static_cast<std::int64_t>(generator.advance(1) * 2654435761u % 512);
    Tensor x = randn({tokens, 64}, generator);
    Tensor loss = mse_loss(second(relu(first(x))), x);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step == 100) at_100 = rss_mib();
  }
  const double at_1000 = rss_mib();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const BlockCacheStats stats = block_cache_stats();
  fmt::print("{:<10} {:>12.1f} {:>13.1f} {:>10.1f} {:>12.1f} {:>9.0f}% {:>8.2f}\n", label, at_100, at_1000,
             at_1000 - at_100, stats.cached_bytes / 1048576.0,
             stats.hits + stats.misses > 0 ? 100.0 * stats.hits / (stats.hits + stats.misses) : 0.0, seconds);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2) {  // a child run: one configuration
    measure(argv[1]);
    return 0;
  }
  fmt::print("1,000 MLP steps, batch of 1..512 tokens drawn every step; RSS in MiB\n");
  fmt::print("{:<10} {:>12} {:>13} {:>10} {:>12} {:>10} {:>8}\n", "cache", "RSS@100", "RSS@1000", "growth",
             "cached MiB", "hit rate", "seconds");
  std::fflush(stdout);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  if (std::system((self + " on").c_str()) != 0) return 1;
  if (std::system(("MOEGRAD_NO_ALLOCATOR_CACHE=1 " + self + " off").c_str()) != 0) return 1;
  return 0;
}
