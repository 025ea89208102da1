// The profiler's per-thread counters (see tensor/profiler.h for what each row's time covers).
#include "tensor/profiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <unordered_map>

namespace moegrad::profiler {

namespace detail {
constinit thread_local bool on = false;
}

namespace {

using Clock = std::chrono::steady_clock;

struct State {
  Phase phase = Phase::Forward;
  int region_depth = 0;        // > 0: inside a RegionScope, which takes everything
  bool clock_running = false;  // false between a phase edge and the next kernel call
  Clock::time_point mark;      // where the time of the next row starts
  Clock::time_point enabled_at;
  std::uint64_t pending_bytes = 0;  // allocated since the last row was charged
  std::int64_t live_bytes = 0;      // tensor storage alive, relative to enable()
  std::array<std::int64_t, 3> peak_bytes{};
  std::array<std::unordered_map<std::string, Row>, 3> rows;  // per phase, by name
};

thread_local State state;

// One more call of `name` in the current phase, lasting from the mark to `now`.
void charge(const std::string& name, Clock::time_point now) {
  Row& row = state.rows[static_cast<int>(state.phase)][name];
  if (row.calls == 0) {
    row.name = name;
    row.phase = state.phase;
  }
  ++row.calls;
  row.seconds += std::chrono::duration<double>(now - state.mark).count();
  row.bytes += state.pending_bytes;
  state.pending_bytes = 0;
  state.mark = now;
}

// Kernel time since the last row that no recorded op claimed.
void charge_unclaimed(Clock::time_point now) {
  if (state.region_depth == 0 && state.clock_running) charge("(other)", now);
}

double total_seconds(Phase phase) {
  double total = 0.0;
  for (const auto& [name, row] : state.rows[static_cast<int>(phase)]) total += row.seconds;
  return total;
}

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::Forward: return "forward";
    case Phase::Backward: return "backward";
    case Phase::Optimizer: return "optimizer";
  }
  return "?";
}

void enable() {
  reset();
  state.enabled_at = Clock::now();
  detail::on = true;
}

void disable() { detail::on = false; }

bool enabled() { return detail::on; }

void reset() {
  for (auto& phase_rows : state.rows) phase_rows.clear();
  state.pending_bytes = 0;
  state.clock_running = false;
  state.enabled_at = Clock::now();
  state.live_bytes = 0;
  state.peak_bytes = {};
}

std::int64_t peak_bytes(Phase phase) { return state.peak_bytes[static_cast<int>(phase)]; }

PhaseScope::PhaseScope(Phase phase) : active_(detail::on), previous_(state.phase) {
  if (!active_) return;
  charge_unclaimed(Clock::now());
  state.phase = phase;
  if (state.region_depth == 0) state.clock_running = false;
}

PhaseScope::~PhaseScope() {
  if (!active_) return;
  if (detail::on) charge_unclaimed(Clock::now());
  state.phase = previous_;
  if (state.region_depth == 0) state.clock_running = false;
}

RegionScope::RegionScope(const char* name, const char* suffix) : active_(detail::on && state.region_depth == 0) {
  if (!active_) return;
  Clock::time_point now = Clock::now();
  charge_unclaimed(now);
  state.mark = now;
  state.clock_running = true;
  name_ = std::string(name) + suffix;
  ++state.region_depth;
}

RegionScope::~RegionScope() {
  if (!active_ || state.region_depth == 0) return;
  --state.region_depth;
  if (!detail::on) return;
  charge(name_, Clock::now());
}

std::vector<Row> rows() {
  std::vector<Row> all;
  for (const auto& phase_rows : state.rows) {
    for (const auto& [name, row] : phase_rows) all.push_back(row);
  }
  std::sort(all.begin(), all.end(), [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
  return all;
}

std::string report() {
  std::vector<Row> all = rows();
  if (all.empty()) return "";
  double total = 0.0, megabytes = 0.0;
  for (const Row& row : all) {
    total += row.seconds;
    megabytes += static_cast<double>(row.bytes) / 1e6;
  }
  double wall = std::chrono::duration<double>(Clock::now() - state.enabled_at).count();
  std::string text = fmt::format(
      "profile: {:.1f} ms in ops (forward {:.1f}, backward {:.1f}, optimizer {:.1f}) of {:.1f} ms since "
      "enable(); {:.1f} MB allocated\n"
      "peak tensor memory above the level at enable(): forward {:.1f} MB, backward {:.1f} MB, optimizer {:.1f} MB\n",
      total * 1e3, total_seconds(Phase::Forward) * 1e3, total_seconds(Phase::Backward) * 1e3,
      total_seconds(Phase::Optimizer) * 1e3, wall * 1e3, megabytes, peak_bytes(Phase::Forward) / 1e6,
      peak_bytes(Phase::Backward) / 1e6, peak_bytes(Phase::Optimizer) / 1e6);
  text += fmt::format("{:<34} {:<9} {:>8} {:>11} {:>7} {:>10}\n", "op", "phase", "calls", "total ms", "%",
                      "MB alloc");
  for (const Row& row : all) {
    text += fmt::format("{:<34} {:<9} {:>8} {:>11.2f} {:>6.1f}% {:>10.1f}\n", row.name, phase_name(row.phase),
                        row.calls, row.seconds * 1e3, total > 0 ? 100.0 * row.seconds / total : 0.0,
                        static_cast<double>(row.bytes) / 1e6);
  }
  return text;
}

namespace detail {

void op_recorded_slow(const char* op) {
  if (state.region_depth > 0) return;
  Clock::time_point now = Clock::now();
  if (!state.clock_running) state.mark = now;  // a view first in its phase: no kernel ran before it
  state.clock_running = true;
  charge(op, now);
}

void kernel_called_slow() {
  if (state.region_depth > 0 || state.clock_running) return;
  state.mark = Clock::now();
  state.clock_running = true;
}

void allocated_slow(std::size_t nbytes) {
  state.pending_bytes += nbytes;
  state.live_bytes += static_cast<std::int64_t>(nbytes);
  std::int64_t& peak = state.peak_bytes[static_cast<int>(state.phase)];
  peak = std::max(peak, state.live_bytes);
  kernel_called_slow();
}

void freed_slow(std::size_t nbytes) { state.live_bytes -= static_cast<std::int64_t>(nbytes); }

}  // namespace detail

}  // namespace moegrad::profiler
