// The GPU caching allocator's bookkeeping, with malloc and free standing in for cudaMalloc and
// cudaFree, so it runs on every machine with a CUDA build.
#ifdef MOEGRAD_CUDA
#include <cstdlib>
#include <map>
#include <set>

#include "cuda/caching_allocator.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

// A raw allocator that counts its calls and can be told to fail (an out-of-memory device).
struct CountingMemory {
  int allocations = 0, frees = 0;
  std::size_t fail_above = SIZE_MAX;  // bytes live beyond which allocation fails
  std::size_t live = 0;                // bytes allocated and not freed
  std::map<void*, std::size_t> sizes;  // of the live blocks
  CachingAllocator make() {
    return CachingAllocator(
        [this](std::size_t n) -> void* {
          if (live + n > fail_above) return nullptr;
          ++allocations;
          live += n;
          void* p = std::malloc(n);
          sizes[p] = n;
          return p;
        },
        [this](void* p) {
          ++frees;
          live -= sizes[p];
          sizes.erase(p);
          std::free(p);
        });
  }
};

}  // namespace

TEST_CASE("the caching allocator hands a freed block back for the same size class without a new allocation") {
  CountingMemory memory;
  {
    CachingAllocator allocator = memory.make();
    void* first = allocator.allocate(1000);
    allocator.deallocate(first, 1000);
    void* again = allocator.allocate(1000);
    CHECK(again == first);
    // 1000 and 1020 bytes share the class 1024 (block_size_class), so a 1020-byte request reuses it too
    allocator.deallocate(again, 1000);
    CHECK(allocator.allocate(1020) == first);
    CHECK(memory.allocations == 1);
    CachingAllocatorStats stats = allocator.stats();
    CHECK(stats.hits == 2);
    CHECK(stats.misses == 1);
    CHECK(stats.allocated_bytes == 1024);
    CHECK(stats.cached_bytes == 0);
    allocator.deallocate(first, 1020);
    CHECK(allocator.stats().cached_blocks == 1);
  }
  CHECK(memory.frees == 1);  // the destructor frees what the cache held
}

TEST_CASE("the caching allocator gives distinct live blocks and keeps sizes in separate classes") {
  CountingMemory memory;
  CachingAllocator allocator = memory.make();
  std::set<void*> live;
  for (int i = 0; i < 4; ++i) live.insert(allocator.allocate(4096));
  CHECK(live.size() == 4);
  void* small = allocator.allocate(64);
  allocator.deallocate(small, 64);
  void* big = allocator.allocate(8192);  // another class: not the cached 64-byte block
  CHECK(big != small);
  CHECK(memory.allocations == 6);
  for (void* p : live) allocator.deallocate(p, 4096);
  allocator.deallocate(big, 8192);
  CHECK(allocator.stats().allocated_bytes == 0);
  CHECK(allocator.stats().cached_bytes == 4 * 4096 + 64 + 8192);
}

TEST_CASE("out of memory, the caching allocator empties its cache and retries before giving up") {
  CountingMemory memory;
  memory.fail_above = 3000;
  CachingAllocator allocator = memory.make();
  void* a = allocator.allocate(2048);
  allocator.deallocate(a, 2048);  // cached: still live for the raw allocator
  CHECK(memory.live == 2048);
  void* b = allocator.allocate(2560);  // 2048 + 2560 > 3000: fails, frees the cache, retries
  REQUIRE(b != nullptr);
  CHECK(memory.frees == 1);
  CHECK(memory.live == 2560);
  CHECK(allocator.stats().cached_bytes == 0);
  CHECK(allocator.allocate(2560) == nullptr);  // nothing left to free: the caller reports the error
  allocator.deallocate(b, 2560);
}
#endif
