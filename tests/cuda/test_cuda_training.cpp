// The GPU end to end: Philox draws equal to the CPU's, a whole MoE BERT training step with the same
// loss on both devices, and the GPU's errors (mixed devices, bad indices, bad group offsets).
#include "cuda/cuda.h"
#include "moe/config_json.h"
#include "moe/layouts.h"
#include "nn/optim.h"
#include "tests/cuda/device_parity.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

const auto kGpu = doctest::skip(!gpu_tests_enabled());

moe::MoETransformerConfig tiny_moe_bert() {
  moe::MoETransformerConfig config;
  config.architecture = "bert_classifier";
  config.bert = {.vocab_size = 12, .max_positions = 6, .dim = 8, .heads = 2, .layers = 2, .ffn_hidden = 16,
                 .dropout = 0.1};  // dropout on: its masks come from Philox on either device
  config.classes = 3;
  config.every = 2;
  config.first_moe_layer = 1;
  config.moe = {.dim = 8, .expert_hidden = 12, .capacity_factor_train = 1.5, .shared_experts = 1,
                .activation = GeluApproximation::Tanh};
  config.router = moe::SwitchRouterConfig{.dim = 8, .experts = 4, .jitter_epsilon = 0.0};
  return config;
}

// The losses of `steps` AdamW steps of a freshly built model (seed 3) on `device`.
std::vector<double> training_losses(Device device, int steps) {
  Generator init(3);
  moe::MoETransformer model = moe::build_model(tiny_moe_bert(), init);
  model.module->to(device);
  Generator data(4);
  Tensor ids = randint(0, 12, {4, 6}, data).to(device);
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 1, 2, 1}).to(device);
  nn::AdamW optimizer(model.module->parameters(), {.lr = 1e-2});
  manual_seed(17);  // dropout's generator
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    nn::Taps record = nn::Taps::reports_only();
    Tensor logits = model.bert_classifier->forward(ids, Tensor(), Tensor(), &record);
    Tensor loss = cross_entropy(logits, labels) + moe::total_aux_loss(record);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST_CASE("cuda: uniform and normal draws equal the CPU's for the same seed and offset" * kGpu) {
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO("dtype " << dtype_name(dtype));
    Generator on_cpu(123), on_gpu(123);
    on_cpu.advance(1000);  // a non-zero offset
    on_gpu.advance(1000);
    std::vector<double> cpu_uniform = uniform({4099}, -2.0, 3.0, on_cpu, dtype).to_vector<double>();
    std::vector<double> gpu_uniform = uniform({4099}, -2.0, 3.0, on_gpu, dtype, cuda(0)).to_vector<double>();
    CHECK(gpu_uniform == cpu_uniform);  // integer work and two correctly rounded steps: bit for bit
    CHECK(on_gpu.offset() == on_cpu.offset());
    Tensor cpu_normal = normal({4099}, 0.5, 2.0, on_cpu, dtype);
    Tensor gpu_normal = normal({4099}, 0.5, 2.0, on_gpu, dtype, cuda(0));
    check_close(gpu_normal, cpu_normal, dtype == kFloat64 ? 1e-13 : 2e-7);  // log/cos: within an ulp of glibc
  }
}

TEST_CASE("cuda: an MoE BERT training step gives the same losses on the GPU as on the CPU" * kGpu) {
  std::vector<double> cpu_losses = training_losses(cpu(), 3);
  std::vector<double> gpu_losses = training_losses(cuda(0), 3);
  check_close(from_vector(gpu_losses), cpu_losses, 1e-4);  // float32 through three AdamW steps
  CHECK(cpu_losses.back() < cpu_losses.front());          // and it trains
}

TEST_CASE("cuda: ops on tensors from two devices are a DeviceError naming the op and both devices" * kGpu) {
  Tensor on_cpu = ones({2, 3});
  Tensor on_gpu = ones({2, 3}).to(cuda(0));
  CHECK_THROWS_WITH_AS(on_cpu + on_gpu, doctest::Contains("[add] tensors are on different devices"), DeviceError);
  CHECK_THROWS_WITH_AS(matmul(on_gpu, on_cpu.t()), doctest::Contains("cuda:0"), DeviceError);
  CHECK_THROWS_WITH_AS(on_cpu.copy_(on_gpu), doctest::Contains("[copy_]"), DeviceError);
}

TEST_CASE("cuda: an out-of-range index is an IndexError at the next sync point, and the GPU stays usable" * kGpu) {
  Tensor x = ones({2, 3}).to(cuda(0));
  Tensor bad = from_vector(std::vector<std::int64_t>{0, 7}).to(cuda(0));
  // the op returns at once (the check is queued); the copy to the host is the sync point that raises
  CHECK_THROWS_WITH_AS(index_select(x, 1, bad).to(cpu()),
                       doctest::Contains("[index_select] index holds values in [0, 7] but must lie in [0, 3)"),
                       IndexError);
  // the kernels skipped the bad index instead of faulting: the device still works
  check_close(index_select(x, 1, from_vector(std::vector<std::int64_t>{2, 0}).to(cuda(0))), {1, 1, 1, 1});
}

TEST_CASE("cuda: bad group offsets for the grouped matmul are an IndexError" * kGpu) {
  Tensor x = ones({4, 2}).to(cuda(0)), w = ones({2, 2, 3}).to(cuda(0));
  Tensor offsets = from_vector(std::vector<std::int64_t>{0, 3, 2}).to(cuda(0));
  CHECK_THROWS_WITH_AS(grouped_matmul(x, w, offsets), doctest::Contains("[grouped_matmul]"), IndexError);
}

TEST_CASE("cuda: the caching allocator serves a freed size again without a new cudaMalloc" * kGpu) {
  { Tensor warm = zeros({1000, 37}, kFloat32, cuda(0)); }
  CachingAllocatorStats before = cuda_memory_stats(0);
  for (int i = 0; i < 5; ++i) {
    Tensor again = zeros({1000, 37}, kFloat32, cuda(0));
  }
  CachingAllocatorStats after = cuda_memory_stats(0);
  CHECK(after.misses == before.misses);
  CHECK(after.hits >= before.hits + 5);
}

TEST_CASE("cuda: TF32 is off unless asked for, and a TF32 matmul stays close to the FP32 one" * kGpu) {
  CHECK_FALSE(cuda_tf32());
  Generator generator(8);
  Tensor a = randn({64, 256}, generator).to(cuda(0)), b = randn({256, 32}, generator).to(cuda(0));
  Tensor exact = matmul(a, b);
  set_cuda_tf32(true);
  Tensor tf32 = matmul(a, b);
  set_cuda_tf32(false);
  check_close(tf32, exact, 5e-2);  // 10-bit mantissas in the products; sums of 256 terms of size ~1
}
