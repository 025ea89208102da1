// Transfer Capability Distillation (Lu, Zhao, Qin, arXiv 2403.01994; PAPERS.md §10; distill/tcd.h):
// a vanilla BERT teaches an MoE BERT to transfer. The claim: an MoE BERT pre-trains better than a
// vanilla BERT of the same width and depth but fine-tunes worse; an MoE student pre-trained with MLM
// plus relation-alignment losses against the frozen vanilla teacher gets both.
//   1. tokenizer + MLM corpus (examples/bert_pipeline.h); a vanilla BERT teacher pre-trained with MLM;
//   2. an MoE BERT baseline (Switch top-1 in every layer, + balance loss) pre-trained with MLM;
//   3. the same MoE BERT pre-trained with MLM + β(L_T + L_I + L_A) from the frozen teacher;
//   4. alignments: (a) baseline and student at equal MLM validation loss (checkpoints), (b) equal
//      total pre-training steps (the baseline gets teacher + student steps);
//   5. fine-tune every model on the DATA.md tasks (and --tasks TSVs), several seeds, paired
//      differences with 95% intervals; the T/I/A ablation; the downstream score over the
//      pre-training checkpoints; MLM validation loss against average downstream score.
// Every stage leaves a checkpoint and a stages/<name>.json; a rerun with the same --out skips them.
//   build/examples/tcd --quick     seconds (CI, the tour)
//   build/examples/tcd             the default size (README says what it takes)
//   build/examples/tcd --full      the larger run for a GPU or a long night
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>

#include "distill/tcd.h"
#include "examples/bert_pipeline.h"
#include "moe/config_json.h"
#include "nn/checkpoint.h"
#include "train/plot.h"
#include "train/run_dir.h"

using namespace moegrad;
namespace bp = moegrad::examples::bert;
using nlohmann::json;

