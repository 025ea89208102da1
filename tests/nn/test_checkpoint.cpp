// Checkpoints: what a directory holds, what load_checkpoint refuses, and the promise that matters:
// training resumed from a checkpoint follows the uninterrupted run's loss curve bit for bit.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "tests/helpers.h"
#include "tests/temp_directory.h"

using namespace moegrad;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

// y = dropout(tanh(x W1)) W2: two weight matrices and a dropout that draws from a Generator, so a
// resume that forgot the generator's position would see different masks and different losses.
class TinyNetwork : public nn::Module {
 public:
  explicit TinyNetwork(std::uint64_t init_seed) {
    Generator init(init_seed);
    w1 = register_parameter("w1", randn({4, 8}, init) * 0.5);
    w2 = register_parameter("w2", randn({8, 2}, init) * 0.5);
  }
  Tensor forward(const Tensor& x, Generator& dropout_generator) {
    return matmul(dropout(tanh(matmul(x, w1)), 0.25, is_training(), dropout_generator), w2);
  }
  Tensor w1, w2;
};

// One training run's moving parts.
struct Run {
  TinyNetwork model;
  nn::Adam optimizer;
  Generator data{7};
  Generator dropout{9};
  explicit Run(std::uint64_t init_seed) : model(init_seed), optimizer(model.parameters(), {.lr = 0.05}) {}

  // Each step draws a fresh batch (x, y = a fixed function of x) from `data`.
  std::vector<double> train(int steps) {
    std::vector<double> losses;
    for (int step = 0; step < steps; ++step) {
      Tensor x = randn({16, 4}, data);
      Tensor target = tanh(x.narrow(1, 0, 2) * 2.0) - x.narrow(1, 2, 2) * 0.3;
      Tensor loss = mse_loss(model.forward(x, dropout), target);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      losses.push_back(loss.item());
    }
    return losses;
  }

  nn::TrainingState training_state(std::int64_t step) const {
    return {optimizer.state(), step, {{"data", data}, {"dropout", dropout}}};
  }
};

const nlohmann::json kConfig = {{"model", "tiny"}, {"hidden", 8}, {"dropout", 0.25}};

}  // namespace

TEST_CASE("same seed and a resume from a checkpoint give the same loss curve bit for bit") {
  Run uninterrupted(42);
  const std::vector<double> curve = uninterrupted.train(10);

  TempDirectory directory;
  Run first_half(42);
  const std::vector<double> before = first_half.train(5);
  CHECK(before == std::vector<double>(curve.begin(), curve.begin() + 5));
  const nn::TrainingState state = first_half.training_state(5);
  nn::save_checkpoint(directory.path(), first_half.model, kConfig, &state);

  // A fresh process's view: other initial weights, a new optimizer, generators at their start.
  Run resumed(1234);
  nn::Checkpoint checkpoint = nn::load_checkpoint(directory.path(), resumed.model);
  REQUIRE(checkpoint.training.has_value());
  CHECK(checkpoint.config == kConfig);
  CHECK(checkpoint.training->step == 5);
  resumed.optimizer.load_state(checkpoint.training->optimizer_state);
  resumed.data = checkpoint.training->generators.at("data");
  resumed.dropout = checkpoint.training->generators.at("dropout");
  const std::vector<double> after = resumed.train(5);

  CHECK(after == std::vector<double>(curve.begin() + 5, curve.end()));  // ==, not approximately
  CHECK(resumed.optimizer.step_count() == uninterrupted.optimizer.step_count());
  CHECK(resumed.model.w1.to_vector<double>() == uninterrupted.model.w1.to_vector<double>());

  // The test can fail: resuming without the dropout generator's position changes the curve.
  Run forgetful(1234);
  nn::Checkpoint again = nn::load_checkpoint(directory.path(), forgetful.model);
  forgetful.optimizer.load_state(again.training->optimizer_state);
  forgetful.data = again.training->generators.at("data");
  CHECK(forgetful.train(5) != after);
}

