// What the number of experts does (Switch Transformer, Fedus et al. 2022, §3.1 and Figure 4; ST-MoE,
// Zoph et al. 2022): at equal FLOPs per token, more experts improve sample efficiency, with
// diminishing returns, and the gain already shows at 2, 4 or 8 experts. This example sweeps
// E ∈ {1 (dense), 2, 4, 8, 16, 32, 64} on the character GPT of examples/moe_lm.h (King James Bible):
// every FFN becomes a Switch layer, top-1, each expert as wide as the dense FFN, so one token runs
// through the same matmuls whatever E is (only the router's D×E projection grows). Measured, over
// seeds: held-out loss against steps and against training FLOPs, the final loss of each E against
// the dense model's (paired 95% intervals, train/stats.h) and against the E before it (diminishing
// returns), and the memory the parameters and their training state take.
//
//   build/examples/expert_count [--quick] [--experts-list 1 2 4 8] [--seeds 3] [--steps 600]
// The default run takes about 16.5 min (1 thread); --quick, seconds.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "examples/moe_lm.h"
#include "moe/switch_router.h"
#include "train/plot.h"
#include "train/run_dir.h"
#include "train/seed_band.h"
#include "train/stats.h"
#include "train/table.h"

using namespace moegrad;
using json = nlohmann::ordered_json;

namespace {

// The runs of one E: one per seed, in seed order (seed s of every E starts from the same data order).
struct Sweep {
  std::int64_t experts = 1;
  std::vector<examples::LmResult> runs;
  double flops_per_token = 0.0;  // mean over seeds (differs from the planned count only when tokens drop)
  std::vector<double> final_losses() const {
    std::vector<double> values;
    for (const auto& r : runs) values.push_back(r.final_eval_loss);
    return values;
  }
};

std::string label_of(std::int64_t experts) { return experts == 1 ? "dense" : fmt::format("E = {}", experts); }

std::string megabytes(double bytes) { return fmt::format("{:.2f}", bytes / (1024.0 * 1024.0)); }

// "1, 2, 4" from a list.
template <class T>
std::string joined(const std::vector<T>& items) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) text += fmt::format("{}{}", i > 0 ? ", " : "", items[i]);
  return text;
}

// The training FLOPs per token of E experts' routers: a D×E projection per layer, 2·D·E a token
// forward (moe/flops.h), 3 times that with the backward; none in the dense model (E = 1).
double router_flops_per_token(std::int64_t experts, std::int64_t dim, std::int64_t layers) {
  return experts == 1 ? 0.0 : 3.0 * 2.0 * static_cast<double>(dim * experts * layers);
}

// The FLOPs per token of E experts apart from the router, over the dense model's: 1 when each token
// runs through exactly one expert as wide as the dense FFN (top-1, dropless, no capacity padding).
double flops_ratio_without_router(const Sweep& sweep, const Sweep& dense, std::int64_t dim, std::int64_t layers) {
  return (sweep.flops_per_token - router_flops_per_token(sweep.experts, dim, layers)) / dense.flops_per_token;
}

// Every E's FLOPs per token apart from the router within `tolerance` of the dense model's (sweeps[0]).
bool flops_match_dense(const std::vector<Sweep>& sweeps, std::int64_t dim, std::int64_t layers, double tolerance) {
  return std::all_of(sweeps.begin(), sweeps.end(), [&](const Sweep& sweep) {
    return std::abs(flops_ratio_without_router(sweep, sweeps.front(), dim, layers) - 1.0) <= tolerance;
  });
}

// Parameters grow with every step of the sweep (sorted by E).
bool parameters_grow(const std::vector<Sweep>& sweeps) {
  for (std::size_t i = 1; i < sweeps.size(); ++i) {
    if (sweeps[i].runs.front().parameters.total <= sweeps[i - 1].runs.front().parameters.total) return false;
  }
  return true;
}

