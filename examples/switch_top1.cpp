// Switch Transformer (Fedus, Zoph, Shazeer 2022; moe/switch_router.h): top-1 routing, so each token
// passes through ONE expert of the same width as the dense FFN and the FLOPs per token match the
// dense model's, while the parameters grow E-fold. The paper's headline: at equal FLOPs per token,
// Switch reaches the dense model's quality in fewer steps (7.5x for Switch-Base vs T5-Base).
// On a character GPT on the King James Bible this example measures:
//   1. held-out loss vs step, dense vs Switch (several seeds), and the step at which Switch first
//      reaches the dense model's final loss (a speed-up factor);
//   2. the capacity factor 1.0 / 1.25 / 2.0 (Table 1): held-out loss and dropped-token fraction;
//   3. the load-balancing loss (eq. 4) on and off: how evenly the router spreads tokens.
//   build/examples/switch_top1            default run: a few minutes on 2 cores
//   build/examples/switch_top1 --quick    seconds: a tiny model (CI smoke test)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "examples/moe_lm.h"
#include "moe/switch_router.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// One training run and the router's load on the first MoE layer as the router asked for it, before
// capacity dropped anything (the processed counts in LmResult::load are capped by the capacity).
struct SwitchRun {
  examples::LmResult result;
  std::vector<double> requested_load_cv;  // per step
};

// The first step at which `loss` (sampled at `steps`) is at or below `target`, interpolated
// linearly between evaluations; NAN when it never gets there.
double first_step_reaching(const std::vector<double>& steps, const std::vector<double>& loss, double target) {
  for (std::size_t i = 0; i < loss.size(); ++i) {
    if (loss[i] > target) continue;
    if (i == 0) return steps[0];
    double fraction = (loss[i - 1] - target) / (loss[i - 1] - loss[i]);
    return steps[i - 1] + fraction * (steps[i] - steps[i - 1]);
  }
  return NAN;
}

// The held-out curve averaged over runs (all runs evaluate at the same steps).
std::vector<double> mean_curve(const std::vector<SwitchRun>& runs) {
  std::vector<double> curve(runs.front().result.eval_loss.size(), 0.0);
  for (const SwitchRun& r : runs) {
    for (std::size_t i = 0; i < curve.size() && i < r.result.eval_loss.size(); ++i) curve[i] += r.result.eval_loss[i];
  }
  for (double& value : curve) value /= static_cast<double>(runs.size());
  return curve;
}

// "cf 1.25", or "dropless" for a capacity factor of 0 (no capacity limit).
std::string capacity_label(double factor) { return factor > 0.0 ? fmt::format("cf {}", factor) : "dropless"; }

