// The JSONL metrics log: one flushed JSON object per line, readable while the run goes on.
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "tests/helpers.h"
#include "train/metrics_log.h"

using namespace moegrad;
using namespace moegrad::train;
namespace fs = std::filesystem;

namespace {

// A fresh folder under /tmp, removed with everything in it when the test ends.
struct TemporaryFolder {
  fs::path path = fs::temp_directory_path() / ("moegrad_metrics_log_" + std::to_string(getpid()));
  TemporaryFolder() { fs::remove_all(path); }
  ~TemporaryFolder() { fs::remove_all(path); }
};

std::string read_text(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a metrics log writes one JSON object per line and creates its parent folders") {
  TemporaryFolder folder;
  fs::path path = folder.path / "runs" / "mlp" / "metrics.jsonl";
  MetricsLog log(path);
  log.write({{"step", 10}, {"loss", 0.5}, {"split", "train"}});
  log.write({{"step", 20}, {"loss", 0.25}, {"split", "test"}});

  // Readable while the log is still open: every write is flushed.
  std::vector<nlohmann::json> records = read_metrics_log(path);
  REQUIRE(records.size() == 2);
  CHECK(records[0]["step"] == 10);
  CHECK(records[0]["loss"] == 0.5);
  CHECK(records[0]["split"] == "train");
  CHECK(records[1]["loss"] == 0.25);
  CHECK(read_text(path) ==
        "{\"loss\":0.5,\"split\":\"train\",\"step\":10}\n{\"loss\":0.25,\"split\":\"test\",\"step\":20}\n");
}

TEST_CASE("a metrics log starts fresh by default and continues in append mode") {
  TemporaryFolder folder;
  fs::path path = folder.path / "metrics.jsonl";
  { MetricsLog(path).write({{"step", 1}}); }
  { MetricsLog(path).write({{"step", 2}}); }
  CHECK(read_metrics_log(path).size() == 1);
  { MetricsLog(path, LogMode::Append).write({{"step", 3}}); }
  std::vector<nlohmann::json> records = read_metrics_log(path);
  REQUIRE(records.size() == 2);
  CHECK(records[0]["step"] == 2);
  CHECK(records[1]["step"] == 3);
}

TEST_CASE("a NaN loss is logged as null, since JSON cannot spell NaN") {
  TemporaryFolder folder;
  MetricsLog log(folder.path / "metrics.jsonl");
  log.write({{"loss", std::nan("")}});
  CHECK(read_metrics_log(log.path())[0]["loss"].is_null());
}

TEST_CASE("a metrics record must be a JSON object") {
  TemporaryFolder folder;
  MetricsLog log(folder.path / "metrics.jsonl");
  CHECK_THROWS_WITH_AS(log.write(nlohmann::json::array({1, 2})),
                       doctest::Contains("[MetricsLog] a record must be a JSON object"), Error);
}

TEST_CASE("reading a log names the line that is not JSON") {
  TemporaryFolder folder;
  fs::create_directories(folder.path);
  fs::path path = folder.path / "broken.jsonl";
  std::ofstream(path) << "{\"step\": 1}\n\n{\"step\": 2\n";
  CHECK_THROWS_WITH_AS(read_metrics_log(path), doctest::Contains("line 3 is not valid JSON"), std::runtime_error);
  CHECK_THROWS_WITH_AS(read_metrics_log(folder.path / "missing.jsonl"),
                       doctest::Contains("[read_metrics_log] cannot open"), std::runtime_error);
}
