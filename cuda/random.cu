// Random fills on the GPU, the twin of tensor/cpu/random.cpp: element i of `out` is a function of
// (seed, offset + i) only, through the same Philox 4x32-10 block as tensor/random.cpp, so a CPU and
// a GPU draw give the same numbers (tests/cuda/test_cuda_parity.cpp compares them).
//
// The device copy of the block must match the host one bit for bit: integer operations only, and
// the floating steps use the round-to-nearest intrinsics (__dmul_rn, __dadd_rn), which the
// compiler never fuses into an FMA (a fused multiply-add rounds once, the CPU rounds twice).
#include "cuda/kernel_common.cuh"

namespace moegrad {

namespace {

using namespace cuda_kernels;

struct Block {
  std::uint32_t word[4];
};

// tensor/random.cpp's philox4x32, on the device.
__device__ Block philox4x32(std::uint64_t seed, std::uint64_t counter) {
  const std::uint32_t kMultiplier0 = 0xD2511F53, kMultiplier1 = 0xCD9E8D57;
  const std::uint32_t kKeyStep0 = 0x9E3779B9, kKeyStep1 = 0xBB67AE85;
  std::uint32_t key0 = static_cast<std::uint32_t>(seed), key1 = static_cast<std::uint32_t>(seed >> 32);
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32), c2 = 0,
                c3 = 0;
  for (int round = 0; round < 10; ++round) {
    std::uint64_t product0 = static_cast<std::uint64_t>(kMultiplier0) * c0;
    std::uint64_t product1 = static_cast<std::uint64_t>(kMultiplier1) * c2;
    std::uint32_t high0 = static_cast<std::uint32_t>(product0 >> 32), low0 = static_cast<std::uint32_t>(product0);
    std::uint32_t high1 = static_cast<std::uint32_t>(product1 >> 32), low1 = static_cast<std::uint32_t>(product1);
    std::uint32_t n0 = high1 ^ c1 ^ key0, n1 = low1, n2 = high0 ^ c3 ^ key1, n3 = low0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    key0 += kKeyStep0;
    key1 += kKeyStep1;
  }
  return Block{{c0, c1, c2, c3}};
}

// 53 random bits -> [0, 1), as tensor/random.cpp's to_unit (a power-of-two scale: exact)
__device__ double to_unit(std::uint32_t high, std::uint32_t low) {
  std::uint64_t bits = (static_cast<std::uint64_t>(high) << 21) ^ (low >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

__device__ double philox_uniform(std::uint64_t seed, std::uint64_t counter) {
  Block block = philox4x32(seed, counter);
  return to_unit(block.word[0], block.word[1]);
}

// Box-Muller on one block, as on the CPU. log and cos are the device's double versions (within an
// ulp of glibc's), so a float64 normal may differ from the CPU's in its last bit.
__device__ double philox_normal(std::uint64_t seed, std::uint64_t counter) {
  Block block = philox4x32(seed, counter);
  double u1 = 1.0 - to_unit(block.word[0], block.word[1]);  // (0, 1]: log stays finite
  double u2 = to_unit(block.word[2], block.word[3]);
  const double kTwoPi = 2.0 * 3.14159265358979323846;
  return __dmul_rn(sqrt(-2.0 * log(u1)), cos(__dmul_rn(kTwoPi, u2)));
}

template <class T>
__global__ void uniform_kernel(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, double low,
                               double high) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    double u = philox_uniform(seed, offset + static_cast<std::uint64_t>(i));
    T value = static_cast<T>(__dadd_rn(low, __dmul_rn(__dadd_rn(high, -low), u)));
    // rounding to float32 can land on `high`; keep the interval half-open
    out[i] = value < static_cast<T>(high) ? value : static_cast<T>(low);
  }
}

template <class T>
__global__ void normal_kernel(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, double mean,
                              double std) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    double z = philox_normal(seed, offset + static_cast<std::uint64_t>(i));
    out[i] = static_cast<T>(__dadd_rn(mean, __dmul_rn(std, z)));
  }
}

}  // namespace

void CudaBackend::random_uniform(Tensor& out, std::uint64_t seed, std::uint64_t offset, double low, double high) {
  std::int64_t count = out.numel();
  if (count == 0) return;
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    uniform_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(out.data<T>(), count, seed, offset, low, high);
  });
  check_launch("rand");
}

void CudaBackend::random_normal(Tensor& out, std::uint64_t seed, std::uint64_t offset, double mean, double std) {
  std::int64_t count = out.numel();
  if (count == 0) return;
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    normal_kernel<T><<<blocks_for(count), kThreads, 0, stream()>>>(out.data<T>(), count, seed, offset, mean, std);
  });
  check_launch("randn");
}

}  // namespace moegrad
