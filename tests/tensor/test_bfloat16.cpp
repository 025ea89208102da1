// bfloat16: the rounding of the storage type, worked out by hand, and the compute rule of
// tensor/bfloat16_compute.h: every op on bfloat16 tensors equals the float32 op on the same
// (bfloat16-exact) inputs, rounded. Finite-difference gradchecks of bfloat16 ops themselves make
// no sense (8 bits of mantissa: a step small enough for a derivative is rounded away), so the
// backward is checked against the float32 backward instead, within bfloat16's round-off.
#include <bit>
#include <cmath>
#include <limits>

#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/fused_adam.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

float round_trip(float value) { return static_cast<float>(bfloat16(value)); }

// A float32 tensor of random values that bfloat16 holds exactly (drawn, then rounded).
Tensor bfloat16_exact(const Shape& shape, std::uint64_t seed) {
  Generator generator(seed);
  return randn(shape, generator).to(kBFloat16).to(kFloat32);
}

// op on bfloat16 inputs == (op on their float32 copies), rounded to bfloat16: bit for bit.
void check_rounded_float32(const std::function<Tensor(const Tensor&, const Tensor&)>& op, const Shape& a_shape,
                           const Shape& b_shape) {
  Tensor a = bfloat16_exact(a_shape, 1), b = bfloat16_exact(b_shape, 2);
  Tensor in_bfloat16 = op(a.to(kBFloat16), b.to(kBFloat16));
  CHECK(in_bfloat16.dtype() == kBFloat16);
  CHECK(in_bfloat16.to_vector<float>() == op(a, b).to(kBFloat16).to_vector<float>());
}

}  // namespace

