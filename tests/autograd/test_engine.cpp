#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("backward of a scalar loss gives the derivative worked out by hand") {
  // L = sum(x² · w + x) at x = [1, 2], w = 3:  dL/dx = 2xw + 1 = [7, 13], dL/dw = Σ x² = 5
  Tensor x = from_vector(std::vector<double>{1, 2}).requires_grad_();
  Tensor w = scalar(3.0, kFloat64).requires_grad_();
  Tensor loss = sum(square(x) * w + x);
  loss.backward();
  check_close(x.grad(), {7, 13});
  CHECK(w.grad().item() == 5.0);
}

TEST_CASE("a tensor used twice accumulates both gradients") {
  Tensor x = scalar(3.0, kFloat64).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1 = 7
  y.backward();
  CHECK(x.grad().item() == 7.0);
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Tensor x = scalar(2.0, kFloat64).requires_grad_();
  (x * 3.0).backward();
  (x * 3.0).backward();
  CHECK(x.grad().item() == 6.0);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  (x * 3.0).backward();
  CHECK(x.grad().item() == 3.0);
}

TEST_CASE("backward with an explicit output gradient") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3}).requires_grad_();
  Tensor y = x * 2.0;
  y.backward(from_vector(std::vector<double>{1, 10, 100}));
  check_close(x.grad(), {2, 20, 200});
}

TEST_CASE("backward on a non-scalar without a gradient argument is refused") {
  Tensor x = leaf({3}, 1);
  CHECK_THROWS_WITH_AS((x * 2.0).backward(), doctest::Contains("[backward] without a gradient argument"), ShapeError);
}

TEST_CASE("running backward twice through a freed graph is an error, retain_graph allows it") {
  Tensor x = scalar(2.0, kFloat64).requires_grad_();
  Tensor y = exp(x) * x;
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), AutogradError);
  Tensor z = exp(x) * x;
  x.zero_grad();
  z.backward(true);
  z.backward();
  CHECK(x.grad().item() == doctest::Approx(2.0 * (std::exp(2.0) + 2.0 * std::exp(2.0))));
}

TEST_CASE("retain_grad keeps the gradient of an intermediate such as a gate value") {
  Tensor logits = from_vector(std::vector<double>{0.5, -0.5}).requires_grad_();
  Tensor gate = sigmoid(logits);
  gate.retain_grad();
  Tensor loss = sum(gate * from_vector(std::vector<double>{2, 3}));
  loss.backward();
  check_close(gate.grad(), {2, 3});
  CHECK(logits.grad().defined());
  Tensor hidden = logits * 2.0;
  (hidden * 1.0).sum().backward();
  CHECK_FALSE(hidden.grad().defined());  // not retained: only leaves and retained tensors keep it
}

TEST_CASE("NoGradGuard records no graph") {
  Tensor x = leaf({2}, 1);
  {
    NoGradGuard no_grad;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("backward on a tensor that does not require grad explains why") {
  Tensor x = ones({2});
  CHECK_THROWS_WITH_AS(sum(x).backward(), doctest::Contains("does not require grad"), AutogradError);
}

TEST_CASE("modifying a saved input in place before backward is detected") {
  Tensor x = leaf({3}, 1);
  Tensor w = ones({3}, kFloat64);
  Tensor y = sum(x * w);
  {
    NoGradGuard no_grad;
    w.fill_(5.0);
  }
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("was modified in place"), AutogradError);
}

TEST_CASE("in-place writes into a tensor that requires grad are refused while recording") {
  Tensor x = leaf({3}, 1);
  CHECK_THROWS_WITH_AS(x.fill_(0.0), doctest::Contains("[fill_] cannot write in place"), AutogradError);
  NoGradGuard no_grad;
  x.fill_(0.0);
  check_close(x, {0, 0, 0});
}

TEST_CASE("a deep chain of ten thousand ops runs backward without overflowing the stack") {
  Tensor x = scalar(1.0, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0;
  y.backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("detach cuts the graph but shares the data") {
  Tensor x = leaf({2}, 1);
  Tensor d = (x * 2.0).detach();
  CHECK_FALSE(d.requires_grad());
  Tensor y = x * 2.0;
  CHECK(y.detach().storage() == y.storage());
}

TEST_CASE("the graph is freed after backward: intermediates are released") {
  Tensor x = leaf({1000}, 1);
  Tensor y = exp(x);
  std::weak_ptr<Storage> saved = y.storage();
  Tensor loss = sum(y * 2.0);
  y = Tensor();
  CHECK_FALSE(saved.expired());  // still held by the graph
  loss.backward();
  CHECK(saved.expired());
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // A deliberately wrong rule: claims d(x²)/dx = x.
  auto wrong_square = [](const std::vector<Tensor>& v) {
    Tensor x = v[0];
    Tensor out = square(x.detach());
    return record("wrong_square", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, x)}; });
  };
  GradcheckResult result = gradcheck(wrong_square, {leaf({3}, 1)});
  CHECK_FALSE(result.ok);
  CHECK(result.message.find("input 0") != std::string::npos);
}

TEST_CASE("requires_grad is only for floating tensors") {
  CHECK_THROWS_AS(zeros({2}, kInt64).requires_grad_(), DTypeError);
}
