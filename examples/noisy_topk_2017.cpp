// Shazeer et al. 2017, "Outrageously Large Neural Networks" (moe/noisy_topk_router.h): a character
// GPT on the King James Bible whose FFNs are MoE layers with many experts and noisy top-k gating,
// trained four ways on the same seeds: with the paper's balancing losses (importance + load, eq. 6-11),
// with the importance loss alone, with the load loss alone, and without either. Without the losses
// the gate collapses onto a few experts ("the rich get richer", §4): the coefficient of variation
// (CV) of the per-expert load and importance climbs, and most experts sit idle. Importance alone
// evens the gate weights but not necessarily the token counts (§4 motivates the load loss with this).
// All arms train and evaluate under a capacity limit (cf 1.25 by default), so a collapse costs
// dropped tokens and held-out loss instead of being free. Each claim is a paired difference over
// seeds with its 95% interval (summary.json "comparisons").
//   build/examples/noisy_topk_2017            default run: about 6 min (1 thread)
//   build/examples/noisy_topk_2017 --quick    seconds: a tiny model (CI smoke test)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "examples/moe_lm.h"
#include "examples/moe_lm_report.h"
#include "moe/noisy_topk_router.h"
#include "moe/routing_trace.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// What one training run leaves behind for the table and the plots.
struct BalanceRun {
  examples::LmResult result;
  std::vector<double> steps, load_cv, importance_cv;  // per step, averaged over the MoE layers
  std::string routing_trace;                          // the first MoE layer on a fixed phrase, after training
};

// Each expert's share of all routed slots over the last `last_steps` steps, summed over the MoE layers.
std::vector<double> final_expert_share(const examples::LmResult& result, std::size_t last_steps) {
  std::vector<double> share;
  double total = 0.0;
  for (const auto& history : result.load) {
    std::size_t from = history.size() > last_steps ? history.size() - last_steps : 0;
    for (std::size_t s = from; s < history.size(); ++s) {
      const auto& counts = history[s].tokens_per_expert;
      share.resize(counts.size(), 0.0);
      for (std::size_t e = 0; e < counts.size(); ++e) {
        share[e] += static_cast<double>(counts[e]);
        total += static_cast<double>(counts[e]);
      }
    }
  }
  for (double& s : share) s = total > 0.0 ? s / total : 0.0;
  return share;
}

// How many of the busiest experts together take half of the tokens: E/2 when the load is even,
// 1 when one expert takes half or more.
std::size_t experts_for_half(std::vector<double> share) {
  std::sort(share.begin(), share.end(), std::greater<>());
  double taken = 0.0;
  for (std::size_t e = 0; e < share.size(); ++e) {
    taken += share[e];
    if (taken >= 0.5) return e + 1;
  }
  return share.size();
}

