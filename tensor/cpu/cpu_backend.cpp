// CPU memory: 64-byte aligned blocks (what SIMD loads and OpenBLAS like), recycled through a
// small cache keyed by size. A training step frees and re-allocates the same sizes every
// iteration; handing back a warm block saves the allocator call and, for large blocks, the page
// faults of fresh memory. Sanitizer builds (and MOEGRAD_NO_ALLOCATOR_CACHE=1) bypass the cache so
// AddressSanitizer still sees every use after free.
#include "tensor/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace moegrad {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr std::size_t kMaxCachedBytes = std::size_t{1} << 30;

class BlockCache {
 public:
  BlockCache() : enabled_(!kSanitized && std::getenv("MOEGRAD_NO_ALLOCATOR_CACHE") == nullptr) {}

  void* take(std::size_t size) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = free_blocks_.find(size);
      if (found != free_blocks_.end() && !found->second.empty()) {
        void* block = found->second.back();
        found->second.pop_back();
        cached_bytes_ -= size;
        return block;
      }
    }
    void* block = std::aligned_alloc(64, size);
    if (block == nullptr) {
      release_all();  // give the cache back and try once more before failing
      block = std::aligned_alloc(64, size);
      if (block == nullptr) throw std::bad_alloc();
    }
    return block;
  }

  void give_back(void* block, std::size_t size) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + size <= kMaxCachedBytes) {
        free_blocks_[size].push_back(block);
        cached_bytes_ += size;
        return;
      }
    }
    std::free(block);
  }

 private:
  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_blocks_) {
      for (void* block : blocks) std::free(block);
      blocks.clear();
    }
    cached_bytes_ = 0;
  }

  bool enabled_;
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks_;
  std::size_t cached_bytes_ = 0;
};

std::size_t rounded_size(std::size_t nbytes) { return (std::max<std::size_t>(nbytes, 1) + 63) / 64 * 64; }

// Never destroyed: tensors held by other statics may be freed after this file's statics are gone.
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;
  return *cache;
}

}  // namespace

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

void* CpuBackend::allocate(std::size_t nbytes) { return block_cache().take(rounded_size(nbytes)); }

void CpuBackend::deallocate(void* ptr, std::size_t nbytes) { block_cache().give_back(ptr, rounded_size(nbytes)); }

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes > 0) std::memcpy(dst, src, nbytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes > 0) std::memcpy(dst, src, nbytes);
}

}  // namespace moegrad
