// A curve over seeds as a line and its band: at each x the mean of the seeds' values and the 95%
// interval of that mean, mean ± t_{0.975, n−1} · sd / √n (sd with n − 1; train/stats.h's t table),
// ready for band_plot (train/plot.h). With one seed the band is the line itself.
#pragma once
#include <string>
#include <vector>

#include "train/plot.h"

namespace moegrad::train {

// per_seed[s][i] is seed s's value at x[i]; every seed has one value per x. Throws Error otherwise.
BandSeries seed_band(const std::string& title, const std::vector<double>& x,
                     const std::vector<std::vector<double>>& per_seed);

}  // namespace moegrad::train
