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

TEST_CASE("save_checkpoint writes config.json, model.safetensors and optimizer.safetensors into a save folder") {
  TempDirectory directory;
  const std::string checkpoint_directory = directory.file("run/checkpoint");  // created with its parents
  TinyNetwork model(1);
  Generator generator(77);
  generator.advance(320);
  const nn::TrainingState state{{{"step", scalar(3, kInt64)}, {"group0.param0.exp_avg", ones({4, 8})}},
                                12,
                                {{"dropout", generator}, {"data.shuffle", Generator(5)}}};
  nn::save_checkpoint(checkpoint_directory, model, kConfig, &state);
  const std::string folder = checkpoint_directory + "/save-000001";
  CHECK(nn::latest_checkpoint_folder(checkpoint_directory) == folder);
  CHECK(nn::read_file_bytes(checkpoint_directory + "/latest", "test") == "save-000001\n");
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
  nn::Checkpoint checkpoint = nn::load_checkpoint(checkpoint_directory, other);
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

TEST_CASE("a checkpoint saved without training state has no optimizer file, even after one that had") {
  TempDirectory directory;
  TinyNetwork model(1);
  const nn::TrainingState state{{}, 4, {}};
  nn::save_checkpoint(directory.path(), model, kConfig, &state);
  CHECK(fs::exists(nn::latest_checkpoint_folder(directory.path()) + "/optimizer.safetensors"));
  nn::save_checkpoint(directory.path(), model, kConfig);
  CHECK_FALSE(fs::exists(nn::latest_checkpoint_folder(directory.path()) + "/optimizer.safetensors"));
  TinyNetwork other(2);
  CHECK_FALSE(nn::load_checkpoint(directory.path(), other).training.has_value());
  CHECK(other.w2.to_vector<double>() == model.w2.to_vector<double>());
}

TEST_CASE("load_checkpoint refuses model and optimizer files from different saves") {
  TempDirectory directory;
  TinyNetwork model(1);
  const nn::TrainingState at_step_5{{}, 5, {}};
  nn::save_checkpoint(directory.path(), model, kConfig, &at_step_5);
  // Files of two saves in one folder (put together by hand): the model file rewritten at step 6.
  const std::string folder = nn::latest_checkpoint_folder(directory.path());
  nn::save_safetensors(folder + "/model.safetensors", model.state_dict(), {{"step", "6"}});
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
                       doctest::Contains("no checkpoint here (neither a \"latest\" file nor config.json)"), nn::IoError);

  TinyNetwork other(2);
  nn::save_checkpoint(directory.path(), other, kConfig);
  auto in_latest = [&](const std::string& file) { return nn::latest_checkpoint_folder(directory.path()) + "/" + file; };
  std::ofstream(in_latest("config.json")) << "{\"model\": ";
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("config.json: not valid JSON"), nn::IoError);

  nn::save_checkpoint(directory.path(), other, kConfig);
  std::ofstream(in_latest("model.safetensors"), std::ios::trunc) << "garbage";
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("model.safetensors: the file has 7 bytes"), nn::IoError);

  nn::save_safetensors(in_latest("model.safetensors"), {{"w1", zeros({4, 8})}});
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
  const std::string optimizer_file = nn::latest_checkpoint_folder(directory.path()) + "/optimizer.safetensors";
  nn::save_safetensors(optimizer_file, {}, {{"step", "five"}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("__metadata__ \"step\" must be an integer, got \"five\""), nn::IoError);
  nn::save_safetensors(optimizer_file, {}, {{"step", "0"}, {"generator.g.seed", "1"}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("has no \"generator.g.offset\" entry"), nn::IoError);
}

TEST_CASE("save_checkpoint keeps the newest keep_last saves and load reads the newest") {
  TempDirectory directory;
  TinyNetwork model(1);
  for (int save = 1; save <= 5; ++save) {
    nn::save_checkpoint(directory.path(), model, {{"save", save}}, nullptr, /*keep_last=*/2);
  }
  CHECK_FALSE(fs::exists(directory.file("save-000003")));
  CHECK(fs::exists(directory.file("save-000004")));
  CHECK(fs::exists(directory.file("save-000005")));
  TinyNetwork other(2);
  CHECK(nn::load_checkpoint(directory.path(), other).config.at("save") == 5);
  // An older save stays readable by its folder's path.
  CHECK(nn::load_checkpoint(directory.file("save-000004"), other).config.at("save") == 4);
  CHECK_THROWS_WITH_AS(nn::save_checkpoint(directory.path(), model, kConfig, nullptr, 0),
                       doctest::Contains("keep_last must be at least 1"), Error);
}

TEST_CASE("the debris of an interrupted save is removed by the next save, and never loaded") {
  TempDirectory directory;
  TinyNetwork model(1), other(2);
  nn::save_checkpoint(directory.path(), model, {{"save", 1}});
  // What a save killed at three different moments leaves: a partial folder and a temp `latest` of a
  // process that is gone (pid 999999999 cannot exist), and a finished folder never published.
  directory.write(".partial-save-000002-999999999/config.json", "{\"save\": 2}");
  directory.write("latest.tmp-999999999", "save-000002");
  nn::save_checkpoint(directory.file("scratch"), other, {{"save", 9}});
  fs::rename(nn::latest_checkpoint_folder(directory.file("scratch")), directory.file("save-000002"));
  CHECK(nn::load_checkpoint(directory.path(), other).config.at("save") == 1);
  CHECK(other.w1.to_vector<double>() == model.w1.to_vector<double>());
  CHECK_FALSE(fs::exists(directory.file(".partial-save-000002-999999999")));  // a load removes a dead process's
  CHECK_FALSE(fs::exists(directory.file("latest.tmp-999999999")));

  nn::save_checkpoint(directory.path(), model, {{"save", 3}});
  CHECK(nn::load_checkpoint(directory.path(), other).config.at("save") == 3);
  // The unpublished save-000002 was removed by that save before it wrote its own save-000002.
  CHECK(nn::latest_checkpoint_folder(directory.path()) == directory.file("save-000002"));
  CHECK(fs::exists(directory.file("save-000001")));
  CHECK_FALSE(fs::exists(directory.file("save-000003")));
}

TEST_CASE("a save that fails half-way leaves the previous checkpoint current and no partial folder") {
  TempDirectory directory;
  TinyNetwork model(1), other(2);
  nn::save_checkpoint(directory.path(), model, {{"save", 1}});
  // config.json and model.safetensors are written, then the optimizer file fails (as on a full disk).
  const nn::TrainingState broken{{{"exp_avg", Tensor()}}, 2, {}};
  CHECK_THROWS_WITH_AS(nn::save_checkpoint(directory.path(), other, {{"save", 2}}, &broken),
                       doctest::Contains("tensor 'exp_avg' is undefined"), Error);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory.path())) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"latest", "save-000001"});
  CHECK(nn::load_checkpoint(directory.path(), other).config.at("save") == 1);
  CHECK(other.w1.to_vector<double>() == model.w1.to_vector<double>());
}

