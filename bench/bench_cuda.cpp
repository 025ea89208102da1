// The GPU benchmark (issue 15's scaled config), one JSON line per measurement:
//   {"bench":"cuda_gemm","n":8192,"tf32":false,"tflops":…}       cuBLAS's roof through moegrad's matmul
//   {"bench":"cuda_bert_moe","tf32":…,"s_per_step":…,"tokens_per_s":…,"loss":…}
// The training step: an MoE BERT classifier, batch 64 × seq 256, d 512, d_ff 2048, 8 layers, an MoE
// FFN in every other layer (1, 3, 5, 7) with 16 experts of width 2048 and GShard's top-2 router
// (capacity factor 1.25), AdamW; forward, backward and optimizer step, timed to a device sync.
// Medians over MOEGRAD_BENCH_STEPS steps (default 5) after two warm-up steps.
// bench/bert_moe_torch.py runs the same model in PyTorch eager for the side-by-side figure.
// `bench_cuda --cpu-check` runs one step of the same model on the CPU at batch 2 × seq 16.
// Without a GPU it prints one "skipped" line and exits 0, so `make bench` stays green on CPU machines.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/timing.h"
#include "cuda/cuda.h"
#include "moe/config_json.h"
#include "moe/layouts.h"
#include "moegrad.h"
#include "nn/optim.h"

using namespace moegrad;
using bench::median;
using bench::seconds_since;

namespace {

int steps_from_environment() {
  const char* text = std::getenv("MOEGRAD_BENCH_STEPS");
  int steps = text ? std::atoi(text) : 5;
  return steps > 0 ? steps : 5;
}

void gemm_roof(bool tf32) {
  const std::int64_t n = 8192;
  set_cuda_tf32(tf32);
  Generator generator(1);
  Tensor a = randn({n, n}, generator).to(cuda(0)), b = randn({n, n}, generator).to(cuda(0));
  for (int i = 0; i < 2; ++i) matmul(a, b);
  cuda_synchronize(0);
  const int repeats = 10;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) matmul(a, b);
  cuda_synchronize(0);
  double seconds = seconds_since(start) / repeats;
  fmt::print("{{\"bench\":\"cuda_gemm\",\"n\":{},\"tf32\":{},\"seconds\":{:.5f},\"tflops\":{:.1f}}}\n", n, tf32,
             seconds, 2.0 * n * n * n / seconds / 1e12);
  std::fflush(stdout);
}

moe::MoETransformerConfig scaled_config() {
  moe::MoETransformerConfig config;
  config.architecture = "bert_classifier";
  config.bert = {.vocab_size = 8000, .max_positions = 256, .dim = 512, .heads = 8, .layers = 8, .ffn_hidden = 2048,
                 .dropout = 0.1};
  config.classes = 2;
  config.every = 2;
  config.first_moe_layer = 1;
  config.moe = {.dim = 512, .expert_hidden = 2048, .capacity_factor_train = 1.25};
  config.router = moe::GShardRouterConfig{.dim = 512, .experts = 16};
  return config;
}

void bert_moe_step(Device device, std::int64_t batch, std::int64_t sequence, bool tf32, int steps) {
  set_cuda_tf32(tf32);
  auto sync = [&] {
    if (device.is_cuda()) cuda_synchronize(device.index);
  };
  Generator init(0);
  moe::MoETransformer model = moe::build_model(scaled_config(), init);
  model.module->to(device);
  Generator data(1);
  Tensor ids = randint(0, 8000, {batch, sequence}, data).to(device);
  Tensor labels = randint(0, 2, {batch}, data).to(device);
  nn::AdamW optimizer(model.module->parameters(), {.lr = 1e-4});
  std::vector<double> times;
  double last_loss = 0;
  for (int step = 0; step < steps + 2; ++step) {  // two warm-up steps, not timed
    sync();
    auto start = std::chrono::steady_clock::now();
    nn::Taps record = nn::Taps::reports_only();
    Tensor logits = model.bert_classifier->forward(ids, Tensor(), Tensor(), &record);
    Tensor loss = cross_entropy(logits, labels) + moe::total_aux_loss(record);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    sync();
    if (step >= 2) times.push_back(seconds_since(start));
    last_loss = loss.item();
  }
  double seconds = median(times);
  fmt::print("{{\"bench\":\"{}_bert_moe\",\"tf32\":{},\"batch\":{},\"sequence\":{},\"s_per_step\":{:.4f},"
             "\"tokens_per_s\":{:.0f},\"loss\":{:.4f}}}\n",
             device.is_cuda() ? "cuda" : "cpu", tf32, batch, sequence, seconds, batch * sequence / seconds, last_loss);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--cpu-check") {  // the same model, tiny batch, on the CPU
    bert_moe_step(cpu(), 2, 16, false, 1);
    return 0;
  }
  if (!cuda_available()) {
    fmt::print("{{\"bench\":\"cuda\",\"skipped\":\"no CUDA device visible (or a CPU-only build)\"}}\n");
    return 0;
  }
  int steps = steps_from_environment();
  for (bool tf32 : {false, true}) gemm_roof(tf32);
  for (bool tf32 : {false, true}) bert_moe_step(cuda(0), 64, 256, tf32, steps);
  CachingAllocatorStats memory = cuda_memory_stats(0);
  fmt::print("{{\"bench\":\"cuda_allocator\",\"cached_bytes\":{},\"allocated_bytes\":{},\"hits\":{},\"misses\":{}}}\n",
             memory.cached_bytes, memory.allocated_bytes, memory.hits, memory.misses);
  return 0;
}
