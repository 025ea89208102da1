// What the MoE language-model examples report, shared: held-out loss curves over seeds drawn three
// ways (against steps, training FLOPs and training wall time) with mean ± sd bands, the loss at
// equal compute or time read off those curves, and the list of paired comparisons that goes into
// summary.json's "comparisons" (train/stats.h).
//
//   examples::Comparisons comparisons;
//   comparisons.add(train::compare("Switch has a lower held-out loss than dense at equal steps",
//                                  "switch", "dense", "held-out loss (nats/char)", sw, de, train::Better::Lower));
//   examples::plot_loss_three_ways(run, "loss", "dense vs Switch", {{"dense", dense}, {"Switch", switched}});
//   run.write_summary({..., {"comparisons", comparisons.to_json()}});
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "examples/moe_lm.h"
#include "train/plot.h"
#include "train/run_dir.h"
#include "train/stats.h"

namespace moegrad::examples {

// The seeds of one configuration, for a plot.
struct LossArm {
  std::string name;
  std::vector<LmResult> runs;  // one per seed, all evaluated at the same steps
};

enum class LossAxis { Steps, Flops, Seconds };

// The held-out curve of `arm` against `axis`: at each evaluation the mean over seeds of the x value
// (FLOPs and seconds differ a little from seed to seed) and of the loss, with a mean ± sd band.
inline train::Series loss_band(const LossArm& arm, LossAxis axis) {
  train::Series series{arm.name, {}, {}};
  std::size_t points = arm.runs.front().eval_loss.size();
  for (const LmResult& r : arm.runs) points = std::min(points, r.eval_loss.size());
  for (std::size_t i = 0; i < points; ++i) {
    double x = 0.0, mean = 0.0, square = 0.0;
    for (const LmResult& r : arm.runs) {
      x += axis == LossAxis::Steps ? r.eval_steps[i] : axis == LossAxis::Flops ? r.eval_flops[i] : r.eval_seconds[i];
      mean += r.eval_loss[i];
    }
    const auto n = static_cast<double>(arm.runs.size());
    x /= n;
    mean /= n;
    for (const LmResult& r : arm.runs) square += (r.eval_loss[i] - mean) * (r.eval_loss[i] - mean);
    double sd = n > 1 ? std::sqrt(square / (n - 1)) : 0.0;
    series.x.push_back(x);
    series.y.push_back(mean);
    series.low.push_back(mean - sd);
    series.high.push_back(mean + sd);
  }
  return series;
}

// <stem>.png (against steps), <stem>_flops.png and <stem>_time.png, all three on one y range so
// they read side by side. Bands: mean ± sd over each arm's seeds.
inline void plot_loss_three_ways(const train::RunDir& run, const std::string& stem, const std::string& title,
                                 const std::vector<LossArm>& arms) {
  std::vector<train::Series> by_steps, by_flops, by_seconds;
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const LossArm& arm : arms) {
    by_steps.push_back(loss_band(arm, LossAxis::Steps));
    by_flops.push_back(loss_band(arm, LossAxis::Flops));
    by_seconds.push_back(loss_band(arm, LossAxis::Seconds));
    for (std::size_t i = 0; i < by_steps.back().y.size(); ++i) {
      if (std::isfinite(by_steps.back().low[i])) low = std::min(low, by_steps.back().low[i]);
      if (std::isfinite(by_steps.back().high[i])) high = std::max(high, by_steps.back().high[i]);
    }
  }
  train::PlotOptions options;
  if (std::isfinite(low) && std::isfinite(high) && high > low) {
    double margin = 0.05 * (high - low);
    options.y_min = low - margin;
    options.y_max = high + margin;
  }
  std::string bands = arms.front().runs.size() > 1 ? fmt::format(" (mean ± sd of {} seeds)", arms.front().runs.size()) : "";
  const std::string y = "held-out loss (nats/char)";
  train::line_plot(run.plot_path(stem), title + ", against steps" + bands, "training step", y, by_steps, options);
  train::PlotOptions flops_options = options;
  flops_options.si_x = true;
  train::line_plot(run.plot_path(stem + "_flops"), title + ", against compute" + bands,
                   "training FLOPs (forward + backward, capacity padding included)", y, by_flops, flops_options);
  train::line_plot(run.plot_path(stem + "_time"), title + ", against wall time" + bands,
                   "training wall time (s, evaluations left out)", y, by_seconds, options);
}