TEST_CASE("save_checkpoint writes config.json, model.safetensors and optimizer.safetensors") {
  TempDirectory directory;
  const std::string folder = directory.file("run/checkpoint");  // created with its parents
  TinyNetwork model(1);
  Generator generator(77);
  generator.advance(320);
  const nn::TrainingState state{{{"step", scalar(3, kInt64)}, {"group0.param0.exp_avg", ones({4, 8})}},
                                12,
                                {{"dropout", generator}, {"data.shuffle", Generator(5)}}};
  nn::save_checkpoint(folder, model, kConfig, &state);
  CHECK(fs::exists(folder + "/config.json"));

  nn::SafetensorsFile weights = nn::load_safetensors(folder + "/model.safetensors");
  CHECK(weights.tensors.at("w1").to_vector<double>() == model.w1.to_vector<double>());
  CHECK(weights.tensors.at("w2").shape() == Shape{8, 2});
  nn::SafetensorsFile optimizer = nn::load_safetensors(folder + "/optimizer.safetensors");
  CHECK(optimizer.metadata == std::map<std::string, std::string>{{"step", "12"},
                                                                 {"generator.dropout.seed", "77"},
                                                                 {"generator.dropout.offset", "320"},
                                                                 {"generator.data.shuffle.seed", "5"},
                                                                 {"generator.data.shuffle.offset", "0"},
                                                                 {"format", "pt"}});

  TinyNetwork other(2);
  nn::Checkpoint checkpoint = nn::load_checkpoint(folder, other);
  CHECK(other.w1.to_vector<double>() == model.w1.to_vector<double>());
  CHECK(checkpoint.config == kConfig);
  REQUIRE(checkpoint.training.has_value());
  CHECK(checkpoint.training->step == 12);
  CHECK(checkpoint.training->optimizer_state.at("step").item() == 3);
  CHECK(checkpoint.training->optimizer_state.at("group0.param0.exp_avg").shape() == Shape{4, 8});
  CHECK(checkpoint.training->generators.at("dropout").seed() == 77);
  CHECK(checkpoint.training->generators.at("dropout").offset() == 320);
  CHECK(checkpoint.training->generators.at("data.shuffle").seed() == 5);
}

TEST_CASE("a checkpoint saved without training state has no optimizer file, even over an older one") {
  TempDirectory directory;
  TinyNetwork model(1);
  const nn::TrainingState state{{}, 4, {}};
  nn::save_checkpoint(directory.path(), model, kConfig, &state);
  CHECK(fs::exists(directory.file("optimizer.safetensors")));
  nn::save_checkpoint(directory.path(), model, kConfig);
  CHECK_FALSE(fs::exists(directory.file("optimizer.safetensors")));
  TinyNetwork other(2);
  CHECK_FALSE(nn::load_checkpoint(directory.path(), other).training.has_value());
  CHECK(other.w2.to_vector<double>() == model.w2.to_vector<double>());
}

TEST_CASE("load_checkpoint refuses model and optimizer files from different saves") {
  TempDirectory directory;
  TinyNetwork model(1);
  const nn::TrainingState at_step_5{{}, 5, {}};
  nn::save_checkpoint(directory.path(), model, kConfig, &at_step_5);
  // A later save that died after writing the model file: simulated by rewriting it at step 6.
  nn::save_safetensors(directory.file("model.safetensors"), model.state_dict(), {{"step", "6"}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("optimizer.safetensors is from step 5 but model.safetensors is from step 6"),
                       nn::IoError);
}

TEST_CASE("load_checkpoint names what is missing or broken, and leaves the model untouched") {
  TempDirectory directory;
  TinyNetwork model(1);
  const std::vector<double> original = model.w1.to_vector<double>();
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.file("absent"), model),
                       doctest::Contains("[load_checkpoint]"), nn::IoError);
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("config.json: no such file"), nn::IoError);

  TinyNetwork other(2);
  nn::save_checkpoint(directory.path(), other, kConfig);
  std::ofstream(directory.file("config.json")) << "{\"model\": ";
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("config.json: not valid JSON"), nn::IoError);

  nn::save_checkpoint(directory.path(), other, kConfig);
  std::ofstream(directory.file("model.safetensors"), std::ios::trunc) << "garbage";
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("model.safetensors: the file has 7 bytes"), nn::IoError);

  nn::save_safetensors(directory.file("model.safetensors"), {{"w1", zeros({4, 8})}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("missing keys: w2"), ShapeError);
  CHECK(model.w1.to_vector<double>() == original);

  // Non-strict loading takes what is there.
  nn::load_checkpoint(directory.path(), model, /*strict=*/false);
  CHECK(model.w1.to_vector<double>() == std::vector<double>(32, 0.0));
}

TEST_CASE("load_checkpoint refuses a step or generator entry that is not an integer") {
  TempDirectory directory;
  TinyNetwork model(1);
  nn::save_checkpoint(directory.path(), model, kConfig);
  nn::save_safetensors(directory.file("optimizer.safetensors"), {}, {{"step", "five"}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("__metadata__ \"step\" must be an integer, got \"five\""), nn::IoError);
  nn::save_safetensors(directory.file("optimizer.safetensors"), {}, {{"step", "0"}, {"generator.g.seed", "1"}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("has no \"generator.g.offset\" entry"), nn::IoError);
}
