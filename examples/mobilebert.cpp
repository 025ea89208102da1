// MobileBERT (Sun et al., ACL 2020; distill/mobilebert.h, distill/mobilebert_transfer.h): a thin
// bottleneck student with stacked FFNs learns, layer by layer, from an inverted-bottleneck teacher
// whose blocks have the same input/output width. The paper's findings this example measures:
//   1. progressive knowledge transfer > joint > auxiliary (§4.6.2, Table 6), at equal total steps,
//      on the student's held-out MLM loss and on a downstream fine-tune of the student alone
//      (task-agnostic: no fine-tuned teacher), with paired 95% intervals over seeds;
//   2. the sizes: parameters and FLOPs of teacher and student, the attention:FFN parameter ratio per
//      block (0.4-0.6 best, §4.1; stacked FFNs restore it in a thin block);
//   3. inference latency on this CPU: teacher, student (NoNorm + ReLU), and the same student with
//      LayerNorm + GELU (§3.3's operational optimisations undone).
// Data: the MLM corpus of DATA.md (KJV verses + WordNet glosses and examples, SentencePiece
// unigram tokenizer); the downstream tasks of DATA.md, built from the installed packages.
//   build/examples/mobilebert            default run (README gives its time and numbers)
//   build/examples/mobilebert --quick    seconds: tiny models, few steps (CI smoke test)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "data/batching.h"
#include "data/corpus.h"
#include "data/mlm.h"
#include "data/tasks.h"
#include "data/tokenizer.h"
#include "distill/mobilebert_transfer.h"
#include "moegrad.h"
#include "nn/clip.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/metrics_log.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/stats.h"
#include "train/table.h"

using namespace moegrad;
using distill::MlmBatch;
using distill::MobileBertConfig;
using distill::MobileBertForMaskedLM;

