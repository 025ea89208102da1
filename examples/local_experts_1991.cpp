// Adaptive mixtures of local experts (Jacobs, Jordan, Nowlan & Hinton 1991) on a task you can draw:
// inputs x in [-1,1]², target the upside-down pyramid d = 2(|x1| + |x2|). In each quadrant the target
// is a different flat face, d = ±2 x1 ± 2 x2: one linear expert fits one face exactly, while no single
// plane fits all four. Eight linear experts and a linear gate (which can carve out quadrants) are
// trained with each of the paper's three losses (moe/local_experts.h):
//   cooperative  ‖d − Σ p_i o_i‖²             the blend is judged: experts co-adapt, many per case
//   competitive  Σ p_i ‖d − o_i‖²             each expert judged alone: one expert per region
//   log form     −log Σ p_i exp(−½‖d − o_i‖²)  the paper's loss: one expert per region
// and we measure the test error, how many experts each case uses, which expert owns which quadrant,
// and co-adaptation: the error of each case's main expert (largest gate) ALONE against the target.
// Under the cooperative loss the experts compensate for each other, so the blend fits while its main
// expert alone does not (§1 of the paper); under the competitive losses the main expert alone is the
// answer. Each claim is a paired difference over seeds (the same initialisation for every loss) with
// its 95% interval, in summary.json "comparisons".
//   build/examples/local_experts_1991           25 s wall (1 thread): 5 seeds per loss
//   build/examples/local_experts_1991 --quick   seconds: 3 seeds, fewer steps (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>

#include "moe/local_experts.h"
#include "moegrad.h"
#include "train/stats.h"
#include "nn/optim.h"
#include "train/metrics_log.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

constexpr int kRegions = 4;  // quadrants, numbered as in maths: I (+,+), II (−,+), III (−,−), IV (+,−)
const std::array<const char*, kRegions> kRegionNames = {"I", "II", "III", "IV"};

// The target plane of each quadrant: d = slope1·x1 + slope2·x2 + offset. The faces meet along the axes,
// so the target is continuous and a soft blend of experts can fit it too: the cooperative loss is
// free to share cases, and any localisation comes from the loss, not from a jump in the target. Away
// from the axes a wrong face is off by units, so the posterior h (unit-variance Gaussians) is sharp.
struct Plane {
  double slope1, slope2, offset;
};
const std::array<Plane, kRegions> kRegionPlanes = {
    {{2.0, 2.0, 0.0}, {-2.0, 2.0, 0.0}, {-2.0, -2.0, 0.0}, {2.0, -2.0, 0.0}}};

int region_of(double x1, double x2) {
  if (x2 >= 0) return x1 >= 0 ? 0 : 1;
  return x1 < 0 ? 2 : 3;
}

double plane_value(int region, double x1, double x2) {
  const Plane& plane = kRegionPlanes[region];
  return plane.slope1 * x1 + plane.slope2 * x2 + plane.offset;
}

// N cases: inputs (N,2) uniform in the square, targets (N,1) = their quadrant's plane + noise.
struct PiecewiseData {
  Tensor inputs, targets;
  std::vector<int> regions;
};

PiecewiseData make_data(std::int64_t cases, double noise, Generator& generator) {
  PiecewiseData data;
  data.inputs = uniform({cases, 2}, -1.0, 1.0, generator);
  std::vector<float> x = data.inputs.to_vector<float>(), targets;
  for (std::int64_t n = 0; n < cases; ++n) {
    data.regions.push_back(region_of(x[2 * n], x[2 * n + 1]));
    targets.push_back(static_cast<float>(plane_value(data.regions.back(), x[2 * n], x[2 * n + 1])));
  }
  data.targets = from_vector(targets, {cases, 1}) + randn({cases, 1}, generator) * noise;
  return data;
}

// exp(entropy of p) for each row of p (N,E): 1 when one expert takes the case, E when all share it.
// The clamp keeps 0·log 0 at 0 for a gate that has shut an expert out completely.
std::vector<double> effective_experts(const Tensor& gate_probabilities) {
  Tensor p = gate_probabilities.detach();
  return exp(neg(sum(mul(p, log(clamp(p, 1e-30, std::nullopt))), {1}))).to_vector<double>();
}

