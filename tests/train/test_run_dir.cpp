// The run folder (runs/<example>/ by default), summary.json, and the flags every example shares.

#include <CLI/CLI.hpp>
#include <cblas.h>
#include <omp.h>
#include <fstream>

#include "tests/helpers.h"
#include "tests/temp_directory.h"
#include "train/run_dir.h"

using namespace moegrad;
using namespace moegrad::train;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream file(path);
  return nlohmann::json::parse(file);
}

// Parses `arguments` (without the program name) as a command line of `app`.
void parse(CLI::App& app, std::vector<const char*> arguments) {
  arguments.insert(arguments.begin(), "example");
  app.parse(static_cast<int>(arguments.size()), arguments.data());
}

}  // namespace

TEST_CASE("a run folder defaults to runs/<example>/ and names the files examples write") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::create_directories(folder_path);
  fs::path previous = fs::current_path();
  fs::current_path(folder_path);
  RunDir run = RunDir::create("", "fashion_mnist");
  fs::current_path(previous);

  CHECK(run.path() == fs::path("runs") / "fashion_mnist");
  CHECK(fs::is_directory(folder_path / "runs" / "fashion_mnist"));
  CHECK(run.metrics_path() == run.path() / "metrics.jsonl");
  CHECK(run.plot_path("loss") == run.path() / "loss.png");
  CHECK(run.summary_path() == run.path() / "summary.json");
  CHECK(run.file("model.safetensors") == run.path() / "model.safetensors");
}

TEST_CASE("--out replaces the default folder, nested folders included") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  RunDir run = RunDir::create((folder_path / "a" / "b").string(), "fashion_mnist");
  CHECK(run.path() == folder_path / "a" / "b");
  CHECK(fs::is_directory(run.path()));
}

TEST_CASE("write_summary replaces summary.json whole and leaves no temporary file") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  RunDir run = RunDir::create(folder_path.string(), "demo");
  run.write_summary({{"accuracy", 0.5}});
  run.write_summary({{"accuracy", 0.884}, {"table", nlohmann::json::array({{{"model", "mlp"}}})}});
  nlohmann::json summary = read_json(run.summary_path());
  CHECK(summary["accuracy"] == 0.884);
  CHECK(summary["table"][0]["model"] == "mlp");
  CHECK_FALSE(fs::exists(run.path() / "summary.json.tmp"));
}

TEST_CASE("a run folder that cannot be created is a clear error") {
  testing::TempDirectory temp_directory;
  const fs::path folder_path = temp_directory.path();
  fs::create_directories(folder_path);
  std::ofstream(folder_path / "taken") << "a file, not a folder";
  CHECK_THROWS_WITH_AS(RunDir::create((folder_path / "taken").string(), "demo"),
                       doctest::Contains("[RunDir] cannot create the output folder"), std::runtime_error);
  CHECK_THROWS_WITH_AS(RunDir::create("", ""), doctest::Contains("[RunDir] needs an output folder or an example name"),
                       Error);
}

TEST_CASE("the example flags parse --out, --quick, --seed and --threads") {
  CLI::App app{"example"};
  ExampleFlags flags;
  add_example_flags(app, flags);
  parse(app, {"--out", "/tmp/run", "--quick", "--seed", "7", "--threads", "2"});
  CHECK(flags.out == "/tmp/run");
  CHECK(flags.quick);
  CHECK(flags.seed == 7);
  CHECK(flags.threads == 2);
}

TEST_CASE("the example flags keep the caller's defaults and --help lists them") {
  CLI::App app{"example"};
  ExampleFlags flags;
  flags.seed = 42;
  add_example_flags(app, flags);
  parse(app, {});
  CHECK(flags.out.empty());
  CHECK_FALSE(flags.quick);
  CHECK(flags.seed == 42);
  CHECK(flags.threads == 0);
  std::string help = app.help();
  for (const char* flag : {"--out", "--quick", "--seed", "--threads"}) CHECK(help.find(flag) != std::string::npos);
  CHECK(help.find("42") != std::string::npos);  // the default seed is shown
}

TEST_CASE("a negative thread count is rejected") {
  CLI::App app{"example"};
  ExampleFlags flags;
  add_example_flags(app, flags);
  CHECK_THROWS_AS(parse(app, {"--threads", "-1"}), CLI::ParseError);
  CHECK_THROWS_WITH_AS(use_threads(-1), doctest::Contains("[use_threads] thread count must be >= 0, got -1"), Error);
}

TEST_CASE("use_threads sets OpenBLAS's pool as well as OpenMP's, and 0 leaves both as they are") {
  const int omp_before = omp_get_max_threads(), blas_before = openblas_get_num_threads();
  use_threads(1);
  CHECK(omp_get_max_threads() == 1);
  CHECK(openblas_get_num_threads() == 1);  // an idle pool of more would spin in sched_yield
  use_threads(0);
  CHECK(omp_get_max_threads() == 1);
  CHECK(openblas_get_num_threads() == 1);
  use_threads(3);
  CHECK(omp_get_max_threads() == 3);
  CHECK(openblas_get_num_threads() == 3);
  omp_set_num_threads(omp_before);
  openblas_set_num_threads(blas_before);
}
