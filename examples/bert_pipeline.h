// The harness the BERT examples share (tcd, mobilebert, moebert): an MLM corpus with its
// SentencePiece tokenizer, MLM batches and validation loss, the downstream tasks of DATA.md (or any
// user TSV), fine-tuning a sequence classifier from pre-trained weights, and per-seed score
// bookkeeping for the results table and summary.json's "comparisons". Each example only says which
// models it builds and what extra losses it pre-trains with.
//
// A model enters the harness as a forward function, so a BERT, an MoE BERT and a MobileBERT all fit:
//   Forward: (ids, segments, attention_mask (B,T) int64, Taps* record) -> logits
//   (B,T,V) for a masked LM, (B,C) for a classifier.
//
//   namespace bp = moegrad::examples::bert;
//   bp::MlmCorpus corpus = bp::load_mlm_corpus({.quick = quick});          // tokenizer cached on disk
//   nn::BertConfig config = bp::small_bert(corpus, 128, 4);
//   Generator generator(seed);
//   nn::BertForMaskedLM teacher(config, generator);
//   bp::PretrainOptions pre{.name = "teacher", .steps = 2000};
//   bp::PretrainCurve curve = bp::pretrain_mlm(teacher, bp::forward_of(teacher), corpus, pre, generator);
//
//   std::vector<bp::TaskData> tasks = bp::load_tasks(bp::builtin_task_names(), corpus, {});
//   bp::ClassifierFactory make = bp::bert_classifier_factory(config);
//   bp::WeightLoader load = bp::copy_encoder(*teacher.encoder);
//   bp::FinetuneResult r = bp::finetune(tasks[0], make, load, {.seed = 1});   // r.test_accuracy
//
//   bp::ScoreBoard board;                      // model -> task -> one score per seed
//   board.add("teacher", tasks[0].name, r.test_accuracy);
//   train::Table table = board.table({"teacher", "student"});      // mean ± std per task, average
//   nlohmann::ordered_json comparisons = board.compare("student", "teacher");  // per task and the average
//
// Sequences are [CLS] ... [SEP] with segment 0; MLM masking is BERT's 80/10/10 (data/mlm.h).
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/batching.h"
#include "data/corpus.h"
#include "data/mlm.h"
#include "data/tasks.h"
#include "data/tokenizer.h"
#include "moe/layouts.h"
#include "moegrad.h"
#include "nn/bert.h"
#include "nn/clip.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/stats.h"
#include "train/table.h"

