// WideNet (Xue et al., "Go Wider Instead of Deeper", AAAI 2022): one Transformer block, attention +
// a 4-expert top-2 MoE FFN, shared by all N layers, each layer with its own LayerNorms (moe/widenet.h).
// The paper's lesson: at a similar parameter count, shared + wide (MoE) beats shared-only (ALBERT), and
// the per-layer LayerNorms let the one shared router send a token to different experts at different
// depths. Here: a small ViT on Fashion-MNIST (7×7 patches -> 16 tokens, learned positions, mean-pool,
// a linear head), comparing
//   WideNet                 shared attention + shared MoE FFN (E experts of width H), N layers
//   shared-only             the same WideNet class with a dense FFN of width H (ALBERT: same compute)
//   shared-only, E·H wide   a dense shared FFN of width E·H: the same parameter count as WideNet
//   vanilla                 unshared layers, fewer of them, FFN width chosen to match WideNet's count
//   WideNet, shared LN      WideNet with ONE LayerNorm pair for all layers (the paper's ablation)
// Each claim is a paired difference over seeds with its 95% interval (summary.json "comparisons").
//   build/examples/widenet              default run: about 26 min (1 thread)
//   build/examples/widenet --quick      seconds: a smoke test (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "data/batching.h"
#include "data/idx.h"
#include "examples/moe_lm.h"
#include "examples/moe_lm_report.h"
#include "moe/gshard_router.h"
#include "moe/switch_router.h"
#include "moe/widenet.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// Letters: B images, G×G patches of P×P pixels, T = G² tokens, D width.
// images (B,784) -> patch tokens (B,T,P²) -> Linear -> + positions -> body -> mean over T -> LN -> (B,10).
// The body is either a WideNet (shared block) or a stack of ordinary Transformer layers.
class PatchClassifier : public nn::Module {
 public:
  PatchClassifier(std::int64_t patch, std::int64_t dim, std::shared_ptr<moe::WideNet> shared,
                  std::shared_ptr<nn::ModuleList<nn::TransformerEncoderLayer>> stack, Generator& generator)
      : patch(patch), grid(28 / patch) {
    embed = register_module("embed", std::make_shared<nn::Linear>(patch * patch, dim, true, generator));
    position = register_parameter("position", normal({1, grid * grid, dim}, 0.0, 0.02, generator));
    if (shared) widenet = register_module("widenet", std::move(shared));
    if (stack) layers = register_module("layers", std::move(stack));
    final_norm = register_module("final_norm", std::make_shared<nn::LayerNorm>(dim));
    head = register_module("head", std::make_shared<nn::Linear>(dim, 10, true, generator));
  }

  // images -> logits (B,10); the WideNet's routing of each layer goes into `record` when given.
  Tensor forward(const Tensor& images, nn::Taps* record = nullptr) {
    std::int64_t batch = images.size(0);
    Tensor patches = reshape(images, {batch, grid, patch, grid, patch});                   // (B,G,P,G,P)
    patches = reshape(permute(patches, {0, 1, 3, 2, 4}), {batch, grid * grid, patch * patch});  // (B,T,P²)
    Tensor h = embed->forward(patches) + position;                                          // (B,T,D)
    if (widenet) h = widenet->forward(h, {}, record);
    if (layers) {
      for (auto& layer : *layers) h = layer->forward(h);
    }
    return head->forward(final_norm->forward(mean(h, {1})));  // (B,10)
  }


  std::int64_t patch, grid;
  std::shared_ptr<nn::Linear> embed;
  Tensor position;
  std::shared_ptr<moe::WideNet> widenet;
  std::shared_ptr<nn::ModuleList<nn::TransformerEncoderLayer>> layers;
  std::shared_ptr<nn::LayerNorm> final_norm;
  std::shared_ptr<nn::Linear> head;
};

struct Settings {
  std::int64_t patch = 7, dim = 32, heads = 2, layers = 4, experts = 4, expert_hidden = 128, vanilla_layers = 2;
  std::string router = "top2";
};

