// The harness the MoE language-model examples share: a character-level GPT on the King James Bible
// (Debian package bible-kjv) whose FFNs can be MoE layers, trained with AdamW for a fixed number of
// steps, with the held-out loss measured along the way. Each example (noisy_topk_2017, switch_top1,
// gshard_top2, glam, st_moe) only says what differs: the router, where the MoE layers go, the loss
// weights, and what to measure after each step.
//
//   examples::CharCorpus corpus = examples::load_kjv_characters(quick);
//   examples::LmExperiment run;
//   run.name = "switch";
//   run.model = examples::small_gpt(corpus, 64, 2);
//   run.moe_every = 1;                      // 0 dense, 1 every layer, 2 every other (GShard/GLaM)
//   run.moe.expert_hidden = 256;
//   run.make_router = [&](std::int64_t) { return std::make_shared<moe::SwitchRouter>(config, generator); };
//   examples::LmResult result = examples::train_lm(run, corpus);
#pragma once
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "moe/flops.h"
#include "moe/layouts.h"
#include "moegrad.h"
#include "nn/clip.h"
#include "nn/gpt.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/plot.h"
#include "train/metrics_log.h"
#include "train/progress.h"

namespace moegrad::examples {

// The KJV as one string of verses, one per line, encoded character by character; the last 5% is
// held out.
struct CharCorpus {
  data::CharTokenizer tokenizer;
  std::vector<std::int64_t> ids;
  std::int64_t split = 0;  // ids[0, split) train, ids[split, end) held out
};

inline CharCorpus load_kjv_characters(bool quick) {
  std::vector<std::string> verses = data::kjv_verses();
  if (quick) verses.resize(std::min<std::size_t>(verses.size(), 3000));
  std::string text;
  for (const auto& verse : verses) text += verse + "\n";
  CharCorpus corpus{data::CharTokenizer::build({text}), {}, 0};
  corpus.ids = corpus.tokenizer.encode(text);
  corpus.split = static_cast<std::int64_t>(static_cast<double>(corpus.ids.size()) * 0.95);
  return corpus;
}

// B windows of T+1 characters starting at random places in [begin, end): inputs are the first T,
// targets the last T (each position predicts the next character).
inline std::pair<Tensor, Tensor> random_windows(const std::vector<std::int64_t>& text, std::int64_t begin,
                                                std::int64_t end, std::int64_t batch, std::int64_t tokens,
                                                Generator& generator) {
  std::vector<std::int64_t> inputs, targets;
  for (std::int64_t b = 0; b < batch; ++b) {
    auto span = static_cast<double>(end - begin - tokens - 1);
    auto start = begin + static_cast<std::int64_t>(generator.next_uniform() * span);
    inputs.insert(inputs.end(), text.begin() + start, text.begin() + start + tokens);
    targets.insert(targets.end(), text.begin() + start + 1, text.begin() + start + tokens + 1);
  }
  return {from_vector(inputs, {batch, tokens}), from_vector(targets, {batch, tokens})};
}

// A small GPT for the corpus: `dim` wide, `layers` deep, FFN 4×dim, context 64, no dropout.
inline nn::GptConfig small_gpt(const CharCorpus& corpus, std::int64_t dim, std::int64_t layers) {
  nn::GptConfig config;
  config.vocab_size = corpus.tokenizer.vocab_size();
  config.max_positions = 64;
  config.dim = dim;
  config.heads = std::max<std::int64_t>(1, dim / 32);
  config.layers = layers;
  config.ffn_hidden = 4 * dim;
  config.dropout = 0.0;
  return config;
}

struct LmExperiment {
  std::string name;  // shown on the progress bar
  nn::GptConfig model;
  std::int64_t moe_every = 0;  // 0: a dense model; 1: MoE in every layer; 2: every other layer (GShard, GLaM)
  moe::MoELayerConfig moe;     // dim is taken from the model
  moe::RouterFactory make_router;
  double experts_per_token = 1.0;  // for the activated-parameter count
  double aux_weight = 1.0;         // multiplies Σ of the layers' aux losses; 0 trains without them
  std::int64_t steps = 300;
  std::int64_t batch = 16;
  double lr = 3e-3;
  double clip = 1.0;  // gradient-norm clip; 0 turns it off
  std::int64_t evaluations = 5;  // held-out loss this many times, evenly spaced (and at the end)
  std::uint64_t seed = 0;
  // Called after every optimiser step with that step's record (each MoE layer's routing, see
  // moe::routings), the step number and its training loss, e.g. to record router statistics.
  std::function<void(nn::GptModel& model, const nn::Taps& record, std::int64_t step, double loss)> after_step;
  // When set, train_lm writes one metrics.jsonl line per step and per held-out evaluation, tagged
  // with `name`: {"run","step","split":"train"|"eval","loss","flops","seconds"}, where flops and
  // seconds are the training compute and wall time spent up to that step (moe/flops.h; the time
  // leaves out the held-out evaluations).
  train::MetricsLog* metrics = nullptr;
};

// One training step's load on one MoE layer, copied to the host from that step's record.
struct LoadRecord {
  std::vector<std::int64_t> tokens_per_expert;  // (E)
  std::int64_t real_tokens = 0;
  std::int64_t dropped_tokens = 0;  // real tokens no expert processed
};

inline LoadRecord load_of(const moe::RoutingInfo& routing) {
  LoadRecord load;
  load.tokens_per_expert = routing.tokens_per_expert.to_vector<std::int64_t>();
  load.real_tokens = routing.token_dropped.numel();  // the LM batches have no padding
  for (std::int64_t dropped : routing.token_dropped.to_vector<std::int64_t>()) load.dropped_tokens += dropped;
  return load;
}

struct LmResult {
  std::vector<double> steps, train_loss;     // every step
  std::vector<double> eval_steps, eval_loss;  // held-out cross-entropy, nats per character
  // Training FLOPs (forward + backward, capacity padding included, moe/flops.h) and training wall
  // time in seconds, cumulative up to each evaluation.
  std::vector<double> eval_flops, eval_seconds;
  double flops = 0.0;           // all training steps
  double flops_unpadded = 0.0;  // the same with only the tokens the experts processed
  double final_eval_loss = 0.0;
  moe::ParameterCounts parameters;
  // Per MoE layer, one record per training step (tokens per expert, drops).
  std::vector<std::vector<LoadRecord>> load;
  double dropped_fraction = 0.0;  // real tokens that no expert processed, over all steps and MoE layers
  double seconds = 0.0;           // wall-clock time of the training steps (evaluations left out)
  bool finite = true;             // false if a loss became NaN or infinite (training stopped there)
};

// The held-out loss on fixed windows (the same ones at every call), in eval mode.
inline double held_out_loss(nn::GptModel& model, const CharCorpus& corpus, std::int64_t batch) {
  NoGradGuard no_grad;
  model.eval();
  Generator fixed(1234);
  double total = 0.0;
  for (int i = 0; i < 4; ++i) {
    auto [x, y] = random_windows(corpus.ids, corpus.split, static_cast<std::int64_t>(corpus.ids.size()), batch,
                                 model.config.max_positions, fixed);
    total += cross_entropy(model.forward(x), y).item();
  }
  model.train();
  return total / 4.0;
}

// The experiment's model: a GPT with MoE FFNs where run.moe_every says.
inline std::shared_ptr<nn::GptModel> build_lm(const LmExperiment& run, Generator& generator) {
  auto model = std::make_shared<nn::GptModel>(run.model, generator);
  if (run.moe_every > 0) {
    moe::MoELayerConfig moe_config = run.moe;
    moe_config.dim = run.model.dim;
    moe::use_moe_every_other_layer(*model->layers, moe_config, run.make_router, generator, run.moe_every,
                                   run.moe_every == 1 ? 0 : 1);
  }
  return model;
}

// Trains `model` for run.steps steps on corpus windows (AdamW, warm-up + cosine decay; parameters
// with requires_grad off stay as they are, so a frozen part stays frozen).
inline LmResult train_lm(nn::GptModel& model, const LmExperiment& run, const CharCorpus& corpus,
                         Generator& generator) {
  LmResult result;
  result.parameters = moe::count_parameters(model, run.experts_per_token);

  nn::AdamWOptions adamw;
  adamw.lr = run.lr;
  adamw.weight_decay = 0.01;
  nn::AdamW optimizer(model.parameters(), adamw);
  nn::Scheduler scheduler(optimizer, nn::warmup_cosine_decay(run.steps / 10, run.steps, 0.1));

  train::ProgressOptions progress_options;
  progress_options.item_unit = "tok";
  train::ProgressBar bar(run.steps, fmt::format("{:<12}", run.name), progress_options);
  std::int64_t eval_every = std::max<std::int64_t>(1, run.steps / std::max<std::int64_t>(1, run.evaluations));
  auto started = std::chrono::steady_clock::now();
  double evaluating = 0.0;  // seconds spent in held-out evaluations, left out of the training time
  auto training_seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() - evaluating;
  };
  for (std::int64_t step = 1; step <= run.steps; ++step) {
    auto [x, y] = random_windows(corpus.ids, 0, corpus.split, run.batch, run.model.max_positions, generator);
    nn::Taps record = nn::Taps::reports_only();  // this step's routing, layer by layer
    Tensor loss = cross_entropy(model.forward(x, &record), y);
    moe::ForwardFlops forward_flops = moe::gpt_forward_flops(model, run.batch, run.model.max_positions, record);
    result.flops += moe::training_step_flops(forward_flops);
    result.flops_unpadded += 3.0 * (forward_flops.total() - forward_flops.experts + forward_flops.experts_unpadded);
    double loss_value = loss.item();
    if (!std::isfinite(loss_value)) {
      result.finite = false;
      bar.message(fmt::format("{}: the loss became {} at step {}; stopping", run.name, loss_value, step));
      break;
    }
    if (run.aux_weight != 0.0) loss = loss + moe::total_aux_loss(record) * run.aux_weight;
    optimizer.zero_grad();
    loss.backward();
    if (run.clip > 0.0) nn::clip_grad_norm(model.parameters(), run.clip);
    optimizer.step();
    scheduler.step();
    result.steps.push_back(static_cast<double>(step));
    result.train_loss.push_back(loss_value);
    auto routed = moe::routings(record);
    if (result.load.size() < routed.size()) result.load.resize(routed.size());
    for (std::size_t l = 0; l < routed.size(); ++l) result.load[l].push_back(load_of(*routed[l].second));
    if (run.after_step) run.after_step(model, record, step, loss_value);
    bar.add_items(run.batch * run.model.max_positions);
    bar.update(step, {{"loss", loss_value}});
    double seconds = training_seconds();
    if (run.metrics) {
      run.metrics->write({{"run", run.name}, {"step", step}, {"split", "train"}, {"loss", loss_value},
                          {"flops", result.flops}, {"seconds", seconds}});
    }
    if (step % eval_every == 0 || step == run.steps) {
      auto evaluation_started = std::chrono::steady_clock::now();
      result.eval_steps.push_back(static_cast<double>(step));
      result.eval_loss.push_back(held_out_loss(model, corpus, run.batch));
      result.eval_flops.push_back(result.flops);
      result.eval_seconds.push_back(seconds);
      if (run.metrics) {
        run.metrics->write({{"run", run.name}, {"step", step}, {"split", "eval"}, {"loss", result.eval_loss.back()},
                            {"flops", result.flops}, {"seconds", seconds}});
      }
      evaluating += std::chrono::duration<double>(std::chrono::steady_clock::now() - evaluation_started).count();
    }
  }
  bar.finish();
  result.seconds = training_seconds();
  result.final_eval_loss = result.eval_loss.empty() ? NAN : result.eval_loss.back();

