// Switch Transformer (Fedus, Zoph, Shazeer 2022; moe/switch_router.h): top-1 routing, so each token
// passes through ONE expert of the same width as the dense FFN and the FLOPs per token match the
// dense model's, while the parameters grow E-fold. The paper's headline: at equal FLOPs per token,
// Switch reaches the dense model's quality in fewer steps and less wall time (7.5x for Switch-Base
// vs T5-Base). On a character GPT on the King James Bible this example measures, each claim as a
// paired difference over seeds with its 95% interval (train/stats.h, summary.json "comparisons"):
//   1. dense vs Switch: the wall time and the steps each needs to reach a common held-out loss (the
//      worse of the two final losses of a seed); held-out loss at equal steps, at equal training wall
//      time and at equal training FLOPs (capacity padding counted, moe/flops.h); loss curves
//      against steps, FLOPs and time;
//   2. the capacity factor 1.0 / 1.25 / 2.0 (Table 1): dropped tokens and held-out loss;
//   3. the load-balancing loss (eq. 4) on and off, trained under the capacity limit cf 1.25 and
//      also evaluated there, where collapse costs dropped tokens and loss (dropless, an overloaded
//      expert would be free).
//   build/examples/switch_top1            default run: 14 min wall, 10 min CPU (1 thread)
//   build/examples/switch_top1 --quick    seconds: a tiny model (CI smoke test)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "examples/moe_lm.h"
#include "examples/moe_lm_report.h"
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
  double held_out_at_limit = NAN;         // the final model's held-out loss evaluated at the collapse capacity
};

// The first step (or second, or FLOP: whatever `steps` holds) at which `loss` is at or below
// `target`, interpolated linearly between evaluations; NAN when it never gets there.
double first_step_reaching(const std::vector<double>& steps, const std::vector<double>& loss, double target) {
  for (std::size_t i = 0; i < loss.size(); ++i) {
    if (loss[i] > target) continue;
    if (i == 0) return steps[0];
    double fraction = (loss[i - 1] - target) / (loss[i - 1] - loss[i]);
    return steps[i - 1] + fraction * (steps[i] - steps[i - 1]);
  }
  return NAN;
}

// "cf 1.25", or "dropless" for a capacity factor of 0 (no capacity limit).
std::string capacity_label(double factor) { return factor > 0.0 ? fmt::format("cf {}", factor) : "dropless"; }

// The positions of the tightest and the roomiest capacity factor in `factors`; dropless (0) is the roomiest.
std::pair<std::size_t, std::size_t> tightest_and_roomiest(const std::vector<double>& factors) {
  auto room = [](double factor) { return factor > 0.0 ? factor : INFINITY; };
  auto by_room = [&](double a, double b) { return room(a) < room(b); };
  auto [tightest, roomiest] = std::minmax_element(factors.begin(), factors.end(), by_room);
  return {static_cast<std::size_t>(tightest - factors.begin()), static_cast<std::size_t>(roomiest - factors.begin())};
}

