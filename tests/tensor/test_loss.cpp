#include <cmath>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
Tensor doubles(const std::vector<double>& values, const Shape& shape = {}) { return from_vector(values, shape); }
Tensor labels(const std::vector<std::int64_t>& values, const Shape& shape = {}) { return from_vector(values, shape); }
// -log softmax([1,2,3])[2] = log(e + e² + e³) - 3
constexpr double kLossOfLogits123AtClass2 = 0.40760596444438;
}  // namespace

// ---------------- cross_entropy ----------------

TEST_CASE("cross_entropy of logits [1,2,3] at class 2 is -log 0.66524096") {
  Tensor logits = doubles({1, 2, 3}, {1, 3});
  check_close(cross_entropy(logits, labels({2})), {kLossOfLogits123AtClass2}, 1e-10);
  check_close(cross_entropy(logits.to(kFloat32), labels({2})), {kLossOfLogits123AtClass2}, 1e-6);
}

TEST_CASE("cross_entropy averages over rows, and equal logits cost log C") {
  Tensor logits = doubles({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor target = labels({2, 0});
  double log3 = std::log(3.0);
  check_close(cross_entropy(logits, target), {(kLossOfLogits123AtClass2 + log3) / 2}, 1e-10);
  check_close(cross_entropy(logits, target, -100, Reduction::Sum), {kLossOfLogits123AtClass2 + log3}, 1e-10);
  check_close(cross_entropy(logits, target, -100, Reduction::None), {kLossOfLogits123AtClass2, log3}, 1e-10);
}

TEST_CASE("cross_entropy skips ignored targets: they add 0 and do not count in the mean") {
  Tensor logits = doubles({1, 2, 3, 1, 1, 1, 5, 0, 0}, {3, 3});
  Tensor target = labels({2, -100, -100});
  check_close(cross_entropy(logits, target), {kLossOfLogits123AtClass2}, 1e-10);
  check_close(cross_entropy(logits, target, -100, Reduction::None), {kLossOfLogits123AtClass2, 0, 0}, 1e-10);
  // A custom ignore_index that is a valid class: row 0 (label 1) is ignored, row 1 costs log 3.
  check_close(cross_entropy(logits, labels({1, 0, 1}), 1), {std::log(3.0)}, 1e-10);
}

TEST_CASE("cross_entropy with every target ignored: Sum is 0, Mean is NaN as in PyTorch") {
  Tensor logits = doubles({1, 2, 3}, {1, 3});
  CHECK(cross_entropy(logits, labels({-100}), -100, Reduction::Sum).item() == 0.0);
  CHECK(std::isnan(cross_entropy(logits, labels({-100})).item()));
}

TEST_CASE("cross_entropy gradient is (softmax - onehot) / count and zero on ignored rows") {
  Tensor logits = doubles({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  cross_entropy(logits, labels({2, -100})).backward();
  check_close(logits.grad(), {0.09003057317038, 0.24472847105480, 0.66524096 - 1.0, 0, 0, 0}, 1e-8);
}

TEST_CASE("cross_entropy passes gradcheck for every reduction, with an ignored row") {
  Tensor logits = leaf({4, 5}, 1, -3.0, 3.0);
  Tensor target = labels({3, -100, 0, 4});
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    check_gradients([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target, -100, reduction); },
                    {logits});
  }
  Tensor transposed = transposed_leaf({4, 5}, 2);
  check_gradients([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target); }, {transposed});
}

TEST_CASE("cross_entropy takes (B,T,C) logits with (B,T) targets as B*T rows") {
  Tensor logits = leaf({2, 3, 4}, 3);
  Tensor target = labels({0, 1, 2, 3, -100, 1}, {2, 3});
  Tensor flat = cross_entropy(reshape(logits, {6, 4}), reshape(target, {6}), -100, Reduction::None);
  Tensor per_token = cross_entropy(logits, target, -100, Reduction::None);
  CHECK(per_token.shape() == Shape{2, 3});
  check_close(per_token, flat.to_vector<double>(), 1e-12);
  check_close(cross_entropy(logits, target), {sum(flat).item() / 5.0}, 1e-12);
  check_gradients([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target); }, {logits});
}

