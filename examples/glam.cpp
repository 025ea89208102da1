// GLaM (Du et al. 2021, arXiv 2112.06905): a decoder-only LM whose every other FFN is an MoE layer
// with GShard's top-2 gating. GLaM's largest model holds 1.2T parameters, but a token passes through
// only 96.6B of them (about 8%). The lesson: count total against activated parameters, and judge
// the MoE against a dense model of the same ACTIVATED size, which costs the same per token.
//
// Here: a character-level GPT on the KJV, (a) with MoE every other layer and (b) dense, of the same
// width and depth. Each expert is half as wide as the dense FFN (expert hidden 2·dim against 4·dim),
// so the two experts a token visits hold as many weights as the one dense FFN it replaces: the
// activated sizes match (up to the router and one bias). (c) A wider dense model of about the MoE's
// TOTAL size shows what the extra parameters would buy if every token used them all.
// GLaM states its result at equal activated FLOPs per token, so each claim here is a paired
// difference over seeds (summary.json "comparisons"): held-out loss at equal steps (equal activated
// parameters), at equal training FLOPs as executed (capacity padding included, moe/flops.h) and at
// equal training wall time; curves against steps, FLOPs and time.
//   build/examples/glam              default run: 14.5 min wall, 8.4 min CPU (1 thread)
//   build/examples/glam --quick      seconds (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "examples/moe_lm.h"
#include "examples/moe_lm_report.h"
#include "moe/gshard_router.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

struct Settings {
  std::int64_t dim = 64, layers = 2, context = 64, batch = 16, steps = 1200;
  std::int64_t experts = 8;        // GLaM uses 64; a handful already shows the counting
  std::int64_t expert_hidden = 0;  // 0: half the dense FFN (2·dim), so activated sizes match
  std::int64_t seeds = 3;
  bool larger_dense = true;        // also train a dense model of about the MoE's total size
  double capacity_factor = 2.0;    // GShard's C = 2S/E (each token asks for two slots)
  double lr = 3e-3;
  std::uint64_t seed = 0;
};

// One model trained with several seeds.
struct Arm {
  std::string name;
  std::int64_t dim = 0;
  bool moe = false;
  std::vector<examples::LmResult> runs;

  std::vector<double> final_losses() const {
    std::vector<double> losses;
    for (const auto& run : runs) losses.push_back(run.final_eval_loss);
    return losses;
  }
  double mean_loss() const {
    double total = 0.0;
    for (double loss : final_losses()) total += loss;
    return total / static_cast<double>(runs.size());
  }
};

examples::LmExperiment make_experiment(const Settings& settings, const examples::CharCorpus& corpus, std::int64_t dim,
                                       bool moe, std::uint64_t seed, Generator& router_init) {
  examples::LmExperiment run;
  run.model = examples::small_gpt(corpus, dim, settings.layers);
  run.model.max_positions = settings.context;
  run.steps = settings.steps;
  run.batch = settings.batch;
  run.lr = settings.lr;
  run.seed = seed;
  run.evaluations = 10;
  if (!moe) return run;
  moe::GShardRouterConfig router;
  router.dim = dim;
  router.experts = settings.experts;
  run.moe_every = 2;  // dense, MoE, dense, MoE, ... (GLaM §3, after GShard)
  run.moe.expert_hidden = settings.expert_hidden > 0 ? settings.expert_hidden : run.model.ffn_hidden / 2;
  run.moe.capacity_factor_train = settings.capacity_factor;
  run.moe.capacity_factor_eval = settings.capacity_factor;
  run.make_router = [router, &router_init](std::int64_t) {
    return std::make_shared<moe::GShardRouter>(router, router_init);
  };
  run.experts_per_token = 2.0;  // top-2: GLaM's activated count
  return run;
}

// The width (a multiple of 32, one head per 32) of a dense GPT whose parameter count is closest to
// `target`, for the "dense of the MoE's total size" comparison.
std::int64_t dense_width_for(const Settings& settings, const examples::CharCorpus& corpus, std::int64_t target) {
  std::int64_t best = settings.dim;
  double best_gap = 1e300;
  for (std::int64_t dim = 32; dim <= 4 * settings.dim; dim += 32) {
    Generator throwaway(0);
    nn::GptModel model(examples::small_gpt(corpus, dim, settings.layers), throwaway);
    double gap = std::abs(static_cast<double>(model.parameter_count() - target));
    if (gap < best_gap) best_gap = gap, best = dim;
    if (model.parameter_count() > target) break;  // wider only moves further away
  }
  return best;
}

// The mean over seeds of an arm's training FLOPs (forward + backward, capacity padding included).
double mean_flops(const Arm& arm) {
  double total = 0.0;
  for (const auto& run : arm.runs) total += run.flops;
  return total / static_cast<double>(arm.runs.size());
}

