// The CPU block cache (tensor/cpu/block_cache.cpp): size classes let nearby sizes share blocks,
// and the bytes it holds never pass its limit, however many distinct sizes a run allocates.
#include "tensor/cpu/block_cache.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {
// Restores the limit a test found.
struct CacheLimit {
  std::size_t before = block_cache_stats().limit_bytes;
  explicit CacheLimit(std::size_t bytes) { set_block_cache_limit(bytes); }
  ~CacheLimit() { set_block_cache_limit(before); }
};
}  // namespace

TEST_CASE("size classes: 64-byte steps up to 512 bytes, then quarter steps between powers of two") {
  CHECK(block_size_class(0) == 64);
  CHECK(block_size_class(1) == 64);
  CHECK(block_size_class(65) == 128);
  CHECK(block_size_class(512) == 512);
  CHECK(block_size_class(513) == 640);    // 512 + 128
  CHECK(block_size_class(1000) == 1024);
  CHECK(block_size_class(1025) == 1280);  // 1024 + 256
  CHECK(block_size_class(1536) == 1536);
  CHECK(block_size_class(3 * 1024 * 1024 + 1) == 3670016);  // 3.5 MiB
  // Never less than asked, never more than 25% above (plus the 64-byte rounding).
  for (std::size_t n = 1; n < 5'000'000; n = n * 5 / 4 + 7) {
    const std::size_t size = block_size_class(n);
    CHECK(size >= n);
    CHECK(size % 64 == 0);
    CHECK(static_cast<double>(size) <= 1.25 * static_cast<double>(n) + 64);
  }
}

TEST_CASE("the cache stays under its limit while tensors of thousands of distinct sizes come and go") {
  const BlockCacheStats start = block_cache_stats();
  if (!start.enabled) {
    MESSAGE("the block cache is off in this build (sanitizers or MOEGRAD_NO_ALLOCATOR_CACHE): nothing to check");
    return;
  }
  CacheLimit limit(8 << 20);  // 8 MiB
  std::size_t most_cached = 0;
  for (std::int64_t n = 1000; n < 400'000; n += 97) {  // ~4,000 distinct sizes, up to 1.6 MB each
    Tensor t = zeros({n});
    most_cached = std::max(most_cached, block_cache_stats().cached_bytes);
  }
  CHECK(most_cached <= std::size_t{8} << 20);
  CHECK(block_cache_stats().cached_bytes <= std::size_t{8} << 20);
  // Lowering the limit frees at once.
  set_block_cache_limit(1 << 20);
  CHECK(block_cache_stats().cached_bytes <= std::size_t{1} << 20);
}

TEST_CASE("nearby sizes reuse one cached block") {
  if (!block_cache_stats().enabled) return;
  release_block_cache();
  { Tensor t = zeros({100'000}); }  // 400,000 bytes -> the 458,752-byte class, cached when freed
  const BlockCacheStats before = block_cache_stats();
  { Tensor t = zeros({100'500}); }  // 402,000 bytes: same class, served from the cache
  const BlockCacheStats after = block_cache_stats();
  CHECK(after.hits == before.hits + 1);
  CHECK(after.misses == before.misses);
  CHECK(block_size_class(400'000) == block_size_class(402'000));
}
