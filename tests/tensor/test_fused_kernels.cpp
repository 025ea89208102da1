// The CPU backend's fast paths against straightforward references: GELU's vectorised float32
// forms and fused backward, the row-adding sum over leading axes (bias gradients), the one-pass
// softmax / log_softmax backward, and the fused cross-entropy. Each is also checked for the same
// bits on 1, 2 and 3 threads, and the base Backend's composed versions (what a backend without
// the fused kernels runs) are checked against the CPU's.
#include <omp.h>

#include <cmath>
#include <limits>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Runs `compute` on 1, 2 and 3 threads and checks the float32 results are bit for bit the same.
void check_same_bits_on_any_thread_count(const std::function<std::vector<float>()>& compute) {
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<float> one = compute();
  omp_set_num_threads(2);
  std::vector<float> two = compute();
  omp_set_num_threads(3);
  std::vector<float> three = compute();
  omp_set_num_threads(threads);
  CHECK(one == two);
  CHECK(one == three);
}

double gelu_erf_reference(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }
double gelu_erf_derivative_reference(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
}
// ½(1 + tanh u) written as 1/(1 + e^(-2u)): in double, 1 + tanh u rounds to 0 below u ≈ -19 and
// the reference itself would be wrong there
double gelu_tanh_reference(double x) {
  return x / (1.0 + std::exp(-2.0 * std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double gelu_tanh_derivative_reference(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  double t = std::tanh(k * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
}

// |got - want| <= relative |want| + absolute
void check_float_close(const std::vector<float>& got, const std::vector<double>& want, double relative,
                       double absolute) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (std::size_t i = 0; i < got.size() && bad < 5; ++i) {
    double bound = relative * std::abs(want[i]) + absolute;
    if (!(std::abs(got[i] - want[i]) <= bound)) {
      ++bad;
      INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
      CHECK(std::abs(got[i] - want[i]) <= bound);
    }
  }
  CHECK(bad == 0);
}

}  // namespace

// ---------------- GELU ----------------

TEST_CASE("float32 gelu (both forms) and its fused backward are within a few ulps of float64 references") {
  // 100003 points over [-12, 12]: an odd size, above the parallel grain, both tails included
  const std::int64_t n = 100003;
  Tensor x = arange(n, kInt64).to(kFloat32) * (24.0 / n) - 12.0;
  Generator generator(3);
  Tensor g = uniform({x.numel()}, -2.0, 2.0, generator, kFloat32);
  std::vector<double> xs = x.to_vector<double>(), gs = g.to_vector<double>();
  struct Form {
    GeluApproximation approximation;
    double (*value)(double);
    double (*derivative)(double);
  };
  for (Form form : {Form{GeluApproximation::Erf, gelu_erf_reference, gelu_erf_derivative_reference},
                    Form{GeluApproximation::Tanh, gelu_tanh_reference, gelu_tanh_derivative_reference}}) {
    INFO((form.approximation == GeluApproximation::Erf ? "erf form" : "tanh form"));
    Tensor leaf_x = x.detach().requires_grad_();
    Tensor y = gelu(leaf_x, form.approximation);
    (y * g).sum().backward();
    std::vector<double> want_y, want_grad;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      want_y.push_back(form.value(xs[i]));
      want_grad.push_back(gs[i] * form.derivative(xs[i]));
    }
    // Values: 2e-6 relative (32 float ulps). Far in the negative tail gelu(x) ~ x e^(-x²/2) and the
    // one rounding of x² is magnified by x²/2, so no float formula does much better there; up to
    // |x| = 3 the measured error is under 15 ulps. Derivatives: the same, plus 1e-7 absolute
    // (times |g| < 2) where gelu' crosses 0 near x = -0.75 and its two terms cancel.
    check_float_close(y.to_vector<float>(), want_y, 2e-6, 1e-12);
    check_float_close(leaf_x.grad().to_vector<float>(), want_grad, 2e-6, 2e-7);
  }
}

TEST_CASE("gelu keeps inf, -inf and NaN sensible in float32, forward and backward") {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = from_vector(std::vector<float>{-inf, inf, std::nanf(""), -100.0f, 100.0f}).requires_grad_();
  for (GeluApproximation form : {GeluApproximation::Erf, GeluApproximation::Tanh}) {
    x.zero_grad();
    Tensor y = gelu(x, form);
    y.sum().backward();
    std::vector<float> v = y.to_vector<float>(), d = x.grad().to_vector<float>();
    CHECK(v[1] == inf);
    CHECK(std::isnan(v[2]));
    CHECK(v[3] == 0.0f);  // -100 Φ(-100): far below the smallest float
    CHECK(v[4] == 100.0f);
    CHECK(d[3] == 0.0f);
    CHECK(d[4] == 1.0f);
    CHECK(std::isnan(d[2]));
  }
}

TEST_CASE("gelu's fused backward passes gradcheck in float64 on odd, strided and parallel-sized inputs") {
  for (GeluApproximation form : {GeluApproximation::Erf, GeluApproximation::Tanh}) {
    check_gradients([&](const std::vector<Tensor>& v) { return gelu(v[0], form); }, {leaf({7, 13}, 1, -4.0, 4.0)});
    check_gradients([&](const std::vector<Tensor>& v) { return gelu(v[0], form); },
                    {transposed_leaf({5, 9}, 2, -4.0, 4.0)});
    // a slice with a step: a non-contiguous input whose gradient is written back through slice
    Tensor wide = leaf({4, 12}, 3, -4.0, 4.0);
    check_gradients([&](const std::vector<Tensor>& v) { return gelu(slice(v[0], 1, 1, 12, 3), form); }, {wide});
  }
  // float64 values on the parallel path (above 32768 elements) against the C library
  Tensor big = leaf({40001}, 4, -6.0, 6.0);
  Tensor y = gelu(big, GeluApproximation::Tanh);
  y.sum().backward();
  std::vector<double> xs = big.to_vector<double>(), ys = y.to_vector<double>(), ds = big.grad().to_vector<double>();
  for (std::size_t i = 0; i < xs.size(); i += 997) {
    CHECK(ys[i] == doctest::Approx(gelu_tanh_reference(xs[i])).epsilon(1e-14));
    CHECK(ds[i] == doctest::Approx(gelu_tanh_derivative_reference(xs[i])).epsilon(1e-12));
  }
}

TEST_CASE("gelu forward and backward give the same bits on 1, 2 and 3 threads") {
  Generator generator(5);
  Tensor x = randn({70001}, generator);
  for (GeluApproximation form : {GeluApproximation::Erf, GeluApproximation::Tanh}) {
    check_same_bits_on_any_thread_count([&] {
      Tensor leaf_x = x.detach().requires_grad_();
      Tensor y = gelu(leaf_x, form);
      (y * y).sum().backward();
      std::vector<float> result = y.to_vector<float>(), grad = leaf_x.grad().to_vector<float>();
      result.insert(result.end(), grad.begin(), grad.end());
      return result;
    });
  }
}

// ---------------- sums over leading axes (bias gradients) ----------------

TEST_CASE("sum over leading axes adds rows: odd widths, a middle axis, strided inputs, against a double loop") {
  Generator generator(11);
  struct Case {
    Shape shape;
    std::vector<std::int64_t> axes;
  };
  // widths not a multiple of the 64-column block, one wider than several blocks, a middle axis
  for (Case c : {Case{{1037, 131}, {0}}, Case{{3, 517, 70}, {1}}, Case{{2, 9, 5, 300}, {0, 1, 2}}, Case{{5000, 1}, {0}},
                 Case{{1, 129}, {0}}}) {
    INFO("shape " << shape_str(c.shape));
    Tensor x = uniform(c.shape, -1.0, 1.0, generator, kFloat32);
    Tensor got = sum(x, c.axes);
    // reference: permute the reduced axes to the end and add in double, one output at a time
    std::vector<std::int64_t> order;
    for (std::int64_t i = 0; i < x.dim(); ++i) {
      if (std::find(c.axes.begin(), c.axes.end(), i) == c.axes.end()) order.push_back(i);
    }
    for (auto a : c.axes) order.push_back(a);
    std::vector<double> flat = permute(x, order).contiguous().to_vector<double>();
    std::int64_t outputs = got.numel(), length = x.numel() / std::max<std::int64_t>(outputs, 1);
    std::vector<double> want(outputs, 0.0);
    for (std::int64_t o = 0; o < outputs; ++o) {
      for (std::int64_t l = 0; l < length; ++l) want[o] += flat[o * length + l];
    }
    check_close(got, want, 1e-6);
  }
  // a transposed (non-contiguous) input is summed over its leading axis too
  Tensor t = transpose(uniform({131, 257}, -1.0, 1.0, generator, kFloat32), 0, 1);  // (257, 131)
  check_close(sum(t, {0}), sum(t.contiguous().to(kFloat64), {0}), 1e-6);
}

TEST_CASE("the bias gradient of a broadcast add passes gradcheck and has the same bits on any thread count") {
  Tensor x = leaf({23, 70}, 1).detach();
  Tensor bias = leaf({70}, 2);
  check_gradients([&](const std::vector<Tensor>& v) { return square(add(x, v[0])); }, {bias});
  Generator generator(13);
  Tensor big = randn({2048, 300}, generator);
  check_same_bits_on_any_thread_count([&] {
    Tensor b = zeros({300}).requires_grad_();
    (add(big, b) * big).sum().backward();
    return b.grad().to_vector<float>();
  });
}

// ---------------- softmax / log_softmax backward ----------------

TEST_CASE("the one-pass softmax and log_softmax backward match the composed rules in float32, on any axis") {
  Generator generator(17);
  Tensor x = uniform({37, 1031}, -8.0, 8.0, generator, kFloat32);
  Tensor w = uniform({37, 1031}, -1.0, 1.0, generator, kFloat32);
  for (std::int64_t axis : {1, 0}) {
    for (bool log_form : {false, true}) {
      INFO("axis " << axis << (log_form ? " log_softmax" : " softmax"));
      Tensor leaf_x = x.detach().requires_grad_();
      Tensor y = log_form ? log_softmax(leaf_x, axis) : softmax(leaf_x, axis);
      (y * w).sum().backward();
      // reference in float64 from the rules written with ops: y (g - Σ g y) and g - exp(y) Σ g
      Tensor y64 = y.detach().to(kFloat64), g64 = w.to(kFloat64);
      Tensor want = log_form ? g64 - exp(y64) * sum(g64, {axis}, true) : y64 * (g64 - sum(g64 * y64, {axis}, true));
      check_close(leaf_x.grad(), want, 2e-5);
    }
  }
  check_same_bits_on_any_thread_count([&] {
    Tensor leaf_x = x.detach().requires_grad_();
    (log_softmax(leaf_x, 1) * w).sum().backward();
    return leaf_x.grad().to_vector<float>();
  });
}

// ---------------- cross-entropy ----------------

TEST_CASE("fused float32 cross_entropy matches a float64 reference, loss and gradient, with ignored rows") {
  const std::int64_t rows = 173, classes = 1000;
  Generator generator(19);
  Tensor logits = uniform({rows, classes}, -10.0, 10.0, generator, kFloat32);
  std::vector<std::int64_t> targets = randint(0, classes, {rows}, generator).to_vector<std::int64_t>();
  for (std::int64_t r = 0; r < rows; r += 7) targets[r] = -100;
  Tensor target = from_vector(targets);
  // reference: lse and the softmax in float64, one row at a time
  std::vector<double> x = logits.to_vector<double>();
  std::vector<double> row_loss(rows, 0.0), grad_sum(rows * classes, 0.0);
  std::int64_t counted = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    if (targets[r] == -100) continue;
    ++counted;
    double m = -INFINITY, total = 0;
    for (std::int64_t c = 0; c < classes; ++c) m = std::max(m, x[r * classes + c]);
    for (std::int64_t c = 0; c < classes; ++c) total += std::exp(x[r * classes + c] - m);
    double lse = m + std::log(total);
    row_loss[r] = lse - x[r * classes + targets[r]];
    for (std::int64_t c = 0; c < classes; ++c) grad_sum[r * classes + c] = std::exp(x[r * classes + c] - lse);
    grad_sum[r * classes + targets[r]] -= 1.0;
  }
  double total_loss = 0;
  for (double l : row_loss) total_loss += l;
  for (Reduction reduction : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    Tensor leaf_x = logits.detach().requires_grad_();
    Tensor loss = cross_entropy(leaf_x, target, -100, reduction);
    double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(counted) : 1.0;
    if (reduction == Reduction::None) {
      check_close(loss, row_loss, 1e-6);
      loss.sum().backward();
    } else {
      check_close(loss, {total_loss * scale}, 1e-6);
      loss.backward();
    }
    std::vector<double> want(grad_sum.size());
    for (std::size_t i = 0; i < want.size(); ++i) want[i] = grad_sum[i] * scale;
    check_close(leaf_x.grad(), want, 1e-6);
  }
}