// The mean squared error of each case's main expert alone, ‖d − o_m‖² with m = argmax_i p_i: how well
// the expert the gate trusts most fits the case without the others' help (F = 1 output here).
double main_expert_mse(const moe::LocalExpertsOutput& out, const Tensor& targets) {
  std::vector<std::int64_t> main = argmax(out.gate_probabilities.detach(), 1).to_vector<std::int64_t>();
  std::vector<float> o = out.expert_outputs.detach().contiguous().to_vector<float>();
  std::vector<float> d = targets.contiguous().to_vector<float>();
  std::int64_t experts = out.gate_probabilities.size(1);
  double total = 0.0;
  for (std::size_t n = 0; n < main.size(); ++n) {
    double error = d[n] - o[n * static_cast<std::size_t>(experts) + static_cast<std::size_t>(main[n])];
    total += error * error;
  }
  return total / static_cast<double>(main.size());
}

double average(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(std::max<std::size_t>(values.size(), 1));
}

double spread(const std::vector<double>& values) {  // sample standard deviation, 0 for one value
  if (values.size() < 2) return 0.0;
  double mu = average(values), total = 0.0;
  for (double v : values) total += (v - mu) * (v - mu);
  return std::sqrt(total / static_cast<double>(values.size() - 1));
}

// What a trained mixture does on the test set.
struct Evaluation {
  double mse = 0.0;                 // of the mixture Σ p_i o_i
  double main_expert_mse = 0.0;     // of each case's main expert (largest p_i) alone: o_main against d
  double experts_per_case = 0.0;    // mean exp(entropy of p)
  double owner_share = 0.0;         // per quadrant, the mean gate of the expert that takes most of it; averaged
  int distinct_owners = 0;          // how many different experts own the four quadrants (4: one each)
  std::array<int, kRegions> owner{};
  double follows_posterior = 0.0;   // share of cases whose largest gate p is the posterior h's top expert
};

// The share of cases whose largest gate p_i is also the expert the posterior h credits most: the log
// form's gate gradient −(h − p) pulls p toward h, so after training under it the two should agree.
double gate_follows_posterior(const moe::LocalExpertsOutput& out, const Tensor& targets) {
  Tensor h = moe::expert_posterior(targets, out.gate_logits, out.expert_outputs);
  std::vector<std::int64_t> gate_top = argmax(out.gate_probabilities, 1).to_vector<std::int64_t>();
  std::vector<std::int64_t> posterior_top = argmax(h, 1).to_vector<std::int64_t>();
  double agree = 0.0;
  for (std::size_t n = 0; n < gate_top.size(); ++n) agree += gate_top[n] == posterior_top[n] ? 1.0 : 0.0;
  return agree / static_cast<double>(std::max<std::size_t>(gate_top.size(), 1));
}

Evaluation evaluate(moe::LocalExperts& model, const PiecewiseData& data) {
  NoGradGuard no_grad;
  moe::LocalExpertsOutput out = model.forward(data.inputs);
  Evaluation result;
  result.mse = mean(square(sub(out.mixture, data.targets))).item();
  result.main_expert_mse = main_expert_mse(out, data.targets);
  result.experts_per_case = average(effective_experts(out.gate_probabilities));
  result.follows_posterior = gate_follows_posterior(out, data.targets);

  // Ownership: the mean gate of each expert over each quadrant's cases (R,E); the owner has the largest.
  std::int64_t experts = model.config.num_experts;
  std::vector<float> p = out.gate_probabilities.contiguous().to_vector<float>();
  std::vector<double> gate_sum(kRegions * experts, 0.0);
  std::array<double, kRegions> count{};
  for (std::size_t n = 0; n < data.regions.size(); ++n) {
    count[data.regions[n]] += 1.0;
    for (std::int64_t i = 0; i < experts; ++i) gate_sum[data.regions[n] * experts + i] += p[n * experts + i];
  }
  std::set<int> owners;
  for (int r = 0; r < kRegions; ++r) {
    int best = 0;
    for (std::int64_t i = 1; i < experts; ++i) {
      if (gate_sum[r * experts + i] > gate_sum[r * experts + best]) best = static_cast<int>(i);
    }
    result.owner[r] = best;
    owners.insert(best);
    result.owner_share += gate_sum[r * experts + best] / std::max(count[r], 1.0) / kRegions;
  }
  result.distinct_owners = static_cast<int>(owners.size());
  return result;
}

