// Band plots (a line and its interval) and heat maps: a real PNG, with the data and script beside it.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "tensor/errors.h"
#include "tests/temp_directory.h"
#include "train/plot.h"
#include "train/seed_band.h"

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
}  // namespace

TEST_CASE("band_plot draws each line over a band of its own colour, the legend outside") {
  testing::TempDirectory temp_directory;
  fs::path png = fs::path(temp_directory.path()) / "loss.png";
  BandSeries dense{"dense", {10, 20, 30}, {3.0, 2.5, 2.2}, {2.9, 2.4, 2.1}, {3.1, 2.6, 2.3}};
  BandSeries moe{"E = 8", {10, 20, 30}, {2.9, 2.3, 2.0}, {2.8, 2.2, 1.9}, {3.0, 2.4, 2.1}};
  band_plot(png, "held-out loss", "step", "loss", {dense, moe});
  CHECK(is_png(png));
  std::string script = read_text(fs::path(temp_directory.path()) / "loss.gp");
  CHECK(script.find("set key outside right top") != std::string::npos);
  CHECK(script.find("index 1 using 1:3:4 with filledcurves") != std::string::npos);
  CHECK(script.find("linecolor 2 title 'E = 8'") != std::string::npos);
  CHECK(read_text(fs::path(temp_directory.path()) / "loss.dat").find("10 3 2.9 3.1\n") != std::string::npos);
  BandSeries short_band{"bad", {1, 2}, {1, 2}, {1}, {1, 2}};
  CHECK_THROWS_AS(band_plot(png, "t", "x", "y", {short_band}), Error);
}

TEST_CASE("heatmap_plot writes one cell per value, the first row on top, in the colour range given") {
  testing::TempDirectory temp_directory;
  fs::path png = fs::path(temp_directory.path()) / "map.png";
  heatmap_plot(png, "P(class | expert)", {"expert 0", "expert 1"}, {"punctuation", "names", "digits"},
               {{0.5, 0.25, 0.25}, {0.0, 1.0, 0.0}}, 0.0, 1.0);
  CHECK(is_png(png));
  std::string data = read_text(fs::path(temp_directory.path()) / "map.dat");
  CHECK(data.rfind("0 0 0.5\n1 0 0.25\n", 0) == 0);
  CHECK(data.find("1 1 1\n") != std::string::npos);
  std::string script = read_text(fs::path(temp_directory.path()) / "map.gp");
  CHECK(script.find("set yrange [1.5:-0.5]") != std::string::npos);
  CHECK(script.find("set cbrange [0:1]") != std::string::npos);
  CHECK(script.find("'names' 1") != std::string::npos);
  CHECK_THROWS_AS(heatmap_plot(png, "t", {"a"}, {"x", "y"}, {{1.0}}, 0.0, 1.0), Error);
  CHECK_THROWS_AS(heatmap_plot(png, "t", {"a"}, {"x"}, {{1.0}}, 1.0, 1.0), Error);
}

TEST_CASE("seed_band: the mean over seeds and mean ± t·sd/√n at each x") {
  // At x = 1: {1, 2, 3}: mean 2, sd 1, t_{0.975,2} = 4.303, half width 4.303/√3 = 2.48434.
  // At x = 2: {5, 5, 5}: no spread, the band is the line.
  BandSeries band = seed_band("loss", {1, 2}, {{1, 5}, {2, 5}, {3, 5}});
  CHECK(band.y == std::vector<double>{2.0, 5.0});
  CHECK(band.low[0] == doctest::Approx(2.0 - 2.48434).epsilon(1e-5));
  CHECK(band.high[0] == doctest::Approx(2.0 + 2.48434).epsilon(1e-5));
  CHECK(band.low[1] == 5.0);
  CHECK(band.high[1] == 5.0);
  BandSeries one = seed_band("one seed", {1}, {{4.0}});
  CHECK(one.low == std::vector<double>{4.0});
  CHECK_THROWS_AS(seed_band("ragged", {1, 2}, {{1, 2}, {1}}), Error);
  CHECK_THROWS_AS(seed_band("none", {1}, {}), Error);
}
