// The engine sums gradients in place (tensor/engine.cpp add_into / accumulate_into): one buffer per
// node however many paths reach it, the leaf's .grad reused across backward calls; and never into
// memory someone else can see (a gradient handed to two inputs, a .grad the caller kept).
#include "tensor/profiler.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("a node reached by four paths sums their gradients in one buffer, allocating nothing") {
  // y = 2x is read by four products; L = Σ_k sum(y ⊙ c_k) with c_k = k + 1, so
  // dL/dy = 1 + 2 + 3 + 4 = 10 and dL/dx = 2 · 10 = 20 at every element.
  Tensor x = from_vector(std::vector<double>{1, -2, 3}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor loss = sum(y * 1.0) + sum(y * 2.0) + sum(y * 3.0) + sum(y * 4.0);
  profiler::enable();
  loss.backward();
  std::uint64_t accumulation_bytes = 0;
  std::int64_t accumulation_calls = 0;
  for (const auto& row : profiler::rows()) {
    if (row.name == "gradient accumulation") accumulation_bytes += row.bytes, accumulation_calls += row.calls;
  }
  profiler::disable();
  profiler::reset();
  check_close(x.grad(), {20, 20, 20});
  CHECK(accumulation_calls >= 4);   // four gradients reached y
  CHECK(accumulation_bytes == 0);  // summed into the first one's buffer, none made for the sum
}

TEST_CASE("a gradient handed to two leaves is not summed in place into both") {
  // add's rule returns the same tensor for both inputs: L = sum(a + b) gives da = db = 1 each call
  Tensor a = from_vector(std::vector<double>{1, 2}).requires_grad_();
  Tensor b = from_vector(std::vector<double>{3, 4}).requires_grad_();
  for (int call = 0; call < 3; ++call) sum(a + b).backward();
  check_close(a.grad(), {3, 3});
  check_close(b.grad(), {3, 3});
}

TEST_CASE("a leaf's .grad is reused across backward calls, unless the caller kept the old one") {
  Tensor w = from_vector(std::vector<double>{1, 2, 3}).requires_grad_();
  sum(w * 2.0).backward();
  const void* buffer = w.grad().data_ptr();
  sum(w * 2.0).backward();
  CHECK(w.grad().data_ptr() == buffer);  // summed in place: 2 + 2
  check_close(w.grad(), {4, 4, 4});

  Tensor kept = w.grad();
  sum(w * 2.0).backward();
  check_close(kept, {4, 4, 4});  // what the caller saw stays
  check_close(w.grad(), {6, 6, 6});
}

TEST_CASE("in-place sums give the same gradients as the op-by-op graph through shared nodes") {
  // h = tanh(x W) feeds a residual stream twice; check against finite differences in float64
  Generator generator(3);
  Tensor x = randn({3, 4}, generator, kFloat64).requires_grad_();
  Tensor w = randn({4, 4}, generator, kFloat64).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) {
    Tensor h = tanh(matmul(in[0], in[1]));
    Tensor r = h + in[0];
    Tensor s = tanh(matmul(r, in[1])) + r + h;
    return sum(s * s);
  };
  check_gradients(f, {x, w});
}
