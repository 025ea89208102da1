// Checkpoints: a directory holding what it takes to rebuild a model and, optionally, resume its
// training exactly. Each save is a complete folder, and one small file says which is current:
//
//   dir/latest                         "save-000007": the folder a load reads
//   dir/save-000007/config.json        the model's configuration (whatever JSON the caller passes)
//   dir/save-000007/model.safetensors  Module::state_dict(), readable by PyTorch's safetensors loader
//   dir/save-000007/optimizer.safetensors  only with a TrainingState: Optimizer::state() as tensors,
//                                      and in __metadata__ the training step and each named
//                                      Generator's (seed, offset), so dropout and shuffling resume
//   dir/save-000006/ ...               older saves, the newest `keep_last` (default 3) kept
//
// Why a folder per save: three files cannot be replaced together, and a save killed between them
// paired new weights with old optimizer state. Now a save writes everything into
// dir/.partial-save-000008-<pid>/, fsyncs each file, renames the folder to save-000008, and only
// then replaces `latest` (temp file, fsync, rename, directory fsync). A save killed at any moment
// leaves `latest` naming a whole earlier save. The debris of an interrupted save (a partial folder
// of a dead process, a temp `latest`, a folder never published) is removed by the next save; a load
// removes only partial folders and temp files whose process is gone. One process saves into a
// directory at a time; any number may load from it while it does.
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

// Creates `directory` if needed, adds a save folder, points `latest` at it, and removes all but the
// newest `keep_last` save folders (at least 1).
void save_checkpoint(const std::string& directory, const Module& model, const nlohmann::json& config,
                     const TrainingState* training = nullptr, int keep_last = 3);

// Reads the folder `latest` names (or `directory` itself when it holds config.json and no
// `latest`: a single save folder, or the flat layout of earlier versions). Reads and checks every
// file first, then copies the weights into `model` with load_state_dict(strict). Tensors come back
// on the CPU; load_state_dict and Optimizer::load_state move them to where the model lives.
Checkpoint load_checkpoint(const std::string& directory, Module& model, bool strict = true);

// The folder a load of `directory` reads, e.g. "runs/lm/ckpt/save-000007". IoError when none.
std::string latest_checkpoint_folder(const std::string& directory);

}  // namespace moegrad::nn
