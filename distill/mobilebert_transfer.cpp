// MobileBERT's three transfer strategies (see mobilebert_transfer.h for the equations).
#include "distill/mobilebert_transfer.h"

#include <fmt/format.h>

#include <cmath>

#include "distill/kd.h"
#include "nn/clip.h"
#include "nn/optim.h"
#include "tensor/errors.h"
#include "tensor/graph.h"

namespace moegrad::distill {
namespace {

std::string layer_name(std::int64_t l) { return "layers." + std::to_string(l) + "."; }

// Only what the losses read, so the records hold no other activations.
nn::Taps transfer_taps() { return nn::Taps({"layers.*.trunk", "layers.*.attention.probs"}); }

void check_pair(const MobileBertForMaskedLM& student, const MobileBertForMaskedLM& teacher,
                const TransferSchedule& schedule, const char* op) {
  const MobileBertConfig &s = student.encoder->config, &t = teacher.encoder->config;
  if (s.layers != t.layers || s.inter_dim != t.inter_dim || s.heads != t.heads || s.vocab_size != t.vocab_size) {
    throw Error(fmt::format("[{}] student and teacher must share layers, inter width, heads and vocabulary (layer l "
                            "learns from layer l): student {} layers, width {}, {} heads, V {}; teacher {}, {}, {}, {}",
                            op, s.layers, s.inter_dim, s.heads, s.vocab_size, t.layers, t.inter_dim, t.heads,
                            t.vocab_size));
  }
  if (s.layers < 1) throw Error(fmt::format("[{}] need at least one layer", op));
  if (schedule.total_steps < 1 || !(schedule.layer_share >= 0.0 && schedule.layer_share <= 1.0) ||
      !(schedule.alpha >= 0.0 && schedule.alpha <= 1.0)) {
    throw Error(fmt::format("[{}] need total_steps >= 1, layer_share and alpha in [0, 1]; got {}, {}, {}", op,
                            schedule.total_steps, schedule.layer_share, schedule.alpha));
  }
}

nn::AdamW fresh_optimizer(MobileBertForMaskedLM& student, const TransferSchedule& schedule) {
  return nn::AdamW(nn::weight_decay_groups(student, schedule.lr, schedule.weight_decay));
}

// backward, clip, update; the optimizer skips frozen parameters.
void optimise(nn::Optimizer& optimizer, MobileBertForMaskedLM& student, const Tensor& loss, double clip) {
  optimizer.zero_grad();
  loss.backward();
  if (clip > 0.0) nn::clip_grad_norm(student.parameters(), clip);
  optimizer.step();
}

// The teacher's taps (first `layers` layers) and, when asked, its logits at the masked positions.
struct TeacherView {
  nn::Taps taps = transfer_taps();
  Tensor logits;
};
TeacherView run_teacher(MobileBertForMaskedLM& teacher, const MlmBatch& batch, bool logits, std::int64_t layers) {
  NoGradGuard no_grad;
  TeacherView view;
  if (logits) {
    view.logits = teacher.forward(batch.input_ids, batch.segment_ids, batch.attention_mask, batch.labels, &view.taps).logits;
  } else {
    teacher.encoder->forward(batch.input_ids, batch.segment_ids, batch.attention_mask, &view.taps, layers);
  }
  return view;
}

// Steps [from, to) on the layer-wise losses of layers [first, last); the student runs only up to
// `last` (layers above it are not in the loss).
void layer_phase(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                 const TransferSchedule& schedule, std::int64_t from, std::int64_t to, std::int64_t first,
                 std::int64_t last, const std::string& phase, const TransferCallback& after_step) {
  nn::AdamW optimizer = fresh_optimizer(student, schedule);
  for (std::int64_t step = from; step < to; ++step) {
    MlmBatch batch = batches(step);
    TeacherView teacher_view = run_teacher(teacher, batch, false, last);
    nn::Taps taps = transfer_taps();
    student.encoder->forward(batch.input_ids, batch.segment_ids, batch.attention_mask, &taps, last);
    LayerTransferLoss loss =
        layer_transfer_loss(taps, teacher_view.taps, first, last, batch.attention_mask, schedule.moment_weights);
    optimise(optimizer, student, loss.total, schedule.clip);
    double value = loss.total.item();
    if (after_step) after_step({step, phase, value, value, NAN});
  }
}

// Steps [from, to) on L_PD, with every layer free.
void pre_training_distillation_phase(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher,
                                     const MlmBatchSource& batches, const TransferSchedule& schedule, std::int64_t from,
                                     std::int64_t to, const TransferCallback& after_step) {
  nn::AdamW optimizer = fresh_optimizer(student, schedule);
  for (std::int64_t step = from; step < to; ++step) {
    MlmBatch batch = batches(step);
    TeacherView teacher_view = run_teacher(teacher, batch, true, -1);
    auto out = student.forward(batch.input_ids, batch.segment_ids, batch.attention_mask, batch.labels);
    PreTrainingDistillationLoss loss =
        pre_training_distillation_loss(out.logits, teacher_view.logits, out.labels, schedule.alpha);
    optimise(optimizer, student, loss.total, schedule.clip);
    double value = loss.total.item();
    if (after_step) after_step({step, "pd", value, NAN, value});
  }
}

}  // namespace

LayerTransferLoss layer_transfer_loss(const nn::Taps& student, const nn::Taps& teacher, std::int64_t first,
                                      std::int64_t last, const Tensor& token_mask, FeatureMomentWeights moment_weights) {
  if (first < 0 || last <= first) {
    throw Error(fmt::format("[layer_transfer_loss] need 0 <= first < last, got [{}, {})", first, last));
  }
  LayerTransferLoss loss;
  for (std::int64_t l = first; l < last; ++l) {
    const std::string name = layer_name(l);
    Tensor fmt_l = feature_map_transfer(student.get(name + "trunk"), teacher.get(name + "trunk"), token_mask,
                                        moment_weights);
    Tensor at_l = attention_transfer(student.get(name + "attention.probs"), teacher.get(name + "attention.probs"),
                                     token_mask);
    loss.feature_map = loss.feature_map.defined() ? loss.feature_map + fmt_l : fmt_l;
    loss.attention = loss.attention.defined() ? loss.attention + at_l : at_l;
  }
  loss.total = loss.feature_map + loss.attention;
  return loss;
}

PreTrainingDistillationLoss pre_training_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                                                           const Tensor& labels, double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    throw Error(fmt::format("[pre_training_distillation_loss] alpha must be in [0, 1], got {}", alpha));
  }
  if (student_logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != student_logits.size(0)) {
    throw ShapeError(fmt::format("[pre_training_distillation_loss] logits must be (P,V) and labels (P), got {} and {}",
                                 shape_str(student_logits.shape()), shape_str(labels.shape())));
  }
  PreTrainingDistillationLoss loss;
  loss.mlm = cross_entropy(student_logits, labels);
  loss.kd = soft_cross_entropy(student_logits, teacher_logits, 1.0);  // teacher detached inside
  loss.total = loss.mlm * alpha + loss.kd * (1.0 - alpha);
  return loss;
}

