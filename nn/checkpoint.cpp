// Checkpoint directories (layout and the crash-safety argument in nn/checkpoint.h). The training
// step and generator states are strings in optimizer.safetensors' __metadata__, the only place the
// format has for non-tensors:
//   "step": "5", "generator.dropout.seed": "7", "generator.dropout.offset": "320"
#include "nn/checkpoint.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <vector>

namespace moegrad::nn {

namespace {

namespace fs = std::filesystem;

const std::string kModelFile = "model.safetensors";
const std::string kConfigFile = "config.json";
const std::string kOptimizerFile = "optimizer.safetensors";
const std::string kStepKey = "step";
const std::string kGeneratorPrefix = "generator.";
const std::string kLatestFile = "latest";
const std::string kSavePrefix = "save-";
const std::string kPartialPrefix = ".partial-";
const std::string kLatestTempPrefix = "latest.tmp-";  // write_file_atomically's temp names

std::string join_path(const std::string& directory, const std::string& file) {
  return (fs::path(directory) / file).string();
}

std::map<std::string, std::string> training_metadata(const TrainingState& training) {
  std::map<std::string, std::string> metadata{{kStepKey, std::to_string(training.step)}};
  for (const auto& [name, generator] : training.generators) {
    metadata[kGeneratorPrefix + name + ".seed"] = std::to_string(generator.seed());
    metadata[kGeneratorPrefix + name + ".offset"] = std::to_string(generator.offset());
  }
  return metadata;
}

// A whole metadata string as an integer of type T, or a clear error naming the file and key.
template <class T>
T parse_integer(const std::map<std::string, std::string>& metadata, const std::string& key, const std::string& path) {
  auto found = metadata.find(key);
  if (found == metadata.end()) {
    throw IoError(fmt::format("[load_checkpoint] {}: __metadata__ has no \"{}\" entry", path, key));
  }
  const std::string& text = found->second;
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw IoError(fmt::format("[load_checkpoint] {}: __metadata__ \"{}\" must be an integer, got \"{}\"", path, key,
                              text));
  }
  return value;
}

// Each generator is stored as two keys, "generator.<name>.seed" and "generator.<name>.offset".
std::map<std::string, Generator> read_generators(const std::map<std::string, std::string>& metadata,
                                                 const std::string& path) {
  const std::string seed_suffix = ".seed";
  std::map<std::string, Generator> generators;
  for (const auto& [key, value] : metadata) {
    const bool is_seed = key.starts_with(kGeneratorPrefix) && key.ends_with(seed_suffix) &&
                         key.size() > kGeneratorPrefix.size() + seed_suffix.size();
    if (!is_seed) continue;
    const std::string name = key.substr(kGeneratorPrefix.size(), key.size() - kGeneratorPrefix.size() - seed_suffix.size());
    Generator generator;
    generator.set_state(parse_integer<std::uint64_t>(metadata, key, path),
                        parse_integer<std::uint64_t>(metadata, kGeneratorPrefix + name + ".offset", path));
    generators.emplace(name, generator);
  }
  return generators;
}

// ---------------- the directory: save folders, `latest`, debris ----------------

// The number in "save-000007", or nothing for any other name.
std::optional<std::int64_t> save_number(const std::string& name) {
  if (!name.starts_with(kSavePrefix) || name.size() == kSavePrefix.size()) return std::nullopt;
  std::int64_t number = 0;
  const char* begin = name.data() + kSavePrefix.size();
  auto [end, error] = std::from_chars(begin, name.data() + name.size(), number);
  if (error != std::errc() || end != name.data() + name.size() || number < 0) return std::nullopt;
  return number;
}

std::string save_folder_name(std::int64_t number) { return fmt::format("{}{:06}", kSavePrefix, number); }

// The save folders present, sorted by number.
std::vector<std::int64_t> save_numbers(const std::string& directory) {
  std::vector<std::int64_t> numbers;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    auto number = save_number(entry.path().filename().string());
    if (number && entry.is_directory(error)) numbers.push_back(*number);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

// The folder name `latest` holds, checked to be a save folder's name (never a path elsewhere).
std::optional<std::string> read_latest(const std::string& directory, const std::string& op) {
  const std::string path = join_path(directory, kLatestFile);
  std::error_code error;
  if (!fs::exists(path, error)) return std::nullopt;
  std::string name = read_file_bytes(path, op);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  if (!save_number(name)) {
    throw IoError(fmt::format("[{}] {}: must name a save folder like \"save-000007\", got \"{}\"", op, path,
                              name.substr(0, 80)));
  }
  return name;
}

// Whether a process with this id still runs: debris of a live process is a save in progress.
bool process_alive(const std::string& pid_text) {
  int pid = 0;
  auto [end, error] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
  if (error != std::errc() || end != pid_text.data() + pid_text.size() || pid <= 0) return false;
  return pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM);
}

// Removes partial save folders and temp `latest` files left by processes that are gone (the pid is
// the name's last "-" field), so a killed save costs no disk space for longer than one more save.
void remove_interrupted_saves(const std::string& directory) {
  std::error_code error;
  std::vector<fs::path> debris;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    const bool partial = name.starts_with(kPartialPrefix), latest_temp = name.starts_with(kLatestTempPrefix);
    if ((partial || latest_temp) && !process_alive(name.substr(name.rfind('-') + 1))) debris.push_back(entry.path());
  }
  for (const fs::path& path : debris) fs::remove_all(path, error);  // best effort: another cleaner may race us
}

