// The CPU kernels' loop helpers: an OpenMP range split, and a walk over the elements of up to four
// same-shaped strided views (inputs broadcast with stride 0) in row-major order.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "tensor/shape.h"

namespace moegrad {

// Below this many elements a loop stays on one thread: waking a team costs more than it saves.
inline constexpr std::int64_t kParallelGrain = 32768;

// body(begin, end) on contiguous sub-ranges of [0, n), one per thread when n is large.
template <class Body>
void parallel_for(std::int64_t n, std::int64_t grain, Body&& body) {
  if (n <= 0) return;
  int threads = omp_get_max_threads();
  if (n < grain || threads <= 1 || omp_in_parallel()) {
    body(std::int64_t{0}, n);
    return;
  }
  std::int64_t chunks = std::min<std::int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (std::int64_t c = 0; c < chunks; ++c) {
    std::int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    body(begin, end);
  }
}

// Element offsets of N views that share `shape`. body(offsets, run, inner_strides) handles `run`
// consecutive elements along the last axis starting at offsets[k] in view k.
template <std::size_t N, class Body>
void for_each_run(const Shape& shape, const std::array<const Strides*, N>& strides, Body&& body) {
  std::int64_t total = numel_of(shape);
  if (total == 0) return;
  std::size_t ndim = shape.size();
  if (ndim == 0) {
    body(std::array<std::int64_t, N>{}, std::int64_t{1}, std::array<std::int64_t, N>{});
    return;
  }
  std::array<std::int64_t, N> inner{};
  for (std::size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[ndim - 1];
  std::int64_t last = shape[ndim - 1];
  parallel_for(total, kParallelGrain, [&](std::int64_t begin, std::int64_t end) {
    // multi-index and offsets of `begin`
    std::vector<std::int64_t> index(ndim);
    std::array<std::int64_t, N> offsets{};
    std::int64_t rest = begin;
    for (std::size_t d = ndim; d-- > 0;) {
      index[d] = rest % shape[d];
      rest /= shape[d];
      for (std::size_t k = 0; k < N; ++k) offsets[k] += index[d] * (*strides[k])[d];
    }
    for (std::int64_t i = begin; i < end;) {
      std::int64_t run = std::min(last - index[ndim - 1], end - i);
      body(offsets, run, inner);
      i += run;
      // step to the next run: carry through the outer axes
      index[ndim - 1] += run;
      for (std::size_t k = 0; k < N; ++k) offsets[k] += run * inner[k];
      for (std::size_t d = ndim - 1; d > 0 && index[d] == shape[d]; --d) {
        index[d] = 0;
        ++index[d - 1];
        for (std::size_t k = 0; k < N; ++k) offsets[k] += (*strides[k])[d - 1] - shape[d] * (*strides[k])[d];
      }
    }
  });
}

}  // namespace moegrad