  std::int64_t dropped = 0, routed = 0;
  for (const auto& history : result.load) {
    for (const LoadRecord& load : history) {
      dropped += load.dropped_tokens;
      routed += load.real_tokens;
    }
  }
  result.dropped_fraction = routed > 0 ? static_cast<double>(dropped) / static_cast<double>(routed) : 0.0;
  return result;
}

// Builds the experiment's model from run.seed and trains it.
inline LmResult train_lm(const LmExperiment& run, const CharCorpus& corpus) {
  Generator generator(run.seed);
  std::shared_ptr<nn::GptModel> model = build_lm(run, generator);
  return train_lm(*model, run, corpus, generator);
}

// The coefficient of variation (std / mean) of per-expert token counts: 0 for perfect balance,
// √(E−1) when one expert takes every token (Shazeer et al. 2017 penalise its square).
inline double load_cv(const std::vector<std::int64_t>& tokens_per_expert) {
  double mean = 0.0, square = 0.0;
  for (std::int64_t c : tokens_per_expert) mean += static_cast<double>(c);
  mean /= static_cast<double>(tokens_per_expert.size());
  for (std::int64_t c : tokens_per_expert) square += (static_cast<double>(c) - mean) * (static_cast<double>(c) - mean);
  double variance = square / static_cast<double>(tokens_per_expert.size());
  return mean > 0.0 ? std::sqrt(variance) / mean : 0.0;
}

