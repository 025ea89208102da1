// Gradient clipping by global norm.
#include <cmath>
#include <limits>

#include "nn/clip.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::nn;

namespace {
Tensor with_gradient(const std::vector<double>& gradient) {
  Tensor p = zeros({static_cast<std::int64_t>(gradient.size())}, kFloat64).requires_grad_();
  p.set_grad(from_vector(gradient));
  return p;
}
}  // namespace

TEST_CASE("clip_grad_norm of gradient [3, 4] to 1 returns 5 and leaves [0.6, 0.8]") {
  Tensor p = with_gradient({3, 4});
  CHECK(clip_grad_norm({p}, 1.0) == 5.0);
  check_close(p.grad(), {0.6, 0.8}, 1e-15);
}

TEST_CASE("clip_grad_norm takes one norm over all gradients and skips parameters without one") {
  Tensor a = with_gradient({3});
  Tensor b = with_gradient({4});
  Tensor no_gradient = zeros({2}, kFloat64).requires_grad_();
  CHECK(clip_grad_norm({a, no_gradient, b}, 2.5) == 5.0);  // √(3² + 4²), scaled by 2.5 / 5
  check_close(a.grad(), {1.5}, 1e-15);
  check_close(b.grad(), {2.0}, 1e-15);
  CHECK_FALSE(no_gradient.grad().defined());
  CHECK(clip_grad_norm({no_gradient}, 1.0) == 0.0);
}

TEST_CASE("clip_grad_norm leaves gradients within the limit untouched") {
  Tensor p = with_gradient({3, 4});
  Tensor before = p.grad();
  CHECK(clip_grad_norm({p}, 5.0) == 5.0);
  CHECK(p.grad().same(before));
  CHECK(p.grad().to_vector<double>() == std::vector<double>{3, 4});
}

TEST_CASE("clip_grad_norm works on float32 gradients and keeps their dtype") {
  Tensor p = zeros({2}).requires_grad_();
  p.set_grad(from_vector(std::vector<float>{3, 4}));
  CHECK(clip_grad_norm({p}, 1.0) == doctest::Approx(5.0));
  CHECK(p.grad().dtype() == kFloat32);
  check_close(p.grad(), {0.6, 0.8}, 1e-6);
}

TEST_CASE("clip_grad_norm returns a non-finite norm and leaves the gradients as they are") {
  Tensor p = with_gradient({3, std::numeric_limits<double>::infinity()});
  Tensor q = with_gradient({1, 1});
  CHECK(std::isinf(clip_grad_norm({p, q}, 1.0)));
  CHECK(q.grad().to_vector<double>() == std::vector<double>{1, 1});
  Tensor r = with_gradient({std::nan(""), 1});
  CHECK(std::isnan(clip_grad_norm({r}, 1.0)));
  CHECK(r.grad().at({1}) == 1.0);
}

TEST_CASE("clip_grad_norm rejects a negative max_norm") {
  Tensor p = with_gradient({3, 4});
  CHECK_THROWS_WITH_AS(clip_grad_norm({p}, -1.0), doctest::Contains("[clip_grad_norm] max_norm must be >= 0, got -1"),
                       Error);
}
