// Deterministic mode: results that do not depend on the number of threads.
//
// moegrad's own CPU kernels already give the same bits on any thread count: each output element
// is computed by one thread, in a fixed order (tensor/cpu/parallel.h splits outputs, never a sum).
// OpenBLAS does not promise that: with more threads it may pick other blockings and kernels, so a
// run resumed with another thread count can drift from the first ulp on. In deterministic mode
// every matmul runs OpenBLAS on one thread (the thread count is restored after each call), so
// training gives bit-identical parameters on 1 or N threads, at the cost of single-threaded
// matmuls. Off by default; on with set_deterministic(true) or MOEGRAD_DETERMINISTIC=1.
#pragma once

namespace moegrad {

void set_deterministic(bool on);
bool deterministic();  // the first call reads MOEGRAD_DETERMINISTIC

}  // namespace moegrad