namespace {

// ---- data: the tokenised corpus cut into windows "[CLS] w_1 .. w_{T-2} [SEP]" ----
struct MlmCorpus {
  std::shared_ptr<data::SentencePieceTokenizer> tokenizer;
  std::vector<std::vector<std::int64_t>> train, held_out;  // windows of T ids
};

MlmCorpus load_corpus(std::size_t sentences, std::int64_t vocab, std::int64_t tokens, const std::filesystem::path& dir) {
  std::vector<std::string> text = data::pretraining_corpus();
  // a fixed stride keeps both KJV and WordNet in a cut-down corpus
  std::vector<std::string> kept;
  std::size_t stride = std::max<std::size_t>(1, text.size() / std::max<std::size_t>(1, sentences));
  for (std::size_t i = 0; i < text.size() && kept.size() < sentences; i += stride) kept.push_back(text[i]);
  MlmCorpus corpus;
  data::SentencePieceOptions options;
  options.vocab_size = vocab;
  corpus.tokenizer = std::make_shared<data::SentencePieceTokenizer>(
      data::SentencePieceTokenizer::train(kept, (dir / "tokenizer.model").string(), options));
  std::vector<std::int64_t> stream;
  for (const auto& sentence : kept) {
    auto ids = corpus.tokenizer->encode(sentence);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const std::int64_t body = tokens - 2;
  for (std::size_t start = 0, w = 0; start + body <= stream.size(); start += body, ++w) {
    std::vector<std::int64_t> window = {data::kClsId};
    window.insert(window.end(), stream.begin() + start, stream.begin() + start + body);
    window.push_back(data::kSepId);
    (w % 50 == 0 ? corpus.held_out : corpus.train).push_back(std::move(window));  // 2% held out
  }
  return corpus;
}

// B windows, masked as BERT does; the generator decides which windows and which masks.
MlmBatch mlm_batch(const std::vector<std::vector<std::int64_t>>& windows, std::int64_t batch, std::int64_t vocab,
                   Generator& generator) {
  std::vector<std::vector<std::int64_t>> rows;
  for (std::int64_t b = 0; b < batch; ++b) rows.push_back(windows[data::random_index(generator, windows.size())]);
  data::PaddedBatch padded = data::pad_batch(rows);
  data::MaskedBatch masked = data::mask_tokens(padded.input_ids, padded.attention_mask, vocab, generator);
  return {masked.input_ids, Tensor(), padded.attention_mask, masked.labels};
}

// Step s of seed k always gets the same batch, whatever the strategy: a generator per step.
distill::MlmBatchSource batches_for_seed(const MlmCorpus& corpus, std::int64_t batch, std::uint64_t seed) {
  return [&corpus, batch, seed](std::int64_t step) {
    Generator generator(seed * 1000003 + static_cast<std::uint64_t>(step));
    return mlm_batch(corpus.train, batch, corpus.tokenizer->vocab_size(), generator);
  };
}

// Mean MLM cross-entropy over fixed held-out batches, eval mode.
double held_out_mlm_loss(MobileBertForMaskedLM& model, const MlmCorpus& corpus, std::int64_t batch) {
  NoGradGuard no_grad;
  model.eval();
  Generator fixed(4321);
  double total = 0.0;
  for (int i = 0; i < 4; ++i) {
    MlmBatch b = mlm_batch(corpus.held_out, batch, corpus.tokenizer->vocab_size(), fixed);
    auto out = model.forward(b.input_ids, b.segment_ids, b.attention_mask, b.labels);
    total += cross_entropy(out.logits, out.labels).item();
  }
  model.train();
  return total / 4.0;
}

// The teacher's MLM pre-training: AdamW, 10% warm-up, then cosine decay to 10% (GPT-3's shape).
void pretrain_teacher(MobileBertForMaskedLM& teacher, const MlmCorpus& corpus, std::int64_t steps, std::int64_t batch,
                      double lr, train::MetricsLog& metrics) {
  nn::AdamW optimizer(nn::weight_decay_groups(teacher, lr, 0.01));
  nn::Scheduler scheduler(optimizer, nn::warmup_cosine_decay(steps / 10, steps, 0.1));
  Generator generator(99);
  train::ProgressBar bar(steps, "teacher MLM ");
  for (std::int64_t step = 1; step <= steps; ++step) {
    MlmBatch b = mlm_batch(corpus.train, batch, corpus.tokenizer->vocab_size(), generator);
    auto out = teacher.forward(b.input_ids, b.segment_ids, b.attention_mask, b.labels);
    Tensor loss = cross_entropy(out.logits, out.labels);
    optimizer.zero_grad();
    loss.backward();
    nn::clip_grad_norm(teacher.parameters(), 1.0);
    optimizer.step();
    scheduler.step();
    metrics.write({{"run", "teacher"}, {"step", step}, {"split", "train"}, {"loss", loss.item()}});
    bar.update(step, {{"mlm", loss.item()}});
  }
  bar.finish();
}

// ---- downstream: fine-tune the student's encoder (plus a fresh classifier) on one DATA.md task ----
struct TaskData {
  std::string name;
  std::vector<std::string> labels;
  std::vector<data::BertInput> train, dev;
  std::vector<std::int64_t> train_y, dev_y;
};

TaskData encode_task(const std::string& name, const data::TaskSplits& splits, const data::Tokenizer& tokenizer,
                     std::int64_t tokens, std::size_t max_train, std::size_t max_dev) {
  TaskData task{name, {}, {}, {}, {}, {}};
  std::map<std::string, std::int64_t> label_ids;
  for (const auto& e : splits.train) label_ids.emplace(e.label, 0);
  for (auto& [label, id] : label_ids) id = static_cast<std::int64_t>(task.labels.size()), task.labels.push_back(label);
  auto add = [&](const std::vector<data::Example>& examples, std::size_t limit, std::vector<data::BertInput>& x,
                 std::vector<std::int64_t>& y) {
    std::size_t stride = std::max<std::size_t>(1, examples.size() / std::max<std::size_t>(1, limit));
    for (std::size_t i = 0; i < examples.size() && x.size() < limit; i += stride) {
      const auto& e = examples[i];
      if (!label_ids.count(e.label)) continue;
      auto a = tokenizer.encode(e.text_a);
      x.push_back(e.text_b.empty() ? data::bert_single(a, tokens) : data::bert_pair(a, tokenizer.encode(e.text_b), tokens));
      y.push_back(label_ids[e.label]);
    }
  };
  add(splits.train, max_train, task.train, task.train_y);
  add(splits.dev, max_dev, task.dev, task.dev_y);
  return task;
}

std::pair<data::BertBatch, Tensor> task_batch(const std::vector<data::BertInput>& x, const std::vector<std::int64_t>& y,
                                              const std::vector<std::int64_t>& rows) {
  std::vector<data::BertInput> inputs;
  std::vector<std::int64_t> labels;
  for (std::int64_t r : rows) inputs.push_back(x[r]), labels.push_back(y[r]);
  return {data::pad_bert_batch(inputs), from_vector(labels, {static_cast<std::int64_t>(labels.size())})};
}

// Dev accuracy after `steps` AdamW steps from the student's encoder weights.
double fine_tune_accuracy(const MobileBertForMaskedLM& student, const TaskData& task, std::int64_t steps,
                          std::int64_t batch, double lr, std::uint64_t seed, train::MetricsLog& metrics,
                          const std::string& run_name) {
  Generator generator(seed);
  distill::MobileBertForSequenceClassification model(student.encoder->config,
                                                     static_cast<std::int64_t>(task.labels.size()), generator);
  model.encoder->load_state_dict(student.encoder->state_dict());
  nn::AdamW optimizer(nn::weight_decay_groups(model, lr, 0.01));
  const auto n = static_cast<std::int64_t>(task.train.size());
  for (std::int64_t step = 0; step < steps; ++step) {
    std::vector<std::int64_t> rows;
    for (std::int64_t b = 0; b < batch; ++b) rows.push_back(data::random_index(generator, n));
    auto [inputs, labels] = task_batch(task.train, task.train_y, rows);
    Tensor loss = cross_entropy(model.forward(inputs.input_ids, inputs.segment_ids, inputs.attention_mask), labels);
    optimizer.zero_grad();
    loss.backward();
    nn::clip_grad_norm(model.parameters(), 1.0);
    optimizer.step();
    metrics.write({{"run", run_name}, {"task", task.name}, {"step", step + 1}, {"split", "finetune"},
                   {"loss", loss.item()}});
  }
  NoGradGuard no_grad;
  model.eval();
  std::int64_t correct = 0;
  for (const auto& rows : data::sequential_batches(static_cast<std::int64_t>(task.dev.size()), 64)) {
    auto [inputs, labels] = task_batch(task.dev, task.dev_y, rows);
    Tensor predicted = argmax(model.forward(inputs.input_ids, inputs.segment_ids, inputs.attention_mask), -1);
    correct += static_cast<std::int64_t>(sum(eq(predicted, labels).to(kFloat64)).item());
  }
  return static_cast<double>(correct) / static_cast<double>(task.dev.size());
}

// ---- latency: median wall time of one encoder forward (eval mode, no graph) ----
double median_forward_ms(distill::MobileBertEncoder& encoder, const Tensor& ids, int repeats) {
  NoGradGuard no_grad;
  encoder.eval();
  std::vector<double> times;
  for (int r = 0; r < repeats + 2; ++r) {
    auto start = std::chrono::steady_clock::now();
    encoder.forward(ids);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r >= 2) times.push_back(ms);  // two warm-up runs
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The layer-wise transfer loss (Σ_l L_FMT^l + L_AT^l over the phase's layers) at the first and the
// last step of one phase that trains on it.
struct LayerPhase {
  double first = NAN, last = NAN;
};

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  double m = mean_of(v), s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}
std::string mean_sd(const std::vector<double>& v, int digits = 3) {
  return fmt::format("{:.{}f} ± {:.{}f}", mean_of(v), digits, sd_of(v), digits);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"MobileBERT: bottleneck student, inverted-bottleneck teacher, progressive vs joint vs auxiliary transfer"};
  train::ExampleFlags flags;
  std::int64_t inter = 64, student_intra = 16, student_ffn = 64, stacked = 4, teacher_intra = 128, teacher_ffn = 256;
  std::int64_t layers = 4, heads = 4, tokens = 32, batch = 32, vocab = 4000, sentences = 30000;
  std::int64_t teacher_steps = 600, distill_steps = 240, seeds = 3, evaluations = 6;
  std::int64_t finetune_steps = 150, finetune_batch = 32, max_train = 3000, max_dev = 500, latency_repeats = 20;
  double teacher_lr = 1e-3, lr = 1e-3, finetune_lr = 1e-3, layer_share = 0.5, alpha = 0.5;
  std::vector<std::string> tasks = {"wn-pos", "fortune-topic"};
  train::add_example_flags(app, flags);
  app.add_option("--inter-dim", inter, "block input/output width, shared by teacher and student (paper 512)");
  app.add_option("--student-intra", student_intra, "student's bottleneck width (paper 128)");
  app.add_option("--student-ffn", student_ffn, "hidden width of each stacked FFN (paper 512)");
  app.add_option("--stacked-ffns", stacked, "student's stacked FFNs per block (paper 4)");
  app.add_option("--teacher-intra", teacher_intra, "teacher's inverted-bottleneck width (paper 1024)");
  app.add_option("--teacher-ffn", teacher_ffn, "teacher's FFN width (paper 4096)");
  app.add_option("--layers", layers, "blocks in both models (paper 24)")->check(CLI::PositiveNumber);
  app.add_option("--heads", heads, "attention heads in both (paper 4)");
  app.add_option("--tokens", tokens, "tokens per window (paper 128 in fine-tuning, 512 in pre-training)");
  app.add_option("--batch-size", batch, "MLM windows per step");
  app.add_option("--vocab", vocab, "SentencePiece vocabulary (DATA.md's 8000 cut to 4000 for a small model)");
  app.add_option("--sentences", sentences, "pre-training sentences used (evenly spread over KJV + WordNet)");
  app.add_option("--teacher-steps", teacher_steps, "teacher MLM pre-training steps");
  app.add_option("--distill-steps", distill_steps, "total student steps per strategy (equal for all three)");
  app.add_option("--layer-share", layer_share, "joint/progressive: share of steps on layer-wise losses");
  app.add_option("--alpha", alpha, "L_PD = alpha MLM + (1 - alpha) KD (paper 0.5)");
  app.add_option("--seeds", seeds, "student seeds (same batches and init for the three strategies)");
  app.add_option("--lr", lr, "student AdamW learning rate");
  app.add_option("--evaluations", evaluations, "held-out MLM evaluations per student run");
  app.add_option("--teacher-lr", teacher_lr, "teacher AdamW learning rate");
  app.add_option("--tasks", tasks, "DATA.md tasks to fine-tune the student on");
  app.add_option("--finetune-steps", finetune_steps, "fine-tuning steps per task");
  app.add_option("--finetune-lr", finetune_lr, "fine-tuning AdamW learning rate");
  app.add_option("--max-train", max_train, "training examples per task (evenly spread)");
  app.add_option("--max-dev", max_dev, "dev examples per task (evenly spread)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    inter = 32, student_intra = 8, student_ffn = 32, teacher_intra = 64, teacher_ffn = 128, layers = 2, heads = 2;
    tokens = 24, batch = 8, vocab = 400, sentences = 3000, teacher_steps = 30, distill_steps = 12, seeds = 2;
    evaluations = 2, finetune_steps = 5, max_train = 200, max_dev = 100, latency_repeats = 3, tasks = {"wn-pos"};
  }
  train::RunDir run = train::RunDir::create(flags.out, "mobilebert");
  train::MetricsLog metrics(run.metrics_path());
  auto started = std::chrono::steady_clock::now();

  // ---- data ----
  MlmCorpus corpus = load_corpus(static_cast<std::size_t>(sentences), vocab, tokens, run.path());
  fmt::print("MLM corpus: {} sentences, SentencePiece vocabulary {}, {} training / {} held-out windows of {} tokens\n",
             sentences, corpus.tokenizer->vocab_size(), corpus.train.size(), corpus.held_out.size(), tokens);
  std::vector<data::Synset> synsets = data::wordnet_synsets();
  std::vector<TaskData> task_data;
  for (const auto& name : tasks) {
    data::TaskSplits splits = name == "fortune-topic" ? data::build_fortune_topic()
                              : name == "wn-lexname"  ? data::build_wn_lexname(synsets)
                              : name == "wn-match"    ? data::build_wn_match(synsets)
                                                      : data::build_wn_pos(synsets);
    task_data.push_back(encode_task(name, splits, *corpus.tokenizer, tokens, max_train, max_dev));
    fmt::print("task {}: {} classes, {} train / {} dev examples used\n", name, task_data.back().labels.size(),
               task_data.back().train.size(), task_data.back().dev.size());
  }

  // ---- models: same inter width, heads and depth; the student thin inside with stacked FFNs ----
  MobileBertConfig student_config;
  student_config.vocab_size = corpus.tokenizer->vocab_size();
  student_config.max_positions = tokens;
  student_config.inter_dim = inter, student_config.intra_dim = student_intra, student_config.heads = heads;
  student_config.ffn_hidden = student_ffn, student_config.stacked_ffns = stacked, student_config.layers = layers;
  MobileBertConfig teacher_config = student_config;
  teacher_config.intra_dim = teacher_intra, teacher_config.ffn_hidden = teacher_ffn, teacher_config.stacked_ffns = 1;
  teacher_config.norm = distill::BlockNorm::LayerNorm, teacher_config.activation = distill::BlockActivation::GELU;
  MobileBertConfig slow_student = student_config;  // §3.3's optimisations undone
  slow_student.norm = distill::BlockNorm::LayerNorm, slow_student.activation = distill::BlockActivation::GELU;

  Generator teacher_init(flags.seed + 777);
  MobileBertForMaskedLM teacher(teacher_config, teacher_init);
  double teacher_loss_before = held_out_mlm_loss(teacher, corpus, batch);
  pretrain_teacher(teacher, corpus, teacher_steps, batch, teacher_lr, metrics);
  double teacher_loss = held_out_mlm_loss(teacher, corpus, batch);
  teacher.eval();  // the teacher is a fixed target from here on
  fmt::print("teacher held-out MLM loss after {} steps: {:.3f}\n\n", teacher_steps, teacher_loss);

  // ---- the three strategies, same seeds, same batches, same total steps ----
  using Strategy = void (*)(MobileBertForMaskedLM&, MobileBertForMaskedLM&, const distill::MlmBatchSource&,
                            const distill::TransferSchedule&, const distill::TransferCallback&);
  const std::vector<std::pair<std::string, Strategy>> strategies = {
      {"progressive", distill::train_progressive}, {"joint", distill::train_joint}, {"auxiliary", distill::train_auxiliary}};
  distill::TransferSchedule schedule;
  schedule.total_steps = distill_steps, schedule.layer_share = layer_share, schedule.alpha = alpha, schedule.lr = lr;
  const std::int64_t eval_every = std::max<std::int64_t>(1, distill_steps / evaluations);

  struct Outcome {
    std::vector<double> mlm_loss;                      // per seed
    std::map<std::string, std::vector<double>> accuracy;  // task -> per seed
    std::vector<std::vector<double>> curves;           // per seed, held-out MLM loss at eval_steps
    std::vector<double> mlm_loss_before;               // per seed, held-out MLM loss of the fresh student
    std::vector<LayerPhase> layer_phases;              // every seed's phases on the layer-wise losses
  };
  std::map<std::string, Outcome> outcomes;
  std::vector<double> eval_steps;
  for (std::int64_t s = 0; s < seeds; ++s) {
    const std::uint64_t seed = flags.seed + static_cast<std::uint64_t>(s);
    distill::MlmBatchSource batches = batches_for_seed(corpus, batch, seed);
    for (const auto& [name, strategy] : strategies) {
      Generator init(seed + 1);
      MobileBertForMaskedLM student(student_config, init);
      std::vector<double> curve, steps_seen;
      Outcome& outcome = outcomes[name];
      outcome.mlm_loss_before.push_back(held_out_mlm_loss(student, corpus, batch));
      std::map<std::string, LayerPhase> phases;  // by phase name: "auxiliary", "layers", "layer 1", ...
      train::ProgressBar bar(distill_steps, fmt::format("{:<11} s{}", name, seed));
      strategy(student, teacher, batches, schedule, [&](const distill::TransferStep& step) {
        metrics.write({{"run", fmt::format("{} s{}", name, seed)}, {"step", step.step + 1}, {"split", "train"},
                       {"phase", step.phase}, {"loss", step.loss}, {"layer_loss", step.layer_loss},
                       {"pd_loss", step.pd_loss}});
        if (std::isfinite(step.layer_loss)) {
          auto [phase, fresh] = phases.try_emplace(step.phase, LayerPhase{step.layer_loss, step.layer_loss});
          phase->second.last = step.layer_loss;
        }
        if ((step.step + 1) % eval_every == 0 || step.step + 1 == distill_steps) {
          curve.push_back(held_out_mlm_loss(student, corpus, batch));
          steps_seen.push_back(static_cast<double>(step.step + 1));
          metrics.write({{"run", fmt::format("{} s{}", name, seed)}, {"step", step.step + 1}, {"split", "eval"},
                         {"loss", curve.back()}});
        }
        bar.update(step.step + 1, {{"loss", step.loss}});
      });
      bar.finish();
      for (const auto& [phase, losses] : phases) outcome.layer_phases.push_back(losses);
      outcome.mlm_loss.push_back(curve.back());
      outcome.curves.push_back(curve);
      eval_steps = steps_seen;
      for (const TaskData& task : task_data) {
        double accuracy = fine_tune_accuracy(student, task, finetune_steps, finetune_batch, finetune_lr, seed + 17,
                                             metrics, fmt::format("{} s{}", name, seed));
        outcome.accuracy[task.name].push_back(accuracy);
        metrics.write({{"run", fmt::format("{} s{}", name, seed)}, {"task", task.name}, {"split", "dev"},
                       {"accuracy", accuracy}});
      }
      fmt::print("  {} seed {}: held-out MLM {:.3f}{}\n", name, seed, curve.back(),
                 [&] {
                   std::string t;
                   for (const auto& task : task_data) t += fmt::format(", {} {:.1f}%", task.name, 100 * outcome.accuracy[task.name].back());
                   return t;
                 }());
    }
  }

  // ---- the paper's ordering, as paired differences over seeds ----
  // The MLM metric is the negated loss, so "A beats B" is a positive difference for every metric.
  // train::compare shows the claim "A beats B" only when the interval lies above 0 (below 0 it is B
  // that beats A, which the table also shows).
  std::vector<train::Comparison> comparisons;
  auto claim = [&](const std::string& text, const std::string& a, const std::string& b, const std::string& metric,
                   const std::vector<double>& a_values, const std::vector<double>& b_values) {
    comparisons.push_back(train::compare(text, a, b, metric, a_values, b_values));
  };
  auto negated = [](std::vector<double> v) {
    for (double& x : v) x = -x;
    return v;
  };
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"progressive", "joint"}, {"joint", "auxiliary"}, {"progressive", "auxiliary"}};
  for (const auto& [a, b] : pairs) {
    claim(a + " beats " + b, a, b, "-(held-out MLM loss), nats", negated(outcomes[a].mlm_loss),
          negated(outcomes[b].mlm_loss));
    for (const TaskData& task : task_data) {
      claim(a + " beats " + b + " downstream", a, b, task.name + " dev accuracy", outcomes[a].accuracy[task.name],
            outcomes[b].accuracy[task.name]);
    }
  }

