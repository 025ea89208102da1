// GShard top-2 gating (Lepikhin et al. 2020, arXiv 2006.16668) in a character-level GPT on the KJV,
// with an MoE layer in every other Transformer layer, as GShard places them.
//
// Two experiments:
//   (a) capacity factor: how many routed slots are dropped when experts are full, and what that
//       costs in held-out loss. GShard's C = 2S/E is capacity factor 2 in moe::MoELayerConfig (each
//       token asks for two slots); 0 is dropless. The held-out loss is measured at the same factor.
//   (b) random vs deterministic second expert. GShardRouter keeps the second expert only when
//       2·g2 > u, u ~ U[0,1). Handing it u = 0 for every token (route_with_uniform) keeps every
//       second expert: plain top-2. Same capacity factor, same seeds; compare loss, the share of
//       second choices dispatched, and the drops.
// Each claim is a paired difference over seeds with its 95% interval (summary.json "comparisons"),
// in FLOPs where the paper states a saving: the training FLOPs a tighter capacity saves (padding
// counted, moe/flops.h) and the expert FLOPs random routing saves (slots processed), each beside its
// held-out loss cost. At the end a routing trace of a few characters of Genesis 1:1 shows both
// experts, their gates, and which slots were dropped.
//   build/examples/gshard_top2              default run: about 7 min (1 thread)
//   build/examples/gshard_top2 --quick      seconds (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "examples/moe_lm.h"
#include "examples/moe_lm_report.h"
#include "moe/gshard_router.h"
#include "moe/routing_trace.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"
#include "train/seed_band.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// Plain top-2: every uniform draw is 0, so the random test 2·g2 > 0 keeps every second expert.
// The randomness is an input of route_with_uniform; here we feed it known numbers.
class AlwaysSecondGShardRouter : public moe::GShardRouter {
 public:
  using moe::GShardRouter::GShardRouter;
  moe::RoutingDecision route(const Tensor& x, Generator& /*unused*/, const moe::TokenContext& context = {},
                             const moe::RandomDraws& /*unused*/ = {}) override {
    return route_with_uniform(x, zeros({x.size(0)}, moe::detail::router_dtype(x), x.device()), context);
  }
};

struct Settings {
  std::int64_t dim = 64, layers = 2, context = 64, batch = 16, steps = 1200;
  std::int64_t experts = 8, group_size = 256;  // GShard's S: tokens per group with its own capacity
  std::vector<double> capacity_factors{0.5, 1.0, 2.0, 0.0};
  double compared_capacity_factor = 2.0;  // (b) runs at GShard's C = 2S/E
  double lr = 3e-3;
  std::uint64_t seed = 0;
  std::int64_t seeds = 3;  // runs per configuration (paired comparisons need >= 3)
  std::int64_t trace_characters = 14;
};

// Slot-level routing counts summed over training steps and MoE layers (the harness counts only
// tokens that lost both slots; a lost second slot matters here too).
struct SlotCounts {
  std::int64_t tokens = 0;
  std::int64_t second_dispatched = 0;  // second choices the router kept (processed or then dropped)
  std::int64_t slots_dispatched = 0;   // all slots the router sent to an expert
  std::int64_t slots_dropped = 0;      // of those, slots whose expert was already full
  double dropped_share() const { return slots_dispatched ? double(slots_dropped) / double(slots_dispatched) : 0.0; }
  double second_share() const { return tokens ? double(second_dispatched) / double(tokens) : 0.0; }
};

void count_slots(const moe::RoutingInfo& info, SlotCounts& counts) {
  std::int64_t T = info.expert_index.size(0), k = info.expert_index.size(1);
  std::vector<std::int64_t> dispatched = info.dispatched.to_vector<std::int64_t>();
  std::vector<std::int64_t> dropped = info.dropped.to_vector<std::int64_t>();
  counts.tokens += T;
  for (std::int64_t slot = 0; slot < T * k; ++slot) {
    counts.slots_dispatched += dispatched[slot];
    counts.slots_dropped += dropped[slot];
    if (slot % k == 1) counts.second_dispatched += dispatched[slot];
  }
}