TEST_CASE("cross_entropy passes gradcheck on (B,T,C) logits that are not contiguous") {
  Tensor logits = transpose(leaf({2, 5, 3}, 21, -3.0, 3.0).detach(), 0, 1).requires_grad_();  // (5,2,3) strided
  Tensor target = from_vector(std::vector<std::int64_t>{0, 2, 1, -100, 2, 0, 1, 1, 0, 2}, {5, 2});
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    check_gradients([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target, -100, reduction); },
                    {logits});
  }
}

TEST_CASE("cross_entropy gives the same bits on 1, 2 and 3 threads") {
  Generator generator(23);
  Tensor logits = randn({300, 513}, generator);
  Tensor target = randint(0, 513, {300}, generator);
  check_same_bits_on_any_thread_count([&] {
    Tensor leaf_x = logits.detach().requires_grad_();
    Tensor loss = cross_entropy(leaf_x, target);
    loss.backward();
    std::vector<float> result = leaf_x.grad().to_vector<float>();
    result.push_back(static_cast<float>(loss.item()));
    return result;
  });
}

// ---------------- the base Backend's composed versions ----------------

TEST_CASE("the base Backend's composed fused kernels agree with the CPU's one-pass kernels") {
  CpuBackend& cpu = cpu_backend();
  Tensor x = leaf({6, 11}, 31, -4.0, 4.0).detach();
  Tensor g = leaf({6, 11}, 32).detach();
  for (UnaryOp op : {UnaryOp::GeluErf, UnaryOp::GeluTanh}) {
    Tensor fused = Tensor::empty(x.shape(), kFloat64), composed = Tensor::empty(x.shape(), kFloat64);
    cpu.unary_backward(op, x, g, fused);
    cpu.Backend::unary_backward(op, x, g, composed);
    check_close(fused, composed, 1e-12);
  }
  CHECK_THROWS_WITH_AS(cpu.unary_backward(UnaryOp::Exp, x, g, x), doctest::Contains("[exp] has no fused backward"),
                       Error);
  for (bool log_form : {false, true}) {
    Tensor y = log_form ? log_softmax(x, 1) : softmax(x, 1);
    Tensor fused = Tensor::empty(x.shape(), kFloat64), composed = Tensor::empty(x.shape(), kFloat64);
    cpu.softmax_backward(y, g, fused, log_form);
    cpu.Backend::softmax_backward(y, g, composed, log_form);
    check_close(fused, composed, 1e-12);
  }
  Tensor target = from_vector(std::vector<std::int64_t>{3, -100, 0, 10, 5, 1});
  Tensor losses = Tensor::empty({6}, kFloat64), lse = Tensor::empty({6}, kFloat64);
  Tensor losses_composed = Tensor::empty({6}, kFloat64), lse_composed = Tensor::empty({6}, kFloat64);
  cpu.cross_entropy_forward(x, target, -100, losses, lse);
  cpu.Backend::cross_entropy_forward(x, target, -100, losses_composed, lse_composed);
  check_close(losses, losses_composed, 1e-12);
  check_close(lse, lse_composed, 1e-12);
  Tensor row_grad = from_vector(std::vector<double>{0.5, 1.0, -2.0, 0.25, 1.0, 3.0});
  Tensor fused = Tensor::empty(x.shape(), kFloat64), composed = Tensor::empty(x.shape(), kFloat64);
  cpu.cross_entropy_backward(x, target, -100, lse, row_grad, fused);
  cpu.Backend::cross_entropy_backward(x, target, -100, lse, row_grad, composed);
  check_close(fused, composed, 1e-12);
  CHECK(sum(abs(select(fused, 0, 1))).item() == 0.0);  // the ignored row
}