  // ---- sizes: this run's models and the paper's, by the formulas of distill/mobilebert.h ----
  MobileBertConfig single_ffn = student_config;
  single_ffn.stacked_ffns = 1;
  MobileBertConfig paper_single = MobileBertConfig::paper_student();
  paper_single.stacked_ffns = 1;
  train::Table sizes({"model", "encoder params", "block attention", "block FFNs", "attention:FFN", "GFLOPs / sequence"});
  auto size_row = [&](const std::string& name, const MobileBertConfig& c, std::int64_t t) {
    auto counts = distill::block_parameter_counts(c);
    sizes.add_row({name, fmt::format("{}", distill::encoder_parameter_count(c)), fmt::format("{}", counts.attention),
                   fmt::format("{}", counts.ffn), fmt::format("{:.2f}", counts.attention_to_ffn()),
                   fmt::format("{:.4f}", distill::encoder_forward_flops(c, t) / 1e9)});
  };
  size_row("teacher (this run)", teacher_config, tokens);
  size_row("student (this run)", student_config, tokens);
  size_row("student, 1 FFN (contrast)", single_ffn, tokens);
  size_row("IB-BERT teacher (paper sizes, T=128)", MobileBertConfig::paper_teacher(), 128);
  size_row("MobileBERT (paper sizes, T=128)", MobileBertConfig::paper_student(), 128);
  size_row("MobileBERT, 1 FFN (paper sizes)", paper_single, 128);

