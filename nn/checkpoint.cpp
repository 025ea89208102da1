// Checkpoint directories (layout in nn/checkpoint.h). The training step and generator states are
// strings in optimizer.safetensors' __metadata__, the only place the format has for non-tensors:
//   "step": "5", "generator.dropout.seed": "7", "generator.dropout.offset": "320"
#include "nn/checkpoint.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>

namespace moegrad::nn {

namespace {

namespace fs = std::filesystem;

const std::string kModelFile = "model.safetensors";
const std::string kConfigFile = "config.json";
const std::string kOptimizerFile = "optimizer.safetensors";
const std::string kStepKey = "step";
const std::string kGeneratorPrefix = "generator.";

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

}  // namespace

void save_checkpoint(const std::string& directory, const Module& model, const nlohmann::json& config,
                     const TrainingState* training) {
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

  // The step goes into the model file too, so load_checkpoint can tell a torn pair of files apart.
  std::map<std::string, std::string> model_metadata;
  if (training) model_metadata[kStepKey] = std::to_string(training->step);
  write_file_atomically(join_path(directory, kConfigFile), config_text, "save_checkpoint");
  save_safetensors(join_path(directory, kModelFile), model.state_dict(), model_metadata);

  const std::string optimizer_path = join_path(directory, kOptimizerFile);
  if (training) {
    save_safetensors(optimizer_path, training->optimizer_state, training_metadata(*training));
  } else if (fs::remove(optimizer_path, error); error) {
    throw IoError(fmt::format("[save_checkpoint] {}: cannot remove the stale {} ({})", directory, kOptimizerFile,
                              error.message()));
  }
}

Checkpoint load_checkpoint(const std::string& directory, Module& model, bool strict) {
  if (!fs::is_directory(directory)) {
    throw IoError(fmt::format("[load_checkpoint] {}: no such checkpoint directory", directory));
  }
  Checkpoint checkpoint;

  const std::string config_path = join_path(directory, kConfigFile);
  const std::string config_text = read_file_bytes(config_path, "load_checkpoint");
  try {
    checkpoint.config = nlohmann::json::parse(config_text);
  } catch (const nlohmann::json::exception& failure) {
    throw IoError(fmt::format("[load_checkpoint] {}: not valid JSON: {}", config_path, failure.what()));
  }

  const std::string model_path = join_path(directory, kModelFile);
  const SafetensorsFile weights = load_safetensors(model_path);

  const std::string optimizer_path = join_path(directory, kOptimizerFile);
  if (fs::exists(optimizer_path)) {
    const SafetensorsFile optimizer = load_safetensors(optimizer_path);
    TrainingState training;
    training.optimizer_state = optimizer.tensors;
    training.step = parse_integer<std::int64_t>(optimizer.metadata, kStepKey, optimizer_path);
    training.generators = read_generators(optimizer.metadata, optimizer_path);

    const bool model_has_step = weights.metadata.count(kStepKey) > 0;
    if (!model_has_step || parse_integer<std::int64_t>(weights.metadata, kStepKey, model_path) != training.step) {
      throw IoError(fmt::format("[load_checkpoint] {}: {} is from step {} but {} is from step {}: a save was "
                                "interrupted between the two files",
                                directory, kOptimizerFile, training.step, kModelFile,
                                model_has_step ? weights.metadata.at(kStepKey) : "(none)"));
    }
    checkpoint.training = std::move(training);
  }

  model.load_state_dict(weights.tensors, strict);
  return checkpoint;
}

}  // namespace moegrad::nn