std::int64_t layer_phase_steps(const TransferSchedule& schedule) {
  return static_cast<std::int64_t>(std::llround(schedule.layer_share * static_cast<double>(schedule.total_steps)));
}

std::int64_t progressive_stage_steps(const TransferSchedule& schedule, std::int64_t layers, std::int64_t stage) {
  const std::int64_t budget = layer_phase_steps(schedule), each = budget / layers;
  return stage + 1 < layers ? each : budget - each * (layers - 1);
}

void train_auxiliary(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                     const TransferSchedule& schedule, const TransferCallback& after_step) {
  check_pair(student, teacher, schedule, "train_auxiliary");
  const std::int64_t layers = student.encoder->config.layers;
  nn::AdamW optimizer = fresh_optimizer(student, schedule);
  for (std::int64_t step = 0; step < schedule.total_steps; ++step) {
    // one forward of each model gives both the taps and the MLM logits
    MlmBatch batch = batches(step);
    TeacherView teacher_view = run_teacher(teacher, batch, true, -1);
    nn::Taps taps = transfer_taps();
    auto out = student.forward(batch.input_ids, batch.segment_ids, batch.attention_mask, batch.labels, &taps);
    LayerTransferLoss layer_loss =
        layer_transfer_loss(taps, teacher_view.taps, 0, layers, batch.attention_mask, schedule.moment_weights);
    PreTrainingDistillationLoss pd =
        pre_training_distillation_loss(out.logits, teacher_view.logits, out.labels, schedule.alpha);
    Tensor total = pd.total + layer_loss.total;
    optimise(optimizer, student, total, schedule.clip);
    if (after_step) after_step({step, "auxiliary", total.item(), layer_loss.total.item(), pd.total.item()});
  }
}

void train_joint(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                 const TransferSchedule& schedule, const TransferCallback& after_step) {
  check_pair(student, teacher, schedule, "train_joint");
  const std::int64_t layers = student.encoder->config.layers, K = layer_phase_steps(schedule);
  // all layer-wise losses together first, then pre-training distillation
  layer_phase(student, teacher, batches, schedule, 0, K, 0, layers, "layers", after_step);
  pre_training_distillation_phase(student, teacher, batches, schedule, K, schedule.total_steps, after_step);
}

void train_progressive(MobileBertForMaskedLM& student, MobileBertForMaskedLM& teacher, const MlmBatchSource& batches,
                       const TransferSchedule& schedule, const TransferCallback& after_step) {
  check_pair(student, teacher, schedule, "train_progressive");
  const std::int64_t layers = student.encoder->config.layers;
  std::int64_t step = 0;
  for (std::int64_t l = 0; l < layers; ++l) {
    // stage l: only layer l learns (and the embeddings in stage 0); everything below stays as trained
    student.freeze("*");
    student.unfreeze("encoder.layers." + std::to_string(l) + ".*");
    if (l == 0) {
      for (const char* part : {"encoder.token.*", "encoder.position.*", "encoder.segment.*", "encoder.embedding_norm.*"}) {
        student.unfreeze(part);
      }
    }
    const std::int64_t stage_steps = progressive_stage_steps(schedule, layers, l);
    layer_phase(student, teacher, batches, schedule, step, step + stage_steps, l, l + 1,
                fmt::format("layer {}", l + 1), after_step);
    step += stage_steps;
  }
  student.unfreeze("*");
  pre_training_distillation_phase(student, teacher, batches, schedule, step, schedule.total_steps, after_step);
}

}  // namespace moegrad::distill
