// MobileBERT's transfer: L_PD worked by hand and gradchecked, the layer-wise sum read from the
// taps, and the three strategies: equal steps, the phases in the paper's order, frozen lower
// layers in progressive transfer, a teacher that never changes.
#include <cmath>
#include <map>

#include "distill/mobilebert_transfer.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;
using namespace moegrad::distill;

namespace {
Tensor doubles(std::vector<double> values, const Shape& shape) { return from_vector(values, shape); }

MobileBertConfig small(std::int64_t intra, std::int64_t ffn, std::int64_t stacked) {
  MobileBertConfig config;
  config.vocab_size = 13;
  config.max_positions = 8;
  config.inter_dim = 8;
  config.intra_dim = intra;
  config.heads = 2;
  config.ffn_hidden = ffn;
  config.stacked_ffns = stacked;
  config.layers = 2;
  return config;
}

MlmBatch fixed_batch() {
  MlmBatch batch;
  batch.input_ids = from_vector(std::vector<std::int64_t>{2, 4, 6, 7, 3, 2, 8, 4, 3, 0}, {2, 5});
  batch.attention_mask = from_vector(std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, {2, 5});
  batch.labels = from_vector(std::vector<std::int64_t>{-100, 9, -100, -100, -100, -100, -100, 10, -100, -100}, {2, 5});
  return batch;
}

std::map<std::string, std::vector<double>> snapshot(const nn::Module& module) {
  std::map<std::string, std::vector<double>> values;
  for (auto& [name, p] : module.named_parameters()) values[name] = p.to_vector<double>();
  return values;
}

bool same_prefix(const std::map<std::string, std::vector<double>>& a, const std::map<std::string, std::vector<double>>& b,
                 const std::string& prefix) {
  for (auto& [name, values] : a) {
    if (name.rfind(prefix, 0) == 0 && b.at(name) != values) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("mobilebert transfer: L_PD = α L_MLM + (1 − α) L_KD, worked by hand") {
  // student logits [0, ln 3] -> probs [1/4, 3/4]; label 0: L_MLM = −ln(1/4) = 1.3862944
  // teacher logits [ln 3, 0] -> [3/4, 1/4]: L_KD = −(3/4 ln 1/4 + 1/4 ln 3/4) = 1.0397208 + 0.0719205 = 1.1116413
  Tensor student = doubles({0, std::log(3.0)}, {1, 2});
  Tensor teacher = doubles({std::log(3.0), 0}, {1, 2});
  Tensor labels = from_vector(std::vector<std::int64_t>{0}, {1});
  PreTrainingDistillationLoss loss = pre_training_distillation_loss(student, teacher, labels);
  check_close(loss.mlm, {1.3862943611198906}, 1e-12);
  const double mlm = std::log(4.0), kd = 0.75 * std::log(4.0) + 0.25 * std::log(4.0 / 3.0);
  check_close(loss.kd, {kd}, 1e-12);
  check_close(loss.total, {0.5 * mlm + 0.5 * kd}, 1e-12);  // α = 0.5: 1.2489678
  // α = 0.25: 0.3465736 + 0.8337310 = 1.1803046
  check_close(pre_training_distillation_loss(student, teacher, labels, 0.25).total, {0.25 * mlm + 0.75 * kd}, 1e-12);
  CHECK_THROWS_AS(pre_training_distillation_loss(student, teacher, labels, 1.5), Error);
  CHECK_THROWS_AS(pre_training_distillation_loss(student, teacher, from_vector(std::vector<std::int64_t>{0, 1}, {2})),
                  ShapeError);
}

TEST_CASE("mobilebert transfer: L_PD passes gradcheck in float64") {
  Tensor teacher = leaf({3, 5}, 1, -2.0, 2.0).detach();
  Tensor labels = from_vector(std::vector<std::int64_t>{4, 0, 2}, {3});
  check_gradients([&](const std::vector<Tensor>& v) { return pre_training_distillation_loss(v[0], teacher, labels).total; },
                  {leaf({3, 5}, 2, -2.0, 2.0)});
}

TEST_CASE("mobilebert transfer: the layer-wise loss sums L_FMT^l + L_AT^l over the layers asked") {
  MobileBertForMaskedLM student(small(4, 8, 2)), teacher(small(16, 32, 1));
  MlmBatch batch = fixed_batch();
  nn::Taps s, t;
  student.encoder->forward(batch.input_ids, Tensor(), batch.attention_mask, &s);
  teacher.encoder->forward(batch.input_ids, Tensor(), batch.attention_mask, &t);
  auto term = [&](std::int64_t l) {
    std::string n = "layers." + std::to_string(l) + ".";
    return feature_map_transfer(s.get(n + "trunk"), t.get(n + "trunk"), batch.attention_mask).item() +
           attention_transfer(s.get(n + "attention.probs"), t.get(n + "attention.probs"), batch.attention_mask).item();
  };
  CHECK(layer_transfer_loss(s, t, 0, 2, batch.attention_mask).total.item() == doctest::Approx(term(0) + term(1)));
  CHECK(layer_transfer_loss(s, t, 1, 2, batch.attention_mask).total.item() == doctest::Approx(term(1)));
  CHECK_THROWS_AS(layer_transfer_loss(s, t, 1, 1, batch.attention_mask), Error);
  CHECK_THROWS_AS(layer_transfer_loss(s, t, 0, 3, batch.attention_mask), Error);  // no layers.2 recorded
}

TEST_CASE("mobilebert transfer: progressive stages split the layer budget, the last taking the rest") {
  TransferSchedule schedule;
  schedule.total_steps = 21;
  schedule.layer_share = 0.5;  // K = round(10.5) = 11 (half away from zero)
  CHECK(layer_phase_steps(schedule) == 11);
  CHECK(progressive_stage_steps(schedule, 3, 0) == 3);
  CHECK(progressive_stage_steps(schedule, 3, 1) == 3);
  CHECK(progressive_stage_steps(schedule, 3, 2) == 5);
}

TEST_CASE("mobilebert transfer: each strategy takes total_steps steps in its own order; the teacher never changes") {
  MlmBatch batch = fixed_batch();
  MlmBatchSource batches = [&](std::int64_t) { return batch; };
  TransferSchedule schedule;
  schedule.total_steps = 8;
  schedule.layer_share = 0.5;
  schedule.lr = 1e-2;

  Generator teacher_init(7);
  MobileBertForMaskedLM teacher(small(16, 32, 1), teacher_init);
  auto teacher_before = snapshot(teacher);

  auto run = [&](auto strategy, std::vector<TransferStep>& steps) {
    Generator init(3);
    MobileBertForMaskedLM student(small(4, 8, 2), init);
    strategy(student, teacher, batches, schedule, [&](const TransferStep& s) { steps.push_back(s); });
    CHECK(steps.size() == 8);
    for (std::size_t i = 0; i < steps.size(); ++i) CHECK(steps[i].step == static_cast<std::int64_t>(i));
    for (auto& [name, p] : student.named_parameters()) CHECK(p.requires_grad());  // all free again
  };
  std::vector<TransferStep> auxiliary, joint, progressive;
  run(train_auxiliary, auxiliary);
  run(train_joint, joint);
  run(train_progressive, progressive);
  CHECK(same_prefix(teacher_before, snapshot(teacher), ""));

  std::vector<std::string> joint_phases, progressive_phases;
  for (auto& s : joint) joint_phases.push_back(s.phase);
  for (auto& s : progressive) progressive_phases.push_back(s.phase);
  CHECK(auxiliary.front().phase == "auxiliary");
  CHECK(joint_phases == std::vector<std::string>{"layers", "layers", "layers", "layers", "pd", "pd", "pd", "pd"});
  CHECK(progressive_phases ==
        std::vector<std::string>{"layer 1", "layer 1", "layer 2", "layer 2", "pd", "pd", "pd", "pd"});
  // auxiliary trains on both at once: its loss is the sum of the two
  CHECK(auxiliary.front().loss == doctest::Approx(auxiliary.front().layer_loss + auxiliary.front().pd_loss));
  // on one repeated batch, the layer-wise losses fall within the joint phase
  CHECK(joint[3].layer_loss < joint[0].layer_loss);
}

TEST_CASE("mobilebert transfer: in progressive stage 2 the embeddings and layer 1 stay frozen") {
  MlmBatch batch = fixed_batch();
  TransferSchedule schedule;
  schedule.total_steps = 6;
  schedule.layer_share = 1.0;  // stages only: 3 steps each
  schedule.lr = 1e-2;
  MobileBertForMaskedLM teacher(small(16, 32, 1)), student(small(4, 8, 2));
  auto initial = snapshot(student);
  std::map<std::string, std::vector<double>> after_stage_1, after_stage_2;
  train_progressive(student, teacher, [&](std::int64_t) { return batch; }, schedule, [&](const TransferStep& s) {
    if (s.step == 2) after_stage_1 = snapshot(student);
    if (s.step == 5) after_stage_2 = snapshot(student);
  });
  // stage 1 moved layer 1 and the embeddings, left layer 2 and the MLM head alone
  CHECK(!same_prefix(initial, after_stage_1, "encoder.layers.0."));
  CHECK(!same_prefix(initial, after_stage_1, "encoder.token."));
  CHECK(same_prefix(initial, after_stage_1, "encoder.layers.1."));
  CHECK(same_prefix(initial, after_stage_1, "transform."));
  // stage 2 moved layer 2 only
  CHECK(same_prefix(after_stage_1, after_stage_2, "encoder.layers.0."));
  CHECK(same_prefix(after_stage_1, after_stage_2, "encoder.token."));
  CHECK(!same_prefix(after_stage_1, after_stage_2, "encoder.layers.1."));
}

TEST_CASE("mobilebert transfer: a student and teacher that do not pair up are refused") {
  MobileBertConfig other = small(16, 32, 1);
  other.layers = 3;
  MobileBertForMaskedLM student(small(4, 8, 2)), teacher(other);
  MlmBatch batch = fixed_batch();
  CHECK_THROWS_WITH_AS(train_joint(student, teacher, [&](std::int64_t) { return batch; }, TransferSchedule{}),
                       doctest::Contains("[train_joint]"), Error);
  MobileBertForMaskedLM paired(small(16, 32, 1));
  TransferSchedule bad;
  bad.layer_share = 2.0;
  CHECK_THROWS_AS(train_auxiliary(student, paired, [&](std::int64_t) { return batch; }, bad), Error);
}