TEST_CASE("cross_entropy stays finite for logits of size 1e4") {
  Tensor logits = from_vector(std::vector<float>{1e4f, 0.0f, -1e4f}, {1, 3}).requires_grad_();
  Tensor loss = cross_entropy(logits, labels({1}));
  check_close(loss, {1e4}, 1e-6);
  loss.backward();
  check_close(logits.grad(), {1, -1, 0});
  check_close(cross_entropy(logits, labels({0})), {0.0});
}

TEST_CASE("cross_entropy rejects bad targets with messages naming them") {
  Tensor logits = doubles({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK_THROWS_WITH_AS(cross_entropy(logits, doubles({0, 1})), doctest::Contains("[cross_entropy] target must be int64"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, labels({0, 1, 2})),
                       doctest::Contains("logits [2,3] (rows, C) need target of shape [2], got [3]"), ShapeError);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, labels({0, 3})),
                       doctest::Contains("[cross_entropy] target value 3 (element 1) is outside [0, 3)"), IndexError);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, labels({-1, 0})), doctest::Contains("target value -1"), IndexError);
  CHECK_THROWS_WITH_AS(cross_entropy(labels({0, 1}, {1, 2}), labels({0})),
                       doctest::Contains("[cross_entropy] expects a floating tensor"), DTypeError);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, labels({0, 1}), -100, Reduction::BatchMean),
                       doctest::Contains("[cross_entropy] reduction BatchMean"), Error);
}

// ---------------- mse_loss ----------------

TEST_CASE("mse_loss averages squared differences") {
  Tensor input = doubles({1, 2, 3}), target = doubles({1, 0, 5});
  check_close(mse_loss(input, target), {8.0 / 3.0});
  check_close(mse_loss(input, target, Reduction::Sum), {8.0});
  check_close(mse_loss(input, target, Reduction::None), {0, 4, 4});
  Tensor x = doubles({1, 2, 3}).requires_grad_();
  mse_loss(x, target).backward();
  check_close(x.grad(), {0, 4.0 / 3.0, -4.0 / 3.0});
}

TEST_CASE("mse_loss passes gradcheck in both inputs and refuses to broadcast") {
  Tensor input = leaf({3, 4}, 1), target = transposed_leaf({3, 4}, 2);
  check_gradients([](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1]); }, {input, target});
  check_gradients([](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1], Reduction::None); }, {input, target});
  CHECK_THROWS_WITH_AS(mse_loss(zeros({3}), zeros({3, 1})),
                       doctest::Contains("[mse_loss] input [3] and target [3,1] must have the same shape"), ShapeError);
}

// ---------------- kl_div ----------------

TEST_CASE("kl_div of p = [1/2, 1/2, 0] from q = [1/4, 1/4, 1/2] is log 2, the zero adding nothing") {
  Tensor log_q = log(doubles({0.25, 0.25, 0.5}, {1, 3}));
  Tensor p = doubles({0.5, 0.5, 0.0}, {1, 3});
  double log2 = std::log(2.0);
  check_close(kl_div(log_q, p, Reduction::Sum), {log2}, 1e-12);
  check_close(kl_div(log_q, p, Reduction::BatchMean), {log2}, 1e-12);
  check_close(kl_div(log_q, p), {log2 / 3.0}, 1e-12);  // Mean is over all 3 elements
  check_close(kl_div(log_q, p, Reduction::None), {log2 / 2, log2 / 2, 0.0}, 1e-12);
}

TEST_CASE("kl_div BatchMean divides the sum by the batch size, and KL(p, p) = 0") {
  Tensor p = doubles({0.2, 0.8, 0.5, 0.5}, {2, 2});
  Tensor q = doubles({0.5, 0.5, 0.5, 0.5}, {2, 2});
  double first_row = 0.2 * std::log(0.2 / 0.5) + 0.8 * std::log(0.8 / 0.5);
  check_close(kl_div(log(q), p, Reduction::BatchMean), {first_row / 2.0}, 1e-12);
  check_close(kl_div(log(p), p, Reduction::Sum), {0.0}, 1e-12);
}

