// CPU memory: 64-byte aligned blocks (what SIMD loads and OpenBLAS like), recycled through a cache
// of freed blocks. A training step frees and re-allocates the same sizes every iteration; handing
// back a warm block saves the allocator call and, for large blocks, the page faults of fresh memory.
//
// Two rules keep the cache from growing the process: blocks come in size classes (block_size_class),
// so an MoE layer whose expert batches change size every step reuses blocks instead of caching one
// per distinct size; and the cache holds at most a limit of bytes (1 GiB by default): a block
// returned past it goes back to the system. 1 GiB rather than 256 MiB: a BERT-MoE benchmark step
// (bench/configs.h) frees ~1.8 GB of blocks, and at 256 MiB most large ones missed the cache and
// were faulted in fresh every step (step time -14%, peak RSS 1115 -> 1228 MB, still below PyTorch's). Sanitizer builds (and MOEGRAD_NO_ALLOCATOR_CACHE=1)
// bypass the cache so AddressSanitizer still sees every use after free.
#include "tensor/cpu/block_cache.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace moegrad {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr std::size_t kDefaultLimitBytes = std::size_t{1024} << 20;

std::size_t limit_from_environment() {
  const char* text = std::getenv("MOEGRAD_ALLOCATOR_CACHE_MB");
  if (text == nullptr) return kDefaultLimitBytes;
  char* end = nullptr;
  const unsigned long long megabytes = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || megabytes > (std::size_t{1} << 40)) return kDefaultLimitBytes;
  return static_cast<std::size_t>(megabytes) << 20;
}

class BlockCache {
 public:
  BlockCache()
      : enabled_(!kSanitized && std::getenv("MOEGRAD_NO_ALLOCATOR_CACHE") == nullptr), limit_(limit_from_environment()) {}

  void* take(std::size_t size) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = free_blocks_.find(size);
      if (found != free_blocks_.end() && !found->second.empty()) {
        void* block = found->second.back();
        found->second.pop_back();
        cached_bytes_ -= size;
        --cached_blocks_;
        ++hits_;
        return block;
      }
      ++misses_;
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
      if (cached_bytes_ + size <= limit_) {
        free_blocks_[size].push_back(block);
        cached_bytes_ += size;
        ++cached_blocks_;
        return;
      }
    }
    std::free(block);
  }

  void set_limit(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
    // Drop whole size classes, largest first, until the cache fits again.
    std::vector<std::size_t> sizes;
    for (const auto& [size, blocks] : free_blocks_) {
      if (!blocks.empty()) sizes.push_back(size);
    }
    std::sort(sizes.rbegin(), sizes.rend());
    for (std::size_t size : sizes) {
      if (cached_bytes_ <= limit_) break;
      free_class(size, free_blocks_[size]);
    }
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_blocks_) free_class(size, blocks);
  }

  BlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {enabled_, cached_bytes_, cached_blocks_, limit_, hits_, misses_};
  }

 private:
  void free_class(std::size_t size, std::vector<void*>& blocks) {
    for (void* block : blocks) std::free(block);
    cached_bytes_ -= size * blocks.size();
    cached_blocks_ -= blocks.size();
    blocks.clear();
  }

  bool enabled_;
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks_;  // size class -> free blocks
  std::size_t limit_;
  std::size_t cached_bytes_ = 0, cached_blocks_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors held by other statics may be freed after this file's statics are gone.
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;
  return *cache;
}

}  // namespace

std::size_t block_size_class(std::size_t nbytes) {
  const std::size_t size = (std::max<std::size_t>(nbytes, 1) + 63) / 64 * 64;
  if (size <= 512) return size;
  const std::size_t step = std::bit_floor(size) / 4;  // a quarter of the power of two below
  return (size + step - 1) / step * step;
}

BlockCacheStats block_cache_stats() { return block_cache().stats(); }
void set_block_cache_limit(std::size_t bytes) { block_cache().set_limit(bytes); }
void release_block_cache() { block_cache().release_all(); }

void* CpuBackend::allocate(std::size_t nbytes) { return block_cache().take(block_size_class(nbytes)); }

void CpuBackend::deallocate(void* ptr, std::size_t nbytes) { block_cache().give_back(ptr, block_size_class(nbytes)); }

}  // namespace moegrad
