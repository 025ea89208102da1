#include "train/metrics_log.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string>

#include "tensor/errors.h"

namespace moegrad::train {

MetricsLog::MetricsLog(const std::filesystem::path& path, LogMode mode) : path_(path) {
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path());
  file_.open(path_, mode == LogMode::Append ? std::ios::app : std::ios::trunc);
  if (!file_) throw std::runtime_error(fmt::format("[MetricsLog] cannot open {} for writing", path_.string()));
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!record.is_object()) {
    throw Error(
        fmt::format("[MetricsLog] a record must be a JSON object like {{\"step\": 1, \"loss\": 0.5}}, got {} {}",
                    record.type_name(), record.dump()));
  }
  // dump() never breaks lines, so one record stays one line; invalid UTF-8 is replaced, not thrown.
  file_ << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n' << std::flush;
  if (!file_) throw std::runtime_error(fmt::format("[MetricsLog] writing to {} failed", path_.string()));
}

std::vector<nlohmann::json> read_metrics_log(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(fmt::format("[read_metrics_log] cannot open {}", path.string()));
  std::vector<nlohmann::json> records;
  std::string line;
  for (int line_number = 1; std::getline(file, line); ++line_number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      records.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error& error) {
      throw std::runtime_error(
          fmt::format("[read_metrics_log] {} line {} is not valid JSON: {}", path.string(), line_number, error.what()));
    }
  }
  return records;
}

}  // namespace moegrad::train