namespace moegrad::examples::bert {

using Forward = std::function<Tensor(const Tensor& ids, const Tensor& segments, const Tensor& mask, nn::Taps* record)>;

template <class Model>
Forward forward_of(Model& model) {
  return [&model](const Tensor& ids, const Tensor& segments, const Tensor& mask, nn::Taps* record) {
    return model.forward(ids, segments, mask, record);
  };
}

// ---------------------------------------------------------------- the MLM corpus
struct CorpusOptions {
  bool quick = false;                 // a strided slice of quick_sentences and a small vocabulary
  std::string cache_dir = "build/cache/bert_pipeline";  // tokenizer models and task TSVs
  std::int64_t vocab_size = 4000;     // DATA.md says 8k; small CPU models train faster with less
  std::int64_t max_len = 64;          // tokens per sequence, [CLS] and [SEP] included
  std::int64_t max_sentences = 0;     // 0: the whole corpus (KJV + WordNet glosses and examples)
  std::int64_t quick_sentences = 3000, quick_vocab_size = 600, quick_max_len = 32;
  std::int64_t validation_every = 50;  // every 50th packed sequence is held out (2%)
};

struct MlmCorpus {
  std::shared_ptr<data::SentencePieceTokenizer> tokenizer;
  std::vector<std::vector<std::int64_t>> train, validation;  // [CLS] ids [SEP], at most max_len
  std::int64_t max_len = 0;
  std::int64_t vocab_size() const { return tokenizer->vocab_size(); }
};

// Every stride-th sentence so a slice holds both the KJV and WordNet.
inline std::vector<std::string> corpus_slice(const std::vector<std::string>& all, std::int64_t count) {
  if (count <= 0 || count >= static_cast<std::int64_t>(all.size())) return all;
  std::vector<std::string> slice;
  double stride = static_cast<double>(all.size()) / static_cast<double>(count);
  for (std::int64_t i = 0; i < count; ++i) slice.push_back(all[static_cast<std::size_t>(static_cast<double>(i) * stride)]);
  return slice;
}

// Consecutive sentences packed into sequences of up to max_len − 2 pieces (a sentence longer than
// that is cut), each wrapped in [CLS] ... [SEP]. Packing keeps neighbouring verses together, as
// BERT's documents do, and leaves little padding.
inline std::vector<std::vector<std::int64_t>> pack_sentences(const std::vector<std::string>& sentences,
                                                             const data::Tokenizer& tokenizer, std::int64_t max_len) {
  std::vector<std::vector<std::int64_t>> packed;
  std::vector<std::int64_t> current;
  auto body = static_cast<std::size_t>(max_len - 2);
  auto emit = [&] {
    if (current.empty()) return;
    std::vector<std::int64_t> sequence = {data::kClsId};
    sequence.insert(sequence.end(), current.begin(), current.end());
    sequence.push_back(data::kSepId);
    packed.push_back(std::move(sequence));
    current.clear();
  };
  for (const std::string& sentence : sentences) {
    std::vector<std::int64_t> ids = tokenizer.encode(sentence);
    if (ids.size() > body) ids.resize(body);
    if (current.size() + ids.size() > body) emit();
    current.insert(current.end(), ids.begin(), ids.end());
  }
  emit();
  return packed;
}

// Reads the pre-training text, trains the tokenizer once (cached under cache_dir by size), packs
// and splits. Seconds in quick mode; about a minute the first time at full size.
inline MlmCorpus load_mlm_corpus(const CorpusOptions& options) {
  std::vector<std::string> sentences = data::pretraining_corpus();
  std::int64_t count = options.quick ? options.quick_sentences : options.max_sentences;
  sentences = corpus_slice(sentences, count);
  std::int64_t vocab = options.quick ? options.quick_vocab_size : options.vocab_size;
  std::filesystem::create_directories(options.cache_dir);
  std::string model_path = fmt::format("{}/spm-v{}-n{}.model", options.cache_dir, vocab, sentences.size());
  MlmCorpus corpus;
  if (std::filesystem::exists(model_path)) {
    corpus.tokenizer = std::make_shared<data::SentencePieceTokenizer>(model_path);
  } else {
    data::SentencePieceOptions spm;
    spm.vocab_size = vocab;
    corpus.tokenizer = std::make_shared<data::SentencePieceTokenizer>(
        data::SentencePieceTokenizer::train(sentences, model_path, spm));
  }
  corpus.max_len = options.quick ? options.quick_max_len : options.max_len;
  auto packed = pack_sentences(sentences, *corpus.tokenizer, corpus.max_len);
  for (std::size_t i = 0; i < packed.size(); ++i) {
    auto& split = (static_cast<std::int64_t>(i) % options.validation_every == 0) ? corpus.validation : corpus.train;
    split.push_back(std::move(packed[i]));
  }
  return corpus;
}

// A BertConfig that fits the corpus: width dim, `layers` deep, heads of 32, FFN 4×dim.
inline nn::BertConfig small_bert(const MlmCorpus& corpus, std::int64_t dim, std::int64_t layers) {
  nn::BertConfig config;
  config.vocab_size = corpus.vocab_size();
  config.max_positions = std::max<std::int64_t>(corpus.max_len, 128);
  config.dim = dim;
  config.heads = std::max<std::int64_t>(1, dim / 32);
  config.layers = layers;
  config.ffn_hidden = 4 * dim;
  return config;
}

// ---------------------------------------------------------------- MLM batches and loss
struct MlmBatch {
  Tensor ids, segments, mask, labels;  // (B,T) int64; labels −100 where nothing is predicted
};

inline MlmBatch mlm_batch(const std::vector<std::vector<std::int64_t>>& sequences,
                          const std::vector<std::int64_t>& indices, std::int64_t vocab_size, Generator& generator) {
  std::vector<std::vector<std::int64_t>> chosen;
  for (std::int64_t i : indices) chosen.push_back(sequences[static_cast<std::size_t>(i)]);
  data::PaddedBatch padded = data::pad_batch(chosen);
  data::MaskedBatch masked = data::mask_tokens(padded.input_ids, padded.attention_mask, vocab_size, generator);
  return {masked.input_ids, zeros(padded.input_ids.shape(), kInt64), padded.attention_mask, masked.labels};
}

// B sequences drawn uniformly (with replacement) from the training split.
inline MlmBatch random_mlm_batch(const MlmCorpus& corpus, std::int64_t batch, Generator& generator) {
  std::vector<std::int64_t> indices;
  for (std::int64_t b = 0; b < batch; ++b) {
    indices.push_back(data::random_index(generator, static_cast<std::int64_t>(corpus.train.size())));
  }
  return mlm_batch(corpus.train, indices, corpus.vocab_size(), generator);
}

// Cross-entropy of logits (B,T,V) at the labelled positions.
inline Tensor mlm_loss(const Tensor& logits, const Tensor& labels) {
  std::int64_t vocab = logits.shape().back();
  return cross_entropy(reshape(logits, {-1, vocab}), reshape(labels, {-1}));
}

// The MLM loss on the first `max_batches` batches of the validation split, with the same masks at
// every call (a fixed generator), without gradients. Put the model in eval mode first.
inline double mlm_validation_loss(const Forward& forward, const MlmCorpus& corpus, std::int64_t batch = 32,
                                  std::int64_t max_batches = 8) {
  NoGradGuard no_grad;
  Generator fixed(4321);
  auto batches = data::sequential_batches(static_cast<std::int64_t>(corpus.validation.size()), batch);
  double total = 0.0;
  std::int64_t used = 0;
  for (const auto& indices : batches) {
    if (used == max_batches) break;
    MlmBatch b = mlm_batch(corpus.validation, indices, corpus.vocab_size(), fixed);
    total += mlm_loss(forward(b.ids, b.segments, b.mask, nullptr), b.labels).item();
    ++used;
  }
  return used > 0 ? total / static_cast<double>(used) : NAN;
}

// ---------------------------------------------------------------- MLM pre-training loop
struct PretrainOptions {
  std::string name = "mlm";    // progress bar and metrics.jsonl "run"
  std::int64_t steps = 1000;   // total steps of the schedule
  std::int64_t first_step = 1; // > 1 when continuing (the schedule still runs over `steps`)
  std::int64_t batch = 32;
  double lr = 1e-3;
  double weight_decay = 0.01;
  double warmup_share = 0.06;
  double clip = 1.0;           // gradient-norm clip; 0 turns it off
  double aux_weight = 1.0;     // multiplies the MoE layers' aux losses from the record
  std::int64_t eval_every = 100;
  std::int64_t eval_batches = 8;
  std::vector<std::string> tap_patterns;  // what the record taps (an extra loss may need tensors)
  train::MetricsLog* metrics = nullptr;
};

struct PretrainCurve {
  std::vector<double> steps, train_loss;     // every step: the MLM loss alone
  std::vector<double> eval_steps, eval_loss;  // MLM validation loss
  std::int64_t last_step = 0;                 // the step training stopped after
  double seconds = 0.0;
};

// Adds to the MLM loss (e.g. distillation terms from the record and the batch); returns a 0-d tensor.
using ExtraLoss = std::function<Tensor(const MlmBatch& batch, const nn::Taps& record)>;
// Called after each evaluation with (step, validation loss); return true to stop training there.
using AfterEval = std::function<bool(std::int64_t step, double validation_loss)>;

// AdamW with linear warm-up and decay; the model is left in training mode. The record of each step
// holds the MoE routings (their aux losses are added) and whatever tap_patterns ask for.
inline PretrainCurve pretrain_mlm(nn::Module& model, const Forward& forward, const MlmCorpus& corpus,
                                  const PretrainOptions& options, Generator& generator,
                                  const ExtraLoss& extra = {}, const AfterEval& after_eval = {}) {
  PretrainCurve curve;
  nn::AdamWOptions adamw;
  adamw.lr = options.lr;
  adamw.weight_decay = options.weight_decay;
  nn::AdamW optimizer(model.parameters(), adamw);
  auto warmup = static_cast<std::int64_t>(options.warmup_share * static_cast<double>(options.steps));
  nn::Scheduler scheduler(optimizer, nn::warmup_linear_decay(warmup, options.steps, 0.0));
  for (std::int64_t s = 1; s < options.first_step; ++s) scheduler.step();  // resume the schedule

  train::ProgressOptions progress;
  progress.item_unit = "seq";
  train::ProgressBar bar(options.steps, fmt::format("{:<14}", options.name), progress);
  auto started = std::chrono::steady_clock::now();
  model.train();
  for (std::int64_t step = options.first_step; step <= options.steps; ++step) {
    MlmBatch batch = random_mlm_batch(corpus, options.batch, generator);
    nn::Taps record(options.tap_patterns);
    Tensor loss = mlm_loss(forward(batch.ids, batch.segments, batch.mask, &record), batch.labels);
    double mlm_value = loss.item();
    if (options.aux_weight != 0.0) loss = loss + moe::total_aux_loss(record) * options.aux_weight;
    if (extra) loss = loss + extra(batch, record);
    optimizer.zero_grad();
    loss.backward();
    if (options.clip > 0.0) nn::clip_grad_norm(model.parameters(), options.clip);
    optimizer.step();
    scheduler.step();
    curve.steps.push_back(static_cast<double>(step));
    curve.train_loss.push_back(mlm_value);
    curve.last_step = step;
    bar.add_items(options.batch);
    bar.update(step, {{"mlm", mlm_value}});
    if (options.metrics) options.metrics->write({{"run", options.name}, {"step", step}, {"split", "train"}, {"mlm", mlm_value}});
    if (step % options.eval_every == 0 || step == options.steps) {
      model.eval();
      double validation = mlm_validation_loss(forward, corpus, options.batch, options.eval_batches);
      model.train();
      curve.eval_steps.push_back(static_cast<double>(step));
      curve.eval_loss.push_back(validation);
      if (options.metrics) {
        options.metrics->write({{"run", options.name}, {"step", step}, {"split", "validation"}, {"mlm", validation}});
      }
      if (after_eval && after_eval(step, validation)) break;
    }
  }
  bar.finish();
  curve.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return curve;
}

// ---------------------------------------------------------------- downstream tasks
inline std::vector<std::string> builtin_task_names() { return {"fortune-topic", "wn-lexname", "wn-match", "wn-pos"}; }

// A task as the models see it: label ids and [CLS] a [SEP] (b [SEP]) inputs.
struct TaskData {
  std::string name;
  data::LabelVocabulary labels;
  bool pair = false;
  std::vector<data::BertInput> train, dev, test;
  std::vector<std::int64_t> train_labels, dev_labels, test_labels;
};

struct TaskOptions {
  std::string cache_dir = "build/cache/bert_pipeline";
  std::int64_t max_len = 64;       // tokens per input, specials included
  std::int64_t max_train = 2000;   // examples kept per split (a fixed random subset); 0: all
  std::int64_t max_eval = 1000;    // for dev and test each
};

// The four DATA.md tasks, built once into cache_dir/tasks/<name>/{train,dev,test}.tsv.
inline data::TaskSplits load_builtin_task(const std::string& name, const std::string& cache_dir) {
  std::string folder = cache_dir + "/tasks";
  if (!std::filesystem::exists(folder + "/" + name + "/test.tsv")) data::build_all_tasks(folder);
  return data::read_task(folder + "/" + name);
}

// A user task: a folder with train.tsv, dev.tsv and test.tsv, or one TSV file split by DATA.md's
// hash rule (data::split_examples). Its name is the folder or file name without ".tsv".
inline data::TaskSplits load_user_task(const std::string& path) {
  if (std::filesystem::is_directory(path)) return data::read_task(path);
  return data::split_examples(data::read_tsv(path));
}

// `spec` is a comma-separated list of TSV files or task folders, or one folder whose *.tsv files
// (or sub-folders holding train.tsv) are each a task. Returns (name, path) pairs.
inline std::vector<std::pair<std::string, std::string>> user_task_paths(const std::string& spec) {
  std::vector<std::pair<std::string, std::string>> found;
  auto add = [&](const std::filesystem::path& p) {
    std::string name = p.filename().string();
    if (name.empty()) name = p.parent_path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tsv") name.resize(name.size() - 4);
    found.push_back({name, p.string()});
  };
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (const std::string& item : items) {
    std::filesystem::path p(item);
    if (!std::filesystem::exists(p)) throw Error(fmt::format("[tasks] {} does not exist", item));
    if (std::filesystem::is_directory(p) && !std::filesystem::exists(p / "train.tsv")) {
      std::vector<std::filesystem::path> entries;
      for (const auto& entry : std::filesystem::directory_iterator(p)) entries.push_back(entry.path());
      std::sort(entries.begin(), entries.end());
      for (const auto& entry : entries) {
        if (entry.extension() == ".tsv" || std::filesystem::exists(entry / "train.tsv")) add(entry);
      }
    } else {
      add(p);
    }
  }
  if (found.empty()) throw Error(fmt::format("[tasks] no TSV task found in '{}'", spec));
  return found;
}

// A fixed random subset (the same for every model and seed), so runs compare on the same data.
inline std::vector<data::Example> subset(const std::vector<data::Example>& examples, std::int64_t limit) {
  if (limit <= 0 || limit >= static_cast<std::int64_t>(examples.size())) return examples;
  Generator fixed(2024);
  std::vector<std::int64_t> order = data::shuffled_indices(static_cast<std::int64_t>(examples.size()), fixed);
  std::vector<data::Example> kept;
  for (std::int64_t i = 0; i < limit; ++i) kept.push_back(examples[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
  return kept;
}

// Labels come from all three splits (a dev/test label missing from train still gets an id).
inline TaskData encode_task(const std::string& name, const data::TaskSplits& splits, const data::Tokenizer& tokenizer,
                            const TaskOptions& options) {
  TaskData task;
  task.name = name;
  std::vector<data::Example> all = splits.train;
  all.insert(all.end(), splits.dev.begin(), splits.dev.end());
  all.insert(all.end(), splits.test.begin(), splits.test.end());
  if (splits.train.empty() || splits.dev.empty() || splits.test.empty()) {
    throw Error(fmt::format("[tasks] {}: train, dev and test must each hold examples (have {}, {}, {})", name,
                            splits.train.size(), splits.dev.size(), splits.test.size()));
  }
  task.labels = data::LabelVocabulary::from_examples(all);
  task.pair = !all.front().text_b.empty();
  auto encode = [&](const std::vector<data::Example>& examples, std::int64_t limit, std::vector<data::BertInput>& inputs,
                    std::vector<std::int64_t>& labels) {
    for (const data::Example& e : subset(examples, limit)) {
      inputs.push_back(task.pair ? data::bert_pair(tokenizer.encode(e.text_a), tokenizer.encode(e.text_b), options.max_len)
                                 : data::bert_single(tokenizer.encode(e.text_a), options.max_len));
      labels.push_back(task.labels.id_of(e.label));
    }
  };
  encode(splits.train, options.max_train, task.train, task.train_labels);
  encode(splits.dev, options.max_eval, task.dev, task.dev_labels);
  encode(splits.test, options.max_eval, task.test, task.test_labels);
  return task;
}

// The built-in tasks by name, then the user's TSV tasks (`user_spec` as in user_task_paths; "" for none).
inline std::vector<TaskData> load_tasks(const std::vector<std::string>& builtin, const std::string& user_spec,
                                        const data::Tokenizer& tokenizer, const TaskOptions& options) {
  std::vector<TaskData> tasks;
  for (const std::string& name : builtin) {
    tasks.push_back(encode_task(name, load_builtin_task(name, options.cache_dir), tokenizer, options));
  }
  if (!user_spec.empty()) {
    for (const auto& [name, path] : user_task_paths(user_spec)) {
      tasks.push_back(encode_task(name, load_user_task(path), tokenizer, options));
    }
  }
  return tasks;
}

// ---------------------------------------------------------------- fine-tuning
struct Classifier {
  std::shared_ptr<nn::Module> module;
  Forward forward;  // -> (B,C)
};
// Builds a fresh classifier with `classes` outputs; layers may keep a pointer to `generator`
// (dropout), which outlives the model.
using ClassifierFactory = std::function<Classifier(std::int64_t classes, Generator& generator)>;
// Copies pre-trained weights into a fresh classifier.
using WeightLoader = std::function<void(nn::Module& classifier)>;

inline ClassifierFactory bert_classifier_factory(const nn::BertConfig& config) {
  return [config](std::int64_t classes, Generator& generator) {
    auto model = std::make_shared<nn::BertForSequenceClassification>(config, classes, generator);
    return Classifier{model, forward_of(*model)};
  };
}

// The classifier's child module "encoder" receives `encoder`'s weights (same architecture, strict).
inline void load_encoder_state(nn::Module& classifier, const nn::StateDict& encoder_state) {
  for (auto& [name, module] : classifier.named_modules()) {
    if (name == "encoder") {
      module->load_state_dict(encoder_state);
      return;
    }
  }
  throw Error("[load_encoder_state] the classifier has no child module named 'encoder'");
}

inline WeightLoader copy_encoder(const nn::Module& encoder) {
  nn::StateDict state = encoder.state_dict();
  return [state](nn::Module& classifier) { load_encoder_state(classifier, state); };
}

struct FinetuneOptions {
  std::int64_t epochs = 3;
  std::int64_t max_steps = 0;  // > 0: stop after this many steps whatever the epochs
  std::int64_t batch = 32;
  double lr = 3e-4;
  double weight_decay = 0.01;
  double warmup_share = 0.1;
  double clip = 1.0;
  double aux_weight = 1.0;     // MoE aux losses during fine-tuning
  std::uint64_t seed = 0;      // initialisation of the new head, dropout, data order
  std::string label;           // progress bar label; empty: no bar
};

struct FinetuneResult {
  double dev_accuracy = 0.0, test_accuracy = 0.0;
  double dev_macro_f1 = 0.0, test_macro_f1 = 0.0;
  double seconds = 0.0;
};

// Accuracy and macro-F1 (the mean over classes of 2PR/(P+R), a class with no true and no
// predicted example left out) of predictions against labels.
inline std::pair<double, double> accuracy_and_macro_f1(const std::vector<std::int64_t>& predicted,
                                                       const std::vector<std::int64_t>& labels, std::int64_t classes) {
  std::vector<double> tp(static_cast<std::size_t>(classes)), fp(tp), fn(tp);
  double correct = 0.0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto p = static_cast<std::size_t>(predicted[i]), y = static_cast<std::size_t>(labels[i]);
    if (p == y) {
      correct += 1.0;
      tp[y] += 1.0;
    } else {
      fp[p] += 1.0;
      fn[y] += 1.0;
    }
  }
  double f1_sum = 0.0;
  std::int64_t counted = 0;
  for (std::size_t c = 0; c < tp.size(); ++c) {
    if (tp[c] + fp[c] + fn[c] == 0.0) continue;
    f1_sum += 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn[c]);
    ++counted;
  }
  return {labels.empty() ? NAN : correct / static_cast<double>(labels.size()),
          counted > 0 ? f1_sum / static_cast<double>(counted) : NAN};
}

// Predicted classes in eval mode, without gradients.
inline std::vector<std::int64_t> predict(Classifier& model, const std::vector<data::BertInput>& inputs, std::int64_t batch) {
  NoGradGuard no_grad;
  model.module->eval();
  std::vector<std::int64_t> predicted;
  for (const auto& indices : data::sequential_batches(static_cast<std::int64_t>(inputs.size()), batch)) {
    std::vector<data::BertInput> chosen;
    for (std::int64_t i : indices) chosen.push_back(inputs[static_cast<std::size_t>(i)]);
    data::BertBatch b = data::pad_bert_batch(chosen);
    nn::Taps record = nn::Taps::reports_only();
    auto classes = argmax(model.forward(b.input_ids, b.segment_ids, b.attention_mask, &record), 1).to_vector<std::int64_t>();
    predicted.insert(predicted.end(), classes.begin(), classes.end());
  }
  model.module->train();
  return predicted;
}

// Fine-tunes every parameter with AdamW (linear warm-up and decay) on the task's training split and
// scores the final model on dev and test. Same seed, same result.
inline FinetuneResult finetune(const TaskData& task, const ClassifierFactory& make, const WeightLoader& load,
                               const FinetuneOptions& options) {
  Generator generator(options.seed);
  Classifier model = make(task.labels.size(), generator);
  if (load) load(*model.module);
  auto n = static_cast<std::int64_t>(task.train.size());
  std::int64_t per_epoch = (n + options.batch - 1) / options.batch;
  std::int64_t total = per_epoch * options.epochs;
  if (options.max_steps > 0) total = std::min(total, options.max_steps);
  nn::AdamWOptions adamw;
  adamw.lr = options.lr;
  adamw.weight_decay = options.weight_decay;
  nn::AdamW optimizer(model.module->parameters(), adamw);
  nn::Scheduler scheduler(optimizer, nn::warmup_linear_decay(
                                         static_cast<std::int64_t>(options.warmup_share * static_cast<double>(total)), total));
  std::unique_ptr<train::ProgressBar> bar;
  if (!options.label.empty()) bar = std::make_unique<train::ProgressBar>(total, fmt::format("{:<22}", options.label));
  auto started = std::chrono::steady_clock::now();
  model.module->train();
  std::int64_t step = 0;
  while (step < total) {
    for (const auto& indices : data::shuffled_batches(n, options.batch, generator)) {
      if (step == total) break;
      std::vector<data::BertInput> chosen;
      std::vector<std::int64_t> labels;
      for (std::int64_t i : indices) {
        chosen.push_back(task.train[static_cast<std::size_t>(i)]);
        labels.push_back(task.train_labels[static_cast<std::size_t>(i)]);
      }
      data::BertBatch b = data::pad_bert_batch(chosen);
      nn::Taps record = nn::Taps::reports_only();
      Tensor logits = model.forward(b.input_ids, b.segment_ids, b.attention_mask, &record);
      Tensor loss = cross_entropy(logits, from_vector(labels, {static_cast<std::int64_t>(labels.size())}));
      double value = loss.item();
      if (options.aux_weight != 0.0) loss = loss + moe::total_aux_loss(record) * options.aux_weight;
      optimizer.zero_grad();
      loss.backward();
      if (options.clip > 0.0) nn::clip_grad_norm(model.module->parameters(), options.clip);
      optimizer.step();
      scheduler.step();
      ++step;
      if (bar) bar->update(step, {{"loss", value}});
    }
  }
  if (bar) bar->finish();
  FinetuneResult result;
  std::tie(result.dev_accuracy, result.dev_macro_f1) =
      accuracy_and_macro_f1(predict(model, task.dev, 64), task.dev_labels, task.labels.size());
  std::tie(result.test_accuracy, result.test_macro_f1) =
      accuracy_and_macro_f1(predict(model, task.test, 64), task.test_labels, task.labels.size());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

// ---------------------------------------------------------------- per-seed scores and summaries
inline double mean_of(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return values.empty() ? NAN : sum / static_cast<double>(values.size());
}

inline double std_of(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  double m = mean_of(values), square = 0.0;
  for (double v : values) square += (v - m) * (v - m);
  return std::sqrt(square / static_cast<double>(values.size() - 1));
}

// "m ± s" in percent for scores in [0, 1].
inline std::string percent_spread(const std::vector<double>& values) {
  if (values.size() < 2) return fmt::format("{:.1f}", 100.0 * mean_of(values));
  return fmt::format("{:.1f} ± {:.1f}", 100.0 * mean_of(values), 100.0 * std_of(values));
}

// model -> task -> one score per seed, in the order added (seed i is the i-th add for that pair).
class ScoreBoard {
 public:
  void add(const std::string& model, const std::string& task, double score) {
    scores_[model][task].push_back(score);
    if (std::find(tasks_.begin(), tasks_.end(), task) == tasks_.end()) tasks_.push_back(task);
  }
  bool has(const std::string& model) const { return scores_.count(model) > 0; }
  const std::vector<std::string>& tasks() const { return tasks_; }
  const std::vector<double>& scores(const std::string& model, const std::string& task) const {
    return scores_.at(model).at(task);
  }
  // Per seed, the mean over tasks (the seeds every task of that model has).
  std::vector<double> average(const std::string& model) const {
    const auto& by_task = scores_.at(model);
    std::size_t seeds = SIZE_MAX;
    for (const auto& [task, values] : by_task) seeds = std::min(seeds, values.size());
    std::vector<double> averages(seeds == SIZE_MAX ? 0 : seeds, 0.0);
    for (std::size_t s = 0; s < averages.size(); ++s) {
      for (const auto& [task, values] : by_task) averages[s] += values[s] / static_cast<double>(by_task.size());
    }
    return averages;
  }
  // One row per model: mean ± std (%) per task, then the average over tasks.
  train::Table table(const std::vector<std::string>& models) const {
    std::vector<std::string> columns = {"model"};
    columns.insert(columns.end(), tasks_.begin(), tasks_.end());
    columns.push_back("average");
    train::Table table(columns);
    for (const std::string& model : models) {
      if (!has(model)) continue;
      std::vector<std::string> row = {model};
      for (const std::string& task : tasks_) {
        auto found = scores_.at(model).find(task);
        row.push_back(found == scores_.at(model).end() ? "-" : percent_spread(found->second));
      }
      row.push_back(percent_spread(average(model)));
      table.add_row(row);
    }
    return table;
  }
  // "a beats b" per task and on the average, paired by seed, as summary.json comparison entries.
  nlohmann::ordered_json compare(const std::string& a, const std::string& b,
                                 const std::string& metric = "test accuracy") const {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    auto one = [&](const std::string& what, const std::vector<double>& va, const std::vector<double>& vb) {
      std::size_t n = std::min(va.size(), vb.size());
      if (n < 2) return;
      std::vector<double> ca(va.begin(), va.begin() + static_cast<std::ptrdiff_t>(n));
      std::vector<double> cb(vb.begin(), vb.begin() + static_cast<std::ptrdiff_t>(n));
      list.push_back(train::to_json(train::compare(fmt::format("{} beats {} on {}", a, b, what), a, b,
                                                   fmt::format("{} ({})", metric, what), ca, cb)));
    };
    for (const std::string& task : tasks_) {
      if (scores_.at(a).count(task) && scores_.at(b).count(task)) one(task, scores(a, task), scores(b, task));
    }
    one("average", average(a), average(b));
    return list;
  }

 private:
  std::map<std::string, std::map<std::string, std::vector<double>>> scores_;
  std::vector<std::string> tasks_;
};

// Appends every entry of `more` (a JSON array) to `list`.
inline void append_all(nlohmann::ordered_json& list, const nlohmann::ordered_json& more) {
  for (const auto& entry : more) list.push_back(entry);
}

}  // namespace moegrad::examples::bert
