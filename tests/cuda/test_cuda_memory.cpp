// Device memory and transfers, and the errors a program meets on machines without a GPU.
#include "cuda/cuda.h"
#include "nn/layers.h"
#include "tensor/backend.h"
#include "tests/cuda/device_parity.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
const auto kGpu = doctest::skip(!gpu_tests_enabled());
}  // namespace

TEST_CASE("cuda: a tensor survives a round trip to the GPU and back" * kGpu) {
  Tensor x = arange(0.0, 10.0, 1.0, kFloat32);
  Tensor on_gpu = x.to(cuda(0));
  CHECK(on_gpu.device() == cuda(0));
  check_close(on_gpu.to(cpu()), x.to_vector<double>());
  check_close(from_vector(std::vector<double>{1.5, -2.5}, {}, cuda(0)), {1.5, -2.5});
}

TEST_CASE("cuda: the gradient of a device transfer comes back to the source device" * kGpu) {
  Tensor x = leaf({3}, 1);
  Tensor y = x.to(cuda(0)).to(cpu());
  (y * 2.0).sum().backward();
  check_close(x.grad(), {2, 2, 2});
}

TEST_CASE("cuda: Module::to moves parameters to the GPU and back, keeping the handles" * kGpu) {
  Generator generator(1);
  nn::Linear layer(3, 2, true, generator);
  Tensor weight = layer.weight;
  std::vector<double> before = weight.to_vector<double>();
  layer.to(cuda(0));
  CHECK(weight.device() == cuda(0));
  layer.to(cpu());
  check_close(weight, before, 0.0);
}

TEST_CASE("without a GPU, asking for cuda(0) is a DeviceError that says why" * doctest::skip(cuda_available())) {
  CHECK_THROWS_AS(ones({2}).to(cuda(0)), DeviceError);
  CHECK_THROWS_WITH_AS(ones({2}).to(cuda(0)), doctest::Contains("cuda:0 requested"), DeviceError);
  CHECK_THROWS_AS(cuda_synchronize(0), DeviceError);
}

TEST_CASE("a kernel a backend lacks is a clear error naming the op and the backend, not a crash") {
  // The base class's kernels are what the CUDA backend falls back to for any kernel added later.
  struct BareBackend : Backend {
    const char* name() const override { return "bare"; }
    void* allocate(std::size_t) override { return nullptr; }
    void deallocate(void*, std::size_t) override {}
    void copy_from_host(void*, const void*, std::size_t) override {}
    void copy_to_host(void*, const void*, std::size_t) override {}
  } bare;
  Tensor x = ones({2, 3}), out = zeros({2, 3});
  CHECK_THROWS_WITH_AS(bare.softmax(x, out, false), doctest::Contains("[softmax] has no bare kernel"), DeviceError);
  CHECK_THROWS_WITH_AS(bare.unary(UnaryOp::Exp, x, out, 0, 0), doctest::Contains("[exp] has no bare kernel"),
                       DeviceError);
}