struct Trial {
  std::string name;
  double capacity_factor = 2.0;
  bool always_second = false;
  std::vector<examples::LmResult> runs;  // one per seed
  SlotCounts slots;                       // pooled over seeds
  std::vector<SlotCounts> slots_per_seed;
  std::string trace;                      // from the first seed

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
  // one value per seed
  std::vector<double> dropped_slots_percent() const {
    std::vector<double> values;
    for (const SlotCounts& c : slots_per_seed) values.push_back(100.0 * c.dropped_share());
    return values;
  }
  std::vector<double> second_percent() const {
    std::vector<double> values;
    for (const SlotCounts& c : slots_per_seed) values.push_back(100.0 * c.second_share());
    return values;
  }
  double tokens_dropped() const {
    double total = 0.0;
    for (const auto& run : runs) total += run.dropped_fraction;
    return total / static_cast<double>(runs.size());
  }
};

void run_trial(Trial& trial, const Settings& settings, const examples::CharCorpus& corpus, std::uint64_t seed,
               train::MetricsLog& metrics) {
  Generator router_init(seed + 1000);
  moe::GShardRouterConfig router;
  router.dim = settings.dim;
  router.experts = settings.experts;
  examples::LmExperiment run;
  run.name = trial.name;
  run.metrics = &metrics;
  run.model = examples::small_gpt(corpus, settings.dim, settings.layers);
  run.model.max_positions = settings.context;
  run.moe_every = 2;  // dense, MoE, dense, MoE, ... (GShard §2)
  run.moe.expert_hidden = run.model.ffn_hidden;
  run.moe.capacity_factor_train = trial.capacity_factor;
  run.moe.capacity_factor_eval = trial.capacity_factor;  // held-out loss at the capacity trained with
  run.moe.group_size = settings.group_size;
  run.make_router = [&](std::int64_t) -> std::shared_ptr<moe::Router> {
    if (trial.always_second) return std::make_shared<AlwaysSecondGShardRouter>(router, router_init);
    return std::make_shared<moe::GShardRouter>(router, router_init);
  };
  run.experts_per_token = 2.0;
  run.steps = settings.steps;
  run.batch = settings.batch;
  run.lr = settings.lr;
  run.seed = seed;
  const std::string verse = "In the beginning God created the heaven and the earth.";
  trial.slots_per_seed.push_back({});
  run.after_step = [&](nn::GptModel& model, const nn::Taps& record, std::int64_t step, double) {
    auto layers = moe::routings(record);
    for (auto& [name, routing] : layers) {
      count_slots(*routing, trial.slots);
      count_slots(*routing, trial.slots_per_seed.back());
    }
    if (step != settings.steps || layers.empty() || !trial.trace.empty()) return;
    // the trace: the trained model reads Genesis 1:1 in eval mode (same capacity factor)
    NoGradGuard no_grad;
    model.eval();
    std::string text = verse.substr(0, static_cast<std::size_t>(std::min<std::int64_t>(settings.context, verse.size())));
    std::vector<std::int64_t> ids = corpus.tokenizer.encode(text);
    nn::Taps trace_record = nn::Taps::reports_only();
    model.forward(from_vector(ids, {1, static_cast<std::int64_t>(ids.size())}), &trace_record);
    trial.trace = moe::format_routing(*moe::routings(trace_record).front().second, settings.trace_characters,
                                      examples::character_labels(text, 5));
    model.train();
  };
  trial.runs.push_back(examples::train_lm(run, corpus));
}

// Training FLOPs with the experts counted on the slots they processed, not their capacity: what
// random routing saves in an implementation without padding (and the same as flops when dropless).
double expert_flops(const examples::LmResult& r) { return r.flops_unpadded; }

std::string factor_name(double factor) { return factor == 0.0 ? "dropless" : fmt::format("{:g}", factor); }

