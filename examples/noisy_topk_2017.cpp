// Shazeer et al. 2017, "Outrageously Large Neural Networks" (moe/noisy_topk_router.h): a character
// GPT on the King James Bible whose FFNs are MoE layers with many experts and noisy top-k gating,
// trained twice from the same seed: with the paper's balancing losses (importance + load, eq. 6-11)
// and without them. Without the losses the gate collapses onto a few experts ("the rich get richer",
// §4): the coefficient of variation (CV) of the per-expert load and importance climbs, and most
// experts sit idle. With them the load stays even.
//   build/examples/noisy_topk_2017            default run: a few minutes on 2 cores
//   build/examples/noisy_topk_2017 --quick    seconds: a tiny model (CI smoke test)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "examples/moe_lm.h"
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
  std::int64_t steps = 500, batch = 16, context = 32, seeds = 2;
  double lr = 3e-3, importance_weight = 0.1, load_weight = 0.1;
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
  app.add_option("--seeds", seeds, "runs per configuration, seeds seed, seed+1, ...")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--importance-weight", importance_weight, "w_importance (appendix C.1: 0.1)");
  app.add_option("--load-weight", load_weight, "w_load (appendix C.1: 0.1)");
  app.add_option("--trace-phrase", trace_phrase, "text whose routing is printed at the end");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    experts = 8, k = 2, dim = 32, layers = 1, expert_hidden = 32, steps = 30, batch = 4, context = 32, seeds = 1;
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

  // One run: with_losses adds the router's importance + load losses (aux weight 1); without them the
  // aux weight is 0. ST-MoE's z-loss is off in both, so only the paper's two losses differ.
  auto train_once = [&](bool with_losses, std::uint64_t seed) {
    BalanceRun out;
    examples::LmExperiment experiment;
    experiment.name = fmt::format("{} s{}", with_losses ? "with" : "without", seed);
    experiment.metrics = &metrics;
    experiment.model = model;
    experiment.moe_every = moe_every;
    experiment.moe.expert_hidden = expert_hidden;
    experiment.moe.capacity_factor_train = 0.0;  // dropless: the 2017 layer gives every chosen expert its token
    experiment.moe.capacity_factor_eval = 0.0;
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
    router.importance_weight = importance_weight;
    router.load_weight = load_weight;
    experiment.make_router = [router](std::int64_t) { return std::make_shared<moe::NoisyTopKRouter>(router); };
    experiment.after_step = [&](nn::GptModel& gpt, const nn::Taps& record, std::int64_t step, double) {
      double load = 0.0, importance = 0.0;
      auto moe_layers = moe::routings(record);
      for (auto& [name, routing] : moe_layers) {
        load += examples::load_cv(routing->tokens_per_expert.to_vector<std::int64_t>());
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

  // ---- training: every seed with and without the losses ----
  std::vector<BalanceRun> with_runs, without_runs;
  for (std::int64_t s = 0; s < seeds; ++s) {
    with_runs.push_back(train_once(true, flags.seed + static_cast<std::uint64_t>(s)));
    without_runs.push_back(train_once(false, flags.seed + static_cast<std::uint64_t>(s)));
  }

  // ---- what the routing looks like at the end (first seed, first MoE layer) ----
  fmt::print("\nRouting of \"{}\" in the first MoE layer after training, WITH the balancing losses:\n{}\n",
             trace_phrase, with_runs.front().routing_trace);
  fmt::print("The same WITHOUT them:\n{}\n", without_runs.front().routing_trace);

  // ---- table: end-of-training CVs (mean of the last 10% of steps), perplexity ----
  std::size_t tail = std::max<std::size_t>(1, static_cast<std::size_t>(steps / 10));
  train::Table table({"balancing losses", "load CV", "importance CV", "experts for half the tokens", "held-out loss", "perplexity"});
  struct Summary {
    std::vector<double> load_cv, importance_cv, busiest, loss, perplexity;
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
      summary.loss.push_back(r.result.final_eval_loss);
      summary.perplexity.push_back(std::exp(r.result.final_eval_loss));
    }
    return summary;
  };
  Summary with = summarize(with_runs), without = summarize(without_runs);
  auto add_row = [&](const std::string& label, const Summary& s) {
    table.add_row({label, examples::mean_and_spread(s.load_cv, 2), examples::mean_and_spread(s.importance_cv, 2),
                   examples::mean_and_spread(s.busiest, 1), examples::mean_and_spread(s.loss, 3),
                   examples::mean_and_spread(s.perplexity, 2)});
  };
  add_row(fmt::format("with (w = {}, {})", importance_weight, load_weight), with);
  add_row("without", without);
  fmt::print("\n{} seed(s) each, {} steps; CVs averaged over the last {} steps and the MoE layers "
             "(0 = even load; {:.2f} = one expert takes everything)\n",
             seeds, steps, tail, std::sqrt(static_cast<double>(experts - 1)));
  table.print(std::cout);

  // ---- plots ----
  std::size_t window = std::max<std::size_t>(1, static_cast<std::size_t>(steps / 30));
  const BalanceRun& with_first = with_runs.front();
  const BalanceRun& without_first = without_runs.front();
  train::line_plot(run.plot_path("cv"), "expert balance over training (first seed)", "step",
                   "coefficient of variation",
                   {smoothed("load CV, with losses", with_first.steps, with_first.load_cv, window),
                    smoothed("load CV, without", without_first.steps, without_first.load_cv, window),
                    smoothed("importance CV, with losses", with_first.steps, with_first.importance_cv, window),
                    smoothed("importance CV, without", without_first.steps, without_first.importance_cv, window)});
  std::vector<std::string> expert_labels;
  for (std::int64_t e = 0; e < experts; ++e) expert_labels.push_back(fmt::format("e{}", e));
  train::bar_plot(run.plot_path("usage_with_losses"), fmt::format("share of routed slots per expert, WITH balancing losses (even: {:.3f})", 1.0 / experts),
                  expert_labels, final_expert_share(with_first.result, tail), "share of tokens");
  train::bar_plot(run.plot_path("usage_without_losses"), fmt::format("share of routed slots per expert, WITHOUT them (even: {:.3f})", 1.0 / experts),
                  expert_labels, final_expert_share(without_first.result, tail), "share of tokens");
  train::line_plot(run.plot_path("loss"), "held-out loss (first seed)", "step", "cross-entropy (nats/char)",
                   {{"with losses", with_first.result.eval_steps, with_first.result.eval_loss},
                    {"without", without_first.result.eval_steps, without_first.result.eval_loss}});

  // ---- verdict: collapse means the load CV without the losses is at least twice the CV with them ----
  auto mean = [](const std::vector<double>& v) {
    double sum = 0.0;
    for (double x : v) sum += x;
    return sum / static_cast<double>(v.size());
  };
  double cv_with = mean(with.load_cv), cv_without = mean(without.load_cv);
  bool effect_shown = all_finite && cv_without >= 2.0 * cv_with;
  std::string numbers = fmt::format(
      "load CV {:.2f} without the balancing losses vs {:.2f} with them (importance CV {:.2f} vs {:.2f}; half the "
      "tokens went to {:.1f} vs {:.1f} of {} experts); perplexity {:.2f} without vs {:.2f} with",
      cv_without, cv_with, mean(without.importance_cv), mean(with.importance_cv), mean(without.busiest), mean(with.busiest),
      experts, mean(without.perplexity), mean(with.perplexity));
  numbers += mean(with.perplexity) <= mean(without.perplexity)
                 ? " (the balanced model also reached the lower perplexity)"
                 : " (in this small, short run the model without the losses reached the lower perplexity)";
  std::string verdict =
      numbers + (effect_shown ? ". Without the losses the gate collapsed onto a few experts; with them the load stayed "
                                "balanced: the paper's effect showed."
                              : ". The load without the losses was not clearly less balanced than with them: the "
                                "collapse did NOT show in this run.");
  train::print_profile(flags);
  fmt::print("tour: noisy_topk_2017 | load CV without/with losses {:.2f}/{:.2f}, perplexity {:.2f}/{:.2f} | {}\n",
             cv_without, cv_with, mean(without.perplexity), mean(with.perplexity), effect_shown ? "yes" : "no");
  run.write_summary({{"example", "noisy_topk_2017"},
                     {"experts", experts},
                     {"k", k},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"importance_weight", importance_weight},
                     {"load_weight", load_weight},
                     {"routing_trace_with_losses", with_first.routing_trace},
                     {"routing_trace_without_losses", without_first.routing_trace},
                     {"table", table.to_json()},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  return all_finite ? 0 : 1;
}