// Every run's final held-out loss is below its first training loss: each model learned something.
bool every_run_learned(const std::vector<Arm>& arms) {
  for (const Arm& arm : arms) {
    for (const auto& run : arm.runs) {
      if (!(run.final_eval_loss < run.train_loss.front())) return false;
    }
  }
  return true;
}

std::string thousands(std::int64_t count) { return fmt::format("{:.1f}k", static_cast<double>(count) / 1000.0); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GLaM: MoE every other layer vs a dense model of equal activated size"};
  train::ExampleFlags flags;
  Settings settings;
  train::add_example_flags(app, flags);
  app.add_option("--dim", settings.dim, "model width")->check(CLI::PositiveNumber);
  app.add_option("--layers", settings.layers, "Transformer layers (every other one is MoE)")->check(CLI::Range(2, 64));
  app.add_option("--context", settings.context, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", settings.batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--steps", settings.steps, "training steps per model")->check(CLI::PositiveNumber);
  app.add_option("--experts", settings.experts, "experts per MoE layer (E)")->check(CLI::Range(2, 1024));
  app.add_option("--expert-hidden", settings.expert_hidden, "expert FFN width; 0 = 2·dim (equal activated size)");
  app.add_option("--seeds", settings.seeds, "seeds per model (paired comparisons need >= 3)")->check(CLI::Range(2, 1000));
  app.add_option("--larger-dense", settings.larger_dense, "also train a dense model of the MoE's total size");
  app.add_option("--capacity-factor", settings.capacity_factor, "capacity factor in training and evaluation (0 = dropless)");
  app.add_option("--lr", settings.lr, "peak AdamW learning rate")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  settings.seed = flags.seed;
  if (flags.quick) {
    settings.dim = 32;
    settings.context = 16;
    settings.batch = 8;
    settings.steps = 15;
    settings.experts = 4;
  }
  train::RunDir run_dir = train::RunDir::create(flags.out, "glam");
  train::MetricsLog metrics(run_dir.metrics_path());  // every run's loss curve, one line per step
  examples::CharCorpus corpus = examples::load_kjv_characters(flags.quick);
  fmt::print("KJV: {} characters, vocabulary of {}; GPT width {}, {} layers; MoE every other layer, E = {}, top-2\n",
             corpus.ids.size(), corpus.tokenizer.vocab_size(), settings.dim, settings.layers, settings.experts);

  // ---- train: the MoE and the dense model of equal activated size, seed by seed ----
  std::vector<Arm> arms{{"MoE (GLaM layout)", settings.dim, true, {}}, {"dense, same activated", settings.dim, false, {}}};
  for (std::int64_t s = 0; s < settings.seeds; ++s) {
    for (Arm& arm : arms) {
      Generator router_init(settings.seed + 100 + static_cast<std::uint64_t>(s));
      examples::LmExperiment run = make_experiment(settings, corpus, arm.dim, arm.moe, settings.seed + s, router_init);
      run.name = fmt::format("{} s{}", arm.moe ? "MoE" : "dense", s);
      run.metrics = &metrics;
      arm.runs.push_back(examples::train_lm(run, corpus));
    }
  }
  // ---- a dense model about as big as the MoE in total, for context, on the same seeds ----
  if (settings.larger_dense) {
    std::int64_t width = dense_width_for(settings, corpus, arms[0].runs.front().parameters.total);
    if (width == settings.dim) width += 32;  // tiny models (--quick): still one step wider
    Arm wide{fmt::format("dense, MoE's total size (width {})", width), width, false, {}};
    for (std::int64_t s = 0; s < settings.seeds; ++s) {
      Generator unused(0);
      examples::LmExperiment run = make_experiment(settings, corpus, width, false, settings.seed + s, unused);
      run.name = fmt::format("dense w{} s{}", width, s);
      run.metrics = &metrics;
      wide.runs.push_back(examples::train_lm(run, corpus));
    }
    arms.push_back(wide);
  }

  // ---- table: total vs activated parameters, and held-out quality ----
  bool all_finite = true;
  train::Table table({"model", "total params", "activated params", "activated/total", "held-out loss", "perplexity",
                      "train GFLOPs", "train time (s)"});
  for (const Arm& arm : arms) {
    std::vector<double> perplexities, seconds, gflops;
    for (const auto& run : arm.runs) {
      perplexities.push_back(std::exp(run.final_eval_loss));
      seconds.push_back(run.seconds);
      gflops.push_back(run.flops / 1e9);
      all_finite = all_finite && run.finite;
    }
    const moe::ParameterCounts& counts = arm.runs.front().parameters;
    table.add_row({arm.name, thousands(counts.total), thousands(counts.activated),
                   fmt::format("{:.0f}%", 100.0 * static_cast<double>(counts.activated) / static_cast<double>(counts.total)),
                   examples::mean_and_spread(arm.final_losses()), examples::mean_and_spread(perplexities, 2),
                   examples::mean_and_spread(gflops, 1), examples::mean_and_spread(seconds, 1)});
  }
  fmt::print("\n(GLaM 64E, for scale: 1.2T total, 96.6B activated, 8%.)\n");
  table.print(std::cout);

  fmt::print("{} seeds per row (mean ± sd); FLOPs: training forward + backward, capacity padding included\n\n"
             "Comparisons (paired over seeds, 95% interval):\n", settings.seeds);
  std::vector<examples::LossArm> loss_arms;
  for (const Arm& arm : arms) loss_arms.push_back({arm.name, arm.runs});
  examples::plot_loss_three_ways(run_dir, "held_out_loss", "GLaM layout vs dense", loss_arms);

  // ---- comparisons: GLaM's claim is at equal activated size, i.e. equal FLOPs per token ----
  const Arm& moe_arm = arms[0];
  const Arm& dense_arm = arms[1];
  const std::string metric = "held-out loss (nats/char)";
  examples::Comparisons comparisons;
  comparisons.add(train::compare("the MoE has a lower held-out loss than the dense model of equal activated size, at "
                                 "equal steps", "MoE", "dense, same activated", metric, moe_arm.final_losses(),
                                 dense_arm.final_losses(), train::Better::Lower));
  std::vector<double> moe_at, dense_at;
  examples::losses_at_equal_budget(moe_arm.runs, dense_arm.runs, examples::LossAxis::Flops, moe_at, dense_at);
  comparisons.add(train::compare("the MoE has a lower held-out loss than the dense model of equal activated size, at "
                                 "equal training FLOPs (padding counted)", "MoE", "dense, same activated",
                                 metric + " at the smaller run's FLOPs", moe_at, dense_at, train::Better::Lower));
  examples::losses_at_equal_budget(moe_arm.runs, dense_arm.runs, examples::LossAxis::Seconds, moe_at, dense_at);
  comparisons.add(train::compare("the MoE has a lower held-out loss than the dense model of equal activated size, at "
                                 "equal training wall time", "MoE", "dense, same activated",
                                 metric + " at the shorter run's training time", moe_at, dense_at, train::Better::Lower));
  if (arms.size() > 2) {
    comparisons.add(train::compare("the dense model of the MoE's total size has a lower held-out loss than the MoE at "
                                   "equal steps (what the parameters buy when every token uses them)",
                                   "dense, total size", "MoE", metric, arms[2].final_losses(), moe_arm.final_losses(),
                                   train::Better::Lower));
  }
  bool effect_shown = all_finite && comparisons.list()[1].shown;
  const moe::ParameterCounts& moe_counts = moe_arm.runs.front().parameters;
  double activated_share = static_cast<double>(moe_counts.activated) / static_cast<double>(moe_counts.total);
  std::string verdict = fmt::format(
      "The MoE ({} total, {} activated = {:.0f}%) reached held-out loss {} against {} for the dense model of {} "
      "parameters (same width and depth) over {} seeds. A lower loss than the dense model of equal activated size, "
      "at equal steps: {}. At equal training FLOPs: {}. At equal wall time: {}.",
      thousands(moe_counts.total), thousands(moe_counts.activated), 100.0 * activated_share,
      examples::mean_and_spread(moe_arm.final_losses()), examples::mean_and_spread(dense_arm.final_losses()),
      thousands(dense_arm.runs.front().parameters.total), settings.seeds,
      examples::Comparisons::verdict(comparisons.list()[0]), examples::Comparisons::verdict(comparisons.list()[1]),
      examples::Comparisons::verdict(comparisons.list()[2]));
  train::print_profile(flags);
  // The tour's smoke check is GLaM's accounting, which holds from the first step: a token activates
  // a fraction of the MoE's parameters at the FLOPs of the dense model of equal activated size; and
  // every model learned. Whether the MoE then wins needs the default run.
  double flops_ratio = mean_flops(moe_arm) / mean_flops(dense_arm);  // same steps and tokens: per token too
  bool accounting_check = all_finite && activated_share < 1.0 && std::abs(flops_ratio - 1.0) < 0.05 &&
                          every_run_learned(arms);
  fmt::print("\ntour: glam | {:.0f}% of {} parameters activated, training FLOPs per token MoE / dense of equal "
             "activated size x{:.3f} (within 5%); every model learned | {}\n",
             100.0 * activated_share, thousands(moe_counts.total), flops_ratio, accounting_check ? "yes" : "no");

  run_dir.write_summary({{"example", "glam"},
                         {"steps", settings.steps},
                         {"experts", settings.experts},
                         {"seeds", settings.seeds},
                         {"moe_parameters", {{"total", moe_counts.total}, {"activated", moe_counts.activated}}},
                         {"table", table.to_json()},
                         {"comparisons", comparisons.to_json()},
                         {"verdict", verdict},
                         {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run_dir.path().string());
  return all_finite ? 0 : 1;
}
