// Random fills: element i of `out` is Philox(seed, offset + i), so the numbers depend on neither
// the thread split nor the backend.
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/random.h"

namespace moegrad {

void CpuBackend::random_uniform(Tensor& out, std::uint64_t seed, std::uint64_t offset, double low, double high) {
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = out.data<T>();
    parallel_for(out.numel(), 4096, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        double u = philox_uniform(seed, offset + static_cast<std::uint64_t>(i));
        T value = static_cast<T>(low + (high - low) * u);
        // rounding to float32 can land on `high`; keep the interval half-open
        data[i] = value < static_cast<T>(high) ? value : static_cast<T>(low);
      }
    });
  });
}

void CpuBackend::random_normal(Tensor& out, std::uint64_t seed, std::uint64_t offset, double mean, double std) {
  dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = out.data<T>();
    parallel_for(out.numel(), 4096, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        data[i] = static_cast<T>(mean + std * philox_normal(seed, offset + static_cast<std::uint64_t>(i)));
      }
    });
  });
}

}  // namespace moegrad
