// The performance issue's four configs (bench/configs.h): seconds per step, tokens/s, peak RSS and
// the forward / backward / optimizer phases, one JSON line per config appended to build/bench.jsonl.
//   train_step                      every config, each in a fresh process (so peak RSS is its own)
//   train_step --config bert_moe    one config in this process
//   train_step --serve              lockstep mode for bench/compare.py: one step per "step" line read
//   train_step --export FILE        also writes the initial weights and the inputs (safetensors) for
//                                   bench/torch_step.py, which then computes the same first loss
//   train_step --gemm-roof          times raw cblas_sgemm on the config's matmuls instead (JSON line)
//   train_step --config X --profile the profiler's table (tensor/profiler.h) of the timed steps
// The step: zero_grad + AdamW step are the optimizer phase; forward ends at the loss.
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

// Under `valgrind --tool=callgrind --instr-atstart=no` (make bench-callgrind) only the timed steps
// are counted; outside valgrind the macros do nothing.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#include "bench/configs.h"
#include "bench/timing.h"
#include "nn/safetensors.h"
#include "tensor/profiler.h"

using namespace moegrad;
using bench::median;
using bench::seconds_since;
using nlohmann::json;

namespace {

double status_mb(const std::string& field) {  // a "Vm...:" line of /proc/self/status, in MB
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field + ":")) return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  }
  return -1;
}
double peak_rss_mb() { return status_mb("VmHWM"); }  // the most this process ever had resident

// Resident before any tensor exists: the program and its shared libraries (CUDA's cuBLAS alone is
// ~150 MB). bench/compare.py nets it out of the peak, as it nets `import torch` out of PyTorch's.
const double baseline_rss_mb = status_mb("VmRSS");

struct StepTimes {
  double forward = 0, backward = 0, optimizer = 0, loss = 0;
  double total() const { return forward + backward + optimizer; }
};

StepTimes run_step(bench::Workload& w) {
  StepTimes t;
  auto start = std::chrono::steady_clock::now();
  w.model->zero_grad();
  t.optimizer = seconds_since(start);
  start = std::chrono::steady_clock::now();
  Tensor loss = w.step_loss();
  t.forward = seconds_since(start);
  start = std::chrono::steady_clock::now();
  loss.backward();
  t.backward = seconds_since(start);
  start = std::chrono::steady_clock::now();
  if (w.optimizer) w.optimizer->step();
  t.optimizer += seconds_since(start);
  t.loss = loss.item();
  return t;
}

json step_json(const StepTimes& t) {
  return {{"forward_s", t.forward}, {"backward_s", t.backward}, {"optimizer_s", t.optimizer}, {"step_s", t.total()},
          {"loss", t.loss}};
}

void export_weights(bench::Workload& w, const std::string& path) {
  std::map<std::string, Tensor> tensors;
  for (auto& [name, parameter] : w.model->named_parameters()) tensors["param." + name] = parameter;
  for (auto& [name, input] : w.inputs) tensors["input." + name] = input;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  nn::save_safetensors(path, tensors);
}

// Lockstep: the driver writes "step" or "quit"; each answer is one JSON line.
void serve(bench::Workload& w) {
  std::cout << json{{"ready", true}, {"rss_mb", peak_rss_mb()}}.dump() << std::endl;
  std::string command;
  while (std::getline(std::cin, command)) {
    if (command == "step") {
      std::cout << step_json(run_step(w)).dump() << std::endl;
    } else if (command == "quit") {
      std::cout << json{{"peak_rss_mb", peak_rss_mb()}, {"baseline_rss_mb", baseline_rss_mb}}.dump() << std::endl;
      return;
    } else {
      std::cout << json{{"error", "unknown command " + command}}.dump() << std::endl;
    }
  }
}

// Raw cblas_sgemm time for the config's matmuls: each distinct shape timed (median of rounds of
// enough calls to last ~10 ms), times how often the step runs it.
json gemm_roof(const std::string& config, const bench::Shape4& shape) {
  std::vector<bench::Gemm> gemms = bench::step_gemms(config, shape);
  Generator generator(1);
  double roof_s = 0;
  for (const bench::Gemm& g : gemms) {
    Tensor a = randn({g.m * g.k}, generator), b = randn({g.k * g.n}, generator), c = zeros({g.m * g.n});
    auto call = [&] {
      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
                  static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), 1.0f, a.data<float>(),
                  static_cast<int>(g.trans_a ? g.m : g.k), b.data<float>(), static_cast<int>(g.trans_b ? g.k : g.n),
                  0.0f, c.data<float>(), static_cast<int>(g.n));
    };
    auto start = std::chrono::steady_clock::now();
    call();  // warm-up, and a first estimate of how many calls make one timed round
    const int calls = std::max(1, static_cast<int>(0.01 / std::max(seconds_since(start), 1e-7)));
    std::vector<double> per_call;
    for (int round = 0; round < 5; ++round) {
      start = std::chrono::steady_clock::now();
      for (int i = 0; i < calls; ++i) call();
      per_call.push_back(seconds_since(start) / calls);
    }
    roof_s += median(per_call) * static_cast<double>(g.count);
  }
  const double flops = bench::gemm_flops(gemms);
  return {{"config", config}, {"gemm_flops", flops}, {"roof_s", roof_s}, {"sgemm_gflops", flops / roof_s / 1e9}};
}

struct Options {
  std::string config = "all", jsonl = "build/bench.jsonl", export_path, commit = "unknown";
  int steps = 10, warmup = 1, threads = 2;
  bench::Shape4 shape;
  bool serve = false, roof = false, profile = false;
};

