// The GPU's caching allocator: freed blocks go to per-size-class free lists and are handed out
// again, so a training step makes no cudaMalloc/cudaFree calls once warm (both are slow, and
// cudaFree synchronises the device). Sizes come in the CPU cache's classes (block_size_class:
// at most 25% slack), so an MoE layer whose expert batches change size every step still reuses
// blocks. A failed allocation frees every cached block and tries once more.
//
// The raw allocation functions are passed in, so the bookkeeping is plain C++ and is tested on
// any machine (tests/cuda/test_caching_allocator.cpp) with malloc and free standing in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace moegrad {

struct CachingAllocatorStats {
  std::size_t allocated_bytes = 0;  // handed out and not yet returned (in size-class bytes)
  std::size_t cached_bytes = 0;     // in free lists, ready for reuse
  std::size_t cached_blocks = 0;
  std::uint64_t hits = 0;           // allocations served from a free list
  std::uint64_t misses = 0;         // allocations that called the raw allocator
};

class CachingAllocator {
 public:
  // raw_allocate returns nullptr on failure (out of memory); raw_free never throws.
  using RawAllocate = std::function<void*(std::size_t)>;
  using RawFree = std::function<void(void*)>;
  CachingAllocator(RawAllocate raw_allocate, RawFree raw_free);
  ~CachingAllocator();  // frees the cached blocks (live blocks belong to their tensors)
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least nbytes, or nullptr when even an emptied cache cannot get one.
  void* allocate(std::size_t nbytes);
  // nbytes as given to allocate (the class is recomputed from it).
  void deallocate(void* ptr, std::size_t nbytes);
  void release_all();
  CachingAllocatorStats stats() const;

 private:
  void release_all_locked();

  RawAllocate raw_allocate_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks_;  // size class -> free blocks
  CachingAllocatorStats stats_;
};

}  // namespace moegrad
