#include "nn/init.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"

namespace moegrad::nn {

Tensor fan_in_uniform(const Shape& shape, std::int64_t fan_in, Generator& generator, DType dtype) {
  double bound = 1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(fan_in, 1)));
  return uniform(shape, -bound, bound, generator, dtype);
}

namespace {

// erf⁻¹(y) for |y| ≤ 0.9545 (the range of 2u - 1 below), elementwise in float64. Start: Giles'
// single-precision approximation ("Approximating the erfinv function", GPU Computing Gems, 2011:
// with w = -log(1 - y²) < 5, erf⁻¹(y) ≈ y·p(w - 2.5), p of degree 8, relative error ~1e-7); then
// two Newton steps on erf(x) = y, x ← x - (erf(x) - y) / (2/√π · exp(-x²)). Newton's error squares
// each step (1e-7 → 1e-13 → below double rounding), so two steps give what forty from a crude start
// gave: the same float32 values, float64 within a few units in the last place.
Tensor inverse_erf(const Tensor& y) {
  static constexpr double kGilesCoefficients[] = {2.81022636e-08,  3.43273939e-07, -3.5233877e-06,
                                                  -4.39150654e-06, 0.00021858087,  -0.00125372503,
                                                  -0.00417768164,  0.246640727,    1.50140941};
  Tensor w = neg(log((1.0 - y) * (1.0 + y))) - 2.5;
  Tensor p = full_like(y, kGilesCoefficients[0]);
  for (std::size_t i = 1; i < std::size(kGilesCoefficients); ++i) p = p * w + kGilesCoefficients[i];  // Horner
  Tensor x = p * y;
  for (int step = 0; step < 2; ++step) x = x - (erf(x) - y) / (exp(neg(square(x))) * (2.0 / std::sqrt(M_PI)));
  return x;
}

}  // namespace

// Inverse-CDF sampling restricted to [-2, 2]: u ~ U(Φ(-2), Φ(2)), x = Φ⁻¹(u) = √2 erf⁻¹(2u - 1) —
// no redraw loop, so the number of draws (and the generator offset) depends only on the shape.
// erf⁻¹ runs on chunks of u: on the whole of an MoE layer's (E, D, H) weights its dozen float64
// temporaries took ~250 MB, more than the benchmark's training step itself. The values are the same
// (every op is elementwise).
Tensor truncated_normal(const Shape& shape, double std, Generator& generator, DType dtype) {
  const double low = 0.5 * std::erfc(2.0 / std::sqrt(2.0));  // Φ(-2)
  Tensor u = flatten(uniform(shape, low, 1.0 - low, generator, kFloat64));
  constexpr std::int64_t kChunk = 1 << 16;
  std::vector<Tensor> pieces;
  for (std::int64_t start = 0; start < u.numel(); start += kChunk) {
    Tensor y = narrow(u, 0, start, std::min(kChunk, u.numel() - start)) * 2.0 - 1.0;
    pieces.push_back((inverse_erf(y) * (std::sqrt(2.0) * std)).to(dtype));
  }
  if (pieces.empty()) return zeros(shape, dtype);
  return reshape(pieces.size() == 1 ? pieces.front() : concat(pieces), shape);
}

}  // namespace moegrad::nn