TEST_CASE("float -> bfloat16 rounds to nearest, ties to even (hand-worked values)") {
  CHECK(bfloat16(1.0f).bits == 0x3F80);
  CHECK(round_trip(1.0f + std::ldexp(1.0f, -8)) == 1.0f);                            // tie: 1.0 is even
  CHECK(round_trip(1.0f + 3 * std::ldexp(1.0f, -9)) == 1.0f + std::ldexp(1.0f, -7));  // past the tie
  CHECK(round_trip(1.0f + 3 * std::ldexp(1.0f, -8)) == 1.0f + std::ldexp(1.0f, -6));  // tie: up to even
  CHECK(round_trip(-(1.0f + std::ldexp(1.0f, -8))) == -1.0f);
  CHECK(round_trip(-1.5f) == -1.5f);
  CHECK(bfloat16(-1.5f).bits == 0xBFC0);
  CHECK(round_trip(65504.0f) == 65536.0f);  // 1.1111111|111 x 2^15: the cut part is over half, rounds up
  CHECK(round_trip(3.0f) == 3.0f);
  // The largest finite bfloat16 is (2 - 2^-7) 2^127 = 0x7F7F; float's maximum rounds past it to inf.
  CHECK(bfloat16::from_bits(0x7F7F).operator float() == std::ldexp(2.0f - std::ldexp(1.0f, -7), 127));
  CHECK(round_trip(std::numeric_limits<float>::max()) == std::numeric_limits<float>::infinity());
  CHECK(round_trip(-std::numeric_limits<float>::infinity()) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(round_trip(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isnan(static_cast<float>(bfloat16::from_bits(0x7F80 | 0x0001))));  // a NaN's bits stay a NaN
  CHECK(std::isnan(round_trip(std::bit_cast<float>(0x7F800001u))));           // not carried into inf
}

TEST_CASE("double -> bfloat16 rounds once: 1 + 2^-8 + 2^-30 goes up, where going through float would tie down") {
  const double value = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30);
  CHECK(static_cast<float>(value) == 1.0f + std::ldexp(1.0f, -8));  // float alone loses the 2^-30
  CHECK(static_cast<float>(bfloat16(value)) == 1.0f + std::ldexp(1.0f, -7));
  CHECK(static_cast<float>(bfloat16(1.0 + std::ldexp(1.0, -8))) == 1.0f);  // an exact tie still goes to even
  Tensor t = from_vector(std::vector<double>{value}).to(kBFloat16);
  CHECK(t.item() == 1.0 + std::ldexp(1.0, -7));
}

TEST_CASE("bfloat16 is a floating dtype of 2 bytes; promotion follows PyTorch") {
  CHECK(std::string(dtype_name(kBFloat16)) == "bfloat16");
  CHECK(dtype_size(kBFloat16) == 2);
  CHECK(is_floating(kBFloat16));
  CHECK(promote_types(kBFloat16, kFloat32) == kFloat32);
  CHECK(promote_types(kFloat64, kBFloat16) == kFloat64);
  CHECK(promote_types(kBFloat16, kBFloat16) == kBFloat16);
  CHECK(promote_types(kInt64, kBFloat16) == kBFloat16);
  Tensor half_precision = ones({2}, kBFloat16), single = ones({2});
  CHECK((half_precision + single).dtype() == kFloat32);
  CHECK((half_precision * 3.0).dtype() == kBFloat16);
}

TEST_CASE("creation, printing and casts of bfloat16 tensors") {
  CHECK(zeros({2, 3}, kBFloat16).to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(full({2}, 1.0 + 1.0 / 256, kBFloat16).to_vector<float>() == std::vector<float>{1.0f, 1.0f});
  Generator a(7), b(7);
  Tensor drawn = randn({5}, a, kBFloat16);
  CHECK(drawn.dtype() == kBFloat16);
  CHECK(drawn.to_vector<float>() == randn({5}, b).to(kBFloat16).to_vector<float>());
  Tensor t = from_vector(std::vector<float>{1.5f, -2.0f}).to(kBFloat16);
  CHECK(t.str().find("bfloat16") != std::string::npos);
  CHECK(t.to(kFloat64).to_vector<double>() == std::vector<double>{1.5, -2.0});
  CHECK(from_vector(std::vector<float>{1.0f + std::ldexp(1.0f, -8)}).to(kBFloat16).item() == 1.0);
}

TEST_CASE("elementwise ops on bfloat16 are the float32 op, rounded, bit for bit") {
  check_rounded_float32([](const Tensor& a, const Tensor& b) { return a + b; }, {3, 4}, {3, 4});
  check_rounded_float32([](const Tensor& a, const Tensor& b) { return a * b; }, {3, 4}, {4});  // broadcast
  check_rounded_float32([](const Tensor& a, const Tensor& b) { return a / b; }, {3, 4}, {3, 4});
  check_rounded_float32([](const Tensor& a, const Tensor&) { return exp(a); }, {3, 4}, {1});
  check_rounded_float32([](const Tensor& a, const Tensor&) { return tanh(a.t()); }, {3, 4}, {1});  // strided
  check_rounded_float32([](const Tensor& a, const Tensor&) { return gelu(a); }, {3, 4}, {1});
  check_rounded_float32([](const Tensor& a, const Tensor& b) { return where(gt(a, b), a, b); }, {3, 4}, {3, 4});
}

TEST_CASE("reductions, softmax and matmul on bfloat16 accumulate in float32 and round the result") {
  check_rounded_float32([](const Tensor& a, const Tensor&) { return sum(a, {1}); }, {4, 300}, {1});
  check_rounded_float32([](const Tensor& a, const Tensor&) { return softmax(a, -1); }, {4, 9}, {1});
  check_rounded_float32([](const Tensor& a, const Tensor&) { return log_softmax(a, -1); }, {4, 9}, {1});
  check_rounded_float32([](const Tensor& a, const Tensor& b) { return matmul(a, b); }, {5, 64}, {64, 3});
  check_rounded_float32([](const Tensor& a, const Tensor&) { return topk(a, 2).values; }, {4, 9}, {1});
  // Composed ops round at each step (mean = rounded sum / n), so they agree within two roundings.
  Tensor x = bfloat16_exact({4, 300}, 3);
  check_close(mean(x.to(kBFloat16), {1}), mean(x, {1}), 2 * std::ldexp(1.0, -8));
  check_close(logsumexp(x.to(kBFloat16), {1}), logsumexp(x, {1}), 2 * std::ldexp(1.0, -8));
  // A sum of 300 ones in bfloat16 steps would stall at 256 (256 + 1 rounds back to 256); float32
  // accumulation gives 300 exactly.
  CHECK(sum(ones({300}, kBFloat16)).item() == 300.0);
}

TEST_CASE("the cast's gradient comes back in the input's dtype, rounded where the cast rounds") {
  // No finite-difference gradcheck: to(kBFloat16) is a step function at 8 bits; its derivative is
  // defined as the identity (a straight-through cast), which this checks directly.
  Tensor x = leaf({3}, 1);
  Tensor weight = from_vector(std::vector<double>{1.0, 1.0 + 1.0 / 256, -3.0});
  sum(x.to(kBFloat16).to(kFloat64) * weight).backward();
  CHECK(x.grad().dtype() == kFloat64);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1.0, 1.0, -3.0});  // 1 + 2^-8 rounded in bf16
}

