// ST-MoE (Zoph et al., "ST-MoE: Designing Stable and Transferable Sparse Expert Models", 2022) on a
// character-level KJV GPT with top-2 MoE FFNs (examples/moe_lm.h), in two parts:
//  (a) stability: the router z-loss L_z = (1/B) Σ_i (log Σ_j exp x_ij)² keeps router logits small.
//      We start the router with very large logits (a huge init_scale), turn gradient clipping off and
//      raise the learning rate, then train with c_z = 0 and with ST-MoE's c_z = 1e-3, and compare the
//      size of the logits (mean log-z), loss spikes, NaNs and the held-out loss.
//  (b) fine-tuning (§4.3-4.5): pre-train on the KJV, then fine-tune on a different text (the fortune
//      files) with every weight trained, with the MoE frozen, with everything but the MoE frozen, and
//      with expert dropout 0.4. ST-MoE: freezing the MoE ≈ training everything; freezing the rest is worse.
// Every claim is a paired difference over seeds (each seed its own pre-training in (b)) with its 95%
// interval, in summary.json "comparisons"; "shown" only when the interval excludes 0.
//  (c) selective precision (§3, "the router in float32"): the same runs as (a) with the router in
//      bfloat16 (moe::RouterPrecision::BFloat16: logits, softmax, top-k and losses rounded to 8
//      significant bits), with and without the z-loss. Large logits make bfloat16's round-off in the
//      exponentials large; ST-MoE reports a bfloat16 router diverging and float32 or the z-loss fixing it.
//   build/examples/st_moe              default run: about 10 min (1 thread)
//   build/examples/st_moe --quick      seconds: a smoke test (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "examples/moe_lm.h"
#include "examples/moe_lm_report.h"
#include "moe/finetune.h"
#include "moe/gshard_router.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// ---------------- (a) stability ----------------

// One arm of (a) and (c): the router's precision and the z-loss weight.
struct StabilityArm {
  std::string name;
  moe::RouterPrecision precision = moe::RouterPrecision::Float32;
  double z_loss_weight = 0.0;
};

struct StabilityRun {
  std::size_t arm = 0;
  std::uint64_t seed = 0;
  examples::LmResult result;
  std::vector<double> mean_log_z;  // per step, averaged over the MoE layers
};

// Loss spikes: steps after warm-up whose loss exceeds the running mean of the steps before it
// (an exponential average with a 20-step memory) by more than `threshold` nats.
struct SpikeCount {
  std::int64_t spikes = 0;
  double max_loss_after_warmup = 0.0;
};

SpikeCount count_spikes(const std::vector<double>& losses, std::size_t warmup, double threshold) {
  SpikeCount count;
  double running = losses.empty() ? 0.0 : losses.front();
  for (std::size_t i = 1; i < losses.size(); ++i) {
    if (i >= warmup) {
      if (losses[i] > running + threshold) ++count.spikes;
      count.max_loss_after_warmup = std::max(count.max_loss_after_warmup, losses[i]);
    }
    running = 0.95 * running + 0.05 * losses[i];
  }
  return count;
}

// bfloat16 keeps 8 significant bits, so a logit of size |x| is stored to within half a step,
// 2^(⌊log2 |x|⌋ − 8). The softmax exponentiates that error: each probability moves by a factor of up
// to exp(±that), so the error grows with the logits' size, which the z-loss keeps small (ST-MoE §3.1).
double bfloat16_round_off(double logit) {
  double magnitude = std::abs(logit);
  if (!(magnitude > 0.0) || !std::isfinite(magnitude)) return 0.0;
  return std::ldexp(1.0, static_cast<int>(std::floor(std::log2(magnitude))) - 8);
}

// ---------------- (b) fine-tuning ----------------