// Each expert's share of one layer's tokens over training, averaged over windows of `smooth` steps:
// one line per expert, for train::line_plot.
inline std::vector<train::Series> expert_share_series(const std::vector<LoadRecord>& history,
                                                      std::int64_t smooth = 10) {
  std::vector<train::Series> series;
  if (history.empty()) return series;
  std::size_t experts = history.front().tokens_per_expert.size();
  for (std::size_t e = 0; e < experts; ++e) series.push_back({fmt::format("expert {}", e), {}, {}});
  auto window = static_cast<std::size_t>(std::max<std::int64_t>(1, smooth));
  for (std::size_t start = 0; start + window <= history.size(); start += window) {
    std::vector<double> share(experts, 0.0);
    double total = 0.0;
    for (std::size_t s = start; s < start + window; ++s) {
      for (std::size_t e = 0; e < experts; ++e) share[e] += static_cast<double>(history[s].tokens_per_expert[e]);
      total += static_cast<double>(history[s].real_tokens);
    }
    for (std::size_t e = 0; e < experts; ++e) {
      series[e].x.push_back(static_cast<double>(start + window));
      series[e].y.push_back(total > 0.0 ? share[e] / total : 0.0);
    }
  }
  return series;
}

// The mean of the last `count` values: the end-of-training level of a noisy per-step curve.
inline double mean_of_last(const std::vector<double>& values, std::size_t count) {
  if (values.empty()) return NAN;
  std::size_t from = values.size() > count ? values.size() - count : 0;
  double sum = 0.0;
  for (std::size_t i = from; i < values.size(); ++i) sum += values[i];
  return sum / static_cast<double>(values.size() - from);
}

// Labels for a routing trace (moe::format_routing): each character with up to `before` characters
// ahead of it, so a reader sees where it sits in the phrase, e.g. "the LOR[D]"; "[ ]" is a space.
inline std::vector<std::string> character_labels(const std::string& phrase, std::size_t before = 7) {
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < phrase.size(); ++i) {
    std::size_t from = i >= before ? i - before : 0;
    std::string character = phrase[i] == '\n' ? "\\n" : std::string(1, phrase[i]);
    labels.push_back(phrase.substr(from, i - from) + "[" + character + "]");
  }
  return labels;
}

// Mean and sample standard deviation, printed "m ± s" (just "m" for one value).
inline std::string mean_and_spread(const std::vector<double>& values, int digits = 3) {
  double mean = 0.0, square = 0.0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  if (values.size() < 2) return fmt::format("{:.{}f}", mean, digits);
  for (double v : values) square += (v - mean) * (v - mean);
  return fmt::format("{:.{}f} ± {:.{}f}", mean, digits, std::sqrt(square / static_cast<double>(values.size() - 1)),
                     digits);
}

}  // namespace moegrad::examples