std::string mean_spread(const std::vector<double>& values) {
  double mean = 0.0, square = 0.0;
  for (double v : values) mean += v / static_cast<double>(values.size());
  for (double v : values) square += (v - mean) * (v - mean);
  return fmt::format("{:.3f} ± {:.3f}", mean, std::sqrt(square / static_cast<double>(values.size() - 1)));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switch / ST-MoE: held-out loss against the number of experts at equal FLOPs per token"};
  train::ExampleFlags flags;
  std::vector<std::int64_t> expert_counts = {1, 2, 4, 8, 16, 32, 64};
  std::int64_t dim = 64, layers = 2, steps = 1500, batch = 16, context = 32, seeds = 3, evaluations = 20;
  double lr = 3e-3, expert_init_scale = 0.1, capacity_factor = 0.0, balance_alpha = 1e-2;
  train::add_example_flags(app, flags);
  app.add_option("--experts-list", expert_counts, "expert counts to sweep; 1 is the dense model")
      ->check(CLI::PositiveNumber);
  app.add_option("--dim", dim, "model width; the dense FFN and every expert are 4x this")->check(CLI::PositiveNumber);
  app.add_option("--layers", layers, "Transformer layers (every FFN becomes a Switch layer)")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "training steps per run")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--context", context, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--seeds", seeds, "seeds per expert count (paired across counts)")->check(CLI::Range(2, 100));
  app.add_option("--evaluations", evaluations, "held-out evaluations per run")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak AdamW learning rate (every run)")->check(CLI::PositiveNumber);
  app.add_option("--expert-init-scale", expert_init_scale, "expert weights ~ std sqrt(s / fan-in); Switch §2.4: 0.1");
  app.add_option("--capacity-factor", capacity_factor, "training capacity factor; 0 = dropless (equal FLOPs exactly)");
  app.add_option("--balance-alpha", balance_alpha, "alpha of the load-balancing loss, Switch eq. (4)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) dim = 32, layers = 1, steps = 20, batch = 4, evaluations = 4;
  std::sort(expert_counts.begin(), expert_counts.end());
  expert_counts.erase(std::unique(expert_counts.begin(), expert_counts.end()), expert_counts.end());
  if (expert_counts.front() != 1) expert_counts.insert(expert_counts.begin(), 1);  // dense is the baseline
  train::RunDir run = train::RunDir::create(flags.out, "expert_count");
  train::MetricsLog metrics(run.metrics_path());

  // ---- data and model ----
  examples::CharCorpus corpus = examples::load_kjv_characters(flags.quick);
  nn::GptConfig model = examples::small_gpt(corpus, dim, layers);
  model.max_positions = context;
  fmt::print("KJV: {} characters. GPT: {} layers, width {}, FFN {}; top-1 Switch layers in every layer with experts of "
             "width {}; E = {}; {} seeds of {} steps each\n\n",
             corpus.ids.size(), layers, dim, model.ffn_hidden, model.ffn_hidden, joined(expert_counts), seeds,
             steps);

  // ---- the sweep: seed-major, so an interrupted run still has every E for its first seeds ----
  std::vector<Sweep> sweeps;
  for (std::int64_t experts : expert_counts) sweeps.push_back({experts, {}, 0.0});
  for (std::int64_t s = 0; s < seeds; ++s) {
    auto seed = flags.seed + static_cast<std::uint64_t>(s);
    for (Sweep& sweep : sweeps) {
      examples::LmExperiment experiment;
      experiment.name = fmt::format("{} s{}", label_of(sweep.experts), seed);
      experiment.metrics = &metrics;
      experiment.model = model;
      experiment.moe_every = sweep.experts == 1 ? 0 : 1;
      experiment.moe.expert_hidden = model.ffn_hidden;  // as wide as the dense FFN: equal FLOPs per token
      experiment.moe.capacity_factor_train = capacity_factor;
      experiment.moe.capacity_factor_eval = 0.0;
      experiment.moe.z_loss_weight = 0.0;  // the Switch model, as in switch_top1
      experiment.moe.init_scale = expert_init_scale;
      experiment.steps = steps;
      experiment.batch = batch;
      experiment.lr = lr;
      experiment.evaluations = evaluations;
      experiment.seed = seed;
      moe::SwitchRouterConfig router;
      router.dim = dim;
      router.experts = sweep.experts;
      router.balance_alpha = balance_alpha;
      experiment.make_router = [router, seed](std::int64_t layer) {
        Generator init(seed * 1000 + static_cast<std::uint64_t>(layer) + 1);
        return std::make_shared<moe::SwitchRouter>(router, init);
      };
      sweep.runs.push_back(examples::train_lm(experiment, corpus));
      // moe/flops counts each step from its routing record (capacity padding included), as the
      // other MoE examples do; per token over the training tokens up to the last evaluation.
      const examples::LmResult& last = sweep.runs.back();
      sweep.flops_per_token += last.eval_flops.back() / (last.eval_steps.back() * static_cast<double>(batch * context)) /
                               static_cast<double>(seeds);
    }
  }
  bool all_finite = true;
  for (const Sweep& sweep : sweeps) {
    for (const auto& r : sweep.runs) all_finite = all_finite && r.finite && r.eval_loss.size() == sweeps.front().runs.front().eval_loss.size();
  }
  if (!all_finite) {
    fmt::print("A run diverged (NaN/inf loss) or stopped early; its curves are cut. Try a lower --lr.\n");
    return 1;
  }

  // ---- comparisons: every E against dense, and every E against the one before it ----
  const Sweep& dense = sweeps.front();
  json comparisons = json::array();
  std::vector<train::Comparison> against_dense, against_previous;
  for (std::size_t i = 1; i < sweeps.size(); ++i) {
    const std::string metric = "final held-out loss (nats/char), equal FLOPs per token";
    against_dense.push_back(train::compare(fmt::format("{} experts beat dense", sweeps[i].experts), label_of(sweeps[i].experts),
                                           "dense", metric, sweeps[i].final_losses(), dense.final_losses(), train::Better::Lower));
    comparisons.push_back(train::to_json(against_dense.back()));
    if (i >= 2) {
      against_previous.push_back(train::compare(
          fmt::format("{} experts beat {}", sweeps[i].experts, sweeps[i - 1].experts), label_of(sweeps[i].experts),
          label_of(sweeps[i - 1].experts), metric, sweeps[i].final_losses(), sweeps[i - 1].final_losses(), train::Better::Lower));
      comparisons.push_back(train::to_json(against_previous.back()));
    }
  }

  // ---- table ----
  train::Table table({"model", "params", "params / token", "param MB", "train state MB", "MFLOPs / token",
                      "held-out loss", "vs dense [95%]", "shown", "s / run"});
  for (std::size_t i = 0; i < sweeps.size(); ++i) {
    const Sweep& sweep = sweeps[i];
    const moe::ParameterCounts& p = sweep.runs.front().parameters;
    double seconds = 0.0;
    for (const auto& r : sweep.runs) seconds += r.seconds / static_cast<double>(sweep.runs.size());
    std::string difference = "-", shown = "-";
    if (i > 0) {
      const train::Comparison& c = against_dense[i - 1];
      difference = fmt::format("{:+.3f} [{:+.3f}, {:+.3f}]", c.difference, c.ci95_low, c.ci95_high);
      shown = train::verdict(c);
    }
    // float32 parameters: 4 bytes each; training also holds a gradient and AdamW's two moments.
    table.add_row({label_of(sweep.experts), fmt::format("{}", p.total), fmt::format("{}", p.activated),
                   megabytes(4.0 * static_cast<double>(p.total)), megabytes(16.0 * static_cast<double>(p.total)),
                   fmt::format("{:.3f}", sweep.flops_per_token * 1e-6), mean_spread(sweep.final_losses()), difference,
                   shown, fmt::format("{:.1f}", seconds)});
  }
  fmt::print("\n{} steps of {} tokens; held-out loss at the end, mean ± sd over {} seeds; 'vs dense' is the paired "
             "difference (negative = better than dense); train state = parameters, gradients and AdamW's moments "
             "(float32)\n",
             steps, batch * context, seeds);
  table.print(std::cout);
  if (!against_previous.empty()) {
    train::Table steps_table({"step", "difference", "95% interval", "shown"});
    for (const train::Comparison& c : against_previous) {
      steps_table.add_row({c.claim, fmt::format("{:+.4f}", c.difference),
                           fmt::format("[{:+.4f}, {:+.4f}]", c.ci95_low, c.ci95_high), train::verdict(c)});
    }
    fmt::print("\nEach count against the one before it (diminishing returns show as gains that shrink):\n");
    steps_table.print(std::cout);
  }

  // ---- plots: bands are the 95% interval of the mean over seeds ----
  std::vector<train::BandSeries> by_step, by_flops;
  std::vector<double> log_experts;
  std::vector<std::vector<double>> final_by_seed(static_cast<std::size_t>(seeds));
  for (const Sweep& sweep : sweeps) {
    std::vector<std::vector<double>> curves;
    for (const auto& r : sweep.runs) curves.push_back(r.eval_loss);
    const std::vector<double>& steps_at = sweep.runs.front().eval_steps;
    by_step.push_back(train::seed_band(label_of(sweep.experts), steps_at, curves));
    std::vector<double> flops;
    for (std::size_t i = 0; i < steps_at.size(); ++i) {
      double sum = 0.0;
      for (const auto& r : sweep.runs) sum += r.eval_flops[i];
      flops.push_back(sum / static_cast<double>(sweep.runs.size()));
    }
    by_flops.push_back(train::seed_band(label_of(sweep.experts), flops, curves));
    log_experts.push_back(std::log2(static_cast<double>(sweep.experts)));
    for (std::size_t s = 0; s < sweep.runs.size(); ++s) {
      final_by_seed[s].push_back(sweep.runs[s].final_eval_loss - dense.runs[s].final_eval_loss);
    }
  }
  train::band_plot(run.plot_path("loss_vs_steps"), "held-out loss, equal FLOPs per token", "step",
                   "cross-entropy (nats/char)", by_step);
  train::band_plot(run.plot_path("loss_vs_flops"), "held-out loss against training compute", "training FLOPs",
                   "cross-entropy (nats/char)", by_flops);
  // Paired by seed, so the band is the interval of the comparison against dense (below 0: better).
  train::band_plot(run.plot_path("final_loss_vs_experts"), "final held-out loss minus the dense model's, paired by seed",
                   "log2(experts) (0 = dense)", "difference (nats/char)",
                   {train::seed_band("E experts minus dense", log_experts, final_by_seed)});
  std::vector<std::string> labels;
  std::vector<double> memory;
  for (const Sweep& sweep : sweeps) {
    labels.push_back(label_of(sweep.experts));
    memory.push_back(16.0 * static_cast<double>(sweep.runs.front().parameters.total) / (1024.0 * 1024.0));
  }
  train::bar_plot(run.plot_path("memory"), "parameters + gradients + AdamW moments (float32)", labels, memory, "MB");

  // ---- verdict ----
  std::vector<std::string> better;
  for (const train::Comparison& c : against_dense) {
    if (c.shown) better.push_back(c.a);
  }
  std::string verdict = fmt::format(
      "At equal FLOPs per token over {} seeds, {} beat the dense model's held-out loss with a 95% interval below 0{}",
      seeds, better.empty() ? "no expert count" : joined(better),
      better.empty()                            ? ": the effect is not shown at this scale."
      : better.size() == against_dense.size()   ? "."
                                                : "; the others are not shown at this scale.");
  // The smoke check: every run's held-out loss ended below its first training loss.
  bool learned = true;
  for (const Sweep& sweep : sweeps) {
    for (const auto& r : sweep.runs) learned = learned && r.final_eval_loss < r.train_loss.front();
  }
  train::print_profile(flags);
  // The tour's smoke check is the sweep's premise, which holds from the first step: apart from the
  // router's D×E projection, a token costs the dense model's FLOPs whatever E (within 1%), while the
  // parameters grow with E; and every run learned. Whether more experts then win needs the default run.
  const Sweep& largest = sweeps.back();
  double parameter_ratio = static_cast<double>(largest.runs.front().parameters.total) /
                           static_cast<double>(dense.runs.front().parameters.total);
  bool premise_check = flops_match_dense(sweeps, dim, layers, 0.01) && parameters_grow(sweeps) && learned;
  fmt::print("tour: expert_count | training FLOPs per token {} -> {}: x{:.3f}, x{:.3f} without the router (every E "
             "within 1%), parameters x{:.1f}; every run learned | {}\n",
             label_of(dense.experts), label_of(largest.experts), largest.flops_per_token / dense.flops_per_token,
             flops_ratio_without_router(largest, dense, dim, layers), parameter_ratio, premise_check ? "yes" : "no");
  run.write_summary({{"example", "expert_count"},
                     {"experts", expert_counts},
                     {"dim", dim},
                     {"layers", layers},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"tokens_per_step", batch * context},
                     {"table", table.to_json()},
                     {"comparisons", comparisons},
                     {"final_loss_per_seed", [&] {
                        json per_e = json::object();
                        for (const Sweep& sweep : sweeps) per_e[label_of(sweep.experts)] = sweep.final_losses();
                        return per_e;
                      }()},
                     {"verdict", verdict},
                     {"effect_shown", !better.empty()}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  if (!learned) fmt::print("The held-out loss did not fall below the first training loss in every run.\n");
  return learned ? 0 : 1;
}
