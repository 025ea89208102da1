// Whether a run showed that A beats B: the paired difference over seeds and its 95% interval.
// Each seed runs A and B on the same data order and initialisation, so the per-seed differences
// d_s = a_s − b_s cancel what the seed changes for both; then
//   mean d̄ = (1/n) Σ d_s,   SE = sd(d) / √n (sd with n − 1),   CI95 = d̄ ± t_{0.975, n−1} · SE,
// and the claim counts as shown only when the interval excludes 0. With few seeds t is much larger
// than 1.96 (12.706 for 2 seeds), which is the honest price of few runs.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moegrad::train {

// t_{0.975, df}: the two-sided 95% Student t quantile, from a table for df = 1..30, 1.96 above.
double student_t_975(std::int64_t degrees_of_freedom);

struct PairedDifference {
  double mean = 0.0;            // d̄, in the metric's units (A minus B)
  double standard_error = 0.0;  // sd(d) / √n
  double low = 0.0, high = 0.0; // the 95% interval
  std::int64_t seeds = 0;
  bool shown = false;           // the interval excludes 0
};

// a[s] and b[s] are the same seed's values; needs at least 2 seeds.
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b);

// One line of a results file: "A beats B on metric", with the numbers that decide it.
struct Comparison {
  std::string claim, a, b, metric;
  double difference = 0.0;
  double ci95_low = 0.0, ci95_high = 0.0;
  std::int64_t seeds = 0;
  bool shown = false;
};

// Which way of the metric is better: accuracy is Higher, a loss is Lower.
enum class Better { Higher, Lower };

// "A beats B on metric": difference = mean(a − b) with its 95% interval, and shown only when the
// whole interval lies on A's side (above 0 for Higher, below 0 for Lower). An interval on the other
// side does not show the claim: it shows its reverse, which the caller can state as its own claim.
Comparison compare(const std::string& claim, const std::string& a_name, const std::string& b_name,
                   const std::string& metric, const std::vector<double>& a, const std::vector<double>& b,
                   Better better = Better::Higher);

// The comparison's result in words: "shown"; "not shown; the reverse is shown" when the interval
// excludes 0 on the other side; otherwise "not shown at this scale".
std::string verdict(const Comparison& comparison);

// {"claim": ..., "a": ..., "b": ..., "metric": ..., "difference": d, "ci95": [lo, hi], "seeds": n,
//  "shown": true|false}, keys in that order.
nlohmann::ordered_json to_json(const Comparison& comparison);

}  // namespace moegrad::train