TEST_CASE("kl_div gives finite values and gradients where the target is 0, even against log q = -inf") {
  Tensor log_q = doubles({std::log(0.5), std::log(0.5), -INFINITY}).requires_grad_();
  Tensor p = doubles({0.5, 0.5, 0.0}).requires_grad_();
  Tensor loss = kl_div(log_q, p, Reduction::Sum);
  check_close(loss, {0.0}, 1e-12);
  loss.backward();
  check_close(log_q.grad(), {-0.5, -0.5, 0.0});
  check_close(p.grad(), {1.0, 1.0, 0.0}, 1e-12);  // log p + 1 - log q = 1 where p = q
}

TEST_CASE("kl_div passes gradcheck in both inputs, and in input with zeros in the target") {
  Tensor input = leaf({2, 3}, 1, -2.0, 0.0), target = leaf({2, 3}, 2, 0.1, 1.0);
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::BatchMean, Reduction::None}) {
    check_gradients([&](const std::vector<Tensor>& v) { return kl_div(v[0], v[1], reduction); }, {input, target});
  }
  // Finite differences across p = 0 would step into log of a negative number, so only the input
  // is perturbed here.
  Tensor sparse_target = doubles({0.0, 0.7, 0.3, 1.0, 0.0, 0.0}, {2, 3});
  check_gradients([&](const std::vector<Tensor>& v) { return kl_div(v[0], sparse_target, Reduction::BatchMean); },
                  {input});
}

