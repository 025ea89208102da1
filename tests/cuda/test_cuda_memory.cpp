// GPU tests: skipped (not failed) on machines without a CUDA device or builds without CUDA.
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("a tensor survives a round trip to the GPU and back" * doctest::skip(!moegrad::cuda_available())) {
  Tensor x = arange(0.0, 10.0, 1.0, kFloat32);
  Tensor on_gpu = x.to(cuda(0));
  CHECK(on_gpu.device() == cuda(0));
  check_close(on_gpu.to(cpu()), x.to_vector<double>());
  check_close(from_vector(std::vector<double>{1.5, -2.5}, {}, cuda(0)), {1.5, -2.5});
}

TEST_CASE("a kernel the CUDA backend lacks is a clear error, not a crash" * doctest::skip(!moegrad::cuda_available())) {
  Tensor x = ones({4}).to(cuda(0));
  CHECK_THROWS_WITH_AS(exp(x), doctest::Contains("[exp] has no cuda kernel"), DeviceError);
}

TEST_CASE("the gradient of a device transfer comes back to the source device" * doctest::skip(!moegrad::cuda_available())) {
  Tensor x = leaf({3}, 1);
  Tensor y = x.to(cuda(0)).to(cpu());
  (y * 2.0).sum().backward();
  check_close(x.grad(), {2, 2, 2});
}