// Averages a per-step curve over windows of `window` steps, so the plot shows the trend.
train::Series smoothed(const std::string& title, const std::vector<double>& x, const std::vector<double>& y,
                       std::size_t window) {
  train::Series series{title, {}, {}};
  for (std::size_t start = 0; start + window <= y.size(); start += window) {
    double sum = 0.0;
    for (std::size_t i = start; i < start + window; ++i) sum += y[i];
    series.x.push_back(x[start + window - 1]);
    series.y.push_back(sum / static_cast<double>(window));
  }
  return series;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Shazeer et al. 2017: noisy top-k MoE language model with and without the balancing losses"};
  train::ExampleFlags flags;
  std::int64_t experts = 16, k = 2, dim = 48, layers = 2, moe_every = 1, expert_hidden = 96;
  std::int64_t steps = 1500, batch = 16, context = 32, seeds = 3;
  double lr = 3e-3, importance_weight = 0.1, load_weight = 0.1, capacity_factor = 1.25;
  std::string trace_phrase = "And the LORD said";
  train::add_example_flags(app, flags);
  app.add_option("--experts", experts, "experts per MoE layer (E)")->check(CLI::PositiveNumber);
  app.add_option("--k", k, "experts per token (the paper: 4 in the flat MoE, 2 per level in the hierarchical one)")->check(CLI::PositiveNumber);
  app.add_option("--dim", dim, "model width")->check(CLI::PositiveNumber);
  app.add_option("--layers", layers, "Transformer layers")->check(CLI::PositiveNumber);
  app.add_option("--moe-every", moe_every, "1: MoE in every layer, 2: every other layer")->check(CLI::PositiveNumber);
  app.add_option("--expert-hidden", expert_hidden, "hidden width of each expert")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "training steps per run")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--context", context, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--seeds", seeds, "runs per configuration, seeds seed, seed+1, ... (paired comparisons need >= 3)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--capacity-factor", capacity_factor,
                 "capacity factor in training and evaluation, all arms (0 = dropless, where collapse costs nothing)");
  app.add_option("--lr", lr, "peak AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--importance-weight", importance_weight, "w_importance (appendix C.1: 0.1)");
  app.add_option("--load-weight", load_weight, "w_load (appendix C.1: 0.1)");
  app.add_option("--trace-phrase", trace_phrase, "text whose routing is printed at the end");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    experts = 8, k = 2, dim = 32, layers = 1, expert_hidden = 32, steps = 30, batch = 4, context = 32;
    trace_phrase = "And the LORD";
  }
  train::RunDir run = train::RunDir::create(flags.out, "noisy_topk_2017");
  train::MetricsLog metrics(run.metrics_path());  // every run's loss curve, one line per step

  // ---- data and model ----
  examples::CharCorpus corpus = examples::load_kjv_characters(flags.quick);
  nn::GptConfig model = examples::small_gpt(corpus, dim, layers);
  model.max_positions = context;
  trace_phrase = trace_phrase.substr(0, static_cast<std::size_t>(context));
  fmt::print("KJV: {} characters, vocabulary of {}. GPT: {} layers, width {}; MoE every {} layer(s): {} experts, "
             "top-{}, expert width {}\n\n",
             corpus.ids.size(), corpus.tokenizer.vocab_size(), layers, dim, moe_every, experts, k, expert_hidden);

  // One run with the given loss weights (0 leaves that loss out; both 0 trains without aux loss).
  // ST-MoE's z-loss is off in every arm, so only the paper's two losses differ.
  auto train_once = [&](const std::string& name, double w_importance, double w_load, std::uint64_t seed) {
    BalanceRun out;
    bool with_losses = w_importance > 0.0 || w_load > 0.0;
    examples::LmExperiment experiment;
    experiment.name = fmt::format("{} s{}", name, seed);
    experiment.metrics = &metrics;
    experiment.model = model;
    experiment.moe_every = moe_every;
    experiment.moe.expert_hidden = expert_hidden;
    // The 2017 layer gives every chosen expert its token (dropless); a capacity limit, as in every
    // later MoE, is what makes a collapsed router pay for its overloaded experts.
    experiment.moe.capacity_factor_train = capacity_factor;
    experiment.moe.capacity_factor_eval = capacity_factor;
    experiment.moe.z_loss_weight = 0.0;
    experiment.experts_per_token = static_cast<double>(k);
    experiment.aux_weight = with_losses ? 1.0 : 0.0;
    experiment.steps = steps;
    experiment.batch = batch;
    experiment.lr = lr;
    experiment.seed = seed;
    moe::NoisyTopKRouterConfig router;
    router.dim = dim;
    router.experts = experts;
    router.k = k;
    router.importance_weight = w_importance;
    router.load_weight = w_load;
    experiment.make_router = [router](std::int64_t) { return std::make_shared<moe::NoisyTopKRouter>(router); };
    experiment.after_step = [&](nn::GptModel& gpt, const nn::Taps& record, std::int64_t step, double) {
      double load = 0.0, importance = 0.0;
      auto moe_layers = moe::routings(record);
      for (auto& [name, routing] : moe_layers) {
        // the load the router asked for (slots it dispatched), before the capacity capped it
        std::vector<std::int64_t> requested(static_cast<std::size_t>(experts), 0);
        std::vector<std::int64_t> chosen = routing->expert_index.to_vector<std::int64_t>();
        std::vector<std::int64_t> sent = routing->dispatched.to_vector<std::int64_t>();
        for (std::size_t slot = 0; slot < chosen.size(); ++slot) requested[static_cast<std::size_t>(chosen[slot])] += sent[slot];
        load += examples::load_cv(requested);
        importance += std::sqrt(std::max(0.0, routing->importance_loss.item()));  // it is CV²
      }
      out.steps.push_back(static_cast<double>(step));
      out.load_cv.push_back(load / static_cast<double>(moe_layers.size()));
      out.importance_cv.push_back(importance / static_cast<double>(moe_layers.size()));
      if (step == steps) {  // route the trace phrase in eval mode (no noise, no load logging)
        NoGradGuard no_grad;
        gpt.eval();
        std::vector<std::int64_t> ids = corpus.tokenizer.encode(trace_phrase);
        nn::Taps trace_record = nn::Taps::reports_only();
        gpt.forward(from_vector(ids, {1, static_cast<std::int64_t>(ids.size())}), &trace_record);
        out.routing_trace = moe::format_routing(*moe::routings(trace_record).front().second,
                                                static_cast<std::int64_t>(ids.size()), examples::character_labels(trace_phrase));
        gpt.train();
      }
    };
    out.result = examples::train_lm(experiment, corpus);
    return out;
  };

  // ---- training: every seed in each of the four arms ----
  struct Arm {
    std::string name;
    double importance, load;
    std::vector<BalanceRun> runs;
  };
  std::vector<Arm> arms = {{"both losses", importance_weight, load_weight, {}},
                           {"importance only", importance_weight, 0.0, {}},
                           {"load only", 0.0, load_weight, {}},
                           {"no losses", 0.0, 0.0, {}}};
  for (std::int64_t s = 0; s < seeds; ++s) {
    for (Arm& arm : arms) {
      arm.runs.push_back(train_once(arm.name, arm.importance, arm.load, flags.seed + static_cast<std::uint64_t>(s)));
    }
  }
  const std::vector<BalanceRun>& with_runs = arms[0].runs;
  const std::vector<BalanceRun>& without_runs = arms[3].runs;

  // ---- what the routing looks like at the end (first seed, first MoE layer) ----
  fmt::print("\nRouting of \"{}\" in the first MoE layer after training, WITH the balancing losses:\n{}\n",
             trace_phrase, with_runs.front().routing_trace);
  fmt::print("The same WITHOUT them:\n{}\n", without_runs.front().routing_trace);

  // ---- table: end-of-training CVs (mean of the last 10% of steps), drops, perplexity ----
  std::size_t tail = std::max<std::size_t>(1, static_cast<std::size_t>(steps / 10));
  train::Table table({"balancing losses", "load CV", "importance CV", "experts for half the tokens", "tokens dropped",
                      "held-out loss", "perplexity"});
  struct Summary {
    std::vector<double> load_cv, importance_cv, busiest, dropped, loss, perplexity;
  };
  bool all_finite = true;
  auto summarize = [&](const std::vector<BalanceRun>& runs) {
    Summary summary;
    for (const BalanceRun& r : runs) {
      all_finite = all_finite && r.result.finite;
      summary.load_cv.push_back(examples::mean_of_last(r.load_cv, tail));
      summary.importance_cv.push_back(examples::mean_of_last(r.importance_cv, tail));
      std::vector<double> share = final_expert_share(r.result, tail);
      summary.busiest.push_back(static_cast<double>(experts_for_half(share)));
      summary.dropped.push_back(100.0 * r.result.dropped_fraction);
      summary.loss.push_back(r.result.final_eval_loss);
      summary.perplexity.push_back(std::exp(r.result.final_eval_loss));
    }
    return summary;
  };
  std::vector<Summary> summaries;
  for (const Arm& arm : arms) summaries.push_back(summarize(arm.runs));
  for (std::size_t a = 0; a < arms.size(); ++a) {
    const Summary& s = summaries[a];
    table.add_row({fmt::format("{} (w = {}, {})", arms[a].name, arms[a].importance, arms[a].load),
                   examples::mean_and_spread(s.load_cv, 2), examples::mean_and_spread(s.importance_cv, 2),
                   examples::mean_and_spread(s.busiest, 1), examples::mean_and_spread(s.dropped, 1) + "%",
                   examples::mean_and_spread(s.loss, 3), examples::mean_and_spread(s.perplexity, 2)});
  }
  std::string capacity = capacity_factor > 0.0 ? fmt::format("capacity factor {}", capacity_factor) : "dropless";
  fmt::print("\n{} seeds each, {} steps, {} in training and evaluation; CVs (of the slots the router sent each expert, "
             "before the capacity, and of the gate weights) averaged over the last {} steps and the MoE layers (0 = even load; {:.2f} = one "
             "expert takes everything)\n",
             seeds, steps, capacity, tail, std::sqrt(static_cast<double>(experts - 1)));
  table.print(std::cout);
  const Summary& with = summaries[0];
  const Summary& importance_only = summaries[1];
  const Summary& load_only = summaries[2];
  const Summary& without = summaries[3];

  // ---- comparisons ----
  fmt::print("\nComparisons (paired over seeds, 95% interval):\n");
  examples::Comparisons comparisons;
  const auto Lower = train::Better::Lower;
  comparisons.add(train::compare("the balancing losses even out the load", "both losses", "no losses",
                                 "load CV", with.load_cv, without.load_cv, Lower), 2);
  comparisons.add(train::compare("the balancing losses even out the importance", "both losses", "no losses",
                                 "importance CV", with.importance_cv, without.importance_cv, Lower), 2);
  comparisons.add(train::compare("the balancing losses drop fewer tokens under the capacity limit", "both losses",
                                 "no losses", "tokens dropped in training (%)", with.dropped, without.dropped, Lower), 1);
  comparisons.add(train::compare("the balancing losses give a lower held-out loss under the capacity limit",
                                 "both losses", "no losses", "held-out loss (nats/char)", with.loss, without.loss, Lower));
  comparisons.add(train::compare("the importance loss alone evens out the importance", "importance only", "no losses",
                                 "importance CV", importance_only.importance_cv, without.importance_cv, Lower), 2);
  comparisons.add(train::compare("the importance loss alone evens out the load", "importance only", "no losses",
                                 "load CV", importance_only.load_cv, without.load_cv, Lower), 2);
  comparisons.add(train::compare("the load loss alone evens out the load", "load only", "no losses", "load CV",
                                 load_only.load_cv, without.load_cv, Lower), 2);
  comparisons.add(train::compare("adding the load loss to the importance loss evens out the load further",
                                 "both losses", "importance only", "load CV", with.load_cv, importance_only.load_cv,
                                 Lower), 2);
  comparisons.add(train::compare("adding the importance loss to the load loss evens out the importance further",
                                 "both losses", "load only", "importance CV", with.importance_cv,
                                 load_only.importance_cv, Lower), 2);

  // ---- plots ----
  std::size_t window = std::max<std::size_t>(1, static_cast<std::size_t>(steps / 30));
  const BalanceRun& with_first = with_runs.front();
  const BalanceRun& without_first = without_runs.front();
  // the load CV of each arm over training: mean ± sd over seeds of the smoothed curves
  std::vector<train::Series> cv_curves;
  for (const Arm& arm : arms) {
    std::vector<train::Series> per_seed;
    for (const BalanceRun& r : arm.runs) per_seed.push_back(smoothed(arm.name, r.steps, r.load_cv, window));
    train::Series band{arm.name, per_seed.front().x, {}};
    for (std::size_t i = 0; i < band.x.size(); ++i) {
      std::vector<double> column;
      for (const auto& one : per_seed) column.push_back(i < one.y.size() ? one.y[i] : NAN);
      double m = examples::mean_of_last(column, column.size()), square = 0.0;
      for (double v : column) square += (v - m) * (v - m);
      double sd = column.size() > 1 ? std::sqrt(square / static_cast<double>(column.size() - 1)) : 0.0;
      band.y.push_back(m);
      band.low.push_back(m - sd);
      band.high.push_back(m + sd);
    }
    cv_curves.push_back(band);
  }
  train::PlotOptions cv_scale;
  cv_scale.y_min = 0.0;
  cv_scale.y_max = std::sqrt(static_cast<double>(experts - 1));  // one expert takes everything
  train::line_plot(run.plot_path("cv"), fmt::format("load CV over training (mean ± sd of {} seeds)", seeds), "step",
                   "coefficient of variation of the load", cv_curves, cv_scale);
  std::vector<std::string> expert_labels;
  for (std::int64_t e = 0; e < experts; ++e) expert_labels.push_back(fmt::format("e{}", e));
  std::vector<double> share_with = final_expert_share(with_first.result, tail);
  std::vector<double> share_without = final_expert_share(without_first.result, tail);
  train::PlotOptions share_scale;  // both bar charts on one scale, so their heights compare
  share_scale.y_min = 0.0;
  share_scale.y_max = std::max(*std::max_element(share_with.begin(), share_with.end()),
                               *std::max_element(share_without.begin(), share_without.end())) * 1.05;
  train::bar_plot(run.plot_path("usage_with_losses"), fmt::format("share of processed slots per expert, WITH balancing losses (even: {:.3f})", 1.0 / experts),
                  expert_labels, share_with, "share of tokens", share_scale);
  train::bar_plot(run.plot_path("usage_without_losses"), fmt::format("share of processed slots per expert, WITHOUT them (even: {:.3f})", 1.0 / experts),
                  expert_labels, share_without, "share of tokens", share_scale);
  std::vector<examples::LossArm> loss_arms;
  for (const Arm& arm : arms) {
    std::vector<examples::LmResult> results;
    for (const BalanceRun& r : arm.runs) results.push_back(r.result);
    loss_arms.push_back({arm.name, results});
  }
  examples::plot_loss_three_ways(run, "loss", "held-out loss by balancing loss", loss_arms);

  // ---- verdict: the paper's effect is the collapse without the losses, seen in the load CV ----
  auto mean = [](const std::vector<double>& v) { return examples::mean_of_last(v, v.size()); };
  double cv_with = mean(with.load_cv), cv_without = mean(without.load_cv);
  const auto& list = comparisons.list();
  bool effect_shown = all_finite && list[0].shown;
  std::string verdict = fmt::format(
      "load CV {:.2f} without the balancing losses vs {:.2f} with them: {}. Importance CV {:.2f} vs {:.2f}: {}. Half "
      "the tokens went to {:.1f} vs {:.1f} of {} experts. Under {} the losses' effect on dropped tokens ({:.1f}% vs "
      "{:.1f}%): {}. On held-out loss ({:.3f} vs {:.3f}): {}. Importance alone, on the load: {}. Load alone, on the "
      "load: {}.",
      cv_without, cv_with, examples::Comparisons::verdict(list[0]), mean(without.importance_cv), mean(with.importance_cv),
      examples::Comparisons::verdict(list[1]), mean(without.busiest), mean(with.busiest), experts, capacity,
      mean(with.dropped), mean(without.dropped), examples::Comparisons::verdict(list[2]), mean(with.loss),
      mean(without.loss), examples::Comparisons::verdict(list[3]), examples::Comparisons::verdict(list[5]),
      examples::Comparisons::verdict(list[6]));
  train::print_profile(flags);
  // The tour's smoke check is the mechanism, which a few steps already show: without the losses the
  // router's load is less even. Whether that costs loss and drops needs the default run.
  bool balance_check = all_finite && cv_without > cv_with;
  fmt::print("tour: noisy_topk_2017 | the load collapses without the losses: load CV {:.2f} without > {:.2f} with "
             "| {}\n",
             cv_without, cv_with, balance_check ? "yes" : "no");
  run.write_summary({{"example", "noisy_topk_2017"},
                     {"experts", experts},
                     {"k", k},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"capacity_factor", capacity_factor},
                     {"importance_weight", importance_weight},
                     {"load_weight", load_weight},
                     {"routing_trace_with_losses", with_first.routing_trace},
                     {"routing_trace_without_losses", without_first.routing_trace},
                     {"table", table.to_json()},
                     {"comparisons", comparisons.to_json()},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  return all_finite ? 0 : 1;
}