TEST_CASE("kl_div refuses mismatched shapes and integer inputs") {
  CHECK_THROWS_WITH_AS(kl_div(zeros({2, 3}), zeros({3})), doctest::Contains("[kl_div] input [2,3] and target [3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(kl_div(zeros({2}), labels({0, 1})), doctest::Contains("[kl_div] expects a floating tensor"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(kl_div(scalar(0.0), scalar(1.0), Reduction::BatchMean),
                       doctest::Contains("[kl_div] BatchMean needs a batch axis"), ShapeError);
}

// ---------------- cosine similarity ----------------

TEST_CASE("cosine_similarity of parallel, orthogonal and opposite vectors is 1, 0, -1") {
  Tensor a = doubles({1, 2, 3, 1, 0, 0, 1, -2, 0.5}, {3, 3});
  Tensor b = doubles({2, 4, 6, 0, 5, 0, -3, 6, -1.5}, {3, 3});
  check_close(cosine_similarity(a, b), {1, 0, -1}, 1e-12);
  check_close(cosine_similarity(transpose(a, 0, 1), transpose(b, 0, 1), 0), {1, 0, -1}, 1e-12);
  check_close(cosine_similarity(doubles({3, 4}), doubles({4, 3})), {24.0 / 25.0}, 1e-12);
}

TEST_CASE("cosine_similarity broadcasts, and a zero vector gives 0 with a finite gradient") {
  Tensor rows = doubles({1, 0, 0, 1, 1, 1}, {3, 2});
  check_close(cosine_similarity(rows, doubles({1, 0})), {1, 0, std::sqrt(0.5)}, 1e-12);
  Tensor zero = doubles({0, 0, 0}).requires_grad_();
  Tensor other = doubles({1, 2, 3}).requires_grad_();
  Tensor cos = cosine_similarity(zero, other);
  CHECK(cos.item() == 0.0);
  cos.backward();
  for (double g : zero.grad().to_vector<double>()) CHECK(std::isfinite(g));
  for (double g : other.grad().to_vector<double>()) CHECK(std::isfinite(g));
}

TEST_CASE("cosine_similarity passes gradcheck in both inputs, broadcast and non-contiguous") {
  auto cos_last = [](const std::vector<Tensor>& v) { return cosine_similarity(v[0], v[1]); };
  check_gradients(cos_last, {leaf({4, 3}, 1), leaf({4, 3}, 2)});
  check_gradients(cos_last, {leaf({4, 3}, 3), leaf({3}, 4)});
  check_gradients(cos_last, {transposed_leaf({4, 3}, 5), leaf({4, 3}, 6)});
  check_gradients([](const std::vector<Tensor>& v) { return cosine_similarity(v[0], v[1], 0); },
                  {leaf({3, 2, 2}, 7), leaf({3, 1, 2}, 8)});
  CHECK_THROWS_WITH_AS(cosine_similarity(zeros({2, 3}), zeros({2, 4})), doctest::Contains("[cosine_similarity]"),
                       ShapeError);
}

TEST_CASE("cosine_similarity_matrix entry (i,j) equals cosine_similarity of row i and row j") {
  Tensor a = leaf({3, 4}, 1), b = leaf({2, 4}, 2);
  Tensor matrix = cosine_similarity_matrix(a, b);
  REQUIRE(matrix.shape() == Shape{3, 2});
  for (std::int64_t i = 0; i < 3; ++i) {
    for (std::int64_t j = 0; j < 2; ++j) {
      double pair = cosine_similarity(select(a, 0, i), select(b, 0, j)).item();
      CHECK(matrix.at({i, j}) == doctest::Approx(pair).epsilon(1e-12));
    }
  }
  check_close(cosine_similarity_matrix(doubles({1, 0, 0, 2}, {2, 2}), doubles({3, 0, 0, -1, 1, 1}, {3, 2})),
              {1, 0, std::sqrt(0.5), 0, -1, std::sqrt(0.5)}, 1e-12);
}

TEST_CASE("cosine_similarity_matrix passes gradcheck in both inputs and checks shapes") {
  check_gradients([](const std::vector<Tensor>& v) { return cosine_similarity_matrix(v[0], v[1]); },
                  {leaf({3, 4}, 3), transposed_leaf({5, 4}, 4)});
  CHECK_THROWS_WITH_AS(cosine_similarity_matrix(zeros({3, 4}), zeros({2, 5})),
                       doctest::Contains("[cosine_similarity_matrix] expects a (N,D) and b (M,D) with the same D, "
                                         "got [3,4] and [2,5]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(cosine_similarity_matrix(zeros({4}), zeros({2, 4})), doctest::Contains("got [4] and [2,4]"),
                       ShapeError);
}

// ---------------- dropout ----------------

TEST_CASE("dropout is the identity when not training or when p = 0, and zeroes everything at p = 1") {
  Generator generator(1);
  Tensor x = leaf({4, 5}, 1);
  CHECK(dropout(x, 0.5, false, generator).same(x));
  CHECK(dropout(x, 0.0, true, generator).same(x));
  check_close(dropout(x, 1.0, true, generator), std::vector<double>(20, 0.0));
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true, generator), doctest::Contains("[dropout] probability p must lie in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1, false, generator), doctest::Contains("got -0.1"), Error);
}

TEST_CASE("dropout keeps about 1-p of 10000 elements and scales them by 1/(1-p)") {
  Generator generator(42);
  const double p = 0.3;
  Tensor y = dropout(ones({10000}), p, true, generator);
  std::int64_t kept = 0;
  for (double v : y.to_vector<double>()) {
    if (v == 0.0) continue;
    ++kept;
    CHECK(v == doctest::Approx(1.0 / (1.0 - p)));
  }
  // The kept fraction has standard deviation sqrt(0.3 * 0.7 / 10000) = 0.0046; allow 4 of them.
  CHECK(std::abs(kept / 10000.0 - (1.0 - p)) < 0.02);
}

TEST_CASE("dropout draws the same mask from the same seed and a fresh one on the next call") {
  Generator first(7), second(7);
  Tensor x = ones({64}, kFloat64);
  Tensor a = dropout(x, 0.5, true, first);
  Tensor b = dropout(x, 0.5, true, second);
  CHECK(a.to_vector<double>() == b.to_vector<double>());
  Tensor c = dropout(x, 0.5, true, first);
  CHECK(a.to_vector<double>() != c.to_vector<double>());
}

TEST_CASE("dropout's gradient is its mask divided by 1-p") {
  Generator generator(3);
  Tensor x = leaf({8, 8}, 5);
  Tensor y = dropout(x, 0.25, true, generator);
  y.sum().backward();
  std::vector<double> in = x.to_vector<double>(), out = y.to_vector<double>(), grad = x.grad().to_vector<double>();
  for (std::size_t i = 0; i < in.size(); ++i) {
    double expected = out[i] == 0.0 ? 0.0 : 1.0 / 0.75;
    CHECK(grad[i] == doctest::Approx(expected));
    if (out[i] != 0.0) CHECK(out[i] == doctest::Approx(in[i] / 0.75));
  }
}
