// The fused Adam/AdamW pass (tensor/fused_adam.h) against the op-by-op formula it replaces, on
// random data over several steps: the same bits in float32 and float64, for Adam's L2 decay and
// AdamW's decoupled decay. And the fallback: tensors it cannot handle are left untouched.
#include <cmath>
#include <cstring>

#include "nn/optim.h"
#include "tensor/fused_adam.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

struct Moments {
  Tensor m, v;
};

// The update written with public ops, exactly as nn/adam.cpp wrote it before the fused pass:
//   AdamW: p ← p·(1 − lr·λ);  Adam: g ← g + λ·p
//   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
void reference_step(Tensor& p, const Tensor& gradient, Moments& moments, const nn::AdamOptions& o, bool decoupled,
                    std::int64_t t) {
  NoGradGuard no_grad;
  Tensor g = gradient;
  if (decoupled && o.weight_decay != 0.0) p.copy_(p * (1.0 - o.lr * o.weight_decay));
  if (!decoupled && o.weight_decay != 0.0) g = gradient + o.weight_decay * p;
  moments.m = o.beta1 * moments.m + (1.0 - o.beta1) * g;
  moments.v = o.beta2 * moments.v + (1.0 - o.beta2) * square(g);
  double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));
  double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(t));
  Tensor denominator = sqrt(moments.v) / std::sqrt(bias_correction2) + o.eps;
  p.copy_(p - (o.lr / bias_correction1) * (moments.m / denominator));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * dtype_size(x.dtype())) == 0;
}

// Five steps of the optimizer and of the reference from the same random start.
void compare_with_reference(DType dtype, bool decoupled, std::int64_t n) {
  Generator generator(7);
  nn::AdamOptions options{.lr = 3e-2, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1};
  Tensor start = randn({n}, generator).to(dtype);
  Tensor p = start.clone().requires_grad_();
  Tensor expected = start.clone();
  Moments moments{zeros_like(start), zeros_like(start)};
  std::unique_ptr<nn::Optimizer> optimizer;
  if (decoupled) {
    optimizer = std::make_unique<nn::AdamW>(std::vector<Tensor>{p},
                                            nn::AdamWOptions{options.lr, options.beta1, options.beta2, options.eps,
                                                             options.weight_decay});
  } else {
    optimizer = std::make_unique<nn::Adam>(std::vector<Tensor>{p}, options);
  }
  for (std::int64_t t = 1; t <= 5; ++t) {
    Tensor g = randn({n}, generator).to(dtype);
    if (t == 3) g = g * 1e-4;  // a step where m and v shrink: exercises ε and the ratio
    p.set_grad(g);
    optimizer->step();
    reference_step(expected, g, moments, options, decoupled, t);
    CHECK(same_bits(p.detach(), expected));
  }
}

}  // namespace

TEST_CASE("fused AdamW and Adam give the op-by-op formula's bits on random data") {
  for (DType dtype : {kFloat32, kFloat64}) {
    for (bool decoupled : {true, false}) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(decoupled);
      compare_with_reference(dtype, decoupled, 1000);
      compare_with_reference(dtype, decoupled, 300000);  // large enough to run on several threads
    }
  }
}

TEST_CASE("fused_adam_step declines tensors it cannot handle and leaves them as they were") {
  Generator generator(1);
  Tensor p = randn({4, 3}, generator);
  Tensor g = randn({3, 4}, generator).transpose(0, 1);  // not contiguous
  Tensor m = zeros({4, 3}), v = zeros({4, 3});
  Tensor before = p.clone();
  AdamStepConstants constants;
  constants.lr = 0.1;
  CHECK_FALSE(fused_adam_step(p, g, m, v, constants));
  CHECK(same_bits(p, before));
  Tensor g64 = randn({4, 3}, generator).to(kFloat64);  // dtype differs from the parameter's
  CHECK_FALSE(fused_adam_step(p, g64, m, v, constants));
  CHECK(same_bits(p, before));
  CHECK(fused_adam_step(p, g.contiguous(), m, v, constants));
}
