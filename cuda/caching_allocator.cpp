#include "cuda/caching_allocator.h"

#include "tensor/cpu/block_cache.h"

namespace moegrad {

CachingAllocator::CachingAllocator(RawAllocate raw_allocate, RawFree raw_free)
    : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() { release_all(); }

void* CachingAllocator::allocate(std::size_t nbytes) {
  const std::size_t size = block_size_class(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = free_blocks_.find(size);
  if (found != free_blocks_.end() && !found->second.empty()) {
    void* block = found->second.back();
    found->second.pop_back();
    stats_.cached_bytes -= size;
    --stats_.cached_blocks;
    stats_.allocated_bytes += size;
    ++stats_.hits;
    return block;
  }
  ++stats_.misses;
  void* block = raw_allocate_(size);
  if (block == nullptr) {
    // The free lists may hold enough memory in other size classes: give it back and retry once.
    release_all_locked();
    block = raw_allocate_(size);
    if (block == nullptr) return nullptr;
  }
  stats_.allocated_bytes += size;
  return block;
}

void CachingAllocator::deallocate(void* ptr, std::size_t nbytes) {
  if (ptr == nullptr) return;
  const std::size_t size = block_size_class(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  free_blocks_[size].push_back(ptr);
  stats_.allocated_bytes -= size;
  stats_.cached_bytes += size;
  ++stats_.cached_blocks;
}

void CachingAllocator::release_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_all_locked();
}

void CachingAllocator::release_all_locked() {
  for (auto& [size, blocks] : free_blocks_) {
    for (void* block : blocks) raw_free_(block);
    stats_.cached_bytes -= size * blocks.size();
    stats_.cached_blocks -= blocks.size();
    blocks.clear();
  }
}

CachingAllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace moegrad