TEST_CASE("a partial folder of a live process is left alone: it is a save in progress") {
  TempDirectory directory;
  TinyNetwork model(1);
  nn::save_checkpoint(directory.path(), model, kConfig);
  const std::string in_progress = fmt::format(".partial-save-000009-{}", getppid());
  directory.write(in_progress + "/config.json", "{}");
  nn::load_checkpoint(directory.path(), model);
  CHECK(fs::exists(directory.file(in_progress)));
}

TEST_CASE("a directory in the flat layout of earlier versions still loads") {
  TempDirectory directory;
  TinyNetwork model(1), other(2);
  nn::save_checkpoint(directory.file("new"), model, kConfig);
  fs::create_directory(directory.file("flat"));
  for (const char* file : {"config.json", "model.safetensors"}) {
    fs::copy_file(nn::latest_checkpoint_folder(directory.file("new")) + "/" + file,
                  directory.file(std::string("flat/") + file));
  }
  CHECK(nn::load_checkpoint(directory.file("flat"), other).config == kConfig);
  CHECK(other.w2.to_vector<double>() == model.w2.to_vector<double>());
}

TEST_CASE("a `latest` that names something other than a save folder is refused") {
  TempDirectory directory;
  TinyNetwork model(1);
  nn::save_checkpoint(directory.path(), model, kConfig);
  directory.write("latest", "../../etc\n");
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(directory.path(), model),
                       doctest::Contains("must name a save folder like \"save-000007\", got \"../../etc\""),
                       nn::IoError);
}