// The held-out loss a run had reached when it had spent `budget` of `x` (its eval_flops or
// eval_seconds), interpolated linearly between evaluations; NAN when the budget is below its first
// evaluation, its final loss when the budget is beyond its last.
inline double loss_at(const std::vector<double>& x, const std::vector<double>& loss, double budget) {
  if (x.empty() || budget < x.front()) return NAN;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (budget > x[i]) continue;
    double fraction = x[i] > x[i - 1] ? (budget - x[i - 1]) / (x[i] - x[i - 1]) : 1.0;
    return loss[i - 1] + fraction * (loss[i] - loss[i - 1]);
  }
  return loss.back();
}

// Per seed, the held-out loss of a and of b at the same budget: the smaller of the two runs' total
// FLOPs (or seconds), so neither is read past its end. Fills a_loss and b_loss.
inline void losses_at_equal_budget(const std::vector<LmResult>& a, const std::vector<LmResult>& b, LossAxis axis,
                                   std::vector<double>& a_loss, std::vector<double>& b_loss) {
  auto spent = [axis](const LmResult& r) -> const std::vector<double>& {
    return axis == LossAxis::Flops ? r.eval_flops : r.eval_seconds;
  };
  a_loss.clear();
  b_loss.clear();
  for (std::size_t s = 0; s < std::min(a.size(), b.size()); ++s) {
    double budget = std::min(spent(a[s]).back(), spent(b[s]).back());
    a_loss.push_back(loss_at(spent(a[s]), a[s].eval_loss, budget));
    b_loss.push_back(loss_at(spent(b[s]), b[s].eval_loss, budget));
  }
}

// A column of one value per run.
template <typename Value>
std::vector<double> per_seed(const std::vector<LmResult>& runs, Value value) {
  std::vector<double> values;
  for (const LmResult& r : runs) values.push_back(value(r));
  return values;
}
inline std::vector<double> final_losses(const std::vector<LmResult>& runs) {
  return per_seed(runs, [](const LmResult& r) { return r.final_eval_loss; });
}

// The comparisons one example makes, printed as it adds them and written to summary.json.
class Comparisons {
 public:
  // Records the comparison and prints "claim: difference [ci95] (n seeds) -> verdict". The verdict is
  // "shown" only when the 95% interval excludes 0 on the claim's side; an interval on the other side
  // does not show the claim but does show its reverse, and the verdict says so.
  void add(const train::Comparison& comparison, int digits = 3) {
    list_.push_back(comparison);
    fmt::print("  {}: {} − {} = {:+.{}f} [{:+.{}f}, {:+.{}f}] over {} seeds ({}) -> {}\n", comparison.claim,
               comparison.a, comparison.b, comparison.difference, digits, comparison.ci95_low, digits,
               comparison.ci95_high, digits, comparison.seeds, comparison.metric, verdict(comparison));
  }
  static std::string verdict(const train::Comparison& c) { return train::verdict(c); }
  const std::vector<train::Comparison>& list() const { return list_; }
  bool any_shown() const {
    return std::any_of(list_.begin(), list_.end(), [](const train::Comparison& c) { return c.shown; });
  }
  nlohmann::json to_json() const {
    nlohmann::json array = nlohmann::json::array();
    for (const train::Comparison& c : list_) array.push_back(nlohmann::json::parse(train::to_json(c).dump()));
    return array;
  }

 private:
  std::vector<train::Comparison> list_;
};

}  // namespace moegrad::examples