std::vector<examples::LmResult> results(const std::vector<SwitchRun>& runs) {
  std::vector<examples::LmResult> out;
  for (const SwitchRun& r : runs) out.push_back(r.result);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switch Transformer: top-1 MoE vs dense at equal FLOPs per token"};
  train::ExampleFlags flags;
  std::int64_t experts = 8, dim = 64, layers = 2, steps = 1500, batch = 16, context = 32, seeds = 3, evaluations = 20;
  double lr = 3e-3, expert_init_scale = 0.1, capacity_factor = 0.0, eval_capacity_factor = 0.0, balance_alpha = 1e-2,
         collapse_capacity = 1.25;
  std::vector<double> capacity_sweep = {1.0, 1.25, 2.0};
  train::add_example_flags(app, flags);
  app.add_option("--experts", experts, "experts per MoE layer (the paper scales 8 to 2048)")->check(CLI::PositiveNumber);
  app.add_option("--dim", dim, "model width; dense FFN and every expert are 4x this")->check(CLI::PositiveNumber);
  app.add_option("--layers", layers, "Transformer layers (every FFN becomes a Switch layer)")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "training steps per run")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--context", context, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--seeds", seeds, "seeds of every arm (paired comparisons need >= 3)")->check(CLI::Range(2, 1000));
  app.add_option("--evaluations", evaluations, "held-out evaluations per run")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak AdamW learning rate (both models)")->check(CLI::PositiveNumber);
  app.add_option("--expert-init-scale", expert_init_scale,
                 "expert weights ~ std sqrt(s / fan-in); Switch §2.4: 0.1; the dense FFN's uniform init is 1/3");
  app.add_option("--capacity-factor", capacity_factor, "training capacity factor of the dense-vs-Switch runs; 0 = dropless (default: at 512 tokens a step, cf 1.25 drops a fifth of them)");
  app.add_option("--eval-capacity-factor", eval_capacity_factor, "capacity factor in evaluation, all runs; 0 = dropless (ST-MoE uses 2.0)");
  app.add_option("--capacity-sweep", capacity_sweep, "training capacity factors to compare (Table 1)");
  app.add_option("--balance-alpha", balance_alpha, "alpha of the load-balancing loss, eq. (4)");
  app.add_option("--collapse-capacity", collapse_capacity,
                 "training capacity factor of the balance-loss on/off runs (a limit, so collapse drops tokens)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) experts = 4, dim = 32, layers = 1, steps = 30, batch = 4, context = 32, evaluations = 3;
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
      experiment.after_step = [&, experts](nn::GptModel& gpt, const nn::Taps& record, std::int64_t step, double) {
        if (step == steps) {
          // the trained model once more, evaluated under the capacity limit of the collapse ablation,
          // so a router that overloads a few experts pays for the tokens they drop
          auto layers = moe::find_moe_layers(gpt);
          std::vector<double> saved;
          for (auto& [name, layer] : layers) {
            saved.push_back(layer->config.capacity_factor_eval);
            layer->config.capacity_factor_eval = collapse_capacity;
          }
          out.held_out_at_limit = examples::held_out_loss(gpt, corpus, batch);
          for (std::size_t l = 0; l < layers.size(); ++l) layers[l].second->config.capacity_factor_eval = saved[l];
        }
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

  // Every arm runs the same seeds; seed s of one arm and seed s of another see the same data order.
  auto arm = [&](const std::string& name, bool switch_layers, double train_capacity, double alpha) {
    std::vector<SwitchRun> runs;
    for (std::int64_t s = 0; s < seeds; ++s) {
      auto seed = flags.seed + static_cast<std::uint64_t>(s);
      runs.push_back(train_once(fmt::format("{} s{}", name, seed), switch_layers, train_capacity, alpha, seed));
    }
    return runs;
  };
  // ---- 1. dense vs Switch; 2. capacity factor sweep; 3. balance loss off under a capacity limit ----
  std::vector<SwitchRun> dense = arm("dense", false, capacity_factor, balance_alpha);
  std::vector<SwitchRun> switched = arm("switch", true, capacity_factor, balance_alpha);
  std::vector<std::vector<SwitchRun>> sweep;
  for (double factor : capacity_sweep) {
    sweep.push_back(factor == capacity_factor ? switched : arm(fmt::format("sw cf{}", factor), true, factor, balance_alpha));
  }
  auto in_sweep = std::find(capacity_sweep.begin(), capacity_sweep.end(), collapse_capacity);
  std::vector<SwitchRun> balanced =
      in_sweep != capacity_sweep.end() ? sweep[static_cast<std::size_t>(in_sweep - capacity_sweep.begin())]
      : collapse_capacity == capacity_factor ? switched
                                             : arm(fmt::format("sw cf{}", collapse_capacity), true, collapse_capacity,
                                                   balance_alpha);
  std::vector<SwitchRun> unbalanced = arm(fmt::format("no-bal cf{}", collapse_capacity), true, collapse_capacity, 0.0);

  bool all_finite = true;
  for (const auto* group : {&dense, &switched, &balanced, &unbalanced}) {
    for (const SwitchRun& r : *group) all_finite = all_finite && r.result.finite;
  }
  for (const auto& group : sweep) {
    for (const SwitchRun& r : group) all_finite = all_finite && r.result.finite;
  }

  // ---- per seed: the steps Switch needs to reach the dense model's final loss (NAN: never) ----
  std::vector<double> reached;
  for (std::int64_t s = 0; s < seeds; ++s) {
    const examples::LmResult& d = dense[static_cast<std::size_t>(s)].result;
    const examples::LmResult& w = switched[static_cast<std::size_t>(s)].result;
    reached.push_back(first_step_reaching(w.eval_steps, w.eval_loss, d.final_eval_loss));
  }
  std::int64_t reached_count = std::count_if(reached.begin(), reached.end(), [](double r) { return !std::isnan(r); });

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
  auto seconds = [](const SwitchRun& r) { return r.result.seconds; };
  auto gflops = [](const SwitchRun& r) { return r.result.flops / 1e9; };
  auto parameters = [](const SwitchRun& r) { return fmt::format("{} / {}", r.result.parameters.total, r.result.parameters.activated); };
  train::Table table({"model", "params total / per token", "held-out loss",
                      "held-out loss at " + capacity_label(collapse_capacity), "tokens dropped", "router load CV",
                      "train GFLOPs", "train seconds"});
  auto add_row = [&](const std::string& name, const std::vector<SwitchRun>& runs, bool moe) {
    table.add_row({name, parameters(runs.front()), examples::mean_and_spread(column(runs, final_loss)),
                   moe ? examples::mean_and_spread(column(runs, [](const SwitchRun& r) { return r.held_out_at_limit; }))
                       : "-",
                   moe ? examples::mean_and_spread(column(runs, dropped), 1) + "%" : "-",
                   moe ? examples::mean_and_spread(column(runs, load_cv), 2) : "-",
                   examples::mean_and_spread(column(runs, gflops), 1),
                   examples::mean_and_spread(column(runs, seconds), 1)});
  };
  add_row("dense", dense, false);
  add_row("switch " + capacity_label(capacity_factor), switched, true);
  for (std::size_t i = 0; i < capacity_sweep.size(); ++i) {
    if (capacity_sweep[i] != capacity_factor) add_row("switch " + capacity_label(capacity_sweep[i]), sweep[i], true);
  }
  if (in_sweep == capacity_sweep.end() && collapse_capacity != capacity_factor) {
    add_row("switch " + capacity_label(collapse_capacity), balanced, true);
  }
  add_row(fmt::format("switch {}, no balance loss", capacity_label(collapse_capacity)), unbalanced, true);
  fmt::print("\n{} steps, {} seeds per row (mean ± sd); held-out loss in nats/char at the end; drops over all "
             "training steps and layers; router load CV = spread of the tokens asked of each expert in layer 1 "
             "(last {} steps; 0 = even, {:.2f} = one expert); FLOPs: training forward + backward with capacity "
             "padding (moe/flops.h); evaluation: {}\n",
             steps, seeds, tail, std::sqrt(static_cast<double>(experts - 1)), capacity_label(eval_capacity_factor));
  table.print(std::cout);
  std::string reach_text = fmt::format("Switch reached its seed's dense final loss in {} of {} seeds", reached_count, seeds);
  if (reached_count > 0) {
    double sum = 0.0;
    for (double r : reached) sum += std::isnan(r) ? 0.0 : r;
    reach_text += fmt::format(", at step {:.0f} of {} on average over those", sum / static_cast<double>(reached_count), steps);
  }
  fmt::print("{}\n\nComparisons (paired over seeds, 95% interval):\n", reach_text);

  // ---- comparisons, each in the paper's unit ----
  const std::string loss_metric = "held-out loss (nats/char)";
  examples::Comparisons comparisons;
  std::vector<examples::LmResult> dense_results = results(dense), switch_results = results(switched);
  comparisons.add(train::compare("Switch has a lower held-out loss than dense at equal steps", "switch", "dense",
                                 loss_metric, column(switched, final_loss), column(dense, final_loss),
                                 train::Better::Lower));
  std::vector<double> switch_at, dense_at;
  examples::losses_at_equal_budget(switch_results, dense_results, examples::LossAxis::Seconds, switch_at, dense_at);
  // Switch's own unit (Figure 1): the time and the steps to reach a quality. Per seed the target is
  // the worse of the two final losses, so both runs reach it and neither time is censored.
  std::vector<double> switch_seconds, dense_seconds, switch_steps, dense_steps;
  for (std::size_t s = 0; s < switch_results.size(); ++s) {
    const examples::LmResult& w = switch_results[s];
    const examples::LmResult& d = dense_results[s];
    double target = std::max(w.final_eval_loss, d.final_eval_loss);
    switch_seconds.push_back(first_step_reaching(w.eval_seconds, w.eval_loss, target));
    dense_seconds.push_back(first_step_reaching(d.eval_seconds, d.eval_loss, target));
    switch_steps.push_back(first_step_reaching(w.eval_steps, w.eval_loss, target));
    dense_steps.push_back(first_step_reaching(d.eval_steps, d.eval_loss, target));
  }
  comparisons.add(train::compare("Switch reaches a common held-out loss in less training wall time than dense",
                                 "switch", "dense", "seconds to reach the worse of the two final losses", switch_seconds,
                                 dense_seconds, train::Better::Lower), 2);
  comparisons.add(train::compare("Switch reaches a common held-out loss in fewer steps than dense", "switch", "dense",
                                 "steps to reach the worse of the two final losses", switch_steps, dense_steps,
                                 train::Better::Lower), 0);
  comparisons.add(train::compare("Switch has a lower held-out loss than dense at equal training wall time", "switch",
                                 "dense", loss_metric + " at the shorter run's training time", switch_at, dense_at,
                                 train::Better::Lower));
  examples::losses_at_equal_budget(switch_results, dense_results, examples::LossAxis::Flops, switch_at, dense_at);
  comparisons.add(train::compare("Switch has a lower held-out loss than dense at equal training FLOPs", "switch",
                                 "dense", loss_metric + " at the smaller run's training FLOPs", switch_at, dense_at,
                                 train::Better::Lower));
  const std::vector<SwitchRun>& lowest = sweep.front();
  const std::vector<SwitchRun>& highest = sweep.back();
  std::string low_name = "switch " + capacity_label(capacity_sweep.front());
  std::string high_name = "switch " + capacity_label(capacity_sweep.back());
  comparisons.add(train::compare(fmt::format("a larger capacity factor drops fewer tokens ({} vs {})",
                                             capacity_label(capacity_sweep.back()), capacity_label(capacity_sweep.front())),
                                 high_name, low_name, "tokens dropped in training (%)", column(highest, dropped),
                                 column(lowest, dropped), train::Better::Lower), 2);
  comparisons.add(train::compare(fmt::format("a larger capacity factor gives a lower held-out loss ({} vs {})",
                                             capacity_label(capacity_sweep.back()), capacity_label(capacity_sweep.front())),
                                 high_name, low_name, loss_metric, column(highest, final_loss), column(lowest, final_loss),
                                 train::Better::Lower));
  std::string balanced_name = "switch " + capacity_label(collapse_capacity);
  std::string unbalanced_name = balanced_name + " without balance loss";
  comparisons.add(train::compare("the balance loss spreads the router's load more evenly", balanced_name,
                                 unbalanced_name, "router load CV, layer 1", column(balanced, load_cv),
                                 column(unbalanced, load_cv), train::Better::Lower), 2);
  comparisons.add(train::compare("the balance loss drops fewer tokens under the capacity limit", balanced_name,
                                 unbalanced_name, "tokens dropped in training (%)", column(balanced, dropped),
                                 column(unbalanced, dropped), train::Better::Lower), 2);
  comparisons.add(train::compare("the balance loss gives a lower held-out loss when trained under the capacity limit",
                                 balanced_name, unbalanced_name, loss_metric + ", evaluated " +
                                 capacity_label(eval_capacity_factor), column(balanced, final_loss),
                                 column(unbalanced, final_loss), train::Better::Lower));
  auto at_limit = [](const SwitchRun& r) { return r.held_out_at_limit; };
  comparisons.add(train::compare("the balance loss gives a lower held-out loss when evaluated under the capacity limit",
                                 balanced_name, unbalanced_name, loss_metric + ", evaluated " +
                                 capacity_label(collapse_capacity), column(balanced, at_limit),
                                 column(unbalanced, at_limit), train::Better::Lower));

  // ---- plots ----
  examples::plot_loss_three_ways(run, "loss", "held-out loss, dense vs Switch",
                                 {{"dense", dense_results}, {"Switch " + capacity_label(capacity_factor), switch_results}});
  std::vector<examples::LossArm> capacity_arms;
  for (std::size_t i = 0; i < capacity_sweep.size(); ++i) {
    capacity_arms.push_back({"Switch " + capacity_label(capacity_sweep[i]), results(sweep[i])});
  }
  capacity_arms.push_back({"Switch " + capacity_label(collapse_capacity) + ", no balance loss", results(unbalanced)});
  examples::plot_loss_three_ways(run, "loss_capacity", "held-out loss by capacity factor and balance loss",
                                 capacity_arms);
  std::vector<std::string> factor_labels;
  std::vector<double> drops;
  for (std::size_t i = 0; i < capacity_sweep.size(); ++i) {
    factor_labels.push_back(capacity_label(capacity_sweep[i]));
    drops.push_back(examples::mean_of_last(column(sweep[i], dropped), sweep[i].size()));
  }
  train::bar_plot(run.plot_path("drops_vs_capacity"),
                  fmt::format("tokens dropped in training vs capacity factor (mean of {} seeds)", seeds), factor_labels,
                  drops, "dropped tokens (%)");
  std::int64_t smooth = std::max<std::int64_t>(1, steps / 30);
  train::PlotOptions share_scale;
  share_scale.y_min = 0.0;
  share_scale.y_max = 1.0;
  train::line_plot(run.plot_path("expert_share_balanced"),
                   fmt::format("expert share of tokens, layer 1, WITH balance loss, {} (seed {})",
                               capacity_label(collapse_capacity), flags.seed),
                   "step", "share of tokens", examples::expert_share_series(balanced.front().result.load.front(), smooth),
                   share_scale);
  train::line_plot(run.plot_path("expert_share_unbalanced"),
                   fmt::format("expert share of tokens, layer 1, WITHOUT balance loss, {} (seed {})",
                               capacity_label(collapse_capacity), flags.seed),
                   "step", "share of tokens", examples::expert_share_series(unbalanced.front().result.load.front(), smooth),
                   share_scale);

  // ---- verdict: the paper's effect is Switch reaching the dense quality sooner, in steps or time ----
  const auto& list = comparisons.list();
  // list: 0 loss at equal steps, 1 time to a common loss, 2 steps to it, 3 loss at equal time, 4 at equal FLOPs
  bool effect_shown = all_finite && (list[1].shown || list[2].shown);
  std::string verdict = fmt::format(
      "held-out loss dense {} vs Switch {} ({} seeds). Switch faster to a common loss in wall time: {}. In steps: {}. "
      "A lower loss at equal steps: {}. At equal wall time: {}. At equal FLOPs: {}. {}.",
      examples::mean_and_spread(column(dense, final_loss)), examples::mean_and_spread(column(switched, final_loss)),
      seeds, examples::Comparisons::verdict(list[1]), examples::Comparisons::verdict(list[2]),
      examples::Comparisons::verdict(list[0]), examples::Comparisons::verdict(list[3]),
      examples::Comparisons::verdict(list[4]), reach_text);
  train::print_profile(flags);
  // The tour's smoke check is the capacity mechanism, which a few steps already show: the tightest
  // capacity of the sweep drops more tokens than the roomiest. Switch's speed-up needs the default run.
  auto [tightest, roomiest] = tightest_and_roomiest(capacity_sweep);
  bool capacity_check = all_finite && drops[tightest] > drops[roomiest];
  fmt::print("tour: switch_top1 | drops fall with capacity: {:.1f}% of tokens @{} > {:.1f}% @{} | {}\n",
             drops[tightest], capacity_label(capacity_sweep[tightest]), drops[roomiest],
             capacity_label(capacity_sweep[roomiest]), capacity_check ? "yes" : "no");
  run.write_summary({{"example", "switch_top1"},
                     {"experts", experts},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"switch_steps_reaching_dense_final", reached},
                     {"table", table.to_json()},
                     {"comparisons", comparisons.to_json()},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  return all_finite ? 0 : 1;
}
