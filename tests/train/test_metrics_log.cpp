// The JSONL metrics log: one flushed JSON object per line, readable while the run goes on.

#include <cmath>
#include <fstream>
#include <sstream>

#include "tests/helpers.h"
#include "tests/temp_directory.h"
#include "train/metrics_log.h"

using namespace moegrad;
using namespace moegrad::train;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a metrics log writes one JSON object per line and creates its parent folders") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path path = folder_path / "runs" / "mlp" / "metrics.jsonl";
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
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::path path = folder_path / "metrics.jsonl";
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
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  MetricsLog log(folder_path / "metrics.jsonl");
  log.write({{"loss", std::nan("")}});
  CHECK(read_metrics_log(log.path())[0]["loss"].is_null());
}

TEST_CASE("a metrics record must be a JSON object") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  MetricsLog log(folder_path / "metrics.jsonl");
  CHECK_THROWS_WITH_AS(log.write(nlohmann::json::array({1, 2})),
                       doctest::Contains("[MetricsLog] a record must be a JSON object"), Error);
}

TEST_CASE("reading a log names the line that is not JSON") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::create_directories(folder_path);
  fs::path path = folder_path / "broken.jsonl";
  std::ofstream(path) << "{\"step\": 1}\n\n{\"step\": 2\n";
  CHECK_THROWS_WITH_AS(read_metrics_log(path), doctest::Contains("line 3 is not valid JSON"), std::runtime_error);
  CHECK_THROWS_WITH_AS(read_metrics_log(folder_path / "missing.jsonl"),
                       doctest::Contains("[read_metrics_log] cannot open"), std::runtime_error);
}