examples::CharCorpus corpus_of(const data::CharTokenizer& tokenizer, const std::string& text) {
  examples::CharCorpus corpus{tokenizer, tokenizer.encode(text), 0};
  corpus.split = static_cast<std::int64_t>(static_cast<double>(corpus.ids.size()) * 0.9);
  return corpus;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ST-MoE: the router z-loss and fine-tuning recipes on a char-level MoE GPT"};
  train::ExampleFlags flags;
  std::int64_t dim = 32, layers = 2, moe_every = 2, experts = 4, expert_hidden = 128, batch = 16;
  std::int64_t stability_seeds = 10, stability_steps = 400, pretrain_steps = 1000, finetune_steps = 200;
  std::int64_t finetune_seeds = 3;
  double z_loss_weight = 1e-3, router_init_scale = 100.0, stability_lr = 1e-2, finetune_lr = 2e-3;
  double spike_threshold = 0.3, expert_dropout = 0.4;
  std::string fortune_category = "literature";
  train::add_example_flags(app, flags);
  app.add_option("--dim", dim, "model width")->check(CLI::PositiveNumber);
  app.add_option("--layers", layers, "Transformer layers (ST-MoE: an MoE FFN every 4th)")->check(CLI::PositiveNumber);
  app.add_option("--moe-every", moe_every, "an MoE FFN every this many layers, from the second (1: all)")
      ->check(CLI::PositiveNumber);
  app.add_option("--experts", experts, "experts per MoE layer")->check(CLI::PositiveNumber);
  app.add_option("--expert-hidden", expert_hidden, "hidden width of each expert")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "windows of 64 characters per step")->check(CLI::PositiveNumber);
  app.add_option("--stability-steps", stability_steps, "(a) training steps per run")->check(CLI::PositiveNumber);
  app.add_option("--stability-seeds", stability_seeds, "(a) seeds per c_z (paired comparisons need >= 3)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--finetune-seeds", finetune_seeds, "(b) seeds, each with its own pre-training")
      ->check(CLI::Range(2, 1000));
  app.add_option("--z-loss", z_loss_weight, "(a) c_z of the z-loss run (ST-MoE: 1e-3)");
  app.add_option("--router-init-scale", router_init_scale,
                 "(a) router weights ~ N(0, scale/D): logits of std ~√scale (Switch's 0.1 gives ~0.3)");
  app.add_option("--stability-lr", stability_lr, "(a) peak learning rate, no gradient clipping")->check(CLI::PositiveNumber);
  app.add_option("--spike-threshold", spike_threshold, "(a) nats above the running mean that count as a spike");
  app.add_option("--pretrain-steps", pretrain_steps, "(b) pre-training steps on the KJV")->check(CLI::PositiveNumber);
  app.add_option("--finetune-steps", finetune_steps, "(b) fine-tuning steps per recipe")->check(CLI::PositiveNumber);
  app.add_option("--finetune-lr", finetune_lr, "(b) peak fine-tuning learning rate")->check(CLI::PositiveNumber);
  app.add_option("--expert-dropout", expert_dropout, "(b) expert dropout of the fourth recipe (ST-MoE: 0.4)");
  app.add_option("--fortunes", fortune_category, "(b) fine-tuning text: a file of /usr/share/games/fortunes");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    dim = 32, layers = 2, expert_hidden = 64, batch = 8;
    stability_steps = 40, pretrain_steps = 40, finetune_steps = 20, stability_seeds = 3;
  }
  train::RunDir run = train::RunDir::create(flags.out, "st_moe");
  train::MetricsLog metrics(run.metrics_path());  // every run's loss curve, one line per step

  // ---- data: the tokenizer covers the KJV and the fine-tuning text ----
  std::vector<std::string> verses = data::kjv_verses();
  if (flags.quick) verses.resize(3000);
  std::string bible, fortunes;
  for (const auto& verse : verses) bible += verse + "\n";
  for (const auto& fortune : data::fortunes(fortune_category)) fortunes += fortune + "\n\n";
  data::CharTokenizer tokenizer = data::CharTokenizer::build({bible, fortunes});
  examples::CharCorpus kjv = corpus_of(tokenizer, bible), finetune_text = corpus_of(tokenizer, fortunes);
  fmt::print("KJV: {} characters; fortunes/{}: {} characters; vocabulary of {}\n", kjv.ids.size(), fortune_category,
             finetune_text.ids.size(), tokenizer.vocab_size());
  nn::GptConfig model_config = examples::small_gpt(kjv, dim, layers);
  moe::MoELayerConfig layer_config;
  layer_config.expert_hidden = expert_hidden;

  // ---- (a) stability and (c) precision: large router logits; float32 or bfloat16 router, c_z = 0 or not ----
  fmt::print("\n(a, c) router init_scale {} (logits of std ~{:.0f}), lr {}, no gradient clipping\n", router_init_scale,
             std::sqrt(router_init_scale), stability_lr);
  const std::string with_z = fmt::format("c_z = {:g}", z_loss_weight);
  const std::vector<StabilityArm> arms = {
      {"float32, c_z = 0", moe::RouterPrecision::Float32, 0.0},
      {"float32, " + with_z, moe::RouterPrecision::Float32, z_loss_weight},
      {"bfloat16, c_z = 0", moe::RouterPrecision::BFloat16, 0.0},
      {"bfloat16, " + with_z, moe::RouterPrecision::BFloat16, z_loss_weight},
  };
  enum ArmIndex : std::size_t { kF32 = 0, kF32Z = 1, kBf16 = 2, kBf16Z = 3 };
  std::vector<StabilityRun> stability;  // arm by arm, seed by seed
  for (std::size_t arm = 0; arm < arms.size(); ++arm) {
    for (std::int64_t seed = 0; seed < stability_seeds; ++seed) {
      stability.push_back({arm, flags.seed + static_cast<std::uint64_t>(seed), {}, {}});
    }
  }
  for (StabilityRun& trial : stability) {
    const StabilityArm& arm = arms[trial.arm];
    Generator router_generator(trial.seed + 1000);  // every arm starts from the same router weights
    examples::LmExperiment experiment;
    experiment.name = fmt::format("{} s{}", arm.name, trial.seed);
    experiment.metrics = &metrics;
    experiment.model = model_config;
    experiment.moe_every = moe_every;
    experiment.moe = layer_config;
    experiment.moe.z_loss_weight = arm.z_loss_weight;
    experiment.make_router = [&](std::int64_t) {
      moe::GShardRouterConfig router{dim, experts, 1e-2, router_init_scale};
      router.precision = arm.precision;
      return std::make_shared<moe::GShardRouter>(router, router_generator);
    };
    experiment.experts_per_token = 2.0;
    experiment.steps = stability_steps;
    experiment.batch = batch;
    experiment.lr = stability_lr;
    experiment.clip = 0.0;
    experiment.seed = trial.seed;
    experiment.after_step = [&](nn::GptModel&, const nn::Taps& record, std::int64_t, double) {
      double total = 0.0;
      auto moe_layers = moe::routings(record);
      for (auto& [name, routing] : moe_layers) total += routing->mean_log_z.item();
      trial.mean_log_z.push_back(total / static_cast<double>(moe_layers.size()));
    };
    trial.result = examples::train_lm(experiment, kjv);
  }

  train::Table stability_table({"router", "seed", "log-z start", "log-z end", "bf16 round-off at log-z", "spikes",
                                "max loss after warm-up", "held-out loss", "finite"});
  std::vector<train::Series> loss_curves, log_z_curves;
  // Per arm, one value per seed (a diverged run keeps its last held-out loss and counts as not finite).
  std::vector<std::vector<double>> log_z(arms.size()), spikes(arms.size()), held_out(arms.size());
  std::vector<std::int64_t> diverged(arms.size(), 0);
  std::vector<examples::LossArm> stability_arms(arms.size());
  auto warmup = static_cast<std::size_t>(stability_steps / 10);
  for (const StabilityRun& trial : stability) {
    const examples::LmResult& result = trial.result;
    SpikeCount count = count_spikes(result.train_loss, warmup, spike_threshold);
    double log_z_end = examples::mean_of_last(trial.mean_log_z, 10);
    log_z[trial.arm].push_back(log_z_end);
    spikes[trial.arm].push_back(static_cast<double>(count.spikes));
    held_out[trial.arm].push_back(result.final_eval_loss);
    diverged[trial.arm] += result.finite ? 0 : 1;
    stability_arms[trial.arm].name = arms[trial.arm].name;
    stability_arms[trial.arm].runs.push_back(result);
    stability_table.add_row({arms[trial.arm].name, std::to_string(trial.seed),
                             fmt::format("{:.2f}", trial.mean_log_z.front()), fmt::format("{:.2f}", log_z_end),
                             fmt::format("{:.3f}", bfloat16_round_off(log_z_end)), std::to_string(count.spikes),
                             fmt::format("{:.3f}", count.max_loss_after_warmup),
                             fmt::format("{:.3f}", result.final_eval_loss), result.finite ? "yes" : "NO"});
    if (trial.seed != flags.seed) continue;  // the curves of the first seed
    loss_curves.push_back({arms[trial.arm].name, result.steps, result.train_loss});
    log_z_curves.push_back({arms[trial.arm].name, result.steps, trial.mean_log_z});
  }
  // per-step curves of the first seed: a band over seeds would smooth away the spikes they show
  train::line_plot(run.plot_path("stability_loss"), "training loss with large router logits (first seed)", "step",
                   "cross-entropy (nats/char)", loss_curves);
  train::line_plot(run.plot_path("stability_log_z"), "router logit size: mean log Σ exp(logits) (first seed)", "step",
                   "mean log-z", log_z_curves);
  examples::plot_loss_three_ways(run, "stability_held_out", "held-out loss with large router logits", stability_arms);

  // ---- (b) fine-tuning: pre-train on the KJV, then four recipes on the fortunes ----
  fmt::print("\n(b) pre-train {} steps on the KJV, fine-tune {} steps on fortunes/{}\n", pretrain_steps, finetune_steps,
             fortune_category);
  struct Recipe {
    std::string name;
    std::function<void(nn::GptModel&)> prepare;
  };
  std::vector<Recipe> recipes = {
      {"train all", [](nn::GptModel&) {}},
      {"freeze MoE", [](nn::GptModel& model) { moe::freeze_moe_parameters(model); }},
      {"freeze non-MoE", [](nn::GptModel& model) { moe::freeze_non_moe_parameters(model); }},
      {fmt::format("expert dropout {:g}", expert_dropout),
       [&](nn::GptModel& model) { moe::set_expert_dropout(model, expert_dropout); }},
  };
  std::vector<std::int64_t> trainable(recipes.size(), 0);
  std::vector<std::vector<examples::LmResult>> finetuned(recipes.size());  // [recipe][seed]
  std::vector<double> before_finetuning_per_seed;
  for (std::int64_t s = 0; s < finetune_seeds; ++s) {
    auto seed = flags.seed + static_cast<std::uint64_t>(s);
    Generator router_init(seed + 2000);
    examples::LmExperiment pretraining;
    pretraining.name = fmt::format("pre-train s{}", seed);
    pretraining.metrics = &metrics;  // the fine-tuning runs copy it
    pretraining.model = model_config;
    pretraining.moe_every = moe_every;
    pretraining.moe = layer_config;
    pretraining.make_router = [&](std::int64_t) {
      moe::GShardRouterConfig router{dim, experts, 1e-2, 0.1};
      return std::make_shared<moe::GShardRouter>(router, router_init);
    };
    pretraining.experts_per_token = 2.0;
    pretraining.steps = pretrain_steps;
    pretraining.batch = batch;
    pretraining.evaluations = 1;
    Generator generator(seed);
    std::shared_ptr<nn::GptModel> pretrained = examples::build_lm(pretraining, generator);
    examples::train_lm(*pretrained, pretraining, kjv, generator);
    nn::StateDict pretrained_weights = pretrained->state_dict();
    before_finetuning_per_seed.push_back(examples::held_out_loss(*pretrained, finetune_text, batch));

    for (std::size_t r = 0; r < recipes.size(); ++r) {
      examples::LmExperiment finetuning = pretraining;
      finetuning.name = fmt::format("{} s{}", recipes[r].name, seed);
      finetuning.steps = finetune_steps;
      finetuning.lr = finetune_lr;
      finetuning.evaluations = 5;
      Generator recipe_generator(seed + 1);  // every recipe of this seed sees the same batches
      std::shared_ptr<nn::GptModel> model = examples::build_lm(finetuning, recipe_generator);
      model->load_state_dict(pretrained_weights);
      recipes[r].prepare(*model);
      trainable[r] = 0;
      for (const Tensor& parameter : model->parameters()) trainable[r] += parameter.requires_grad() ? parameter.numel() : 0;
      finetuned[r].push_back(examples::train_lm(*model, finetuning, finetune_text, recipe_generator));
    }
  }
  double before_finetuning = examples::mean_of_last(before_finetuning_per_seed, before_finetuning_per_seed.size());
  train::Table finetune_table({"recipe", "trainable parameters", "held-out loss (fortunes)"});
  std::vector<double> finetune_loss;  // mean over seeds, per recipe
  std::vector<examples::LossArm> finetune_arms;
  for (std::size_t r = 0; r < recipes.size(); ++r) {
    std::vector<double> losses = examples::final_losses(finetuned[r]);
    finetune_loss.push_back(examples::mean_of_last(losses, losses.size()));
    finetune_table.add_row({recipes[r].name, std::to_string(trainable[r]), examples::mean_and_spread(losses)});
    finetune_arms.push_back({recipes[r].name, finetuned[r]});
  }
  examples::plot_loss_three_ways(run, "finetune", "fine-tuning a KJV-pretrained MoE GPT on fortunes", finetune_arms);

  // ---- results ----
  fmt::print("\n(a, c) stability, {} steps, lr {}, no clipping (spike: loss > running mean + {} nats)\n",
             stability_steps, stability_lr, spike_threshold);
  stability_table.print(std::cout);
  fmt::print("\n(b) fine-tuning, {} steps at lr {}, {} seeds each with its own pre-training (mean ± sd; held-out "
             "loss before fine-tuning: {:.3f})\n",
             finetune_steps, finetune_lr, finetune_seeds, before_finetuning);
  finetune_table.print(std::cout);

  // ---- comparisons, paired by seed ----
  fmt::print("\nComparisons (paired over seeds, 95% interval):\n");
  examples::Comparisons comparisons;
  const auto Lower = train::Better::Lower;
  const std::string log_z_metric = "mean log-z, last 10 steps";
  const std::string spike_metric = fmt::format("loss spikes (> running mean + {} nats)", spike_threshold);
  const std::string held_out_metric = "held-out loss (nats/char)";
  auto compare_arms = [&](const std::string& claim, std::size_t a, std::size_t b, const std::string& metric,
                          const std::vector<std::vector<double>>& values, int digits) {
    comparisons.add(train::compare(claim, arms[a].name, arms[b].name, metric, values[a], values[b], Lower), digits);
    return comparisons.list().size() - 1;
  };
  // (a) the z-loss, float32 router
  std::size_t z_log_z = compare_arms("the z-loss keeps the router logits smaller", kF32Z, kF32, log_z_metric, log_z, 2);
  std::size_t z_spikes = compare_arms("the z-loss gives fewer loss spikes", kF32Z, kF32, spike_metric, spikes, 1);
  std::size_t z_cost = compare_arms(
      "training without the z-loss gives a lower held-out loss (the z-loss's quality cost)", kF32, kF32Z,
      held_out_metric, held_out, 3);
  // (c) the router's precision, and the z-loss under bfloat16
  std::size_t f32_spikes = compare_arms("a float32 router gives fewer loss spikes than a bfloat16 one", kF32, kBf16,
                                        spike_metric, spikes, 1);
  std::size_t f32_loss = compare_arms("a float32 router gives a lower held-out loss than a bfloat16 one", kF32, kBf16,
                                      held_out_metric, held_out, 3);
  std::size_t bf16_z_log_z = compare_arms("the z-loss keeps a bfloat16 router's logits smaller", kBf16Z, kBf16,
                                          log_z_metric, log_z, 2);
  std::size_t bf16_z_spikes = compare_arms("with a bfloat16 router, the z-loss gives fewer loss spikes", kBf16Z, kBf16,
                                           spike_metric, spikes, 1);
  std::size_t bf16_z_loss = compare_arms("with a bfloat16 router, the z-loss gives a lower held-out loss", kBf16Z,
                                         kBf16, held_out_metric, held_out, 3);
  // (b) fine-tuning
  const std::string finetune_metric = "held-out loss on the fine-tuning text (nats/char)";
  auto recipe_losses = [&](std::size_t r) { return examples::final_losses(finetuned[r]); };
  auto compare_recipes = [&](const std::string& claim, std::size_t a, std::size_t b) {
    comparisons.add(train::compare(claim, recipes[a].name, recipes[b].name, finetune_metric, recipe_losses(a),
                                   recipe_losses(b), Lower));
    return comparisons.list().size() - 1;
  };
  std::size_t all_vs_moe = compare_recipes("training every weight beats freezing the MoE (ST-MoE: it does not, they match)", 0, 1);
  std::size_t moe_vs_rest = compare_recipes("freezing the MoE beats freezing the rest", 1, 2);
  compare_recipes("training every weight beats freezing the rest", 0, 2);
  std::size_t dropout = compare_recipes("expert dropout beats plain fine-tuning of every weight", 3, 0);

  const auto& list = comparisons.list();
  auto verdict_of = [&](std::size_t i) { return examples::Comparisons::verdict(list[i]); };
  auto mean = [](const std::vector<double>& values) { return examples::mean_of_last(values, values.size()); };
  // ST-MoE's findings here: the z-loss shrinks the logits, and freezing the rest (not the MoE) hurts
  bool effect_shown = diverged[kF32Z] == 0 && list[z_log_z].shown && list[moe_vs_rest].shown;
  std::string verdict = fmt::format(
      "(a) float32 router: the z-loss shrinks the router logits (mean log-z {:.2f} without -> {:.2f} with): {}. "
      "Fewer spikes with it ({:.1f} vs {:.1f}, mean per run): {}. Held-out loss {:.3f} with it vs {:.3f} without, a "
      "quality cost: {}. (c) bfloat16 router (round-off of a logit at its log-z: {:.3f} without the z-loss, {:.3f} "
      "with): runs that diverged float32 {}/{}, bfloat16 {}/{}, bfloat16 + z-loss {}/{}. Spikes float32 {:.1f} vs "
      "bfloat16 {:.1f}, fewer in float32: {}. Held-out loss float32 {:.3f} vs bfloat16 {:.3f}, lower in float32: {}. "
      "Under bfloat16 the z-loss shrinks the logits: {}. Gives fewer spikes: {}. A lower loss: {}. (b) fine-tuning "
      "loss: all {:.3f}, MoE frozen {:.3f}, non-MoE frozen {:.3f}, expert dropout {:.3f}. Training all beats freezing "
      "the MoE: {}. Freezing the MoE beats freezing the rest: {}. Expert dropout helps: {}.",
      mean(log_z[kF32]), mean(log_z[kF32Z]), verdict_of(z_log_z), mean(spikes[kF32]), mean(spikes[kF32Z]),
      verdict_of(z_spikes), mean(held_out[kF32Z]), mean(held_out[kF32]), verdict_of(z_cost),
      bfloat16_round_off(mean(log_z[kBf16])), bfloat16_round_off(mean(log_z[kBf16Z])), diverged[kF32],
      stability_seeds, diverged[kBf16], stability_seeds, diverged[kBf16Z], stability_seeds, mean(spikes[kF32]),
      mean(spikes[kBf16]), verdict_of(f32_spikes), mean(held_out[kF32]), mean(held_out[kBf16]), verdict_of(f32_loss),
      verdict_of(bf16_z_log_z), verdict_of(bf16_z_spikes), verdict_of(bf16_z_loss), finetune_loss[0], finetune_loss[1],
      finetune_loss[2], finetune_loss[3], verdict_of(all_vs_moe), verdict_of(moe_vs_rest), verdict_of(dropout));
  train::print_profile(flags);
  // The tour's smoke check: the z-loss shrinks the logits under either precision (a mechanism, not noise).
  bool z_loss_check = mean(log_z[kF32Z]) < mean(log_z[kF32]) && mean(log_z[kBf16Z]) < mean(log_z[kBf16]);
  fmt::print("\ntour: st_moe | z-loss shrinks router log-z: float32 {:.1f} -> {:.1f}, bfloat16 {:.1f} -> {:.1f} | {}\n",
             mean(log_z[kF32]), mean(log_z[kF32Z]), mean(log_z[kBf16]), mean(log_z[kBf16Z]),
             z_loss_check ? "yes" : "no");
  nlohmann::json diverged_json;
  for (std::size_t arm = 0; arm < arms.size(); ++arm) diverged_json[arms[arm].name] = diverged[arm];
  run.write_summary({{"example", "st_moe"},
                     {"stability_table", stability_table.to_json()},
                     {"finetune_table", finetune_table.to_json()},
                     {"table", finetune_table.to_json()},
                     {"diverged_runs", diverged_json},
                     {"held_out_before_finetuning", before_finetuning},
                     {"comparisons", comparisons.to_json()},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  // a diverged bfloat16 run is a finding, not a failure; the float32 z-loss run and fine-tuning must stay finite
  bool finite = diverged[kF32Z] == 0 && std::isfinite(finetune_loss[0]);
  return finite ? 0 : 1;
}