  // ---- latency on this CPU: batch 1, one window, median of repeats ----
  Tensor one_window = from_vector(corpus.held_out.front(), {1, tokens});
  distill::MobileBertEncoder slow(slow_student, teacher_init);
  Generator student_init(flags.seed + 1);
  MobileBertForMaskedLM fresh_student(student_config, student_init);
  double teacher_ms = median_forward_ms(*teacher.encoder, one_window, static_cast<int>(latency_repeats));
  double student_ms = median_forward_ms(*fresh_student.encoder, one_window, static_cast<int>(latency_repeats));
  double slow_ms = median_forward_ms(slow, one_window, static_cast<int>(latency_repeats));
  train::Table latency({"encoder forward, batch 1", "median ms", "vs student"});
  latency.add_row({"teacher (LayerNorm, GELU)", fmt::format("{:.2f}", teacher_ms), fmt::format("{:.2f}x", teacher_ms / student_ms)});
  latency.add_row({"student (NoNorm, ReLU)", fmt::format("{:.2f}", student_ms), "1.00x"});
  latency.add_row({"student (LayerNorm, GELU)", fmt::format("{:.2f}", slow_ms), fmt::format("{:.2f}x", slow_ms / student_ms)});

  // ---- tables ----
  std::vector<std::string> columns = {"strategy", "held-out MLM loss"};
  for (const auto& task : task_data) columns.push_back(task.name + " dev acc (%)");
  train::Table results(columns);
  for (const auto& [name, strategy] : strategies) {
    std::vector<std::string> row = {name, mean_sd(outcomes[name].mlm_loss)};
    for (const auto& task : task_data) {
      std::vector<double> percent = outcomes[name].accuracy[task.name];
      for (double& p : percent) p *= 100.0;
      row.push_back(mean_sd(percent, 1));
    }
    results.add_row(row);
  }
  fmt::print("\n{} seeds, {} steps each (layer-wise share {}), teacher held-out MLM {:.3f}; mean ± sd over seeds\n",
             seeds, distill_steps, layer_share, teacher_loss);
  results.print(std::cout);
  fmt::print("\nPaired differences (95% interval; shown iff it excludes 0):\n");
  train::Table paired({"claim", "metric", "difference", "95% interval", "shown"});
  for (const auto& c : comparisons) {
    paired.add_row({c.claim, c.metric, fmt::format("{:+.4f}", c.difference),
                    fmt::format("[{:+.4f}, {:+.4f}]", c.ci95_low, c.ci95_high),
                    c.shown ? "yes" : (c.ci95_high < 0.0 ? "no (the reverse is)" : "no")});
  }
  paired.print(std::cout);
  fmt::print("\nSizes (attention = Q/K bottleneck + W_q, W_k, W_v, W_o; FFNs = the stacked FFNs with their norms):\n");
  sizes.print(std::cout);
  fmt::print("\nLatency on this CPU ({} tokens):\n", tokens);
  latency.print(std::cout);