using MixtureLoss = Tensor (*)(const Tensor&, const Tensor&, const Tensor&);
enum LossIndex { kCooperative, kCompetitive, kLogForm };  // the order of the losses in main
struct LossChoice {
  std::string name;
  MixtureLoss loss;
};

// One training run's record: the loss and experts per case every `record_every` steps, then the test result.
struct Run {
  std::vector<double> steps, losses, experts_per_case;
  std::vector<double> mixture_mse, main_mse;  // training MSE of the blend and of the main expert alone
  Evaluation test;
};

// Full-batch Adam on one of the three losses; `after_step(step, output, loss)` sees every step.
using StepHook = std::function<void(std::int64_t, const moe::LocalExpertsOutput&, double)>;
void train_mixture(moe::LocalExperts& model, MixtureLoss mixture_loss, const PiecewiseData& data, std::int64_t steps,
                   double learning_rate, const StepHook& after_step) {
  nn::AdamOptions adam;
  adam.lr = learning_rate;
  nn::Adam optimizer(model.parameters(), adam);
  for (std::int64_t step = 1; step <= steps; ++step) {
    moe::LocalExpertsOutput out = model.forward(data.inputs);
    Tensor loss = mixture_loss(data.targets, out.gate_logits, out.expert_outputs);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    after_step(step, out, loss.item());
  }
}

// Three probe cases, one in each of quadrants I, II, III: the readable posterior example.
const std::vector<std::array<double, 2>> kProbes = {{0.7, 0.4}, {-0.2, 0.8}, {-0.5, -0.3}};

// For each probe: the target d, then the gate prior p, the posterior h and the output o of every expert.
std::string posterior_report(moe::LocalExperts& model) {
  NoGradGuard no_grad;
  std::vector<float> inputs, targets;
  for (const auto& probe : kProbes) {
    inputs.insert(inputs.end(), {static_cast<float>(probe[0]), static_cast<float>(probe[1])});
    targets.push_back(static_cast<float>(plane_value(region_of(probe[0], probe[1]), probe[0], probe[1])));
  }
  auto cases = static_cast<std::int64_t>(kProbes.size());
  Tensor x = from_vector(inputs, {cases, 2}), d = from_vector(targets, {cases, 1});
  moe::LocalExpertsOutput out = model.forward(x);
  std::int64_t experts = model.config.num_experts;
  std::vector<float> p = out.gate_probabilities.contiguous().to_vector<float>();
  std::vector<float> h = moe::expert_posterior(d, out.gate_logits, out.expert_outputs).contiguous().to_vector<float>();
  std::vector<float> o = out.expert_outputs.contiguous().to_vector<float>();
  std::string text = "  case (quadrant)   target d       ";
  for (std::int64_t i = 0; i < experts; ++i) text += fmt::format("  expert {}", i);
  text += "\n";
  for (std::int64_t n = 0; n < cases; ++n) {
    const char* rows[] = {"prior p", "posterior h", "output o_i"};
    const std::vector<float>* values[] = {&p, &h, &o};
    for (int row = 0; row < 3; ++row) {
      text += row == 0 ? fmt::format("  ({:+.1f},{:+.1f}) {:<4} {:>6.2f}  ", kProbes[n][0], kProbes[n][1],
                                     kRegionNames[region_of(kProbes[n][0], kProbes[n][1])], targets[n])
                       : std::string(28, ' ');
      text += fmt::format("{:<12}", rows[row]);
      for (std::int64_t i = 0; i < experts; ++i) text += fmt::format("{:>10.3f}", (*values[row])[n * experts + i]);
      text += "\n";
    }
  }
  return text;
}

