// PNG charts through gnuplot (Debian package gnuplot-nox): loss and accuracy curves, and bars for
// per-category values such as how many tokens each expert received.
//
//   line_plot("runs/mlp/loss.png", "training loss", "step", "loss",
//             {{"train", steps, train_losses}, {"test", eval_steps, test_losses}}, {.log_y = true});
//
// Beside loss.png it leaves loss.dat (the numbers) and loss.gp (the gnuplot script), so a student
// can change the script and run `gnuplot loss.gp` in that folder to redraw the chart.
#pragma once
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace moegrad::train {

// One line of a line plot: points (x[i], y[i]); x and y have the same length. With low and high
// (both empty, or both as long as x) a shaded band is drawn from low[i] to high[i] behind the line:
// e.g. mean ± standard deviation over seeds.
struct Series {
  std::string title;
  std::vector<double> x, y;
  std::vector<double> low = {}, high = {};
};

struct PlotOptions {
  bool log_y = false;  // losses spanning decades read better on a log scale
  int width = 800;     // pixels
  int height = 500;
  // A fixed y range, so charts meant to be compared share a scale; NaN leaves that end automatic.
  double y_min = NAN, y_max = NAN;
  // Axis numbers with SI prefixes (2.5G for 2.5e9): for FLOPs on the x axis.
  bool si_x = false;
};

// Throws moegrad::Error for bad arguments (no series, empty series, x and y of different length),
// std::runtime_error when gnuplot is missing, fails, or leaves no PNG (with gnuplot's own message).
void line_plot(const std::filesystem::path& png_path, const std::string& title, const std::string& xlabel,
               const std::string& ylabel, const std::vector<Series>& series, PlotOptions options = {});

// One bar per label, in the given order.
void bar_plot(const std::filesystem::path& png_path, const std::string& title, const std::vector<std::string>& labels,
              const std::vector<double>& values, const std::string& ylabel = "", PlotOptions options = {});

// A line with a shaded band around it: the mean over seeds and its 95% interval, say. low[i] and
// high[i] bound the band at x[i]; all four vectors have the same length.
struct BandSeries {
  std::string title;
  std::vector<double> x, y, low, high;
};

// One line and one band per series, each band in its line's colour, half transparent; the legend
// sits outside the plot, right of it, so it never covers a curve.
void band_plot(const std::filesystem::path& png_path, const std::string& title, const std::string& xlabel,
               const std::string& ylabel, const std::vector<BandSeries>& series, PlotOptions options = {});

// A heat map: values[r][c] drawn as a cell coloured from white (at `low`) to blue (at `high`), its
// number written inside, rows top to bottom in the given order. Give two maps meant to be compared
// the same low and high.
void heatmap_plot(const std::filesystem::path& png_path, const std::string& title,
                  const std::vector<std::string>& row_labels, const std::vector<std::string>& column_labels,
                  const std::vector<std::vector<double>>& values, double low, double high, PlotOptions options = {});

}  // namespace moegrad::train