  // ---- plots: held-out MLM loss, mean and mean ± sd over seeds ----
  std::vector<train::Series> curves;
  for (const auto& [name, strategy] : strategies) {
    std::vector<double> mean(eval_steps.size()), low(eval_steps.size()), high(eval_steps.size());
    for (std::size_t i = 0; i < eval_steps.size(); ++i) {
      std::vector<double> at;
      for (const auto& c : outcomes[name].curves) at.push_back(c[i]);
      mean[i] = mean_of(at), low[i] = mean[i] - sd_of(at), high[i] = mean[i] + sd_of(at);
    }
    curves.push_back({name + " (mean)", eval_steps, mean});
    curves.push_back({name + " - sd", eval_steps, low});
    curves.push_back({name + " + sd", eval_steps, high});
  }
  train::line_plot(run.plot_path("held_out_mlm"), "student held-out MLM loss (mean, ± sd over seeds)", "step",
                   "cross-entropy (nats)", curves);
  std::vector<std::string> bar_labels;
  std::vector<double> bar_values;
  for (const auto& [name, strategy] : strategies) {
    bar_labels.push_back(name + " -sd"), bar_values.push_back(mean_of(outcomes[name].mlm_loss) - sd_of(outcomes[name].mlm_loss));
    bar_labels.push_back(name), bar_values.push_back(mean_of(outcomes[name].mlm_loss));
    bar_labels.push_back(name + " +sd"), bar_values.push_back(mean_of(outcomes[name].mlm_loss) + sd_of(outcomes[name].mlm_loss));
  }
  train::bar_plot(run.plot_path("final_mlm"), "final held-out MLM loss (mean and ± sd)", bar_labels, bar_values, "nats");

