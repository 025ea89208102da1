// A JSONL metrics log: one JSON object per line, e.g.
//   {"loss":0.53,"split":"train","step":10}
// Each write is flushed, so a crashed or killed run keeps every line written before it, and
// scripts (or pandas.read_json(path, lines=True)) can read the file while training runs.
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace moegrad::train {

// Overwrite starts a fresh log; Append continues one (a run resumed from a checkpoint).
enum class LogMode { Overwrite, Append };

class MetricsLog {
 public:
  // Creates the parent directories. Throws std::runtime_error when the file cannot be opened.
  explicit MetricsLog(const std::filesystem::path& path, LogMode mode = LogMode::Overwrite);

  // Appends `record` (a JSON object) as one line. NaN and infinite numbers are written as null,
  // since JSON has no spelling for them.
  void write(const nlohmann::json& record);

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream file_;
};

// Every record of a JSONL file, in order; blank lines are skipped. Throws std::runtime_error
// naming the line number when a line is not valid JSON.
std::vector<nlohmann::json> read_metrics_log(const std::filesystem::path& path);

}  // namespace moegrad::train
