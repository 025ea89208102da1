#include "train/plot.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "tensor/errors.h"

namespace moegrad::train {
namespace {

// A gnuplot single-quoted string: no backslash escapes inside, a quote is written twice.
std::string gnuplot_string(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + "'";
}

// A POSIX shell single-quoted word: close the quote, add an escaped quote, reopen.
std::string shell_word(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

void write_file(const std::filesystem::path& path, const std::string& text, const char* op) {
  std::ofstream file(path, std::ios::trunc);
  file << text;
  file.close();
  if (!file) throw std::runtime_error(fmt::format("[{}] cannot write {}", op, path.string()));
}

void check_size(const PlotOptions& options, const char* op) {
  if (options.width <= 0 || options.height <= 0) {
    throw Error(fmt::format("[{}] width and height must be positive, got {}x{}", op, options.width, options.height));
  }
}

// The lines every script starts with. pngcairo draws smoother lines, but some gnuplot builds only
// have the libgd "png" terminal, so the script picks at run time. "noenhanced" keeps an underscore
// in "fashion_mnist" from turning into a subscript.
std::string script_preamble(const std::filesystem::path& png_path, const std::string& title, const std::string& xlabel,
                            const std::string& ylabel, const PlotOptions& options) {
  std::string script = fmt::format(
      "# Written by moegrad (train/plot.cpp). Edit it, then run `gnuplot {}` in this folder to redraw.\n"
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {{\n"
      "  set terminal pngcairo size {},{} noenhanced font ',10'\n"
      "}} else {{\n"
      "  set terminal png size {},{} noenhanced\n"
      "}}\n",
      png_path.stem().string() + ".gp", options.width, options.height, options.width, options.height);
  script += fmt::format("set output {}\n", gnuplot_string(png_path.filename().string()));
  script += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\nset grid\n", gnuplot_string(title),
                        gnuplot_string(xlabel), gnuplot_string(ylabel));
  if (options.log_y) script += "set logscale y\n";
  if (!std::isnan(options.y_min) || !std::isnan(options.y_max)) {
    auto end = [](double value) { return std::isnan(value) ? std::string("*") : fmt::format("{}", value); };
    script += fmt::format("set yrange [{}:{}]\n", end(options.y_min), end(options.y_max));
  }
  if (options.si_x) script += "set format x '%.1s%c'\n";
  return script;
}

// Writes <stem>.dat and <stem>.gp beside the PNG, runs gnuplot in that folder (so the script can
// name its files without a path and still works after the folder is moved), checks the PNG.
void render_png(const std::filesystem::path& png_path, const std::string& data, const std::string& script,
                const char* op) {
  std::filesystem::path folder = png_path.parent_path().empty() ? "." : png_path.parent_path();
  std::filesystem::create_directories(folder);
  std::string stem = png_path.stem().string();
  write_file(folder / (stem + ".dat"), data, op);
  write_file(folder / (stem + ".gp"), script, op);
  std::filesystem::remove(png_path);  // so a stale PNG from an earlier run cannot pass the check below

  std::string command = fmt::format("cd {} && gnuplot {} 2>&1", shell_word(folder.string()), shell_word(stem + ".gp"));
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error(fmt::format("[{}] could not start a shell to run gnuplot", op));
  std::string output;
  char buffer[512];
  while (std::size_t count = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, count);
  int status = pclose(pipe);

  int exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (exit_code == 127) {
    throw std::runtime_error(fmt::format(
        "[{}] gnuplot was not found on PATH; install it (Debian/Ubuntu: sudo apt-get install gnuplot-nox)", op));
  }
  if (exit_code != 0) {
    throw std::runtime_error(fmt::format("[{}] gnuplot failed (exit status {}) on {}:\n{}", op, exit_code,
                                         (folder / (stem + ".gp")).string(), output));
  }
  if (!std::filesystem::exists(png_path) || std::filesystem::file_size(png_path) == 0) {
    throw std::runtime_error(
        fmt::format("[{}] gnuplot ran but left no image at {}:\n{}", op, png_path.string(), output));
  }
}

}  // namespace

void line_plot(const std::filesystem::path& png_path, const std::string& title, const std::string& xlabel,
               const std::string& ylabel, const std::vector<Series>& series, PlotOptions options) {
  check_size(options, "line_plot");
  if (series.empty()) throw Error("[line_plot] needs at least one series");
  for (const Series& one : series) {
    if (one.x.size() != one.y.size()) {
      throw Error(fmt::format("[line_plot] series '{}' has {} x values but {} y values", one.title, one.x.size(),
                              one.y.size()));
    }
    if (one.x.empty()) throw Error(fmt::format("[line_plot] series '{}' has no points", one.title));
    bool no_band = one.low.empty() && one.high.empty();
    if (!no_band && (one.low.size() != one.x.size() || one.high.size() != one.x.size())) {
      throw Error(fmt::format("[line_plot] series '{}' has {} points but a band of {} low and {} high values",
                              one.title, one.x.size(), one.low.size(), one.high.size()));
    }
  }

  // The data file holds one block per series, blocks separated by two blank lines (gnuplot's
  // "index"), with a band's low and high as columns 3 and 4 where it has one. NaN and inf are
  // written as nan/inf, which gnuplot skips.
  std::string data;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const Series& one = series[s];
    data += fmt::format("{}# series {}: {}\n", s > 0 ? "\n\n" : "", s, one.title);
    for (std::size_t i = 0; i < one.x.size(); ++i) {
      data += one.low.empty() ? fmt::format("{} {}\n", one.x[i], one.y[i])
                              : fmt::format("{} {} {} {}\n", one.x[i], one.y[i], one.low[i], one.high[i]);
    }
  }

  std::string script = script_preamble(png_path, title, xlabel, ylabel, options);
  // the legend goes under the chart, where it cannot cover a curve
  script += "set key outside below horizontal\n";
  std::string data_name = gnuplot_string(png_path.stem().string() + ".dat");
  std::vector<std::string> parts;
  // the bands first, so every line is drawn on top of them, each in its line's colour
  for (std::size_t s = 0; s < series.size(); ++s) {
    if (series[s].low.empty()) continue;
    parts.push_back(fmt::format("{} index {} using 1:3:4 with filledcurves linecolor {} fillstyle transparent solid "
                                "0.2 noborder notitle",
                                data_name, s, s + 1));
  }
  for (std::size_t s = 0; s < series.size(); ++s) {
    // A short series (an evaluation every epoch) gets point markers too: a lone point has no line.
    const char* style = series[s].x.size() <= 30 ? "linespoints pointtype 7 pointsize 0.8" : "lines";
    parts.push_back(fmt::format("{} index {} using 1:2 with {} linewidth 2 linecolor {} title {}", data_name, s, style,
                                s + 1, gnuplot_string(series[s].title)));
  }
  script += "plot ";
  for (std::size_t p = 0; p < parts.size(); ++p) script += (p > 0 ? ", \\\n     " : "") + parts[p];
  script += "\n";
  render_png(png_path, data, script, "line_plot");
}

void bar_plot(const std::filesystem::path& png_path, const std::string& title, const std::vector<std::string>& labels,
              const std::vector<double>& values, const std::string& ylabel, PlotOptions options) {
  check_size(options, "bar_plot");
  if (labels.size() != values.size()) {
    throw Error(fmt::format("[bar_plot] got {} labels but {} values", labels.size(), values.size()));
  }
  if (labels.empty()) throw Error("[bar_plot] needs at least one bar");

  // One line per bar: "label" value. A double quote inside a label would end it, so it becomes '.
  std::string data;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string label = labels[i];
    for (char& c : label) c = c == '"' ? '\'' : c;
    data += fmt::format("\"{}\" {}\n", label, values[i]);
  }

