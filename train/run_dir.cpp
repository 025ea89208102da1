#include "train/run_dir.h"

#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <stdexcept>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/errors.h"
#include "tensor/profiler.h"

namespace moegrad::train {

RunDir RunDir::create(const std::string& out_dir, const std::string& example_name) {
  if (out_dir.empty() && example_name.empty()) {
    throw Error("[RunDir] needs an output folder or an example name (for the default runs/<example>/)");
  }
  std::filesystem::path path = out_dir;
  if (out_dir.empty()) path = std::filesystem::path("runs") / example_name;
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error || !std::filesystem::is_directory(path)) {
    throw std::runtime_error(fmt::format("[RunDir] cannot create the output folder {}: {}", path.string(),
                                         error ? error.message() : "a file of that name is in the way"));
  }
  return RunDir(path);
}

void RunDir::write_summary(const nlohmann::json& summary) const {
  std::filesystem::path final_path = summary_path();
  std::filesystem::path temporary_path = path_ / "summary.json.tmp";
  {
    std::ofstream file(temporary_path, std::ios::trunc);
    file << summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    file.close();
    if (!file) throw std::runtime_error(fmt::format("[write_summary] cannot write {}", temporary_path.string()));
  }
  // rename() replaces the old file in one step on POSIX: readers see the old or the new summary.
  std::error_code error;
  std::filesystem::rename(temporary_path, final_path, error);
  if (error) {
    throw std::runtime_error(fmt::format("[write_summary] cannot move {} to {}: {}", temporary_path.string(),
                                         final_path.string(), error.message()));
  }
}

void add_example_flags(CLI::App& app, ExampleFlags& flags) {
  // --help shows every option's default, this one's and those the example adds after it (CLI11
  // hides defaults unless each option asks; option_defaults applies to options added from now on).
  app.option_defaults()->always_capture_default();
  app.add_option("--out", flags.out, "folder for metrics.jsonl, plots and summary.json (default: runs/<example>/)");
  app.add_flag("--quick", flags.quick, "a run of a few seconds: tiny data and few steps (the CI smoke test)");
  app.add_option("--seed", flags.seed, "random seed")->capture_default_str();
  app.add_option("--threads", flags.threads, "CPU threads (0: OMP_NUM_THREADS, else all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag_callback(
      "--profile",
      [&flags] {
        flags.profile = true;
        profiler::enable();
      },
      "print a table of time and memory per op and phase (forward/backward/optimizer) at the end");
}

void print_profile(const ExampleFlags& flags) {
  if (flags.profile) fmt::print("\n{}", profiler::report());
}

void use_threads(int threads) {
  if (threads < 0) throw Error(fmt::format("[use_threads] thread count must be >= 0, got {}", threads));
  if (threads > 0) set_cpu_threads(threads);
}

}  // namespace moegrad::train
