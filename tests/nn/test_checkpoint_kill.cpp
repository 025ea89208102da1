// The promise of nn/checkpoint.h, tested the way it fails in practice: a child process saves
// checkpoints in a loop and is killed with SIGKILL at a random moment; after every kill the
// directory must load, and model, optimizer state and config must all come from the same save.
// MOEGRAD_KILL_SAVES=200 runs 200 kills instead of the default 20.
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "nn/checkpoint.h"
#include "tests/helpers.h"
#include "tests/temp_directory.h"

using namespace moegrad;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

// 2 x 128 x 256 floats: 256 KiB of weights, so a kill often lands inside a file being written.
class Weights : public nn::Module {
 public:
  Weights() {
    a = register_parameter("a", zeros({128, 256}));
    b = register_parameter("b", zeros({128, 256}));
  }
  Tensor a, b;
};

// Save number `n`: every weight, every optimizer tensor, the config and the step all say n.
void save_number(const std::string& directory, Weights& model, std::int64_t n) {
  NoGradGuard no_grad;
  model.a.fill_(static_cast<double>(n));
  model.b.fill_(static_cast<double>(n));
  const nn::TrainingState training{{{"exp_avg.a", full({128, 256}, static_cast<double>(n))}}, n, {}};
  nn::save_checkpoint(directory, model, {{"save", n}}, &training);
}

// Saves n = first, first+1, ... until killed. Never returns into the test framework.
[[noreturn]] void save_forever(const std::string& directory, std::int64_t first) {
  omp_set_num_threads(1);  // libgomp's thread pool does not survive fork(); stay on this thread
  try {
    Weights model;
    for (std::int64_t n = first;; ++n) save_number(directory, model, n);
  } catch (...) {
    _exit(3);
  }
}

int kill_count() {
  const char* text = std::getenv("MOEGRAD_KILL_SAVES");
  return text ? std::max(1, std::atoi(text)) : 20;
}

// Whether a kill left anything of an unfinished save: a partial folder, a temp `latest`, or a
// finished folder newer than the published one.
bool has_debris(const std::string& directory, const std::string& published) {
  for (const auto& entry : fs::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".partial-") || name.starts_with("latest.tmp-")) return true;
    if (name.starts_with("save-") && name > published) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a save killed at any moment leaves the last complete checkpoint loadable and consistent") {
  TempDirectory directory;
  Weights model;
  save_number(directory.path(), model, 1);

  // Time a few saves, so the kills spread over whole saves whatever the disk's speed.
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t n = 2; n <= 4; ++n) save_number(directory.path(), model, n);
  const auto per_save = (std::chrono::steady_clock::now() - start) / 3;

  std::mt19937_64 random(2024);
  std::int64_t last_loaded = 4, kills_with_debris = 0;
  const int kills = kill_count();
  for (int kill = 0; kill < kills; ++kill) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) save_forever(directory.path(), last_loaded + 1);
    std::uniform_int_distribution<std::int64_t> delay(0, 3 * std::chrono::duration_cast<std::chrono::microseconds>(per_save).count());
    std::this_thread::sleep_for(std::chrono::microseconds(delay(random)));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE_MESSAGE(WIFSIGNALED(status), "the saving child exited on its own with status ", WEXITSTATUS(status));

    const std::string published = fs::path(nn::latest_checkpoint_folder(directory.path())).filename().string();
    if (has_debris(directory.path(), published)) ++kills_with_debris;

    Weights loaded;
    nn::Checkpoint checkpoint = nn::load_checkpoint(directory.path(), loaded);
    const std::int64_t n = checkpoint.config.at("save").get<std::int64_t>();
    INFO("kill ", kill, ": the checkpoint says save ", n);
    REQUIRE(checkpoint.training.has_value());
    CHECK(checkpoint.training->step == n);
    CHECK(n >= last_loaded);  // never an older save than one already seen
    const std::vector<float> expected(128 * 256, static_cast<float>(n));
    CHECK(loaded.a.to_vector<float>() == expected);
    CHECK(loaded.b.to_vector<float>() == expected);
    CHECK(checkpoint.training->optimizer_state.at("exp_avg.a").to_vector<float>() == expected);
    last_loaded = n;
  }
  MESSAGE(kills, " kills, ", kills_with_debris, " of them mid-save; last save loaded: ", last_loaded);
  CHECK(kills_with_debris > 0);  // the kills did land inside saves, or this test proves nothing

  // The next save cleans up after all of them: no partial folders, no temp files, 3 saves kept.
  save_number(directory.path(), model, last_loaded + 1000);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory.path())) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  INFO("directory holds: ", fmt::format("{}", fmt::join(names, " ")));
  CHECK(names.size() == 4);
  CHECK(names.front() == "latest");
  CHECK(std::all_of(names.begin() + 1, names.end(), [](const std::string& name) { return name.starts_with("save-"); }));
  Weights loaded;
  CHECK(nn::load_checkpoint(directory.path(), loaded).config.at("save") == last_loaded + 1000);
  CHECK(fs::path(nn::latest_checkpoint_folder(directory.path())).filename() == names.back());
}
