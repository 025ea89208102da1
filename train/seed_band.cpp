#include "train/seed_band.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/errors.h"
#include "train/stats.h"

namespace moegrad::train {

BandSeries seed_band(const std::string& title, const std::vector<double>& x,
                     const std::vector<std::vector<double>>& per_seed) {
  if (per_seed.empty()) throw Error(fmt::format("[seed_band] '{}' has no seeds", title));
  for (std::size_t s = 0; s < per_seed.size(); ++s) {
    if (per_seed[s].size() != x.size()) {
      throw Error(fmt::format("[seed_band] '{}': seed {} has {} values for {} x values", title, s, per_seed[s].size(),
                              x.size()));
    }
  }
  BandSeries band{title, x, {}, {}, {}};
  auto n = static_cast<double>(per_seed.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    double mean = 0.0, square = 0.0;
    for (const auto& seed : per_seed) mean += seed[i] / n;
    for (const auto& seed : per_seed) square += (seed[i] - mean) * (seed[i] - mean);
    double half_width = per_seed.size() < 2 ? 0.0
                                            : student_t_975(static_cast<std::int64_t>(per_seed.size()) - 1) *
                                                  std::sqrt(square / (n - 1.0)) / std::sqrt(n);
    band.y.push_back(mean);
    band.low.push_back(mean - half_width);
    band.high.push_back(mean + half_width);
  }
  return band;
}

}  // namespace moegrad::train
