// Checkpoints: a directory holding what it takes to rebuild a model and, optionally, resume its
// training exactly.
//
//   dir/config.json             the model's configuration (whatever JSON the caller passes)
//   dir/model.safetensors       Module::state_dict(), readable by PyTorch's safetensors loader
//   dir/optimizer.safetensors   only with a TrainingState: Optimizer::state() as tensors, and in
//                               __metadata__ the training step and each named Generator's
//                               (seed, offset), so dropout and shuffling pick up where they left off
//
// Each file is replaced atomically (nn/safetensors.h: write_file_atomically), so a save killed
// half-way leaves every file either old or new. The training step is written into both .safetensors
// files, and load_checkpoint refuses a pair whose steps differ (a save died between the two files).
//
//   nn::save_checkpoint("runs/lm/ckpt", model, config, &training);
//   nn::Checkpoint checkpoint = nn::load_checkpoint("runs/lm/ckpt", model);
//   optimizer.load_state(checkpoint.training->optimizer_state);
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "nn/module.h"
#include "nn/safetensors.h"
#include "tensor/random.h"

namespace moegrad::nn {

struct TrainingState {
  std::map<std::string, Tensor> optimizer_state;  // Optimizer::state()
  std::int64_t step = 0;                          // the training loop's step counter
  std::map<std::string, Generator> generators;    // e.g. {"dropout", generator}: seed and offset
};

struct Checkpoint {
  nlohmann::json config;
  std::optional<TrainingState> training;  // present when the directory has optimizer.safetensors
};

// Creates `directory` if needed. Without `training`, an optimizer.safetensors left there by an
// earlier save is removed, so the directory never pairs new weights with stale optimizer state.
void save_checkpoint(const std::string& directory, const Module& model, const nlohmann::json& config,
                     const TrainingState* training = nullptr);

// Reads and checks every file first, then copies the weights into `model` with
// load_state_dict(strict). Tensors come back on the CPU; load_state_dict and
// Optimizer::load_state move them to where the model lives.
Checkpoint load_checkpoint(const std::string& directory, Module& model, bool strict = true);

}  // namespace moegrad::nn