// The picture of who owns what: for each loss, over a grid on the input square, the expert with the
// largest gate (top row) and the number of experts in use, exp(entropy of p) (bottom row). Leaves
// ownership.dat and ownership.gp beside the PNG, as train/plot.h does, so the script can be edited.
void draw_ownership_map(const train::RunDir& run, const std::vector<std::unique_ptr<moe::LocalExperts>>& models,
                        const std::vector<LossChoice>& losses, std::int64_t grid) {
  std::int64_t experts = models.front()->config.num_experts;
  std::vector<float> points;
  for (std::int64_t row = 0; row < grid; ++row) {
    for (std::int64_t column = 0; column < grid; ++column) {
      points.push_back(static_cast<float>(-1.0 + 2.0 * static_cast<double>(column) / static_cast<double>(grid - 1)));
      points.push_back(static_cast<float>(-1.0 + 2.0 * static_cast<double>(row) / static_cast<double>(grid - 1)));
    }
  }
  Tensor grid_inputs = from_vector(points, {grid * grid, 2});
  std::ofstream data(run.file("ownership.dat"));
  for (std::size_t m = 0; m < models.size(); ++m) {
    NoGradGuard no_grad;
    Tensor p = models[m]->forward(grid_inputs).gate_probabilities;
    std::vector<std::int64_t> owner = argmax(p, 1).to_vector<std::int64_t>();
    std::vector<double> used = effective_experts(p);
    data << "# " << losses[m].name << ": x1 x2 expert_with_largest_gate experts_in_use\n";
    for (std::int64_t k = 0; k < grid * grid; ++k) {
      data << fmt::format("{:.4f} {:.4f} {} {:.4f}\n", points[2 * k], points[2 * k + 1], owner[k], used[k]);
    }
    data << "\n\n";  // gnuplot's "index": one block per loss
  }
  data.close();

  std::string script =
      "# Written by examples/local_experts_1991.cpp. Edit it, then run `gnuplot ownership.gp` in this folder.\n"
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
      "  set terminal pngcairo size 1200,820 noenhanced font ',10'\n"
      "} else {\n"
      "  set terminal png size 1200,820 noenhanced\n"
      "}\n"
      "set output 'ownership.png'\n"
      "set multiplot layout 2,3 title 'Which expert owns which region (black lines: the true quadrant borders)'\n"
      "set size ratio -1\nset xrange [-1:1]\nset yrange [-1:1]\nset xlabel 'x1'\nset ylabel 'x2'\n"
      "set arrow 1 from 0,-1 to 0,1 nohead front lw 2\nset arrow 2 from -1,0 to 1,0 nohead front lw 2\n";
  // One flat colour per expert: expert k fills palette positions [k, k+1], and the colour range
  // [-0.5, E-0.5] puts expert k's value at the middle of its band.
  const std::array<const char*, 8> colours = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                              "#66a61e", "#e6ab02", "#a6761d", "#666666"};
  std::string palette;
  for (std::int64_t k = 0; k < experts; ++k) {
    const char* colour = colours[k % colours.size()];
    palette += fmt::format("{}{} '{}', {} '{}'", k == 0 ? "" : ", ", k, colour, k + 1, colour);
  }
  script += fmt::format("set cbrange [-0.5:{}]\nset cbtics 0,1,{}\nset palette defined ({})\n", experts - 0.5,
                        experts - 1, palette);
  for (std::size_t m = 0; m < losses.size(); ++m) {  // top row: column 3, the expert with the largest gate
    script += fmt::format("set title '{}: expert with the largest gate'\n", losses[m].name);
    script += fmt::format("plot 'ownership.dat' index {} using 1:2:3 with image notitle\n", m);
  }
  // Most cases use 1 to 3 experts, so the colour scale stops at 4 (darker: more experts share the case).
  std::int64_t darkest = std::min<std::int64_t>(experts, 4);
  script += fmt::format("set cbrange [1:{}]\nset cbtics 1,1,{}\nset palette defined (0 '#ffffcc', 1 '#fd8d3c', "
                        "2 '#800026')\n", darkest, darkest);
  for (std::size_t m = 0; m < losses.size(); ++m) {  // bottom row: column 4, the experts in use
    script += fmt::format("set title '{}: experts in use, exp(entropy of p)'\n", losses[m].name);
    script += fmt::format("plot 'ownership.dat' index {} using 1:2:4 with image notitle\n", m);
  }
  script += "unset multiplot\n";
  std::ofstream(run.file("ownership.gp")) << script;
  std::filesystem::remove(run.plot_path("ownership"));
  std::string command = fmt::format("cd '{}' && gnuplot ownership.gp", run.path().string());
  if (std::system(command.c_str()) != 0 || !std::filesystem::exists(run.plot_path("ownership"))) {
    throw std::runtime_error("[local_experts_1991] gnuplot failed on " + run.file("ownership.gp").string());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Adaptive mixtures of local experts (1991): cooperative vs competitive vs log-sum-exp loss"};
  train::ExampleFlags flags;
  // The paper used 4 or 8 experts on its vowel task; 8 here, two per quadrant, so each loss has to
  // decide how many to use (with 4, the competitive losses sometimes leave one expert on two faces).
  std::int64_t experts = 8, train_cases = 1000, test_cases = 2000, steps = 1500, seeds = 5, record_every = 10;
  double learning_rate = 0.02, noise = 0.1;
  train::add_example_flags(app, flags);
  app.add_option("--experts", experts, "linear experts in each mixture")->check(CLI::PositiveNumber);
  app.add_option("--train-cases", train_cases, "training cases (full batch)")->check(CLI::PositiveNumber);
  app.add_option("--test-cases", test_cases, "test cases")->check(CLI::PositiveNumber);
  // The cooperative mixture keeps sharpening slowly after 1500 steps (a hard gate fits the pyramid's
  // creases exactly), so the gap narrows with far longer runs: at 5000 steps (3 seeds) we measured 1.64
  // experts per case against 1.19 (competitive) and 1.16 (log form).
  app.add_option("--steps", steps, "full-batch Adam steps per run")->check(CLI::PositiveNumber);
  app.add_option("--seeds", seeds, "initialisations per loss (paired comparisons need >= 3)")->check(CLI::Range(2, 1000));
  app.add_option("--lr", learning_rate, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--noise", noise, "standard deviation of the noise on the targets")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    steps = 1000;
    seeds = 3;
    train_cases = 500;
  }
  train::RunDir run = train::RunDir::create(flags.out, "local_experts_1991");

  // ---- data: the same training and test sets for every loss and seed ----
  Generator data_generator(flags.seed);
  PiecewiseData train_set = make_data(train_cases, noise, data_generator);
  PiecewiseData test_set = make_data(test_cases, noise, data_generator);
  fmt::print("Task: x in [-1,1]², a different plane d = a1 x1 + a2 x2 + b in each quadrant, noise sd {}\n", noise);
  for (int r = 0; r < kRegions; ++r) {
    fmt::print("  quadrant {:<3}  d = {:+.0f} x1 {:+.0f} x2 {:+.0f}\n", kRegionNames[r], kRegionPlanes[r].slope1,
               kRegionPlanes[r].slope2, kRegionPlanes[r].offset);
  }
  fmt::print("{} training cases, {} test cases; {} linear experts and a linear gate; {} seeds x {} steps per loss\n\n",
             train_cases, test_cases, experts, seeds, steps);

  // ---- training: every loss from the same initialisations ----
  std::vector<LossChoice> losses = {{"cooperative", moe::cooperative_loss},
                                    {"competitive", moe::competitive_loss},
                                    {"log-sum-exp", moe::log_mixture_loss}};
  moe::LocalExpertsConfig config;
  config.input_features = 2;
  config.output_features = 1;
  config.num_experts = experts;
  std::vector<std::vector<Run>> runs(losses.size());
  std::vector<std::unique_ptr<moe::LocalExperts>> pictured;  // the first seed's model of each loss
  std::string early_posterior, final_posterior;
  std::int64_t early_step = std::max<std::int64_t>(1, steps / 30);
  train::MetricsLog log(run.metrics_path());
  train::ProgressBar bar(static_cast<std::int64_t>(losses.size()) * seeds * steps, "train");
  std::int64_t done = 0;
  for (std::size_t l = 0; l < losses.size(); ++l) {
    for (std::int64_t seed = 0; seed < seeds; ++seed) {
      Generator generator(flags.seed + 1000 + static_cast<std::uint64_t>(seed));
      auto model = std::make_unique<moe::LocalExperts>(config, generator);
      Run record;
      train_mixture(*model, losses[l].loss, train_set, steps, learning_rate,
                    [&](std::int64_t step, const moe::LocalExpertsOutput& out, double loss) {
                      if (step % record_every == 0 || step == 1) {
                        double used = average(effective_experts(out.gate_probabilities));
                        record.steps.push_back(static_cast<double>(step));
                        record.losses.push_back(loss);
                        record.experts_per_case.push_back(used);
                        record.mixture_mse.push_back(mean(square(sub(out.mixture.detach(), train_set.targets))).item());
                        record.main_mse.push_back(main_expert_mse(out, train_set.targets));
                        log.write({{"loss", losses[l].name}, {"seed", seed}, {"step", step}, {"train_loss", loss},
                                   {"experts_per_case", used}, {"train_mse", record.mixture_mse.back()},
                                   {"main_expert_train_mse", record.main_mse.back()}});
                      }
                      // The log form's gradient on the gate is −(h − p): show p and h early, while they differ.
                      if (l == kLogForm && seed == 0 && step == early_step) early_posterior = posterior_report(*model);
                      bar.update(++done, {{"loss", loss}});
                    });
      record.test = evaluate(*model, test_set);
      log.write({{"loss", losses[l].name}, {"seed", seed}, {"test_mse", record.test.mse},
                 {"main_expert_test_mse", record.test.main_expert_mse},
                 {"test_experts_per_case", record.test.experts_per_case}, {"owner_share", record.test.owner_share},
                 {"distinct_owners", record.test.distinct_owners}});
      if (l == kLogForm && seed == 0) final_posterior = posterior_report(*model);
      if (seed == 0) pictured.push_back(std::move(model));
      runs[l].push_back(record);
    }
  }
  bar.finish();

  // ---- baseline: one linear model (a "mixture" of one expert) ----
  moe::LocalExpertsConfig single = config;
  single.num_experts = 1;
  Generator baseline_generator(flags.seed + 1000);
  moe::LocalExperts baseline(single, baseline_generator);
  train_mixture(baseline, moe::cooperative_loss, train_set, steps, learning_rate, [](auto...) {});
  double baseline_mse = evaluate(baseline, test_set).mse;

  // ---- the posterior, readable: the log form moves the gate's prior p toward the posterior h ----
  fmt::print("\nLog-sum-exp mixture, seed 0, three probe cases. Early (step {}): the posterior h leans further than\n"
             "the gate's prior p toward the experts whose outputs are nearest d, and the gate's gradient −(h − p)\n"
             "pulls p that way:\n{}",
             early_step, early_posterior);
  fmt::print("After training (step {}): p has moved to h, and the credited expert's output matches d:\n{}\n", steps,
             final_posterior);

  // ---- table ----
  train::Table table({"loss", "test MSE", "main expert alone", "experts per case", "owner's gate share",
                      "distinct owners", "owners of quadrants I-IV"});
  std::vector<double> mean_used(losses.size()), mean_share(losses.size()), mean_mse(losses.size());
  bool all_finite = std::isfinite(baseline_mse);
  for (std::size_t l = 0; l < losses.size(); ++l) {
    std::vector<double> mse, main_mse, used, share, owners;
    for (const Run& r : runs[l]) {
      mse.push_back(r.test.mse);
      main_mse.push_back(r.test.main_expert_mse);
      used.push_back(r.test.experts_per_case);
      share.push_back(r.test.owner_share);
      owners.push_back(r.test.distinct_owners);
      all_finite = all_finite && std::isfinite(r.test.mse) && std::isfinite(r.test.experts_per_case);
    }
    mean_mse[l] = average(mse);
    mean_used[l] = average(used);
    mean_share[l] = average(share);
    const auto& owner = runs[l][0].test.owner;
    table.add_row({losses[l].name, fmt::format("{:.4f} ± {:.4f}", average(mse), spread(mse)),
                   fmt::format("{:.4f} ± {:.4f}", average(main_mse), spread(main_mse)),
                   fmt::format("{:.2f} ± {:.2f}", average(used), spread(used)),
                   fmt::format("{:.2f} ± {:.2f}", average(share), spread(share)), fmt::format("{:.1f}", average(owners)),
                   fmt::format("{} {} {} {} (seed 0)", owner[0], owner[1], owner[2], owner[3])});
  }
  table.add_row({"one linear model", fmt::format("{:.4f}", baseline_mse), fmt::format("{:.4f}", baseline_mse), "1",
                 "-", "-", "-"});
  fmt::print("Test set, mean ± sd over {} (experts per case: exp(entropy of the gate), 1 to {}; owner's gate "
             "share:\nthe mean gate of each quadrant's main expert over that quadrant, 1 = owned outright; main expert alone:\n"
             "the test MSE of each case's largest-gate expert by itself, without the blend):\n",
             seeds == 1 ? std::string("1 seed") : fmt::format("{} seeds", seeds), experts);
  table.print(std::cout);

  // ---- plots: mean ± sd over seeds; the charts meant to be compared share one y range ----
  auto band_of = [&](const std::string& title, const std::vector<Run>& seeds_runs,
                     const std::function<double(const Run&, std::size_t)>& value) {
    train::Series series{title, seeds_runs[0].steps, {}};
    for (std::size_t k = 0; k < series.x.size(); ++k) {
      std::vector<double> column;
      for (const Run& r : seeds_runs) column.push_back(value(r, k));
      double m = average(column), sd = spread(column);
      series.y.push_back(m);
      // a log axis cannot show a band reaching 0 or below: clip its lower edge at a tenth of the mean
      series.low.push_back(std::max(m - sd, 0.1 * m));
      series.high.push_back(m + sd);
    }
    return series;
  };
  std::vector<train::Series> loss_series, used_series, mse_series, main_series;
  for (std::size_t l = 0; l < losses.size(); ++l) {
    // each loss relative to its own value at step 1: the three losses measure different things (a
    // squared error, an expected squared error, a negative log-likelihood), so only their relative
    // fall compares
    loss_series.push_back(band_of(losses[l].name, runs[l], [](const Run& r, std::size_t k) {
      return r.losses[k] / r.losses[0];
    }));
    used_series.push_back(band_of(losses[l].name, runs[l], [](const Run& r, std::size_t k) { return r.experts_per_case[k]; }));
    mse_series.push_back(band_of(losses[l].name, runs[l], [](const Run& r, std::size_t k) { return r.mixture_mse[k]; }));
    main_series.push_back(band_of(losses[l].name, runs[l], [](const Run& r, std::size_t k) { return r.main_mse[k]; }));
  }
  train::line_plot(run.plot_path("loss"),
                   fmt::format("each mixture's own training loss / its value at step 1 (mean ± sd of {} seeds)", seeds),
                   "step", "loss relative to step 1", loss_series, {.log_y = true});
  train::line_plot(run.plot_path("experts_per_case"), "experts in use per training case, exp(entropy of p)", "step",
                   "experts per case", used_series);
  // the same quantity for all three: the squared error, of the blend and of the main expert alone
  double mse_low = 1e300, mse_high = 0.0;
  for (const auto* group : {&mse_series, &main_series}) {
    for (const train::Series& one : *group) {
      for (std::size_t k = 0; k < one.y.size(); ++k) {
        mse_low = std::min(mse_low, one.low[k]);
        mse_high = std::max(mse_high, one.high[k]);
      }
    }
  }
  train::PlotOptions mse_scale{.log_y = true, .y_min = 0.8 * mse_low, .y_max = 1.25 * mse_high};
  train::line_plot(run.plot_path("mse_mixture"), "training MSE of the blend Σ p_i o_i", "step", "MSE", mse_series,
                   mse_scale);
  train::line_plot(run.plot_path("mse_main_expert"), "training MSE of each case's main expert ALONE (co-adaptation)",
                   "step", "MSE", main_series, mse_scale);
  draw_ownership_map(run, pictured, losses, flags.quick ? 61 : 121);

  // ---- comparisons, paired by seed (seed s starts every loss from the same weights) ----
  auto column = [&](std::size_t l, const std::function<double(const Run&)>& value) {
    std::vector<double> values;
    for (const Run& r : runs[l]) values.push_back(value(r));
    return values;
  };
  auto used = [](const Run& r) { return r.test.experts_per_case; };
  auto share = [](const Run& r) { return r.test.owner_share; };
  auto main_alone = [](const Run& r) { return r.test.main_expert_mse; };
  auto blend = [](const Run& r) { return r.test.mse; };
  std::vector<train::Comparison> comparisons = {
      train::compare("the cooperative loss spreads cases over more experts than the competitive loss", "cooperative",
                     "competitive", "test experts per case", column(kCooperative, used), column(kCompetitive, used)),
      train::compare("the cooperative loss spreads cases over more experts than the log form", "cooperative",
                     "log-sum-exp", "test experts per case", column(kCooperative, used), column(kLogForm, used)),
      train::compare("the log form gives each quadrant a more clearly owning expert than the cooperative loss",
                     "log-sum-exp", "cooperative", "owner's gate share", column(kLogForm, share),
                     column(kCooperative, share)),
      train::compare("cooperative experts co-adapt: the main expert alone fits worse than the log form's",
                     "cooperative", "log-sum-exp", "test MSE of the main expert alone", column(kCooperative, main_alone),
                     column(kLogForm, main_alone)),
      train::compare("cooperative experts co-adapt: the main expert alone fits worse than their blend",
                     "cooperative, main expert alone", "cooperative, blend", "test MSE",
                     column(kCooperative, main_alone), column(kCooperative, blend)),
  };
  fmt::print("\nComparisons (paired over seeds, 95% interval):\n");
  nlohmann::json comparison_json = nlohmann::json::array();
  for (const train::Comparison& c : comparisons) {
    fmt::print("  {}: {} − {} = {:+.4f} [{:+.4f}, {:+.4f}] over {} seeds ({}) -> {}\n", c.claim, c.a, c.b, c.difference,
               c.ci95_low, c.ci95_high, c.seeds, c.metric, train::verdict(c));
    comparison_json.push_back(nlohmann::json::parse(train::to_json(c).dump()));
  }
  // The paper's effect: the competitive losses localise and the cooperative one spreads and co-adapts.
  bool effect_shown = all_finite && comparisons[0].shown && comparisons[1].shown && comparisons[3].shown;
  std::string verdict = fmt::format(
      "experts per case: cooperative {:.2f}, competitive {:.2f}, log-sum-exp {:.2f}. The cooperative loss spreads "
      "cases more than the competitive one: {}. Than the log form: {}. Owner's gate share {:.2f} / {:.2f} / {:.2f}; "
      "test MSE {:.4f} / {:.4f} / {:.4f} (one linear model {:.3f}). Co-adaptation, the cooperative main expert alone "
      "fits worse than the log form's: {}. Than its own blend: {}.",
      mean_used[0], mean_used[1], mean_used[2], train::verdict(comparisons[0]), train::verdict(comparisons[1]), mean_share[0],
      mean_share[1], mean_share[2], mean_mse[0], mean_mse[1], mean_mse[2], baseline_mse, train::verdict(comparisons[3]),
      train::verdict(comparisons[4]));
  train::print_profile(flags);
  // The tour's smoke check is the 1991 mechanism, which a short run already shows: under the log form
  // the gate follows the posterior h (its gradient is −(h − p)) more often than under the cooperative
  // loss, and so gives each quadrant a clearer owner. Co-adaptation and its cost need the default run.
  std::vector<double> follows(losses.size());
  for (std::size_t l = 0; l < losses.size(); ++l) {
    follows[l] = average(column(l, [](const Run& r) { return r.test.follows_posterior; }));
  }
  bool posterior_check = all_finite && follows[kLogForm] > follows[kCooperative] &&
                         mean_share[kLogForm] > mean_share[kCooperative];
  fmt::print("tour: local_experts_1991 | the log form's gate follows the posterior: largest gate = top of h in {:.1f}% "
             "of cases vs {:.1f}% cooperative; owner's gate share {:.2f} > {:.2f} | {}\n",
             100.0 * follows[kLogForm], 100.0 * follows[kCooperative], mean_share[kLogForm], mean_share[kCooperative],
             posterior_check ? "yes" : "no");
  run.write_summary({{"example", "local_experts_1991"},
                     {"experts", experts},
                     {"steps", steps},
                     {"seeds", seeds},
                     {"single_linear_model_test_mse", baseline_mse},
                     {"table", table.to_json()},
                     {"comparisons", comparison_json},
                     {"verdict", verdict},
                     {"effect_shown", effect_shown}});
  fmt::print("\n{}\nOutputs in {}\n", verdict, run.path().string());
  return all_finite ? 0 : 1;
}