// fsync a directory, so the renames inside it survive a power cut. Some file systems cannot
// (EINVAL); nothing more can be done on those.
void sync_directory(const std::string& directory, const std::string& op) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw IoError(fmt::format("[{}] {}: cannot open the directory to sync it ({})", op, directory, std::strerror(errno)));
  const int synced = ::fsync(fd);
  const int sync_error = errno;
  ::close(fd);
  if (synced != 0 && sync_error != EINVAL) {
    throw IoError(fmt::format("[{}] {}: cannot sync the directory ({})", op, directory, std::strerror(sync_error)));
  }
}

// Keeps the newest `keep_last` published folders; removes older ones and any folder newer than the
// published one (a save that died after its rename but before `latest` moved).
void prune_save_folders(const std::string& directory, std::int64_t published, int keep_last) {
  std::vector<std::int64_t> numbers = save_numbers(directory);
  std::int64_t kept = 0;
  std::error_code error;
  for (auto number = numbers.rbegin(); number != numbers.rend(); ++number) {
    const bool keep = *number <= published && kept < keep_last;
    if (keep) {
      ++kept;
    } else {
      fs::remove_all(join_path(directory, save_folder_name(*number)), error);
    }
  }
}

// Writes the three files into `folder` (each fsync'ed, with its directory entry).
void write_save_folder(const std::string& folder, const Module& model, const std::string& config_text,
                       const TrainingState* training) {
  // The step goes into the model file too, so load_checkpoint can tell files of two saves apart.
  std::map<std::string, std::string> model_metadata;
  if (training) model_metadata[kStepKey] = std::to_string(training->step);
  write_file_atomically(join_path(folder, kConfigFile), config_text, "save_checkpoint");
  save_safetensors(join_path(folder, kModelFile), model.state_dict(), model_metadata);
  if (training) save_safetensors(join_path(folder, kOptimizerFile), training->optimizer_state, training_metadata(*training));
}

