// Where a run of an example leaves its results, and the flags every example shares.
//
//   ExampleFlags flags;                      // set defaults here, e.g. flags.seed = 42
//   add_example_flags(app, flags);           // --out DIR, --quick, --seed N, --threads N, --profile
//   CLI11_PARSE(app, argc, argv);
//   use_threads(flags.threads);
//   RunDir run = RunDir::create(flags.out, "fashion_mnist");   // runs/fashion_mnist/ by default
//   MetricsLog log(run.metrics_path());
//   line_plot(run.plot_path("loss"), ...);
//   run.write_summary({{"table", table.to_json()}});
//   print_profile(flags);                    // the --profile table, before the last line
//
// Every example writes the same three kinds of file (metrics.jsonl, <name>.png, summary.json),
// so scripts can compare runs without knowing which example made them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace CLI {
class App;
}

namespace moegrad::train {

class RunDir {
 public:
  // `out_dir` empty means runs/<example_name>/ under the current folder. Creates the folder.
  static RunDir create(const std::string& out_dir, const std::string& example_name);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path metrics_path() const { return path_ / "metrics.jsonl"; }
  std::filesystem::path summary_path() const { return path_ / "summary.json"; }
  std::filesystem::path plot_path(const std::string& name) const { return path_ / (name + ".png"); }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

  // Writes summary.json through a temporary file and a rename, so a reader never sees half a file
  // and a run killed while writing leaves the previous summary intact.
  void write_summary(const nlohmann::json& summary) const;

 private:
  explicit RunDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// The flags every example takes. The values a struct holds before add_example_flags are the
// defaults that --help shows.
struct ExampleFlags {
  std::string out;         // --out DIR; empty: runs/<example>/
  bool quick = false;      // --quick: a run of seconds that CI uses as a smoke test
  std::uint64_t seed = 0;  // --seed N
  int threads = 0;         // --threads N; 0 keeps OpenMP's default (OMP_NUM_THREADS, else all cores)
  bool profile = false;    // --profile: counts time and memory per op (tensor/profiler.h) from the parse on
};

// Registers the flags on `app`, bound to `flags`: CLI11 fills them in when the app parses, so
// `flags` must outlive the parse.
void add_example_flags(CLI::App& app, ExampleFlags& flags);

// With --profile, prints the profiler's table (op, phase, calls, time, MB allocated).
void print_profile(const ExampleFlags& flags);

// Sets the CPU thread count, OpenMP's and OpenBLAS's pools alike; 0 leaves them as they are.
void use_threads(int threads);

}  // namespace moegrad::train
