// The CPU loop of fused_adam_step (tensor/fused_adam.h). Each scalar is cast to the tensor's dtype
// first, as the public ops do with a scalar operand (scalar_like), and the operations run in the
// same order as nn/adam.cpp's op-by-op form: the results match it bit for bit.
#include "tensor/fused_adam.h"

#include <cmath>
#include <type_traits>

#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/parallel.h"
#include "tensor/profiler.h"

namespace moegrad {

namespace {

// The step's scalars, each cast to the tensor's dtype once.
template <class T>
struct AdamScalars {
  explicit AdamScalars(const AdamStepConstants& c)
      : decoupled(c.decoupled_weight_decay != 0.0),
        l2(c.l2_weight_decay != 0.0),
        decay(static_cast<T>(1.0 - c.lr * c.decoupled_weight_decay)),
        l2_weight(static_cast<T>(c.l2_weight_decay)),
        beta1(static_cast<T>(c.beta1)),
        one_minus_beta1(static_cast<T>(1.0 - c.beta1)),
        beta2(static_cast<T>(c.beta2)),
        one_minus_beta2(static_cast<T>(1.0 - c.beta2)),
        sqrt_bias_correction2(static_cast<T>(std::sqrt(c.bias_correction2))),
        eps(static_cast<T>(c.eps)),
        step_size(static_cast<T>(c.lr / c.bias_correction1)) {}
  bool decoupled, l2;
  T decay, l2_weight, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bias_correction2, eps, step_size;
};

template <class T>
[[gnu::always_inline]] inline void adam_range(T* p, const T* g, T* m, T* v, std::int64_t begin, std::int64_t end,
                                              const AdamScalars<T>& s) {
  for (std::int64_t i = begin; i < end; ++i) {
    T param = s.decoupled ? p[i] * s.decay : p[i];
    T grad = s.l2 ? g[i] + s.l2_weight * param : g[i];
    T m_i = s.beta1 * m[i] + s.one_minus_beta1 * grad;
    T v_i = s.beta2 * v[i] + s.one_minus_beta2 * (grad * grad);
    T denominator = std::sqrt(v_i) / s.sqrt_bias_correction2 + s.eps;
    m[i] = m_i;
    v[i] = v_i;
    p[i] = param - s.step_size * (m_i / denominator);
  }
}

// float32, built per vector width (MOEGRAD_ISA_CLONES): sqrt and division are exact IEEE
// operations in every width, so the clones agree bit for bit.
MOEGRAD_ISA_CLONES void adam_range_float(float* p, const float* g, float* m, float* v, std::int64_t begin,
                                         std::int64_t end, const AdamScalars<float>& s) {
  adam_range(p, g, m, v, begin, end, s);
}

template <class T>
void adam_loop(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamStepConstants& c) {
  const AdamScalars<T> scalars(c);
  // Memory-bound: a thread per 64 Ki elements at most, so small tensors stay on one thread.
  parallel_for(n, std::int64_t{1} << 16, [&](std::int64_t begin, std::int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      adam_range_float(p, g, m, v, begin, end, scalars);
    } else {
      adam_range(p, g, m, v, begin, end, scalars);
    }
  });
}

bool fusable(const Tensor& t, const Tensor& like) {
  return t.defined() && t.device().is_cpu() && t.is_contiguous() && t.dtype() == like.dtype() &&
         t.shape() == like.shape() && (t.dtype() == kFloat32 || t.dtype() == kFloat64);
}

}  // namespace

bool fused_adam_step(Tensor& parameter, const Tensor& gradient, Tensor& exp_avg, Tensor& exp_avg_sq,
                     const AdamStepConstants& constants) {
  if (!fusable(parameter, parameter) || !fusable(gradient, parameter) || !fusable(exp_avg, parameter) ||
      !fusable(exp_avg_sq, parameter)) {
    return false;
  }
  profiler::RegionScope region("fused adam step");
  dispatch_floating(parameter.dtype(), [&](auto tag) {
    using T = decltype(tag);
    adam_loop<T>(parameter.data<T>(), gradient.data<T>(), exp_avg.data<T>(), exp_avg_sq.data<T>(), parameter.numel(),
                 constants);
  });
  for (Tensor* t : {&parameter, &exp_avg, &exp_avg_sq}) t->storage()->bump_version();
  return true;
}

}  // namespace moegrad
