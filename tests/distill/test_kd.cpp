// Hinton et al. 2015 distillation loss: a 2-class example worked by hand, the gradient identity
// ∂CE/∂z_s = (1/T)(q_s − q_t), gradcheck, and the teacher receiving no gradient.
#include "distill/kd.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("kd: a two-class example matches the numbers worked by hand") {
  // z_s = [1, 0], z_t = [0, 2], T = 2, label 0, α = 0.5.
  // q_t = softmax([0, 1]) = [0.268941, 0.731059];  q_s = softmax([0.5, 0]) = [0.622459, 0.377541].
  // soft = −(0.268941 · log 0.622459 + 0.731059 · log 0.377541) = 0.839606
  // hard = −log softmax([1, 0])_0 = log(1 + e^−1) = 0.313262
  // total = 0.5 · 2² · 0.839606 + 0.5 · 0.313262 = 1.835843
  Tensor student = from_vector(std::vector<double>{1.0, 0.0}, {1, 2}).requires_grad_();
  Tensor teacher = from_vector(std::vector<double>{0.0, 2.0}, {1, 2});
  Tensor labels = from_vector(std::vector<std::int64_t>{0}, {1});
  distill::DistillationLoss loss = distill::distillation_loss(student, teacher, labels, 2.0, 0.5);
  check_close(loss.soft, {0.839606273495109}, 1e-12);
  check_close(loss.hard, {0.3132616875182228}, 1e-12);
  check_close(loss.total, {1.8358433907493295}, 1e-12);

  // ∂soft/∂z_s = (1/T)(q_s − q_t) = 0.5 · ([0.622459, 0.377541] − [0.268941, 0.731059]).
  loss.soft.backward();
  check_close(student.grad(), {0.17675895491592974, -0.17675895491592972}, 1e-12);
}

TEST_CASE("kd: the soft term's gradient is (1/T)(q_s - q_t) per row, averaged over rows") {
  const double temperature = 3.0;
  Tensor student = leaf({3, 5}, 1, -3.0, 3.0);
  Tensor teacher = leaf({3, 5}, 2, -3.0, 3.0);
  distill::soft_cross_entropy(student, teacher, temperature).backward();
  Tensor q_s = softmax(detach(student) / temperature, -1);
  Tensor q_t = softmax(detach(teacher) / temperature, -1);
  Tensor expected = (q_s - q_t) / (temperature * 3.0);  // 3 rows in the mean
  check_close(student.grad(), expected, 1e-12);
  // The teacher is detached: it requires grad, yet nothing reaches it.
  CHECK_FALSE(teacher.grad().defined());
}

TEST_CASE("kd: at T = 1 and equal logits the soft term is the teacher's entropy") {
  // CE(q, q) = H(q): the KL form would be 0 here; the two forms differ by this constant.
  Tensor logits = from_vector(std::vector<double>{0.0, 0.0, 0.0, 0.0}, {1, 4});
  check_close(distill::soft_cross_entropy(logits, logits, 1.0), {std::log(4.0)}, 1e-12);
}

TEST_CASE("kd: gradcheck of the whole loss in float64, logits with two row axes") {
  Tensor teacher = leaf({2, 3, 4}, 3, -2.0, 2.0);
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 3, 1, 2, -100, 1}, {2, 3});
  check_gradients(
      [&](const std::vector<Tensor>& v) { return distill::distillation_loss(v[0], teacher, labels, 2.5, 0.7).total; },
      {leaf({2, 3, 4}, 4, -2.0, 2.0)});
}

TEST_CASE("kd: bad temperature, alpha or label count is an error naming the op") {
  Tensor logits = leaf({2, 3}, 5);
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 1}, {2});
  CHECK_THROWS_WITH_AS(distill::soft_cross_entropy(logits, logits, 0.0), doctest::Contains("[soft_cross_entropy]"), Error);
  CHECK_THROWS_WITH_AS(distill::distillation_loss(logits, logits, labels, 2.0, 1.5),
                       doctest::Contains("[distillation_loss]"), Error);
  CHECK_THROWS_AS(distill::distillation_loss(logits, logits, from_vector(std::vector<std::int64_t>{0}, {1}), 2.0, 0.5),
                  ShapeError);
  CHECK_THROWS_AS(distill::soft_cross_entropy(logits, leaf({3, 2}, 6), 1.0), ShapeError);
}