namespace {

// The default: what fits about an hour on two quiet cores (README gives the measured times).
struct Sizes {
  std::int64_t vocab = 1000, max_len = 32;
  std::int64_t dim = 64, layers = 2, experts = 16, batch = 32;
  std::int64_t teacher_steps = 1500, student_steps = 1500, ablation_steps = 500, checkpoints = 4;
  std::int64_t seeds = 3, epochs = 3, max_train = 1500, max_eval = 500;
  double lr = 1e-3, finetune_lr = 1e-3, capacity_factor = 0.0;
  bool ablation = true;
};

// One pre-trained model: the architecture (vanilla when moe is false) and where its weights are.
struct ModelSpec {
  bool moe = false;
  moe::MoETransformerConfig config;  // architecture is set per use
};

struct Built {
  std::shared_ptr<nn::Module> module;
  std::shared_ptr<nn::BertForMaskedLM> mlm;
  bp::Forward forward;
};

// Vanilla BERT and MoE BERT share BertForMaskedLM; build_model swaps the FFNs for MoE layers.
Built build_mlm(const ModelSpec& spec, Generator& generator) {
  moe::MoETransformerConfig config = spec.config;
  config.architecture = "bert_masked_lm";
  Built built;
  if (spec.moe) {
    built.mlm = moe::build_model(config, generator).bert_masked_lm;
  } else {
    built.mlm = std::make_shared<nn::BertForMaskedLM>(config.bert, generator);
  }
  built.module = built.mlm;
  built.forward = bp::forward_of(*built.mlm);
  return built;
}

bp::ClassifierFactory classifier_factory(const ModelSpec& spec) {
  if (!spec.moe) return bp::bert_classifier_factory(spec.config.bert);
  return [spec](std::int64_t classes, Generator& generator) {
    moe::MoETransformerConfig config = spec.config;
    config.architecture = "bert_classifier";
    config.classes = classes;
    auto model = moe::build_model(config, generator).bert_classifier;
    return bp::Classifier{model, bp::forward_of(*model)};
  };
}

// ---- stage records: stages/<name>.json, written last, so its presence means the stage finished
std::string stage_path(const train::RunDir& run, const std::string& name) { return run.file("stages/" + name + ".json"); }

void write_json_atomically(const std::string& path, const json& value) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::string temporary = path + ".tmp";
  std::ofstream(temporary) << value.dump(1);
  std::filesystem::rename(temporary, path);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// Pre-trains `built` (or finds the stage done) and returns the stage record: the curve and one
// checkpoint per evaluation {"step", "loss", "path"}.
json pretrain_stage(const std::string& name, Built& built, const bp::MlmCorpus& corpus, bp::PretrainOptions options,
                    Generator& generator, const train::RunDir& run, const bp::ExtraLoss& extra = {},
                    const json& model_json = {}) {
  std::string record_path = stage_path(run, name);
  if (std::filesystem::exists(record_path)) {
    json record = read_json(record_path);
    nn::load_checkpoint(record["checkpoints"].back()["path"], *built.module);
    fmt::print("{}: finished in an earlier run, loaded {}\n", name, record["checkpoints"].back()["path"].get<std::string>());
    return record;
  }
  json checkpoints = json::array();
  options.name = name;
  bp::PretrainCurve curve = bp::pretrain_mlm(*built.module, built.forward, corpus, options, generator, extra,
                                             [&](std::int64_t step, double loss) {
                                               std::string path = run.file(fmt::format("ckpt/{}/step-{:06}", name, step));
                                               nn::save_checkpoint(path, *built.module, model_json, nullptr, 1);
                                               checkpoints.push_back({{"step", step}, {"loss", loss}, {"path", path}});
                                               return false;
                                             });
  json record = {{"name", name}, {"seconds", curve.seconds}, {"steps", curve.steps}, {"train_loss", curve.train_loss},
                 {"eval_steps", curve.eval_steps}, {"eval_loss", curve.eval_loss}, {"checkpoints", checkpoints}};
  write_json_atomically(record_path, record);
  return record;
}

// The first checkpoint whose validation loss is at or below target (the last one if none is).
json first_reaching(const json& record, double target) {
  for (const auto& c : record["checkpoints"]) {
    if (c["loss"].get<double>() <= target) return c;
  }
  return record["checkpoints"].back();
}

// Fine-tune scores by (checkpoint, task, seed), kept in stages/scores.json so a rerun skips them.
class ScoreCache {
 public:
  explicit ScoreCache(std::string path) : path_(std::move(path)) {
    if (std::filesystem::exists(path_)) scores_ = read_json(path_);
  }
  bp::FinetuneResult get(const std::string& checkpoint, const ModelSpec& spec, const bp::TaskData& task,
                         std::uint64_t seed, const Sizes& sizes) {
    std::string key = fmt::format("{}|{}|{}", checkpoint, task.name, seed);
    if (!scores_.contains(key)) {
      Generator generator(0);
      Built built = build_mlm(spec, generator);
      nn::load_checkpoint(checkpoint, *built.module);
      bp::FinetuneOptions options;
      options.epochs = sizes.epochs;
      options.batch = sizes.batch;
      options.lr = sizes.finetune_lr;
      options.seed = seed;
      bp::FinetuneResult r = bp::finetune(task, classifier_factory(spec), bp::copy_encoder(*built.mlm->encoder), options);
      scores_[key] = {{"dev_accuracy", r.dev_accuracy}, {"test_accuracy", r.test_accuracy},
                      {"dev_macro_f1", r.dev_macro_f1}, {"test_macro_f1", r.test_macro_f1}, {"seconds", r.seconds}};
      write_json_atomically(path_, scores_);
    }
    const json& s = scores_[key];
    bp::FinetuneResult r;
    r.dev_accuracy = s["dev_accuracy"];
    r.test_accuracy = s["test_accuracy"];
    r.dev_macro_f1 = s["dev_macro_f1"];
    r.test_macro_f1 = s["test_macro_f1"];
    return r;
  }

