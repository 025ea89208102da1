#include "nn/init.h"

#include <cmath>

#include "tensor/ops.h"

namespace moegrad::nn {

Tensor fan_in_uniform(const Shape& shape, std::int64_t fan_in, Generator& generator, DType dtype) {
  double bound = 1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(fan_in, 1)));
  return uniform(shape, -bound, bound, generator, dtype);
}

// Inverse-CDF sampling restricted to [-2, 2]: u ~ U(Φ(-2), Φ(2)), x = Φ⁻¹(u) — no redraw loop, so
// the number of draws (and the generator offset) depends only on the shape.
Tensor truncated_normal(const Shape& shape, double std, Generator& generator, DType dtype) {
  const double low = 0.5 * std::erfc(2.0 / std::sqrt(2.0));  // Φ(-2)
  Tensor u = uniform(shape, low, 1.0 - low, generator, kFloat64);
  // Φ⁻¹(u) = √2 erf⁻¹(2u - 1), with erf⁻¹ by Newton steps on erf from a good start
  Tensor y = u * 2.0 - 1.0;
  Tensor x = y * (std::sqrt(M_PI) / 2.0);  // start: erf(x) ≈ 2x/√π near 0
  for (int iteration = 0; iteration < 40; ++iteration) {
    // x ← x - (erf(x) - y) / (2/√π · exp(-x²))
    x = x - (erf(x) - y) / (exp(neg(square(x))) * (2.0 / std::sqrt(M_PI)));
  }
  return (x * (std::sqrt(2.0) * std)).to(dtype);
}

}  // namespace moegrad::nn