nn::TransformerLayerConfig layer_config(const Settings& settings, std::int64_t ffn_hidden) {
  nn::TransformerLayerConfig config;
  config.dim = settings.dim;
  config.heads = settings.heads;
  config.ffn_hidden = ffn_hidden;
  config.dropout = 0.0;
  config.norm_first = true;
  return config;
}

// The four models by name; vanilla_hidden is the FFN width that matches WideNet's parameter count.
std::unique_ptr<PatchClassifier> make_model(const std::string& kind, const Settings& settings,
                                            std::int64_t vanilla_hidden, Generator& generator) {
  std::int64_t dim = settings.dim;
  if (kind == "vanilla") {
    auto stack = std::make_shared<nn::ModuleList<nn::TransformerEncoderLayer>>();
    for (std::int64_t l = 0; l < settings.vanilla_layers; ++l) {
      stack->push_back(std::make_shared<nn::TransformerEncoderLayer>(layer_config(settings, vanilla_hidden), generator));
    }
    return std::make_unique<PatchClassifier>(settings.patch, dim, nullptr, stack, generator);
  }
  std::shared_ptr<nn::FfnModule> ffn;
  bool moe_ffn = kind == "WideNet" || kind == "WideNet, shared LN";
  if (moe_ffn) {
    moe::MoELayerConfig moe_config;
    moe_config.dim = dim;
    moe_config.expert_hidden = settings.expert_hidden;
    std::shared_ptr<moe::Router> router;
    if (settings.router == "top1") {
      router = std::make_shared<moe::SwitchRouter>(moe::SwitchRouterConfig{dim, settings.experts}, generator);
    } else {
      router = std::make_shared<moe::GShardRouter>(moe::GShardRouterConfig{dim, settings.experts}, generator);
    }
    ffn = std::make_shared<moe::MoELayer>(moe_config, router, generator);
  } else {
    std::int64_t hidden = kind == "shared-only" ? settings.expert_hidden : settings.experts * settings.expert_hidden;
    ffn = std::make_shared<nn::FeedForward>(dim, hidden, 0.0, generator);
  }
  auto norms = kind == "WideNet, shared LN" ? moe::LayerNormSharing::Shared : moe::LayerNormSharing::PerLayer;
  auto shared = std::make_shared<moe::WideNet>(layer_config(settings, settings.expert_hidden), settings.layers, ffn,
                                               generator, norms);
  return std::make_unique<PatchClassifier>(settings.patch, dim, shared, nullptr, generator);
}

// Accuracy on the set, in batches, without a graph. When `routing` is given (WideNet), adds each
// layer's tokens per expert to it and counts the tokens whose first-choice expert differs from
// their first choice at layer 0.
struct RoutingTally {
  std::vector<std::vector<double>> tokens_per_expert;  // [layer][expert]
  std::vector<double> changed_from_layer0;             // [layer]
  double tokens = 0.0;
};

