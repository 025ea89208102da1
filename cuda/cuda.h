// The CUDA controls a program may call on any build (a CPU-only build links cuda/no_cuda.cpp,
// where they do nothing or report that there is no GPU). Paper modules never call these; training
// programs and benchmarks do.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cuda/caching_allocator.h"

namespace moegrad {

// TF32 tensor cores for float32 matmuls (cuBLAS): about 8x the FP32 throughput, with 10-bit
// mantissas in the products. Off by default so GPU results match the CPU to float32 precision;
// on with set_cuda_tf32(true) or MOEGRAD_TF32=1.
void set_cuda_tf32(bool allowed);
bool cuda_tf32();

// Waits until every kernel queued on cuda(index) has finished, then raises any error a kernel
// left behind (a fault, an out-of-range index). Timers call it before reading the clock.
void cuda_synchronize(int index = 0);

// The caching allocator's counters for cuda(index) (all zero on a CPU-only build), and a way to
// hand its free blocks back to the driver.
CachingAllocatorStats cuda_memory_stats(int index = 0);
void cuda_release_cached_memory(int index = 0);

}  // namespace moegrad
