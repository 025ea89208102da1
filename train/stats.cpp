// The paired-difference interval of train/stats.h.
#include "train/stats.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <stdexcept>

namespace moegrad::train {

double student_t_975(std::int64_t degrees_of_freedom) {
  // t_{0.975, df} for df = 1..30 (any statistics table; e.g. scipy.stats.t.ppf(0.975, df)).
  static constexpr std::array<double, 30> kTable = {
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,  // df 1-10
      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,  // df 11-20
      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,  // df 21-30
  };
  if (degrees_of_freedom < 1) throw std::invalid_argument("[student_t_975] degrees of freedom must be >= 1");
  if (degrees_of_freedom > 30) return 1.96;  // the normal quantile; t_{0.975,31} = 2.040, so this is a little narrow
  return kTable[static_cast<std::size_t>(degrees_of_freedom - 1)];
}

PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) {
    throw std::invalid_argument(fmt::format(
        "[paired_difference] need the same number (>= 2) of seeds for A and B, got {} and {}", a.size(), b.size()));
  }
  PairedDifference result;
  result.seeds = static_cast<std::int64_t>(a.size());
  const double n = static_cast<double>(a.size());
  // d̄ and the sample variance of the per-seed differences.
  double total = 0.0;
  for (std::size_t s = 0; s < a.size(); ++s) total += a[s] - b[s];
  result.mean = total / n;
  double squares = 0.0;
  for (std::size_t s = 0; s < a.size(); ++s) squares += (a[s] - b[s] - result.mean) * (a[s] - b[s] - result.mean);
  result.standard_error = std::sqrt(squares / (n - 1.0)) / std::sqrt(n);
  // The interval, and whether it leaves 0 out.
  double half_width = student_t_975(result.seeds - 1) * result.standard_error;
  result.low = result.mean - half_width;
  result.high = result.mean + half_width;
  result.shown = result.low > 0.0 || result.high < 0.0;
  return result;
}

Comparison compare(const std::string& claim, const std::string& a_name, const std::string& b_name,
                   const std::string& metric, const std::vector<double>& a, const std::vector<double>& b,
                   Better better) {
  PairedDifference difference = paired_difference(a, b);
  bool on_a_side = better == Better::Higher ? difference.low > 0.0 : difference.high < 0.0;
  return Comparison{claim,          a_name,          b_name,           metric, difference.mean,
                    difference.low, difference.high, difference.seeds, on_a_side};
}

std::string verdict(const Comparison& comparison) {
  if (comparison.shown) return "shown";
  bool reverse = comparison.ci95_low > 0.0 || comparison.ci95_high < 0.0;
  return reverse ? "not shown; the reverse is shown" : "not shown at this scale";
}

nlohmann::ordered_json to_json(const Comparison& comparison) {
  nlohmann::ordered_json json;
  json["claim"] = comparison.claim;
  json["a"] = comparison.a;
  json["b"] = comparison.b;
  json["metric"] = comparison.metric;
  json["difference"] = comparison.difference;
  json["ci95"] = {comparison.ci95_low, comparison.ci95_high};
  json["seeds"] = comparison.seeds;
  json["shown"] = comparison.shown;
  return json;
}

}  // namespace moegrad::train
