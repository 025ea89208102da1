// The CPU allocator's cache of freed blocks (tensor/cpu/block_cache.cpp), its limit and its counters.
#pragma once
#include <cstddef>
#include <cstdint>

namespace moegrad {

struct BlockCacheStats {
  bool enabled = false;         // off in sanitizer builds and with MOEGRAD_NO_ALLOCATOR_CACHE=1
  std::size_t cached_bytes = 0;  // held in free blocks, ready for reuse
  std::size_t cached_blocks = 0;
  std::size_t limit_bytes = 0;   // cached_bytes never exceeds it
  std::uint64_t hits = 0;        // allocations served from the cache
  std::uint64_t misses = 0;      // allocations that went to the system
};

BlockCacheStats block_cache_stats();

// The most bytes the cache keeps (default 1 GiB, or MOEGRAD_ALLOCATOR_CACHE_MB); lowering it
// frees cached blocks at once. 0 keeps nothing.
void set_block_cache_limit(std::size_t bytes);

// Frees every cached block (live tensors are untouched).
void release_block_cache();

// The size a request of `nbytes` is served with: a multiple of 64 up to 512 bytes, above that
// rounded up to a quarter step between powers of two (1024, 1280, 1536, 1792, 2048, 2560, ...),
// so that nearby sizes share blocks at the cost of at most 25% slack.
std::size_t block_size_class(std::size_t nbytes);

}  // namespace moegrad