TEST_CASE("bfloat16 backward is the float32 backward within bfloat16 round-off; gradients are bfloat16") {
  Tensor x32 = bfloat16_exact({6, 8}, 4), w32 = bfloat16_exact({8, 5}, 5);
  Tensor x16 = x32.to(kBFloat16).requires_grad_(), w16 = w32.to(kBFloat16).requires_grad_();
  x32.requires_grad_();
  w32.requires_grad_();
  auto loss = [](const Tensor& x, const Tensor& w) { return sum(softmax(tanh(matmul(x, w)), -1) * x.narrow(1, 0, 5)); };
  loss(x16, w16).backward();
  loss(x32, w32).backward();
  CHECK(w16.grad().dtype() == kBFloat16);
  check_close(w16.grad(), w32.grad(), 0.05);
  check_close(x16.grad(), x32.grad(), 0.05);
}

TEST_CASE("a small MLP trains entirely in bfloat16: the loss goes down") {
  Generator generator(11);
  nn::Sequential model;
  model.push_back(std::make_shared<nn::Linear>(4, 16, true, generator));
  model.push_back(std::make_shared<nn::Linear>(16, 1, true, generator));
  model.to(kBFloat16);
  for (const Tensor& p : model.parameters()) CHECK(p.dtype() == kBFloat16);
  Tensor inputs = randn({32, 4}, generator, kBFloat16);
  Tensor targets = sum(inputs, {1}, true);
  nn::SGD optimizer(model.parameters(), {.lr = 0.05});
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 30; ++step) {
    optimizer.zero_grad();
    Tensor loss = mse_loss(model.forward(inputs), targets);
    CHECK(loss.dtype() == kBFloat16);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  CHECK(std::isfinite(last));
  CHECK(last < 0.5 * first);
}

TEST_CASE("bfloat16 tensors round-trip through safetensors as BF16, bits unchanged") {
  Tensor t = from_vector(std::vector<float>{1.5f, -0.00390625f, 3.0e38f}).to(kBFloat16);
  Tensor back = nn::load_safetensors_from_bytes(nn::safetensors_bytes({{"t", t}}), "t.safetensors").tensors.at("t");
  CHECK(back.dtype() == kBFloat16);
  CHECK(back.to_vector<float>() == t.to_vector<float>());
}

TEST_CASE("a bfloat16 tensor that reaches a float-only kernel directly is a DTypeError, never garbage") {
  Tensor x = ones({2}, kBFloat16), out = Tensor::empty({2}, kBFloat16);
  CHECK_THROWS_WITH_AS(cpu_backend().unary(UnaryOp::Exp, x, out, 0.0, 0.0),
                       doctest::Contains("a bfloat16 tensor reached a kernel written for float32/float64/int64"),
                       DTypeError);
  // The fused Adam loop is float32/float64 only: it declines bfloat16 and the op-by-op path runs.
  Tensor p = ones({2}, kBFloat16), g = ones({2}, kBFloat16), m = zeros({2}, kBFloat16), v = zeros({2}, kBFloat16);
  CHECK_FALSE(fused_adam_step(p, g, m, v, AdamStepConstants{.lr = 0.1}));
}