Trial make_trial(double capacity_factor, bool always_second) {
  Trial trial;
  trial.name = (always_second ? "top-2 cf " : "cf ") + factor_name(capacity_factor);
  trial.capacity_factor = capacity_factor;
  trial.always_second = always_second;
  return trial;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GShard top-2 gating: capacity factor sweep and random vs deterministic second expert"};
  train::ExampleFlags flags;
  Settings settings;
  train::add_example_flags(app, flags);
  app.add_option("--dim", settings.dim, "model width")->check(CLI::PositiveNumber);
  app.add_option("--layers", settings.layers, "Transformer layers (every other one is MoE)")->check(CLI::Range(2, 64));
  app.add_option("--context", settings.context, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", settings.batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--steps", settings.steps, "training steps per configuration")->check(CLI::PositiveNumber);
  app.add_option("--experts", settings.experts, "experts per MoE layer (E)")->check(CLI::Range(2, 1024));
  app.add_option("--group-size", settings.group_size, "GShard's S: tokens per group, 0 = whole batch");
  app.add_option("--capacity-factors", settings.capacity_factors, "factors to sweep (0 = dropless)");
  app.add_option("--compare-at", settings.compared_capacity_factor, "capacity factor of the random/deterministic comparison");
  app.add_option("--lr", settings.lr, "peak AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seeds", settings.seeds, "runs per configuration (paired comparisons need >= 3)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--trace-characters", settings.trace_characters, "characters shown in the routing trace");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  settings.seed = flags.seed;
  if (flags.quick) {
    settings.dim = 32;
    settings.context = 16;
    settings.batch = 8;
    settings.steps = 15;
    settings.experts = 4;
    settings.group_size = 64;
    settings.capacity_factors = {0.5, 2.0};
  }
  train::RunDir run_dir = train::RunDir::create(flags.out, "gshard_top2");
  train::MetricsLog metrics(run_dir.metrics_path());  // every run's loss curve, one line per step

  examples::CharCorpus corpus = examples::load_kjv_characters(flags.quick);
  fmt::print("KJV: {} characters, vocabulary of {}; GPT width {}, {} layers, MoE every other layer, E = {}\n",
             corpus.ids.size(), corpus.tokenizer.vocab_size(), settings.dim, settings.layers, settings.experts);

  // ---- (a) the capacity sweep, random routing as in the paper; (b) adds plain top-2 ----
  std::vector<Trial> trials;
  for (double factor : settings.capacity_factors) trials.push_back(make_trial(factor, false));
  if (std::find(settings.capacity_factors.begin(), settings.capacity_factors.end(), settings.compared_capacity_factor) ==
      settings.capacity_factors.end()) {
    trials.push_back(make_trial(settings.compared_capacity_factor, false));
  }
  trials.push_back(make_trial(settings.compared_capacity_factor, true));
  for (std::int64_t s = 0; s < settings.seeds; ++s) {
    for (Trial& trial : trials) run_trial(trial, settings, corpus, settings.seed + static_cast<std::uint64_t>(s), metrics);
  }

  bool all_finite = true;
  for (const Trial& trial : trials) {
    for (const auto& run : trial.runs) all_finite = all_finite && run.finite;
  }
  train::Table table({"second expert", "capacity factor", "slots dropped", "tokens dropped", "2nd dispatched",
                      "held-out loss", "train GFLOPs", "expert GFLOPs run"});
  for (const Trial& trial : trials) {
    table.add_row({trial.always_second ? "always (top-2)" : "random (GShard)", factor_name(trial.capacity_factor),
                   fmt::format("{:.1f}%", 100.0 * trial.slots.dropped_share()),
                   fmt::format("{:.2f}%", 100.0 * trial.tokens_dropped()),
                   fmt::format("{:.1f}%", 100.0 * trial.slots.second_share()),
                   examples::mean_and_spread(trial.final_losses()),
                   examples::mean_and_spread(examples::per_seed(trial.runs, [](const auto& r) { return r.flops / 1e9; }), 1),
                   examples::mean_and_spread(examples::per_seed(trial.runs, [](const auto& r) { return expert_flops(r) / 1e9; }), 1)});
  }
  const Trial& random_compared = *std::find_if(trials.begin(), trials.end(), [&](const Trial& t) {
    return !t.always_second && t.capacity_factor == settings.compared_capacity_factor;
  });
  const Trial& always_compared = trials.back();

  fmt::print("\nRouting trace, first MoE layer, random second expert, capacity factor {} (a missing second expert\n"
             "was skipped by the random test 2·g2 > u):\n{}\n",
             factor_name(settings.compared_capacity_factor), random_compared.trace);
  fmt::print("The same text with every second expert kept (u = 0):\n{}\n", always_compared.trace);
  table.print(std::cout);

  // ---- plots ----
  std::vector<examples::LossArm> loss_arms;
  for (const Trial& trial : trials) {
    std::string label = fmt::format("{}, cf {}", trial.always_second ? "always 2nd" : "random 2nd", factor_name(trial.capacity_factor));
    loss_arms.push_back({label, trial.runs});
  }
  examples::plot_loss_three_ways(run_dir, "held_out_loss", "GShard top-2", loss_arms);
  std::vector<const Trial*> swept;
  for (const Trial& trial : trials) {
    if (!trial.always_second) swept.push_back(&trial);
  }
  std::sort(swept.begin(), swept.end(), [](const Trial* a, const Trial* b) { return a->slots.dropped_share() < b->slots.dropped_share(); });
  std::vector<double> dropped_percent_swept;
  std::vector<std::vector<double>> final_loss_per_seed(static_cast<std::size_t>(settings.seeds));  // [seed][trial]
  for (const Trial* trial : swept) {
    dropped_percent_swept.push_back(100.0 * trial->slots.dropped_share());
    for (std::size_t s = 0; s < trial->runs.size(); ++s) final_loss_per_seed[s].push_back(trial->runs[s].final_eval_loss);
  }
  train::band_plot(run_dir.plot_path("loss_vs_dropped"),
                   fmt::format("capacity sweep: dropped slots vs held-out loss (mean and 95% interval of {} seeds)",
                               settings.seeds),
                   "routed slots dropped (%)", "final held-out loss (nats/char)",
                   {train::seed_band("random second expert", dropped_percent_swept, final_loss_per_seed)});
  std::vector<std::string> labels;
  std::vector<double> dropped_percent;
  for (const Trial& trial : trials) {
    labels.push_back(fmt::format("{} {}", trial.always_second ? "top-2" : "random", factor_name(trial.capacity_factor)));
    dropped_percent.push_back(100.0 * trial.slots.dropped_share());
  }
  train::bar_plot(run_dir.plot_path("dropped_slots"), "routed slots dropped (expert full), pooled over seeds", labels,
                  dropped_percent, "% of dispatched slots");

  // ---- comparisons: capacity (drops, FLOPs, loss) and random routing (dispatches, FLOPs, loss) ----
  std::vector<const Trial*> by_factor;  // finite factors ascending, then dropless
  for (const Trial* trial : swept) by_factor.push_back(trial);
  std::sort(by_factor.begin(), by_factor.end(), [](const Trial* a, const Trial* b) {
    auto key = [](double f) { return f == 0.0 ? 1e9 : f; };
    return key(a->capacity_factor) < key(b->capacity_factor);
  });
  const Trial& tight = *by_factor.front();
  const Trial& roomy = *by_factor.back();
  std::string tight_name = "random, cf " + factor_name(tight.capacity_factor);
  std::string roomy_name = "random, cf " + factor_name(roomy.capacity_factor);
  std::string random_name = "random, cf " + factor_name(random_compared.capacity_factor);
  std::string always_name = "top-2, cf " + factor_name(always_compared.capacity_factor);
  auto flops_of = [](const Trial& t) { return examples::per_seed(t.runs, [](const auto& r) { return r.flops / 1e9; }); };
  auto expert_flops_of = [](const Trial& t) {
    return examples::per_seed(t.runs, [](const auto& r) { return expert_flops(r) / 1e9; });
  };
  const std::string loss_metric = "held-out loss (nats/char)";
  fmt::print("\nComparisons (paired over seeds, 95% interval):\n");
  examples::Comparisons comparisons;
  comparisons.add(train::compare("more capacity drops fewer routed slots", roomy_name, tight_name,
                                 "routed slots dropped (%)", roomy.dropped_slots_percent(), tight.dropped_slots_percent(),
                                 train::Better::Lower), 2);
  comparisons.add(train::compare("less capacity saves training FLOPs (padded slots counted)", tight_name, roomy_name,
                                 "training GFLOPs", flops_of(tight), flops_of(roomy), train::Better::Lower), 2);
  comparisons.add(train::compare("more capacity gives a lower held-out loss", roomy_name, tight_name, loss_metric,
                                 roomy.final_losses(), tight.final_losses(), train::Better::Lower));
  std::vector<double> tight_at, roomy_at;
  examples::losses_at_equal_budget(tight.runs, roomy.runs, examples::LossAxis::Flops, tight_at, roomy_at);
  comparisons.add(train::compare("less capacity gives a lower held-out loss at equal training FLOPs", tight_name,
                                 roomy_name, loss_metric + " at the smaller run's FLOPs", tight_at, roomy_at,
                                 train::Better::Lower));
  comparisons.add(train::compare("random routing dispatches fewer second choices", random_name, always_name,
                                 "second choices dispatched (% of tokens)", random_compared.second_percent(),
                                 always_compared.second_percent(), train::Better::Lower), 1);
  comparisons.add(train::compare("random routing runs fewer expert FLOPs (slots processed)", random_name, always_name,
                                 "training GFLOPs, experts on processed slots", expert_flops_of(random_compared),
                                 expert_flops_of(always_compared), train::Better::Lower), 2);
  comparisons.add(train::compare("random routing drops fewer slots at the same capacity", random_name, always_name,
                                 "routed slots dropped (%)", random_compared.dropped_slots_percent(),
                                 always_compared.dropped_slots_percent(), train::Better::Lower), 2);
  comparisons.add(train::compare("plain top-2 has a lower held-out loss than random routing (its quality cost)",
                                 always_name, random_name, loss_metric, always_compared.final_losses(),
                                 random_compared.final_losses(), train::Better::Lower));
  const auto& list = comparisons.list();
  bool effect_shown = all_finite && list[0].shown && list[5].shown;
  double tight_loss = tight.mean_loss(), roomy_loss = roomy.mean_loss();
  auto percent_saved = [](const std::vector<double>& a, const std::vector<double>& b) {
    double sa = 0.0, sb = 0.0;
    for (double v : a) sa += v;
    for (double v : b) sb += v;
    return sb > 0.0 ? 100.0 * (1.0 - sa / sb) : 0.0;
  };
  std::string verdict = fmt::format(
      "Capacity: {:.1f}% of slots dropped at factor {} vs {:.1f}% at {} (fewer drops: {}); the tighter capacity "
      "trains on {:.1f}% fewer FLOPs ({}) at a held-out loss of {:.3f} vs {:.3f} (a loss gain from more capacity: {}). "
      "Random routing dispatched {:.0f}% of second choices vs 100% and ran {:.1f}% fewer expert-side training FLOPs "
      "({}); its loss cost against plain top-2 ({:.3f} vs {:.3f}): {}.",
      100.0 * tight.slots.dropped_share(), factor_name(tight.capacity_factor), 100.0 * roomy.slots.dropped_share(),
      factor_name(roomy.capacity_factor), examples::Comparisons::verdict(list[0]),
      percent_saved(flops_of(tight), flops_of(roomy)), examples::Comparisons::verdict(list[1]), tight_loss, roomy_loss,
      examples::Comparisons::verdict(list[2]), 100.0 * random_compared.slots.second_share(),
      percent_saved(expert_flops_of(random_compared), expert_flops_of(always_compared)),
      examples::Comparisons::verdict(list[5]), random_compared.mean_loss(), always_compared.mean_loss(),
      examples::Comparisons::verdict(list[7]));
  train::print_profile(flags);
  // The tour's smoke check, two mechanisms a few steps already show: a roomier capacity drops fewer
  // slots, and the random test 2·g2 > u skips some second experts. Their loss costs need the default run.
  bool mechanism_check = all_finite && tight.slots.dropped_share() > roomy.slots.dropped_share() &&
                         random_compared.slots.second_share() < 1.0;
  fmt::print("\ntour: gshard_top2 | drops fall with capacity: {:.1f}% of slots @cf {} > {:.1f}% @cf {}; random "
             "routing dispatched {:.0f}% of 2nd choices (< 100%) | {}\n",
             100.0 * tight.slots.dropped_share(), factor_name(tight.capacity_factor),
             100.0 * roomy.slots.dropped_share(), factor_name(roomy.capacity_factor),
             100.0 * random_compared.slots.second_share(),
             mechanism_check ? "yes" : "no");

  run_dir.write_summary({{"example", "gshard_top2"},
                         {"steps", settings.steps},
                         {"experts", settings.experts},
                         {"seeds", settings.seeds},
                         {"parameters", {{"total", trials.front().runs.front().parameters.total},
                                         {"activated", trials.front().runs.front().parameters.activated}}},
                         {"trace_random", random_compared.trace},
                         {"trace_always_second", always_compared.trace},
                         {"table", table.to_json()},
                         {"comparisons", comparisons.to_json()},
                         {"verdict", verdict},
                         {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run_dir.path().string());
  return all_finite ? 0 : 1;
}