 private:
  std::string path_;
  json scores_ = json::object();
};

// The mean over seeds, with mean ± 1 sd as its shaded band.
train::Series band(const std::string& title, const std::vector<double>& x, const std::vector<std::vector<double>>& per_x) {
  train::Series series{title, x, {}};
  for (const auto& values : per_x) {
    series.y.push_back(100.0 * bp::mean_of(values));
    series.low.push_back(100.0 * (bp::mean_of(values) - bp::std_of(values)));
    series.high.push_back(100.0 * (bp::mean_of(values) + bp::std_of(values)));
  }
  return series;
}

std::vector<double> as_doubles(const json& values) { return values.get<std::vector<double>>(); }

// TCD's mechanism, read on held-out data: the relation losses L_T, L_I, L_A of `student` against
// the frozen teacher on the first validation batch (same masks every call, eval mode), and how many
// of the student's layers routed tokens over experts (an MoE reports one routing per layer).
struct RelationCheck {
  double trunk = NAN, inner = NAN, attention = NAN;
  std::size_t moe_layers = 0;
};

RelationCheck relation_check(Built& student, Built& teacher, const bp::MlmCorpus& corpus, std::int64_t layers,
                             std::int64_t batch) {
  NoGradGuard no_grad;
  Generator fixed(4321);
  std::vector<std::int64_t> first;
  for (std::int64_t i = 0; i < batch && i < static_cast<std::int64_t>(corpus.validation.size()); ++i) first.push_back(i);
  bp::MlmBatch b = bp::mlm_batch(corpus.validation, first, corpus.vocab_size(), fixed);
  distill::TcdConfig all;
  nn::Taps student_record(distill::tcd_tap_patterns(all)), teacher_record(distill::tcd_tap_patterns(all));
  student.module->eval();
  student.forward(b.ids, b.segments, b.mask, &student_record);
  teacher.forward(b.ids, b.segments, b.mask, &teacher_record);
  distill::TcdLoss loss = distill::tcd_loss(student_record, teacher_record, layers, layers, b.mask, all);
  return {loss.trunk.item(), loss.inner.item(), loss.attention.item(),
          student_record.reports<moe::RoutingInfo>().size()};
}

}  // namespace