// Times one config here; prints a row and appends a JSON line.
int run_config(const Options& o) {
  Generator generator(0);
  bench::Workload w = bench::make_workload(o.config, o.shape, generator);
  if (!o.export_path.empty()) export_weights(w, o.export_path);
  if (o.serve) {
    serve(w);
    return 0;
  }
  std::vector<StepTimes> times;
  double first_loss = 0;
  for (int step = 0; step < o.warmup + o.steps; ++step) {
    if (step == o.warmup) {
      CALLGRIND_START_INSTRUMENTATION;
      if (o.profile) profiler::enable();  // the timed steps only, as callgrind
    }
    StepTimes t = run_step(w);
    if (step == 0) first_loss = t.loss;
    if (step >= o.warmup) times.push_back(t);
  }
  CALLGRIND_STOP_INSTRUMENTATION;
  profiler::disable();
  auto med = [&](auto field) {
    std::vector<double> values;
    for (const StepTimes& t : times) values.push_back(field(t));
    return median(values);
  };
  const double step_s = med([](const StepTimes& t) { return t.total(); });
  const double tokens = static_cast<double>(o.shape.batch * o.shape.seq);
  json line = {{"impl", "moegrad"},
               {"config", o.config},
               {"device", "cpu"},
               {"threads", o.threads},
               {"sec_per_step", step_s},
               {"tokens_per_s", tokens / step_s},
               {"peak_rss_mb", peak_rss_mb()},
               {"baseline_rss_mb", baseline_rss_mb},
               {"forward_s", med([](const StepTimes& t) { return t.forward; })},
               {"backward_s", med([](const StepTimes& t) { return t.backward; })},
               {"optimizer_s", med([](const StepTimes& t) { return t.optimizer; })},
               {"steps", o.steps},
               {"batch", o.shape.batch},
               {"seq", o.shape.seq},
               {"first_loss", first_loss},
               {"commit", o.commit},
               {"mode", "alone"}};
  fmt::print("{:<11} {:>5} {:>9.3f} {:>10.0f} {:>8.3f} {:>8.3f} {:>8.3f} {:>9.0f}\n", o.config, o.steps, step_s,
             tokens / step_s, line["forward_s"].get<double>(), line["backward_s"].get<double>(),
             line["optimizer_s"].get<double>(), line["peak_rss_mb"].get<double>());
  if (!o.jsonl.empty()) {
    std::ofstream(o.jsonl, std::ios::app) << line.dump() << "\n";
  }
  if (o.profile) fmt::print("\n{} timed step(s) of {}:\n{}", o.steps, o.config, profiler::report());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"The performance issue's four training-step configs, timed"};
  app.add_option("--config", o.config, "moe_layer, dense_ffn, bert_moe, bert_dense or all");
  app.add_option("--steps", o.steps, "timed steps (the median is reported; the issue asks >= 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", o.threads, "OpenMP and OpenBLAS threads")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.shape.batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--seq", o.shape.seq, "tokens per sequence")->check(CLI::PositiveNumber);
  app.add_option("--jsonl", o.jsonl, "append one JSON line per config here ('' for none)");
  app.add_option("--commit", o.commit, "the commit measured, written into the JSON line (default $MOEGRAD_COMMIT)");
  app.add_option("--export", o.export_path, "write the initial weights and inputs here (safetensors)");
  app.add_flag("--serve", o.serve, "lockstep mode: one step per 'step' line on stdin (bench/compare.py)");
  app.add_flag("--gemm-roof", o.roof, "time raw cblas_sgemm on the config's matmuls and print one JSON line");
  app.add_flag("--profile", o.profile,
               "print the profiler's table (time and MB allocated per op and phase) of the timed steps");
  CLI11_PARSE(app, argc, argv);
  if (o.profile && (o.config == "all" || o.serve || o.roof)) {
    fmt::print(stderr, "train_step: --profile needs one --config and a timed run (not --serve or --gemm-roof)\n");
    return 1;
  }
  if (o.commit == "unknown" && std::getenv("MOEGRAD_COMMIT")) o.commit = std::getenv("MOEGRAD_COMMIT");
  omp_set_num_threads(o.threads);
  openblas_set_num_threads(o.threads);
  try {
    if (o.roof) {
      std::cout << gemm_roof(o.config, o.shape).dump() << std::endl;
      return 0;
    }
    if (o.config != "all") return run_config(o);
    fmt::print("batch {} x {}, {} threads; medians of {} steps after {} warm-up; phases in s, RSS in MB\n",
               o.shape.batch, o.shape.seq, o.threads, o.steps, o.warmup);
    fmt::print("{:<11} {:>5} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9}\n", "config", "steps", "s/step", "tokens/s",
               "forward", "backward", "optim", "peak RSS");
    std::fflush(stdout);
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    for (const std::string& config : bench::kConfigs) {  // a fresh process each: its own peak RSS
      std::string command = fmt::format("{} --config {} --steps {} --warmup {} --threads {} --batch {} --seq {} "
                                        "--jsonl '{}' --commit '{}'",
                                        self, config, o.steps, o.warmup, o.threads, o.shape.batch, o.shape.seq, o.jsonl,
                                        o.commit);
      if (std::system(command.c_str()) != 0) return 1;
    }
  } catch (const std::exception& error) {
    fmt::print(stderr, "train_step: {}\n", error.what());
    return 1;
  }
  return 0;
}