double accuracy(PatchClassifier& model, const data::ImageSet& set, RoutingTally* routing = nullptr) {
  NoGradGuard no_grad;
  model.eval();
  std::int64_t correct = 0, n = set.images.size(0), batch = 500;
  for (std::int64_t start = 0; start < n; start += batch) {
    std::int64_t size = std::min(batch, n - start);
    nn::Taps record = nn::Taps::reports_only();
    Tensor predicted = argmax(model.forward(set.images.narrow(0, start, size), &record), 1);
    correct += static_cast<std::int64_t>(sum(eq(predicted, set.labels.narrow(0, start, size))).item());
    if (!routing || !model.widenet) continue;
    std::vector<moe::RoutingInfo> layers;
    for (const auto& [name, info] : moe::routings(record)) layers.push_back(*info);
    if (layers.empty()) continue;
    routing->tokens_per_expert.resize(layers.size());
    routing->changed_from_layer0.resize(layers.size(), 0.0);
    Tensor first_choice_layer0 = layers[0].expert_index.narrow(1, 0, 1);
    for (std::size_t l = 0; l < layers.size(); ++l) {
      std::vector<std::int64_t> load = layers[l].tokens_per_expert.to_vector<std::int64_t>();
      routing->tokens_per_expert[l].resize(load.size(), 0.0);
      for (std::size_t e = 0; e < load.size(); ++e) routing->tokens_per_expert[l][e] += static_cast<double>(load[e]);
      Tensor differs = ne(layers[l].expert_index.narrow(1, 0, 1), first_choice_layer0);
      routing->changed_from_layer0[l] += sum(differs).item();
    }
    routing->tokens += static_cast<double>(layers[0].expert_index.size(0));
  }
  model.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

// The parameters of a WideNet model's body, shared as built, and what N unshared copies of its block
// (attention, FFN and the per-layer LayerNorms it already has) would hold. Per-layer norms only.
std::pair<std::int64_t, std::int64_t> body_parameters(const PatchClassifier& model) {
  const moe::WideNet& body = *model.widenet;
  std::int64_t block = body.attention->parameter_count() + body.ffn->parameter_count();
  std::int64_t norms = body.norms1->parameter_count() + body.norms2->parameter_count();
  return {body.parameter_count(), body.num_layers() * block + norms};
}

constexpr double kChance = 10.0;  // test accuracy (%) of a guess among the 10 classes

// The lowest final test accuracy (%) of any model and seed; NAN if any run's is NAN.
double lowest_accuracy(const std::vector<std::vector<double>>& accuracy) {
  double lowest = 100.0;
  for (const auto& per_seed : accuracy) {
    for (double value : per_seed) {
      if (std::isnan(value)) return NAN;
      lowest = std::min(lowest, value);
    }
  }
  return lowest;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"WideNet vs shared-only vs vanilla Transformers on Fashion-MNIST"};
  train::ExampleFlags flags;
  Settings settings;
  std::int64_t steps = 1600, batch = 64, seeds = 3, train_images = -1, test_images = 5000, evaluations = 8;
  double learning_rate = 2e-3;
  std::string data_dir = data::kFashionMnistDirectory;
  train::add_example_flags(app, flags);
  app.add_option("--patch", settings.patch, "patch side in pixels (must divide 28)")->check(CLI::IsMember({1, 2, 4, 7, 14}));
  app.add_option("--dim", settings.dim, "model width")->check(CLI::PositiveNumber);
  app.add_option("--heads", settings.heads, "attention heads")->check(CLI::PositiveNumber);
  app.add_option("--layers", settings.layers, "N: times the shared block is applied")->check(CLI::PositiveNumber);
  app.add_option("--experts", settings.experts, "experts in WideNet's MoE (paper: 4)")->check(CLI::PositiveNumber);
  app.add_option("--expert-hidden", settings.expert_hidden, "H: each expert's (and shared-only's) FFN width")->check(CLI::PositiveNumber);
  app.add_option("--router", settings.router, "top2 (GShard, the paper's main setting) or top1 (Switch)")
      ->check(CLI::IsMember({"top1", "top2"}));
  app.add_option("--vanilla-layers", settings.vanilla_layers, "unshared layers of the vanilla model")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "training steps per model")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", learning_rate, "peak AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seeds", seeds, "seeds per model (paired comparisons need >= 3)")->check(CLI::Range(2, 1000));
  app.add_option("--train-images", train_images, "training images (-1: all 60,000)");
  app.add_option("--test-images", test_images, "test images (-1: all 10,000)");
  app.add_option("--data", data_dir, "folder of the IDX files (Debian package dataset-fashion-mnist)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) steps = 40, train_images = 5000, test_images = 1000, settings.layers = 2;
  train::RunDir run = train::RunDir::create(flags.out, "widenet");
  train::MetricsLog metrics(run.metrics_path());  // every run's loss curve, one line per step
  data::ImageSet train_set = data::load_fashion_mnist(data_dir, true, train_images);
  data::ImageSet test_set = data::load_fashion_mnist(data_dir, false, test_images);
  fmt::print("Fashion-MNIST: {} training and {} test images, {}x{} patches -> {} tokens\n", train_set.images.size(0),
             test_set.images.size(0), settings.patch, settings.patch, (28 / settings.patch) * (28 / settings.patch));

  // ---- parameter counts; the vanilla FFN width is solved so its count matches WideNet's ----
  Generator count_generator(0);
  std::int64_t widenet_parameters = make_model("WideNet", settings, 1, count_generator)->parameter_count();
  std::int64_t vanilla_at_1 = make_model("vanilla", settings, 1, count_generator)->parameter_count();
  std::int64_t vanilla_at_2 = make_model("vanilla", settings, 2, count_generator)->parameter_count();
  std::int64_t vanilla_hidden =
      std::max<std::int64_t>(1, 1 + (widenet_parameters - vanilla_at_1) / std::max<std::int64_t>(1, vanilla_at_2 - vanilla_at_1));

  const std::vector<std::string> kinds = {"WideNet", "shared-only", "shared-only E·H", "vanilla", "WideNet, shared LN"};
  std::vector<std::vector<double>> final_accuracy(kinds.size());
  std::vector<std::vector<train::Series>> curves(kinds.size());  // [kind][seed]
  std::vector<std::int64_t> parameter_counts(kinds.size()), activated(kinds.size());
  RoutingTally routing;  // WideNet, seed 0, for the table
  // per WideNet kind and seed: the share of tokens whose first choice differs from layer 0's
  std::vector<std::vector<double>> rerouted(kinds.size());
  std::int64_t eval_every = std::max<std::int64_t>(1, steps / evaluations);
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    for (std::int64_t seed = 0; seed < seeds; ++seed) {
      Generator generator(flags.seed + static_cast<std::uint64_t>(seed));
      std::unique_ptr<PatchClassifier> model = make_model(kinds[k], settings, vanilla_hidden, generator);
      moe::ParameterCounts counts = moe::count_parameters(*model, settings.router == "top1" ? 1.0 : 2.0);
      parameter_counts[k] = counts.total, activated[k] = counts.activated;
      nn::AdamWOptions adamw;
      adamw.lr = learning_rate;
      adamw.weight_decay = 0.01;
      nn::AdamW optimizer(model->parameters(), adamw);
      nn::Scheduler scheduler(optimizer, nn::warmup_cosine_decay(steps / 10, steps, 0.1));
      train::ProgressBar bar(steps, fmt::format("{:<16} seed {}", kinds[k], seed));
      train::Series curve{kinds[k], {}, {}};
      Generator batch_order(100 + static_cast<std::uint64_t>(seed));  // the same batches for every model
      std::int64_t step = 0;
      while (step < steps) {
        for (const auto& indices : data::shuffled_batches(train_set.images.size(0), batch, batch_order)) {
          if (++step > steps) break;
          Tensor rows = from_vector(indices);
          nn::Taps record = nn::Taps::reports_only();  // each WideNet layer's routing in this step
          Tensor logits = model->forward(index_select(train_set.images, 0, rows), &record);
          Tensor loss = cross_entropy(logits, index_select(train_set.labels, 0, rows));
          double loss_value = loss.item();
          optimizer.zero_grad();
          (loss + moe::total_aux_loss(record)).backward();  // Σ over the N layers (0 when dense)
          nn::clip_grad_norm(model->parameters(), 1.0);
          optimizer.step();
          scheduler.step();
          bar.update(step, {{"loss", loss_value}});
          metrics.write({{"run", kinds[k]}, {"seed", seed}, {"step", step}, {"split", "train"}, {"loss", loss_value}});
          if (step % eval_every == 0 || step == steps) {
            curve.x.push_back(static_cast<double>(step));
            curve.y.push_back(100.0 * accuracy(*model, test_set));
            metrics.write({{"run", kinds[k]}, {"seed", seed}, {"step", step}, {"split", "test"}, {"accuracy", curve.y.back()}});
          }
        }
      }
      bar.finish();
      RoutingTally tally;
      final_accuracy[k].push_back(100.0 * accuracy(*model, test_set, &tally));
      if (!tally.tokens_per_expert.empty()) {
        double changed = 0.0;
        for (std::size_t l = 1; l < tally.changed_from_layer0.size(); ++l) {
          changed += tally.changed_from_layer0[l] / tally.tokens / static_cast<double>(tally.changed_from_layer0.size() - 1);
        }
        rerouted[k].push_back(100.0 * changed);
      }
      if (kinds[k] == "WideNet" && seed == 0) routing = tally;
      curves[k].push_back(curve);
    }
  }

  // ---- results ----
  train::Table table({"model", "parameters", "activated", "test accuracy (%)"});
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    std::string name = kinds[k] == "vanilla" ? fmt::format("vanilla ({} layers, FFN {})", settings.vanilla_layers, vanilla_hidden)
                       : kinds[k] == "WideNet" ? fmt::format("WideNet ({} experts, {})", settings.experts, settings.router)
                       : kinds[k] == "WideNet, shared LN" ? fmt::format("WideNet, one LayerNorm pair for all layers")
                                               : kinds[k];
    table.add_row({name, std::to_string(parameter_counts[k]), std::to_string(activated[k]),
                   examples::mean_and_spread(final_accuracy[k], 2)});
  }
  train::Table routing_table({"layer", "tokens per expert (share)", "first choice differs from layer 0"});
  std::vector<std::string> bar_labels;
  std::vector<double> bar_values;
  for (std::size_t l = 0; l < routing.tokens_per_expert.size(); ++l) {
    std::string shares;
    double total = 0.0;
    for (double count : routing.tokens_per_expert[l]) total += count;
    for (std::size_t e = 0; e < routing.tokens_per_expert[l].size(); ++e) {
      shares += fmt::format("{}{:.2f}", e ? " " : "", routing.tokens_per_expert[l][e] / total);
      bar_labels.push_back(fmt::format("L{} E{}", l, e));
      bar_values.push_back(routing.tokens_per_expert[l][e] / total);
    }
    double changed = routing.changed_from_layer0[l] / routing.tokens;
    routing_table.add_row({std::to_string(l), shares, fmt::format("{:.1f}%", 100.0 * changed)});
  }
  fmt::print("\nTest accuracy after {} steps ({} seed{}):\n", steps, seeds, seeds > 1 ? "s" : "");
  table.print(std::cout);
  fmt::print("\nWideNet's one shared router, per layer, on the test set (seed 0):\n");
  routing_table.print(std::cout);
  // accuracy curves: mean ± sd over seeds
  std::vector<train::Series> bands;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    train::Series band{kinds[k], curves[k].front().x, {}};
    for (std::size_t i = 0; i < band.x.size(); ++i) {
      std::vector<double> column;
      for (const auto& one : curves[k]) column.push_back(one.y[i]);
      double m = examples::mean_of_last(column, column.size()), square = 0.0;
      for (double v : column) square += (v - m) * (v - m);
      double sd = column.size() > 1 ? std::sqrt(square / static_cast<double>(column.size() - 1)) : 0.0;
      band.y.push_back(m);
      band.low.push_back(m - sd);
      band.high.push_back(m + sd);
    }
    bands.push_back(band);
  }
  train::line_plot(run.plot_path("accuracy"), fmt::format("Fashion-MNIST ViT: test accuracy (mean ± sd of {} seeds)", seeds),
                   "step", "accuracy (%)", bands);
  train::PlotOptions share_scale;
  share_scale.y_min = 0.0;
  share_scale.y_max = 1.0;
  train::bar_plot(run.plot_path("routing"), "WideNet: share of tokens per expert at each layer (seed 0)", bar_labels,
                  bar_values, "share of slots", share_scale);

  // ---- comparisons (paired over seeds) ----
  fmt::print("\nComparisons (paired over seeds, 95% interval):\n");
  examples::Comparisons comparisons;
  const std::string metric = "test accuracy (%)";
  const auto Higher = train::Better::Higher;
  comparisons.add(train::compare("WideNet beats shared-only at equal compute", "WideNet", "shared-only", metric,
                                 final_accuracy[0], final_accuracy[1], Higher), 2);
  comparisons.add(train::compare("WideNet beats shared-only at equal parameters", "WideNet", "shared-only E·H", metric,
                                 final_accuracy[0], final_accuracy[2], Higher), 2);
  comparisons.add(train::compare("WideNet beats the vanilla Transformer of equal parameters", "WideNet", "vanilla",
                                 metric, final_accuracy[0], final_accuracy[3], Higher), 2);
  comparisons.add(train::compare("per-layer LayerNorms beat one shared LayerNorm pair", "WideNet",
                                 "WideNet, shared LN", metric, final_accuracy[0], final_accuracy[4], Higher), 2);
  comparisons.add(train::compare("per-layer LayerNorms make the shared router route differently by depth", "WideNet",
                                 "WideNet, shared LN", "tokens whose first choice differs from layer 0 (%)",
                                 rerouted[0], rerouted[4], Higher), 1);

  auto average = [](const std::vector<double>& values) { return examples::mean_of_last(values, values.size()); };
  double widenet = average(final_accuracy[0]), shared = average(final_accuracy[1]);
  double shared_wide = average(final_accuracy[2]), vanilla = average(final_accuracy[3]);
  double shared_norms = average(final_accuracy[4]);
  const auto& list = comparisons.list();
  bool effect_shown = list[0].shown && list[1].shown;
  std::string verdict = fmt::format(
      "WideNet {:.2f}% vs shared-only {:.2f}% (same compute: {}) and {:.2f}% (same parameters: {}), vanilla {:.2f}% "
      "({}); one shared LayerNorm pair {:.2f}% (per-layer norms better: {}); the shared router sends {:.0f}% of tokens "
      "to a different first-choice expert than at layer 0 with per-layer norms vs {:.0f}% with shared ones ({}).",
      widenet, shared, examples::Comparisons::verdict(list[0]), shared_wide, examples::Comparisons::verdict(list[1]),
      vanilla, examples::Comparisons::verdict(list[2]), shared_norms, examples::Comparisons::verdict(list[3]),
      average(rerouted[0]), average(rerouted[4]), examples::Comparisons::verdict(list[4]));
  train::print_profile(flags);
  // The tour's smoke check is WideNet's mechanism, which holds from the first steps: the N layers share
  // one block (fewer parameters than N unshared copies), the one shared router still sends tokens to
  // different experts at different depths, and every model learned. The accuracy claims need the default run.
  Generator unused(0);
  auto [shared_body, unshared_body] = body_parameters(*make_model("WideNet", settings, vanilla_hidden, unused));
  double lowest = lowest_accuracy(final_accuracy);
  bool mechanism_check = shared_body < unshared_body && average(rerouted[0]) > 0.0 && lowest > 2.0 * kChance;
  fmt::print("\ntour: widenet | {} layers on one shared block: {} parameters vs {} for {} unshared blocks; its router "
             "sends {:.0f}% of tokens to another first-choice expert than at layer 0; every model learned (lowest test "
             "acc. {:.1f}% > {:.0f}%) | {}\n",
             settings.layers, shared_body, unshared_body, settings.layers, average(rerouted[0]), lowest, 2.0 * kChance,
             mechanism_check ? "yes" : "no");
  run.write_summary({{"example", "widenet"},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"table", table.to_json()},
                     {"routing_table", routing_table.to_json()},
                     {"comparisons", comparisons.to_json()},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  return std::isfinite(widenet) ? 0 : 1;
}