int run_tcd(int argc, char** argv) {
  CLI::App app{"Transfer Capability Distillation: a vanilla BERT teaches an MoE BERT to transfer"};
  train::ExampleFlags flags;
  flags.threads = 1;  // on a shared machine one OpenMP thread per process is far faster than two
  Sizes sizes;
  bool full = false, only_user_tasks = false, ablation_only = false;
  std::string user_tasks, trend_task = "wn-lexname", cache_dir = "build/cache/bert_pipeline";
  double beta = 1.0;
  train::add_example_flags(app, flags);
  app.add_flag("--full", full, "the larger run: width 256, 64 experts, 20k/20k steps, all task data, 5 seeds "
               "(--quick and --full replace the size flags)");
  app.add_option("--tasks", user_tasks, "extra TSV tasks: a.tsv,b.tsv, task folders, or a folder of them");
  app.add_flag("--only-user-tasks", only_user_tasks, "skip the four DATA.md tasks");
  app.add_option("--trend-task", trend_task, "task for the downstream score over pre-training checkpoints");
  app.add_option("--vocab", sizes.vocab, "SentencePiece vocabulary (DATA.md: 8000)")->check(CLI::PositiveNumber);
  app.add_option("--max-len", sizes.max_len, "tokens per sequence, [CLS] and [SEP] included")->check(CLI::Range(8, 512));
  app.add_option("--dim", sizes.dim, "width of teacher and students (heads of 32)")->check(CLI::PositiveNumber);
  app.add_option("--layers", sizes.layers, "layers of teacher and students")->check(CLI::PositiveNumber);
  app.add_option("--experts", sizes.experts, "experts per MoE layer (the paper: 64)")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", sizes.batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--teacher-steps", sizes.teacher_steps, "teacher pre-training steps")->check(CLI::PositiveNumber);
  app.add_option("--student-steps", sizes.student_steps, "student pre-training steps; the baseline gets teacher + student")
      ->check(CLI::PositiveNumber);
  app.add_option("--ablation-steps", sizes.ablation_steps, "pre-training steps of each T/I/A ablation student")
      ->check(CLI::PositiveNumber);
  app.add_option("--checkpoints", sizes.checkpoints, "evaluations (and checkpoints) per pre-training run")
      ->check(CLI::PositiveNumber);
  app.add_option("--seeds", sizes.seeds, "fine-tuning seeds per model and task")->check(CLI::Range(2, 100));
  app.add_option("--epochs", sizes.epochs, "fine-tuning epochs")->check(CLI::PositiveNumber);
  app.add_option("--max-train", sizes.max_train, "training examples per task (a fixed subset; 0: all)");
  app.add_option("--max-eval", sizes.max_eval, "dev and test examples per task (0: all)");
  app.add_option("--lr", sizes.lr, "peak AdamW learning rate in pre-training")->check(CLI::PositiveNumber);
  app.add_option("--finetune-lr", sizes.finetune_lr, "peak AdamW learning rate in fine-tuning")->check(CLI::PositiveNumber);
  app.add_option("--beta", beta, "weight of the TCD losses");
  app.add_option("--capacity-factor", sizes.capacity_factor, "MoE capacity factor (0: dropless)");
  app.add_flag("!--no-ablation", sizes.ablation, "skip the T/I/A ablation");
  app.add_flag("--ablation-only", ablation_only, "only the teacher and the T/I/A ablation (its own --out)");
  app.add_option("--cache", cache_dir, "where the tokenizer and task TSVs are cached");
  CLI11_PARSE(app, argc, argv);
  if (flags.quick) {  // seconds: a smoke test of every stage, not a measurement
    sizes.vocab = 600, sizes.max_len = 32, sizes.dim = 32, sizes.layers = 2, sizes.experts = 4, sizes.batch = 16;
    sizes.teacher_steps = sizes.student_steps = 30, sizes.ablation_steps = 10, sizes.checkpoints = 2;
    sizes.seeds = 3, sizes.epochs = 2, sizes.max_train = 64, sizes.max_eval = 32, sizes.lr = 2e-3, sizes.finetune_lr = 1e-3;
  } else if (full) {  // a GPU or a long night
    sizes.vocab = 8000, sizes.max_len = 128, sizes.dim = 256, sizes.layers = 4, sizes.experts = 64, sizes.batch = 64;
    sizes.teacher_steps = sizes.student_steps = 20000, sizes.ablation_steps = 10000, sizes.checkpoints = 10;
    sizes.seeds = 5, sizes.epochs = 3, sizes.max_train = 0, sizes.max_eval = 0, sizes.lr = 5e-4, sizes.finetune_lr = 1e-4;
  }
  train::use_threads(flags.threads);
  train::RunDir run = train::RunDir::create(flags.out, "tcd");
  train::MetricsLog metrics(run.metrics_path(), train::LogMode::Append);

  // ---- 1. corpus, tasks, model configurations
  bp::CorpusOptions corpus_options;
  corpus_options.quick = flags.quick;
  corpus_options.cache_dir = cache_dir;
  corpus_options.vocab_size = corpus_options.quick_vocab_size = sizes.vocab;
  corpus_options.max_len = corpus_options.quick_max_len = sizes.max_len;
  bp::MlmCorpus corpus = bp::load_mlm_corpus(corpus_options);
  bp::TaskOptions task_options{cache_dir, corpus.max_len, sizes.max_train, sizes.max_eval};
  std::vector<bp::TaskData> tasks =
      bp::load_tasks(only_user_tasks ? std::vector<std::string>{} : bp::builtin_task_names(), user_tasks,
                     *corpus.tokenizer, task_options);
  fmt::print("corpus: {} training / {} validation sequences of <= {} tokens, vocabulary {}; {} tasks\n",
             corpus.train.size(), corpus.validation.size(), corpus.max_len, corpus.vocab_size(), tasks.size());

  ModelSpec vanilla, moe_spec;
  vanilla.config.bert = bp::small_bert(corpus, sizes.dim, sizes.layers);
  moe_spec = vanilla;
  moe_spec.moe = true;
  moe_spec.config.every = 1;  // every FFN is a Switch layer, as in the paper's MoE BERT
  moe_spec.config.first_moe_layer = 0;
  moe_spec.config.moe.dim = sizes.dim;
  moe_spec.config.moe.expert_hidden = vanilla.config.bert.ffn_hidden;  // top-1: the dense FFN's FLOPs per token
  moe_spec.config.moe.capacity_factor_train = moe_spec.config.moe.capacity_factor_eval = sizes.capacity_factor;
  moe::SwitchRouterConfig router;
  router.dim = sizes.dim;
  router.experts = sizes.experts;
  moe_spec.config.router = router;

  bp::PretrainOptions pre;
  pre.batch = sizes.batch;
  pre.lr = sizes.lr;
  pre.metrics = &metrics;
  auto schedule = [&](std::int64_t steps) {
    bp::PretrainOptions o = pre;
    o.steps = steps;
    o.eval_every = std::max<std::int64_t>(1, steps / sizes.checkpoints);
    return o;
  };

  // ---- 2. teacher, baseline (teacher + student steps: alignment b), students
  Generator teacher_generator(flags.seed);
  Built teacher = build_mlm(vanilla, teacher_generator);
  json teacher_record = pretrain_stage("teacher", teacher, corpus, schedule(sizes.teacher_steps), teacher_generator,
                                       run, {}, vanilla.config.bert.to_json());

  // A reference with no pre-training (the teacher's own initial weights): does MLM pre-training
  // help downstream at this size at all? If not, no difference in transfer capability can show.
  json no_pretraining;
  {
    std::string path = run.file("ckpt/no-pretraining/step-000000");
    Generator init_generator(flags.seed);
    Built init = build_mlm(vanilla, init_generator);
    if (!std::filesystem::exists(path)) nn::save_checkpoint(path, *init.module, vanilla.config.bert.to_json(), nullptr, 1);
    init.module->eval();
    NoGradGuard no_grad;
    no_pretraining = {{"step", 0}, {"loss", bp::mlm_validation_loss(init.forward, corpus)}, {"path", path}};
  }
  teacher.module->eval();  // frozen from here on: no dropout, no gradient
  teacher.module->freeze("*");

  // The MoE baseline: MLM + balance loss, for teacher + student steps (alignment b). Its seed, and
  // so its initialisation and batch order, is every student's.
  auto train_mlm_only = [&](const std::string& name, std::int64_t steps) {
    Generator generator(flags.seed + 1);
    Built model = build_mlm(moe_spec, generator);
    return pretrain_stage(name, model, corpus, schedule(steps), generator, run, {}, moe_spec.config.to_json());
  };
  json baseline_record, student_record;
  if (!ablation_only) baseline_record = train_mlm_only("baseline", sizes.teacher_steps + sizes.student_steps);

  // A TCD student: the same MoE BERT (same seed as the baseline), MLM + β·TCD from the teacher.
  auto train_student = [&](const std::string& name, distill::TcdConfig tcd, std::int64_t steps) {
    tcd.beta = beta;
    Generator generator(flags.seed + 1);
    Built student = build_mlm(moe_spec, generator);
    bp::PretrainOptions options = schedule(steps);
    options.tap_patterns = distill::tcd_tap_patterns(tcd);
    std::int64_t layers = sizes.layers;
    bp::ExtraLoss extra = [&, tcd, layers](const bp::MlmBatch& batch, const nn::Taps& record) {
      nn::Taps teacher_record(distill::tcd_tap_patterns(tcd));
      {
        NoGradGuard no_grad;
        teacher.forward(batch.ids, batch.segments, batch.mask, &teacher_record);
      }
      distill::TcdLoss loss = distill::tcd_loss(record, teacher_record, layers, layers, batch.mask, tcd);
      metrics.write({{"run", name}, {"split", "train"}, {"L_T", loss.trunk.item()}, {"L_I", loss.inner.item()},
                     {"L_A", loss.attention.item()}});
      return loss.total;
    };
    return pretrain_stage(name, student, corpus, options, generator, run, extra, moe_spec.config.to_json());
  };
  if (!ablation_only) student_record = train_student("student", distill::TcdConfig{}, sizes.student_steps);

  // The ablation: MLM only (the reference at the same steps), T, I, A, the pairs, all three.
  std::vector<std::pair<std::string, json>> ablation;
  if (sizes.ablation || ablation_only) {
    ablation.push_back({"MLM only", train_mlm_only("ablation-MLM-only", sizes.ablation_steps)});
    for (int mask : {1, 2, 4, 3, 5, 6, 7}) {
      distill::TcdConfig tcd;
      tcd.trunk = mask & 1;
      tcd.inner = mask & 2;
      tcd.attention = mask & 4;
      std::string name = "ablation-" + distill::tcd_positions_name(tcd);
      ablation.push_back({distill::tcd_positions_name(tcd), train_student(name, tcd, sizes.ablation_steps)});
    }
  }

  // ---- 3. the alignments. (a): the loss both runs reach; each at its first checkpoint at or below it.
  auto min_loss = [](const json& r) {
    auto losses = as_doubles(r["eval_loss"]);
    return *std::min_element(losses.begin(), losses.end());
  };
  double target = NAN;
  json baseline_at_loss, student_at_loss;
  if (!ablation_only) {
    target = std::max(min_loss(baseline_record), min_loss(student_record));
    baseline_at_loss = first_reaching(baseline_record, target);
    student_at_loss = first_reaching(student_record, target);
    fmt::print("alignment (a): target MLM validation loss {:.3f}: baseline step {} ({:.3f}), student step {} ({:.3f})\n",
               target, baseline_at_loss["step"].get<std::int64_t>(), baseline_at_loss["loss"].get<double>(),
               student_at_loss["step"].get<std::int64_t>(), student_at_loss["loss"].get<double>());
  }

  // ---- 4. fine-tuning: model name -> (checkpoint, spec)
  struct Entry {
    std::string name;
    json checkpoint;
    const ModelSpec* spec;
  };
  std::vector<Entry> models;
  if (!ablation_only) {
    models = {
        {"teacher (BERT)", teacher_record["checkpoints"].back(), &vanilla},
        {"MoE baseline @loss", baseline_at_loss, &moe_spec},
        {"TCD student @loss", student_at_loss, &moe_spec},
        {"MoE baseline @steps", baseline_record["checkpoints"].back(), &moe_spec},
        {"TCD student @steps", student_record["checkpoints"].back(), &moe_spec},
        {"no pre-training (BERT init)", no_pretraining, &vanilla},
    };
  }
  std::vector<std::string> main_models;
  for (const Entry& e : models) main_models.push_back(e.name);
  for (const auto& [positions, record] : ablation) models.push_back({"ablation " + positions, record["checkpoints"].back(), &moe_spec});

  ScoreCache cache(stage_path(run, "scores"));
  bp::ScoreBoard accuracy, macro_f1;
  std::int64_t total = static_cast<std::int64_t>(models.size() * tasks.size()) * sizes.seeds, done = 0;
  train::ProgressBar bar(total, "fine-tune     ");
  for (const Entry& model : models) {
    for (const bp::TaskData& task : tasks) {
      for (std::int64_t s = 0; s < sizes.seeds; ++s) {
        bp::FinetuneResult r = cache.get(model.checkpoint["path"], *model.spec, task, flags.seed + 100 + s, sizes);
        accuracy.add(model.name, task.name, r.test_accuracy);
        macro_f1.add(model.name, task.name, r.test_macro_f1);
        metrics.write({{"run", model.name}, {"task", task.name}, {"seed", s}, {"split", "finetune"},
                       {"dev_accuracy", r.dev_accuracy}, {"test_accuracy", r.test_accuracy},
                       {"test_macro_f1", r.test_macro_f1}});
        bar.update(++done);
      }
    }
  }
  bar.finish();

  // ---- 5. the downstream score over pre-training checkpoints, baseline vs student, on one task
  const bp::TaskData* trend = nullptr;
  for (const auto& t : tasks) {
    if (t.name == trend_task) trend = &t;
  }
  if (!trend) trend = &tasks.front();
  std::vector<train::Series> trend_series;
  json trend_json = json::object();
  for (const auto& [name, record] : {std::pair<std::string, json>{"MoE baseline", baseline_record},
                                     std::pair<std::string, json>{"TCD student", student_record}}) {
    if (ablation_only) break;
    std::vector<double> steps;
    std::vector<std::vector<double>> scores;
    for (const auto& c : record["checkpoints"]) {
      steps.push_back(c["step"].get<double>());
      scores.emplace_back();
      for (std::int64_t s = 0; s < sizes.seeds; ++s) {
        scores.back().push_back(cache.get(c["path"], moe_spec, *trend, flags.seed + 100 + s, sizes).test_accuracy);
      }
    }
    trend_json[name] = {{"steps", steps}, {"test_accuracy", scores}};
    trend_series.push_back(band(name, steps, scores));
  }

  // ---- 6. tables, comparisons, plots, summary
  train::Table table = accuracy.table(main_models);
  if (!main_models.empty()) {
    fmt::print("\ntest accuracy (%), mean ± sd over {} fine-tuning seeds:\n", sizes.seeds);
    table.print(std::cout);
  }
  std::vector<std::string> ablation_models;
  for (const auto& [positions, record] : ablation) ablation_models.push_back("ablation " + positions);
  train::Table ablation_table = accuracy.table(ablation_models);
  if (!ablation.empty()) {
    fmt::print("\nablation ({} student steps each), test accuracy (%):\n", sizes.ablation_steps);
    ablation_table.print(std::cout);
  }

  nlohmann::ordered_json comparisons = nlohmann::ordered_json::array();
  if (!ablation_only) {
    bp::append_all(comparisons, accuracy.compare("TCD student @loss", "MoE baseline @loss"));
    bp::append_all(comparisons, accuracy.compare("TCD student @steps", "MoE baseline @steps"));
    bp::append_all(comparisons, accuracy.compare("TCD student @steps", "teacher (BERT)"));
    bp::append_all(comparisons, accuracy.compare("teacher (BERT)", "MoE baseline @loss"));
    bp::append_all(comparisons, accuracy.compare("teacher (BERT)", "no pre-training (BERT init)"));
    bp::append_all(comparisons, accuracy.compare("MoE baseline @steps", "no pre-training (BERT init)"));
  }
  for (std::size_t i = 1; i < ablation.size(); ++i) {
    bp::append_all(comparisons, accuracy.compare("ablation " + ablation[i].first, "ablation MLM only"));
  }
  fmt::print("\npaired differences in average test accuracy (95% interval over seeds):\n");
  train::Table verdicts({"claim", "difference (pts)", "95% interval", "verdict"});
  nlohmann::ordered_json headline;
  for (const auto& c : comparisons) {
    std::string metric = c["metric"];
    if (metric.find("(average)") == std::string::npos) continue;
    if (headline.is_null()) headline = c;
    verdicts.add_row({c["claim"].get<std::string>(), fmt::format("{:+.1f}", 100.0 * c["difference"].get<double>()),
                      fmt::format("[{:+.1f}, {:+.1f}]", 100.0 * c["ci95"][0].get<double>(), 100.0 * c["ci95"][1].get<double>()),
                      c["shown"].get<bool>() ? "shown" : "not shown at this scale"});
  }
  verdicts.print(std::cout);

  // Pre-training curves, downstream scores per model, MLM loss against average score.
  std::vector<train::Series> curves;
  for (const auto& [name, record] : {std::pair<std::string, json>{"teacher (BERT)", teacher_record},
                                     std::pair<std::string, json>{"MoE baseline", baseline_record},
                                     std::pair<std::string, json>{"TCD student", student_record}}) {
    if (record.is_null()) continue;
    curves.push_back({name, as_doubles(record["eval_steps"]), as_doubles(record["eval_loss"])});
  }
  train::line_plot(run.plot_path("pretraining"), "MLM validation loss", "pre-training step", "loss", curves);
  std::vector<double> averages;
  std::vector<std::string> labels;
  std::vector<train::Series> loss_vs_score;
  for (const Entry& model : models) {
    labels.push_back(model.name);
    averages.push_back(100.0 * bp::mean_of(accuracy.average(model.name)));
    loss_vs_score.push_back({model.name, {model.checkpoint["loss"].get<double>()}, {averages.back()}});
  }
  train::bar_plot(run.plot_path("downstream"), "average test accuracy over tasks", labels, averages, "%");
  train::line_plot(run.plot_path("loss_vs_score"), "pre-training vs transfer", "MLM validation loss",
                   "average test accuracy (%)", loss_vs_score);
  if (!trend_series.empty()) train::line_plot(run.plot_path("trend"), fmt::format("{} over pre-training (mean ± 1 sd)", trend->name),
                   "pre-training step", "test accuracy (%)", trend_series);

  json model_losses = json::object();
  for (const Entry& model : models) model_losses[model.name] = {{"step", model.checkpoint["step"]}, {"mlm_validation_loss", model.checkpoint["loss"]}};
  json summary = {{"example", "tcd"},
                  {"sizes", {{"dim", sizes.dim}, {"layers", sizes.layers}, {"experts", sizes.experts},
                             {"teacher_steps", sizes.teacher_steps}, {"student_steps", sizes.student_steps},
                             {"ablation_steps", sizes.ablation_steps}, {"seeds", sizes.seeds}, {"epochs", sizes.epochs},
                             {"max_train", sizes.max_train}, {"max_eval", sizes.max_eval}, {"beta", beta},
                             {"vocab", corpus.vocab_size()}, {"max_len", corpus.max_len}}},
                  {"alignment_target_loss", target},
                  {"models", model_losses},
                  {"test_accuracy", table.to_json()},
                  {"test_macro_f1", macro_f1.table(main_models).to_json()},
                  {"ablation", ablation_table.to_json()},
                  {"trend", trend_json},
                  {"pretraining_seconds", {{"teacher", teacher_record["seconds"]},
                                           {"baseline", ablation_only ? json() : baseline_record["seconds"]},
                                           {"student", ablation_only ? json() : student_record["seconds"]}}},
                  {"comparisons", json::parse(comparisons.dump())}};
  run.write_summary(summary);
  fmt::print("results in {}\n", run.path().string());
  // The headline is the first average comparison: TCD student vs MoE baseline at equal MLM loss
  // (in --ablation-only runs, T alone vs MLM only).
  if (!headline.is_null()) {
    fmt::print("the paper's effect: avg test acc, {}: {:+.1f} pts [{:+.1f}, {:+.1f}] over {} seeds: {}\n",
               headline["claim"].get<std::string>(), 100.0 * headline["difference"].get<double>(),
               100.0 * headline["ci95"][0].get<double>(), 100.0 * headline["ci95"][1].get<double>(),
               headline["seeds"].get<std::int64_t>(),
               headline["shown"].get<bool>() && headline["difference"].get<double>() > 0.0 ? "shown" : "not shown");
  }

  // The tour's smoke check is the mechanism, which a few steps already show: the student is an MoE
  // (every layer routes), distillation brought its token relations toward the teacher's (L_T and L_I
  // on held-out data fell from its initial weights to its last checkpoint), and every model's MLM
  // validation loss fell. L_A is printed, not checked: while attention is near uniform (a few steps,
  // one head) every token's context is about the same vector for both models, so L_A is ~0 throughout.
  // Whether the student transfers better needs the default run. In --ablation-only runs the student is
  // the T+I+A ablation, the baseline its MLM-only reference.
  const json& checked_student = ablation_only ? ablation.back().second : student_record;
  const json& checked_baseline = ablation_only ? ablation.front().second : baseline_record;
  Generator init_generator(flags.seed + 1);  // every student's initialisation (train_student)
  Built student = build_mlm(moe_spec, init_generator);
  student.module->eval();
  double init_loss = bp::mlm_validation_loss(student.forward, corpus);
  RelationCheck before = relation_check(student, teacher, corpus, sizes.layers, sizes.batch);
  nn::load_checkpoint(checked_student["checkpoints"].back()["path"], *student.module);
  RelationCheck after = relation_check(student, teacher, corpus, sizes.layers, sizes.batch);
  bool relations_fell = after.trunk < before.trunk && after.inner < before.inner;
  auto last_loss = [](const json& record) { return record["eval_loss"].back().get<double>(); };
  double teacher_init_loss = no_pretraining["loss"].get<double>();  // the teacher's initial weights
  bool every_model_learned = last_loss(teacher_record) < teacher_init_loss && last_loss(checked_student) < init_loss &&
                             last_loss(checked_baseline) < init_loss;
  bool mechanism_check = after.moe_layers == static_cast<std::size_t>(sizes.layers) && relations_fell &&
                         every_model_learned;
  fmt::print("tour: tcd | the student is an MoE ({}/{} layers routed over {} experts); its relation losses to the "
             "teacher fell on held-out data: L_T {:.3g} -> {:.3g}, L_I {:.3g} -> {:.3g} (L_A {:.2g} -> {:.2g}); every "
             "MLM validation loss fell: teacher {:.2f} -> {:.2f}, MoE baseline {:.2f} -> {:.2f}, student {:.2f} -> "
             "{:.2f} | {}\n",
             after.moe_layers, sizes.layers, sizes.experts, before.trunk, after.trunk, before.inner, after.inner,
             before.attention, after.attention, teacher_init_loss, last_loss(teacher_record), init_loss,
             last_loss(checked_baseline), init_loss, last_loss(checked_student), mechanism_check ? "yes" : "no");
  return 0;
}

// A bad --tasks file or a missing data package ends with its message, not an abort.
int main(int argc, char** argv) {
  try {
    return run_tcd(argc, argv);
  } catch (const std::exception& error) {
    fmt::print(stderr, "tcd: {}\n", error.what());
    return 1;
  }
}
