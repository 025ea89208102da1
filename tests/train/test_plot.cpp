// Plots through gnuplot: a real PNG comes out, with the data and the script left beside it.

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/helpers.h"
#include "tests/temp_directory.h"
#include "train/plot.h"

using namespace moegrad;
using namespace moegrad::train;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

bool is_png(const fs::path& path) { return read_text(path).rfind("\x89PNG\r\n\x1a\n", 0) == 0; }

std::vector<Series> loss_curves() {
  Series train{"train", {}, {}}, test{"test", {}, {}};
  for (int step = 1; step <= 200; ++step) {
    train.x.push_back(step);
    train.y.push_back(2.3 * std::exp(-step / 40.0) + 0.3);
  }
  for (int step = 40; step <= 200; step += 40) {
    test.x.push_back(step);
    test.y.push_back(2.3 * std::exp(-step / 40.0) + 0.4);
  }
  return {train, test};
}

}  // namespace

TEST_CASE("line_plot writes a PNG, and keeps its data and gnuplot script beside it") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path png = folder_path / "plots" / "loss.png";
  line_plot(png, "training loss of fashion_mnist", "step", "loss", loss_curves());
  CHECK(is_png(png));
  std::string script = read_text(folder_path / "plots" / "loss.gp");
  CHECK(script.find("set output 'loss.png'") != std::string::npos);
  CHECK(script.find("'loss.dat' index 0 using 1:2 with lines linewidth 2 linecolor 1 title 'train'") != std::string::npos);
  CHECK(script.find("index 1 using 1:2 with linespoints") != std::string::npos);  // 5 points get markers
  CHECK(script.find("set logscale y") == std::string::npos);
  std::string data = read_text(folder_path / "plots" / "loss.dat");
  CHECK(data.rfind("# series 0: train\n1 ", 0) == 0);
  CHECK(data.find("\n\n\n# series 1: test\n40 ") != std::string::npos);
}

TEST_CASE("line_plot draws a log-scale y axis and copes with quotes, NaN and non-positive values") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path png = folder_path / "it's.png";
  std::vector<Series> series = {{"the 'loss'", {1, 2, 3, 4}, {1.0, std::nan(""), 0.0, 0.01}}};
  line_plot(png, "log loss", "step", "loss", series, {.log_y = true});
  CHECK(is_png(png));
  CHECK(read_text(folder_path / "it's.gp").find("set logscale y") != std::string::npos);
}

TEST_CASE("line_plot shades a band behind a line, fixes the y range and puts the legend under the chart") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path png = folder_path / "bands.png";
  Series mean{"MoE (mean ± sd of 3 seeds)", {1e9, 2e9, 3e9}, {3.0, 2.5, 2.2}, {2.9, 2.4, 2.0}, {3.1, 2.6, 2.4}};
  Series plain{"dense", {1e9, 2e9, 3e9}, {3.1, 2.7, 2.4}};
  line_plot(png, "loss against compute", "training FLOPs", "loss", {mean, plain}, {.y_min = 1.5, .y_max = 3.5, .si_x = true});
  CHECK(is_png(png));
  std::string script = read_text(folder_path / "bands.gp");
  CHECK(script.find("index 0 using 1:3:4 with filledcurves linecolor 1") != std::string::npos);
  CHECK(script.find("index 1 using 1:3:4") == std::string::npos);  // no band for the plain series
  CHECK(script.find("set yrange [1.5:3.5]") != std::string::npos);
  CHECK(script.find("set format x '%.1s%c'") != std::string::npos);
  CHECK(script.find("set key outside below") != std::string::npos);
  // the band comes before its line, so the line is drawn on top
  CHECK(script.find("filledcurves") < script.find("index 0 using 1:2"));
  std::string data = read_text(folder_path / "bands.dat");
  CHECK(data.find("1000000000 3 2.9 3.1\n") != std::string::npos);
  Series broken{"broken", {1, 2}, {1, 2}, {1}, {2, 3}};
  CHECK_THROWS_WITH_AS(line_plot(folder_path / "x.png", "t", "x", "y", {broken}),
                       doctest::Contains("has 2 points but a band of 1 low and 2 high values"), Error);
}

TEST_CASE("bar_plot writes a PNG with one bar per label") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path png = folder_path / "expert_usage.png";
  std::vector<std::string> labels;
  std::vector<double> values;
  for (int expert = 0; expert < 16; ++expert) {
    labels.push_back("expert " + std::to_string(expert));
    values.push_back(100 + 10 * expert);
  }
  bar_plot(png, "tokens per expert", labels, values, "tokens");
  CHECK(is_png(png));
  std::string data = read_text(folder_path / "expert_usage.dat");
  CHECK(data.rfind("\"expert 0\" 100\n\"expert 1\" 110\n", 0) == 0);
  CHECK(read_text(folder_path / "expert_usage.gp").find("set xtics rotate") != std::string::npos);
}

TEST_CASE("plot arguments are checked before gnuplot runs") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path png = folder_path / "bad.png";
  CHECK_THROWS_WITH_AS(line_plot(png, "t", "x", "y", {}), doctest::Contains("[line_plot] needs at least one series"),
                       Error);
  CHECK_THROWS_WITH_AS(line_plot(png, "t", "x", "y", {{"train", {1, 2, 3}, {1, 2}}}),
                       doctest::Contains("[line_plot] series 'train' has 3 x values but 2 y values"), Error);
  CHECK_THROWS_WITH_AS(line_plot(png, "t", "x", "y", {{"test", {}, {}}}),
                       doctest::Contains("[line_plot] series 'test' has no points"), Error);
  CHECK_THROWS_WITH_AS(bar_plot(png, "t", {"a", "b"}, {1.0}), doctest::Contains("[bar_plot] got 2 labels but 1 values"),
                       Error);
  CHECK_THROWS_WITH_AS(bar_plot(png, "t", {"a"}, {1.0}, "", {.width = 0}),
                       doctest::Contains("[bar_plot] width and height must be positive, got 0x500"), Error);
  CHECK_FALSE(fs::exists(png));
}

TEST_CASE("a missing gnuplot is a clear error that names the package to install") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  const char* saved = std::getenv("PATH");
  std::string saved_path = saved != nullptr ? saved : "";
  setenv("PATH", folder_path.c_str(), 1);  // a PATH holding no gnuplot
  CHECK_THROWS_WITH_AS(
      line_plot(folder_path / "loss.png", "t", "x", "y", loss_curves()),
      doctest::Contains("gnuplot was not found on PATH; install it (Debian/Ubuntu: sudo apt-get install gnuplot-nox)"),
      std::runtime_error);
  setenv("PATH", saved_path.c_str(), 1);
}