  std::string script = script_preamble(png_path, title, "", ylabel, options);
  script += "unset key\nset style fill solid 0.8 border -1\nset boxwidth 0.8\nset xtics nomirror\n";
  if (labels.size() > 12) script += "set xtics rotate by 45 right\n";  // many bars: slanted labels do not overlap
  script += fmt::format("set xrange [-0.6:{}]\n", static_cast<double>(labels.size()) - 0.4);
  bool all_non_negative = std::all_of(values.begin(), values.end(), [](double value) { return value >= 0; });
  bool range_given = !std::isnan(options.y_min) || !std::isnan(options.y_max);
  if (all_non_negative && !options.log_y && !range_given) script += "set yrange [0:*]\n";  // bars start at zero
  script += "set offsets 0, 0, graph 0.05, 0\n";  // headroom: the tallest bar does not touch the border
  script += fmt::format("plot {} using 0:2:xtic(1) with boxes linecolor rgb '#4C72B0'\n",
                        gnuplot_string(png_path.stem().string() + ".dat"));
  render_png(png_path, data, script, "bar_plot");
}

void band_plot(const std::filesystem::path& png_path, const std::string& title, const std::string& xlabel,
               const std::string& ylabel, const std::vector<BandSeries>& series, PlotOptions options) {
  check_size(options, "band_plot");
  if (series.empty()) throw Error("[band_plot] needs at least one series");
  for (const BandSeries& one : series) {
    if (one.x.empty()) throw Error(fmt::format("[band_plot] series '{}' has no points", one.title));
    if (one.y.size() != one.x.size() || one.low.size() != one.x.size() || one.high.size() != one.x.size()) {
      throw Error(fmt::format("[band_plot] series '{}' has {} x, {} y, {} low and {} high values; expected as many of each",
                              one.title, one.x.size(), one.y.size(), one.low.size(), one.high.size()));
    }
  }
  // One block per series, "x y low high" per line, blocks separated by two blank lines.
  std::string data;
  for (std::size_t s = 0; s < series.size(); ++s) {
    data += fmt::format("{}# series {}: {}\n", s > 0 ? "\n\n" : "", s, series[s].title);
    for (std::size_t i = 0; i < series[s].x.size(); ++i) {
      data += fmt::format("{} {} {} {}\n", series[s].x[i], series[s].y[i], series[s].low[i], series[s].high[i]);
    }
  }
  std::string script = script_preamble(png_path, title, xlabel, ylabel, options);
  script += "set key outside right top\n";
  std::string data_name = gnuplot_string(png_path.stem().string() + ".dat");
  script += "plot ";
  for (std::size_t s = 0; s < series.size(); ++s) {
    // The band first, so its line is drawn over it; linecolor N gives band and line the same colour.
    const char* style = series[s].x.size() <= 30 ? "linespoints pointtype 7 pointsize 0.8" : "lines";
    script += fmt::format(
        "{}{} index {} using 1:3:4 with filledcurves fillstyle transparent solid 0.2 noborder linecolor {} notitle, \\\n"
        "     '' index {} using 1:2 with {} linewidth 2 linecolor {} title {}",
        s > 0 ? ", \\\n     " : "", s > 0 ? "''" : data_name, s, s + 1, s, style, s + 1, gnuplot_string(series[s].title));
  }
  script += "\n";
  render_png(png_path, data, script, "band_plot");
}

void heatmap_plot(const std::filesystem::path& png_path, const std::string& title,
                  const std::vector<std::string>& row_labels, const std::vector<std::string>& column_labels,
                  const std::vector<std::vector<double>>& values, double low, double high, PlotOptions options) {
  check_size(options, "heatmap_plot");
  if (row_labels.empty() || column_labels.empty()) throw Error("[heatmap_plot] needs at least one row and one column");
  if (values.size() != row_labels.size()) {
    throw Error(fmt::format("[heatmap_plot] got {} row labels but {} rows of values", row_labels.size(), values.size()));
  }
  for (std::size_t r = 0; r < values.size(); ++r) {
    if (values[r].size() != column_labels.size()) {
      throw Error(fmt::format("[heatmap_plot] row {} has {} values but there are {} column labels", r, values[r].size(),
                              column_labels.size()));
    }
  }
  if (!(low < high)) throw Error(fmt::format("[heatmap_plot] the colour range needs low < high, got [{}, {}]", low, high));
  // One line per cell, "column row value", which gnuplot draws "with image" on the integer grid.
  std::string data;
  for (std::size_t r = 0; r < values.size(); ++r) {
    for (std::size_t c = 0; c < values[r].size(); ++c) data += fmt::format("{} {} {}\n", c, r, values[r][c]);
  }
  auto tics = [](const std::vector<std::string>& labels) {
    std::string list;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      list += fmt::format("{}{} {}", i > 0 ? ", " : "", gnuplot_string(labels[i]), i);
    }
    return "(" + list + ")";
  };
  std::string script = script_preamble(png_path, title, "", "", options);
  script += "unset grid\nunset key\nset xtics " + tics(column_labels) + " rotate by 30 right\n";
  script += "set ytics " + tics(row_labels) + "\n";
  script += fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n", static_cast<double>(column_labels.size()) - 0.5,
                        static_cast<double>(row_labels.size()) - 0.5);  // reversed: the first row on top
  script += fmt::format("set cbrange [{}:{}]\nset palette defined (0 'white', 1 '#4C72B0')\n", low, high);
  std::string data_name = gnuplot_string(png_path.stem().string() + ".dat");
  script += fmt::format("plot {} using 1:2:3 with image, '' using 1:2:(sprintf('%.2f', $3)) with labels font ',8'\n",
                        data_name);
  render_png(png_path, data, script, "heatmap_plot");
}

}  // namespace moegrad::train
