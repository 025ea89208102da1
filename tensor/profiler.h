// A built-in profiler: wall time and bytes allocated per op kind and per phase (forward, backward,
// optimizer), printed as one table.
//
//   profiler::enable();                       // counts this thread's ops from now on
//   ... forward, loss.backward(), optimizer.step() ...
//   fmt::print("{}", profiler::report());     // op, phase, calls, total ms, % of all, MB allocated
//
// How time is charged. Ops do their work first and then hook their result into the graph
// (tensor/graph.cpp record), so an op's row gets the time since the previous op recorded: its
// kernels, its copies and the glue code just before it. Backward rules are timed one by one by the
// engine and charged to "<op> backward"; the engine's own gradient sums to "gradient accumulation".
// A phase starts with no clock running: the first kernel call or allocation after it starts the
// clock, so code that touches no tensor (reading data, printing) is not charged to any op. Kernel
// time that no recorded op follows before the phase ends (in-place writes, item()) is charged to
// "(other)". backward() marks its own phase and the optimizers' step() theirs; everything else is
// "forward". The OpenMP and BLAS threads inside a kernel are part of that kernel's time.
//
// Cost when off: one test of a thread-local flag per op, per kernel call and per allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moegrad::profiler {

enum class Phase { Forward, Backward, Optimizer };
const char* phase_name(Phase phase);

// Starts counting on the calling thread (clearing earlier counts); disable() stops, keeping them.
void enable();
void disable();
bool enabled();
void reset();  // clears the counts, keeps enabled as it is

// Everything from here to the end of the scope belongs to `phase` (scopes nest).
class PhaseScope {
 public:
  explicit PhaseScope(Phase phase);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  bool active_;
  Phase previous_;
};

// Charges everything inside the scope, ops and allocations included, to one row named
// `name` + `suffix` (e.g. "matmul" + " backward"). Regions inside a region fold into the outer one.
class RegionScope {
 public:
  explicit RegionScope(const char* name, const char* suffix = "");
  RegionScope(const std::string& name, const char* suffix) : RegionScope(name.c_str(), suffix) {}
  ~RegionScope();
  RegionScope(const RegionScope&) = delete;
  RegionScope& operator=(const RegionScope&) = delete;

 private:
  bool active_;
  std::string name_;
};

struct Row {
  std::string name;
  Phase phase = Phase::Forward;
  std::int64_t calls = 0;
  double seconds = 0.0;
  std::uint64_t bytes = 0;  // bytes of tensor storage allocated (what was asked for, cache hits included)
};

// The rows counted so far, longest total time first.
std::vector<Row> rows();
// The most bytes of tensor storage alive at once while `phase` ran, counted from the level at
// enable() (storage freed that existed before enable() can make the level dip below 0).
std::int64_t peak_bytes(Phase phase);

// The table of rows() with a header of totals and peaks per phase; "" when nothing was counted.
std::string report();

// ---- hooks: called by the graph, the engine, backend_for and Storage ----
namespace detail {
extern constinit thread_local bool on;
void op_recorded_slow(const char* op);
void kernel_called_slow();
void allocated_slow(std::size_t nbytes);
void freed_slow(std::size_t nbytes);
}  // namespace detail

inline void op_recorded(const char* op) {
  if (detail::on) detail::op_recorded_slow(op);
}
inline void kernel_called() {
  if (detail::on) detail::kernel_called_slow();
}
inline void allocated(std::size_t nbytes) {
  if (detail::on) detail::allocated_slow(nbytes);
}
inline void freed(std::size_t nbytes) {
  if (detail::on) detail::freed_slow(nbytes);
}

}  // namespace moegrad::profiler