double mean(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return values.empty() ? NAN : sum / static_cast<double>(values.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switch Transformer: top-1 MoE vs dense at equal FLOPs per token"};
  train::ExampleFlags flags;
  std::int64_t experts = 8, dim = 64, layers = 2, steps = 600, batch = 16, context = 32, seeds = 2, evaluations = 20;
  double lr = 3e-3, expert_init_scale = 0.1, capacity_factor = 0.0, eval_capacity_factor = 0.0, balance_alpha = 1e-2;
  std::vector<double> capacity_sweep = {1.0, 1.25, 2.0};
  train::add_example_flags(app, flags);
  app.add_option("--experts", experts, "experts per MoE layer (the paper scales 8 to 2048)")->check(CLI::PositiveNumber);
  app.add_option("--dim", dim, "model width; dense FFN and every expert are 4x this")->check(CLI::PositiveNumber);
  app.add_option("--layers", layers, "Transformer layers (every FFN becomes a Switch layer)")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "training steps per run")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--context", context, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--seeds", seeds, "seeds for the dense vs Switch comparison")->check(CLI::PositiveNumber);
  app.add_option("--evaluations", evaluations, "held-out evaluations per run")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak AdamW learning rate (both models)")->check(CLI::PositiveNumber);
  app.add_option("--expert-init-scale", expert_init_scale,
                 "expert weights ~ std sqrt(s / fan-in); Switch §2.4: 0.1; the dense FFN's uniform init is 1/3");
  app.add_option("--capacity-factor", capacity_factor, "training capacity factor of the dense-vs-Switch runs; 0 = dropless (default: at 512 tokens a step, cf 1.25 drops a fifth of them)");
  app.add_option("--eval-capacity-factor", eval_capacity_factor, "capacity factor in evaluation, all runs; 0 = dropless (ST-MoE uses 2.0)");
  app.add_option("--capacity-sweep", capacity_sweep, "training capacity factors to compare (Table 1)");
  app.add_option("--balance-alpha", balance_alpha, "alpha of the load-balancing loss, eq. (4)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) experts = 4, dim = 32, layers = 1, steps = 30, batch = 4, context = 32, seeds = 1, evaluations = 3;
  train::RunDir run = train::RunDir::create(flags.out, "switch_top1");
  train::MetricsLog metrics(run.metrics_path());  // every run's loss curve, one line per step

  // ---- data and model ----
  examples::CharCorpus corpus = examples::load_kjv_characters(flags.quick);
  nn::GptConfig model = examples::small_gpt(corpus, dim, layers);
  model.max_positions = context;
  fmt::print("KJV: {} characters. GPT: {} layers, width {}, dense FFN {}; Switch: {} experts of width {} in every "
             "layer, top-1\n\n",
             corpus.ids.size(), layers, dim, model.ffn_hidden, experts, model.ffn_hidden);

  // One run: switch_layers false is the dense baseline; otherwise every FFN is a Switch layer whose
  // experts have the dense FFN's width (equal FLOPs per token), with the given capacity factor and
  // balance-loss α (0 turns the loss off). The z-loss (ST-MoE, later) is off: this is the 2021 model.
  auto train_once = [&](const std::string& name, bool switch_layers, double train_capacity, double alpha,
                        std::uint64_t seed) {
    SwitchRun out;
    examples::LmExperiment experiment;
    experiment.name = name;
    experiment.metrics = &metrics;
    experiment.model = model;
    experiment.moe_every = switch_layers ? 1 : 0;
    experiment.moe.expert_hidden = model.ffn_hidden;
    experiment.moe.capacity_factor_train = train_capacity;
    experiment.moe.capacity_factor_eval = eval_capacity_factor;
    experiment.moe.z_loss_weight = 0.0;
    experiment.moe.init_scale = expert_init_scale;
    experiment.experts_per_token = 1.0;
    experiment.aux_weight = alpha > 0.0 ? 1.0 : 0.0;
    experiment.steps = steps;
    experiment.batch = batch;
    experiment.lr = lr;
    experiment.evaluations = evaluations;
    experiment.seed = seed;
    moe::SwitchRouterConfig router;
    router.dim = dim;
    router.experts = experts;
    router.balance_alpha = alpha > 0.0 ? alpha : balance_alpha;  // unused when the aux weight is 0
    experiment.make_router = [router, seed](std::int64_t layer) {
      Generator init(seed * 1000 + static_cast<std::uint64_t>(layer) + 1);
      return std::make_shared<moe::SwitchRouter>(router, init);
    };
    if (switch_layers) {
      experiment.after_step = [&out, experts](nn::GptModel&, const nn::Taps& record, std::int64_t, double) {
        auto moe_layers = moe::routings(record);
        std::vector<std::int64_t> requested(static_cast<std::size_t>(experts), 0);
        for (std::int64_t e : moe_layers.front().second->expert_index.to_vector<std::int64_t>()) {
          requested[static_cast<std::size_t>(e)] += 1;
        }
        out.requested_load_cv.push_back(examples::load_cv(requested));
      };
    }
    out.result = examples::train_lm(experiment, corpus);
    return out;
  };

  // ---- 1. dense vs Switch, several seeds ----
  std::vector<SwitchRun> dense, switched;
  for (std::int64_t s = 0; s < seeds; ++s) {
    auto seed = flags.seed + static_cast<std::uint64_t>(s);
    dense.push_back(train_once(fmt::format("dense s{}", seed), false, capacity_factor, balance_alpha, seed));
    switched.push_back(train_once(fmt::format("switch s{}", seed), true, capacity_factor, balance_alpha, seed));
  }
  // ---- 2. capacity factor sweep and 3. no balance loss (first seed) ----
  std::vector<SwitchRun> sweep;
  for (double factor : capacity_sweep) {
    if (factor == capacity_factor) sweep.push_back(switched.front());
    else sweep.push_back(train_once(fmt::format("switch cf{}", factor), true, factor, balance_alpha, flags.seed));
  }
  SwitchRun unbalanced = train_once("switch no-bal", true, capacity_factor, 0.0, flags.seed);

  bool all_finite = true;
  for (const auto* group : {&dense, &switched, &sweep}) {
    for (const SwitchRun& r : *group) all_finite = all_finite && r.result.finite;
  }
  all_finite = all_finite && unbalanced.result.finite;

  // ---- the speed-up: where the mean Switch curve first reaches the dense model's final loss ----
  const std::vector<double>& eval_steps = dense.front().result.eval_steps;
  std::vector<double> dense_curve = mean_curve(dense), switch_curve = mean_curve(switched);
  double dense_final = dense_curve.back();
  double reached = first_step_reaching(eval_steps, switch_curve, dense_final);
  double speedup = std::isnan(reached) ? NAN : static_cast<double>(steps) / reached;

  // ---- table ----
  std::size_t tail = std::max<std::size_t>(1, static_cast<std::size_t>(steps / 10));
  auto column = [](const std::vector<SwitchRun>& runs, auto value) {
    std::vector<double> values;
    for (const SwitchRun& r : runs) values.push_back(value(r));
    return values;
  };
  auto final_loss = [](const SwitchRun& r) { return r.result.final_eval_loss; };
  auto load_cv = [tail](const SwitchRun& r) { return examples::mean_of_last(r.requested_load_cv, tail); };
  auto dropped = [](const SwitchRun& r) { return 100.0 * r.result.dropped_fraction; };
  auto parameters = [](const SwitchRun& r) { return fmt::format("{} / {}", r.result.parameters.total, r.result.parameters.activated); };
  train::Table table({"model", "params total / per token", "held-out loss", "tokens dropped", "router load CV"});
  table.add_row({fmt::format("dense (seeds: {})", seeds), parameters(dense.front()),
                 examples::mean_and_spread(column(dense, final_loss)), "-", "-"});
  table.add_row({fmt::format("switch {} (seeds: {})", capacity_label(capacity_factor), seeds), parameters(switched.front()),
                 examples::mean_and_spread(column(switched, final_loss)),
                 examples::mean_and_spread(column(switched, dropped), 1) + "%",
                 examples::mean_and_spread(column(switched, load_cv), 2)});
  for (std::size_t i = 0; i < capacity_sweep.size(); ++i) {
    table.add_row({"switch " + capacity_label(capacity_sweep[i]), parameters(sweep[i]),
                   fmt::format("{:.3f}", final_loss(sweep[i])), fmt::format("{:.1f}%", dropped(sweep[i])),
                   fmt::format("{:.2f}", load_cv(sweep[i]))});
  }
  table.add_row({fmt::format("switch {}, no balance loss", capacity_label(capacity_factor)), parameters(unbalanced),
                 fmt::format("{:.3f}", final_loss(unbalanced)), fmt::format("{:.1f}%", dropped(unbalanced)),
                 fmt::format("{:.2f}", load_cv(unbalanced))});
  fmt::print("\n{} steps; held-out loss in nats/char at the end; drops over all training steps and layers; router "
             "load CV = spread of the tokens asked of each expert in layer 1 (last {} steps; 0 = even, {:.2f} = one "
             "expert); sweep rows: seed {}, capacity factor in training; evaluation: {}\n",
             steps, tail, std::sqrt(static_cast<double>(experts - 1)), flags.seed, capacity_label(eval_capacity_factor));
  table.print(std::cout);
  std::string speedup_text =
      std::isnan(reached) ? "Switch did not reach the dense model's final loss"
                          : fmt::format("Switch reached the dense model's final loss {:.3f} at step {:.0f} of {}: {:.2f}x "
                                        "fewer steps",
                                        dense_final, reached, steps, speedup);
  fmt::print("{}\n", speedup_text);

  // ---- plots ----
  std::vector<train::Series> curves = {{"dense (mean of seeds)", eval_steps, dense_curve},
                                       {"Switch (mean of seeds)", eval_steps, switch_curve}};
  train::line_plot(run.plot_path("loss"), "held-out loss at equal FLOPs per token", "step", "cross-entropy (nats/char)",
                   curves);
  std::vector<std::string> factor_labels;
  std::vector<double> drops;
  for (std::size_t i = 0; i < capacity_sweep.size(); ++i) {
    factor_labels.push_back(capacity_label(capacity_sweep[i]));
    drops.push_back(dropped(sweep[i]));
  }
  train::bar_plot(run.plot_path("drops_vs_capacity"), "tokens dropped in training vs capacity factor", factor_labels,
                  drops, "dropped tokens (%)");
  std::int64_t smooth = std::max<std::int64_t>(1, steps / 30);
  train::line_plot(run.plot_path("expert_share_balanced"), "expert share of tokens, layer 1, WITH balance loss", "step",
                   "share of tokens", examples::expert_share_series(switched.front().result.load.front(), smooth));
  train::line_plot(run.plot_path("expert_share_unbalanced"), "expert share of tokens, layer 1, WITHOUT balance loss",
                   "step", "share of tokens", examples::expert_share_series(unbalanced.result.load.front(), smooth));

  // ---- verdict: the paper's effect is Switch reaching the dense quality in fewer steps ----
  // "sooner" means by a margin: at or before 90% of the dense model's steps (a speed-up of at least 1.1x)
  bool effect_shown = all_finite && !std::isnan(reached) && speedup >= 1.1;
  std::string numbers = fmt::format(
      "held-out loss dense {} vs Switch {} (seeds: {}); {}; drops {:.1f}% / {:.1f}% at cf {} / {}; router load CV "
      "{:.2f} with the balance loss vs {:.2f} without",
      examples::mean_and_spread(column(dense, final_loss)), examples::mean_and_spread(column(switched, final_loss)),
      seeds, speedup_text, drops.front(), drops.back(), capacity_sweep.front(), capacity_sweep.back(),
      load_cv(switched.front()), load_cv(unbalanced));
  std::string verdict = numbers + (effect_shown ? ". At equal FLOPs per token Switch got to the dense quality sooner: "
                                                  "the paper's effect showed."
                                                : ". Switch did NOT get to the dense quality sooner in this run: the "
                                                  "paper's effect did not show.");
  train::print_profile(flags);
  fmt::print("tour: switch_top1 | loss dense {:.3f} vs Switch {:.3f}, speed-up {}, drops {:.1f}%->{:.1f}% (cf {}->{}) "
             "| {}\n",
             mean(column(dense, final_loss)), mean(column(switched, final_loss)),
             std::isnan(reached) ? "none" : fmt::format("{:.2f}x", speedup), drops.front(), drops.back(),
             capacity_sweep.front(), capacity_sweep.back(), effect_shown ? "yes" : "no");
  run.write_summary({{"example", "switch_top1"},
                     {"experts", experts},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"dense_final_loss", dense_final},
                     {"switch_step_reaching_dense_final", std::isnan(reached) ? nlohmann::json() : nlohmann::json(reached)},
                     {"speedup", std::isnan(speedup) ? nlohmann::json() : nlohmann::json(speedup)},
                     {"table", table.to_json()},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  return all_finite ? 0 : 1;
}