// Reads one save folder; the weights go into `model` only once everything has been read and checked.
Checkpoint load_save_folder(const std::string& folder, Module& model, bool strict) {
  Checkpoint checkpoint;
  const std::string config_path = join_path(folder, kConfigFile);
  const std::string config_text = read_file_bytes(config_path, "load_checkpoint");
  try {
    checkpoint.config = nlohmann::json::parse(config_text);
  } catch (const nlohmann::json::exception& failure) {
    throw IoError(fmt::format("[load_checkpoint] {}: not valid JSON: {}", config_path, failure.what()));
  }

  const std::string model_path = join_path(folder, kModelFile);
  const SafetensorsFile weights = load_safetensors(model_path);

  const std::string optimizer_path = join_path(folder, kOptimizerFile);
  if (fs::exists(optimizer_path)) {
    const SafetensorsFile optimizer = load_safetensors(optimizer_path);
    TrainingState training;
    training.optimizer_state = optimizer.tensors;
    training.step = parse_integer<std::int64_t>(optimizer.metadata, kStepKey, optimizer_path);
    training.generators = read_generators(optimizer.metadata, optimizer_path);

    // Cannot happen with save folders; guards a folder assembled by hand or by an older version.
    const bool model_has_step = weights.metadata.count(kStepKey) > 0;
    if (!model_has_step || parse_integer<std::int64_t>(weights.metadata, kStepKey, model_path) != training.step) {
      throw IoError(fmt::format("[load_checkpoint] {}: {} is from step {} but {} is from step {}: the files come "
                                "from different saves",
                                folder, kOptimizerFile, training.step, kModelFile,
                                model_has_step ? weights.metadata.at(kStepKey) : "(none)"));
    }
    checkpoint.training = std::move(training);
  }

  model.load_state_dict(weights.tensors, strict);
  return checkpoint;
}

}  // namespace

void save_checkpoint(const std::string& directory, const Module& model, const nlohmann::json& config,
                     const TrainingState* training, int keep_last) {
  if (keep_last < 1) throw Error(fmt::format("[save_checkpoint] keep_last must be at least 1, got {}", keep_last));
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) {
    throw IoError(fmt::format("[save_checkpoint] {}: cannot create the directory ({})", directory, error.message()));
  }
  std::string config_text;
  try {
    config_text = config.dump(2) + "\n";
  } catch (const nlohmann::json::exception& failure) {
    throw Error(fmt::format("[save_checkpoint] {}: the config cannot be written as JSON ({})", directory, failure.what()));
  }
  remove_interrupted_saves(directory);
  std::optional<std::string> latest = read_latest(directory, "save_checkpoint");
  if (latest) prune_save_folders(directory, *save_number(*latest), std::numeric_limits<int>::max());

  // 1. Everything into a partial folder no reader looks at.
  const std::vector<std::int64_t> existing = save_numbers(directory);
  const std::int64_t number = existing.empty() ? 1 : existing.back() + 1;
  const std::string name = save_folder_name(number);
  const std::string partial = join_path(directory, fmt::format("{}{}-{}", kPartialPrefix, name, ::getpid()));
  fs::remove_all(partial, error);
  if (!fs::create_directory(partial, error) || error) {
    throw IoError(fmt::format("[save_checkpoint] {}: cannot create the folder ({})", partial, error.message()));
  }
  try {
    write_save_folder(partial, model, config_text, training);
  } catch (...) {
    fs::remove_all(partial, error);  // a failed save (disk full, ...) leaves nothing behind
    throw;
  }

  // 2. Give it its final name; 3. publish it by replacing `latest` atomically.
  const std::string folder = join_path(directory, name);
  fs::rename(partial, folder, error);
  if (error) {
    const std::string reason = error.message();
    fs::remove_all(partial, error);
    throw IoError(fmt::format("[save_checkpoint] {}: cannot rename the finished save to {} ({})", partial, folder, reason));
  }
  sync_directory(directory, "save_checkpoint");
  write_file_atomically(join_path(directory, kLatestFile), name + "\n", "save_checkpoint");

  // 4. Only now may older saves go.
  prune_save_folders(directory, number, keep_last);
}

std::string latest_checkpoint_folder(const std::string& directory) {
  if (!fs::is_directory(directory)) {
    throw IoError(fmt::format("[load_checkpoint] {}: no such checkpoint directory", directory));
  }
  if (std::optional<std::string> latest = read_latest(directory, "load_checkpoint")) {
    return join_path(directory, *latest);
  }
  if (fs::exists(join_path(directory, kConfigFile))) return directory;  // one save folder, or the old flat layout
  throw IoError(fmt::format("[load_checkpoint] {}: no checkpoint here (neither a \"latest\" file nor {})", directory,
                            kConfigFile));
}

Checkpoint load_checkpoint(const std::string& directory, Module& model, bool strict) {
  const std::string folder = latest_checkpoint_folder(directory);
  remove_interrupted_saves(directory);
  return load_save_folder(folder, model, strict);
}

}  // namespace moegrad::nn