  // ---- verdict: the ordering counts as shown when both steps of it are shown on the MLM metric ----
  bool ordering_shown = comparisons[0].shown && comparisons[1 + task_data.size()].shown;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string verdict = fmt::format(
      "held-out MLM loss progressive {} / joint {} / auxiliary {} ({} seeds); progressive beats joint: {}, joint beats "
      "auxiliary: {}. The paper's ordering progressive > joint > auxiliary is {}.",
      mean_sd(outcomes["progressive"].mlm_loss), mean_sd(outcomes["joint"].mlm_loss),
      mean_sd(outcomes["auxiliary"].mlm_loss), seeds, comparisons[0].shown ? "shown" : "not shown at this scale",
      comparisons[1 + task_data.size()].shown ? "shown" : "not shown at this scale",
      ordering_shown ? "shown" : "not shown at this scale");
  nlohmann::ordered_json comparison_json = nlohmann::ordered_json::array();
  for (const auto& c : comparisons) comparison_json.push_back(train::to_json(c));
  run.write_summary({{"example", "mobilebert"},
                     {"seeds", seeds},
                     {"distill_steps", distill_steps},
                     {"teacher_steps", teacher_steps},
                     {"teacher_held_out_mlm", teacher_loss},
                     {"results", results.to_json()},
                     {"sizes", sizes.to_json()},
                     {"latency", latency.to_json()},
                     {"comparisons", comparison_json},
                     {"verdict", verdict},
                     {"seconds", seconds},
                     {"effect_shown", ordering_shown}});
  fmt::print("\n{}\n{:.0f} s. Outputs in {}\n", verdict, seconds, run.path().string());
  // The tour's smoke check is the mechanism, which a few steps already show: the student is smaller
  // than its teacher, each phase that trains on the layer-wise losses (feature maps + attention)
  // lowers them, and every model's held-out MLM loss falls below its value before training. Which
  // strategy transfers best needs the default run.
  const std::int64_t teacher_params = distill::encoder_parameter_count(teacher_config),
                     student_params = distill::encoder_parameter_count(student_config);
  std::size_t phases = 0, phases_fell = 0;
  bool every_mlm_fell = teacher_loss < teacher_loss_before;
  std::string transfer_text, mlm_text;
  for (const auto& [name, strategy] : strategies) {
    const Outcome& outcome = outcomes[name];
    std::vector<double> first, last;
    for (const LayerPhase& phase : outcome.layer_phases) {
      first.push_back(phase.first), last.push_back(phase.last);
      ++phases, phases_fell += phase.last < phase.first;
    }
    for (std::size_t s = 0; s < outcome.mlm_loss.size(); ++s) {
      every_mlm_fell = every_mlm_fell && outcome.mlm_loss[s] < outcome.mlm_loss_before[s];
    }
    transfer_text += fmt::format("{}{} {:.3f} -> {:.3f}", transfer_text.empty() ? "" : ", ", name, mean_of(first),
                                 mean_of(last));
    mlm_text += fmt::format(", {} {:.2f} -> {:.2f}", name, mean_of(outcome.mlm_loss_before), mean_of(outcome.mlm_loss));
  }
  bool mechanism_check = student_params < teacher_params && phases > 0 && phases_fell == phases && every_mlm_fell;
  fmt::print("tour: mobilebert | student {:.2f}x fewer parameters than the teacher ({} vs {}); the layer-wise "
             "transfer loss fell in {}/{} phases (mean per phase: {}); every held-out MLM loss fell: teacher {:.2f} "
             "-> {:.2f}{} | {}\n",
             static_cast<double>(teacher_params) / static_cast<double>(student_params), student_params,
             teacher_params, phases_fell, phases, transfer_text, teacher_loss_before, teacher_loss, mlm_text,
             mechanism_check ? "yes" : "no");
  return 0;
}
