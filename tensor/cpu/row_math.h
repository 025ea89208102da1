// Per-row helpers of the row kernels (softmax, cross-entropy): exp by dtype, and sums that
// vectorise yet are the same bits on every run and every thread count.
//
// A plain `total += x[j]` over doubles cannot be vectorised without reordering the additions, which
// GCC will not do on its own. lane_sum fixes one order instead: element j goes into lane j mod 8 and
// the eight lanes are added pairwise at the end. float32 values accumulate in double.
//
// Everything here is always_inline so that a kernel's float32 row loop, wrapped in a function marked
// MOEGRAD_ISA_CLONES (tensor/cpu/fast_math.h), is compiled whole for AVX-512, AVX2 and baseline; the
// lane order is fixed in the source, so every clone gives the same bits.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/cpu/fast_math.h"

namespace moegrad {

[[gnu::always_inline]] inline float row_exp(float x) { return fast::exp_float(x); }
[[gnu::always_inline]] inline double row_exp(double x) { return std::exp(x); }

inline constexpr int kSumLanes = 8;

[[gnu::always_inline]] inline double add_lanes(const double* lanes) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

// max_j x_j over 16 lanes (element j into lane j mod 16), which vectorises where a running maximum
// does not. A NaN may be skipped; the callers' sums of exp(x_j - max) turn it into NaN all the same.
template <class T>
[[gnu::always_inline]] inline T lane_max(const T* x, std::int64_t n) {
  constexpr int kMaxLanes = 16;
  T row_max = x[0];
  std::int64_t j = 0;
  if (n >= kMaxLanes) {
    T lanes[kMaxLanes];
    for (int l = 0; l < kMaxLanes; ++l) lanes[l] = x[l];
    for (j = kMaxLanes; j + kMaxLanes <= n; j += kMaxLanes) {
      for (int l = 0; l < kMaxLanes; ++l) lanes[l] = x[j + l] > lanes[l] ? x[j + l] : lanes[l];
    }
    row_max = lanes[0];
    for (int l = 1; l < kMaxLanes; ++l) row_max = lanes[l] > row_max ? lanes[l] : row_max;
  }
  for (; j < n; ++j) row_max = x[j] > row_max ? x[j] : row_max;
  return row_max;
}

// Σ_j x_j
template <class T>
[[gnu::always_inline]] inline double lane_sum(const T* x, std::int64_t n) {
  double lanes[kSumLanes] = {};
  std::int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    for (int l = 0; l < kSumLanes; ++l) lanes[l] += x[j + l];
  }
  for (int l = 0; j < n; ++j, ++l) lanes[l] += x[j];
  return add_lanes(lanes);
}

// Σ_j a_j b_j, each product formed in the accumulator's precision
template <class T>
[[gnu::always_inline]] inline double lane_dot(const T* a, const T* b, std::int64_t n) {
  double lanes[kSumLanes] = {};
  std::int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    for (int l = 0; l < kSumLanes; ++l) lanes[l] += static_cast<double>(a[j + l]) * b[j + l];
  }
  for (int l = 0; j < n; ++j, ++l) lanes[l] += static_cast<double>(a[j]) * b[j];
  return add_lanes(lanes);
}

// Σ_j exp(x_j - shift), without storing the exponentials (the cross-entropy forward needs only the sum)
template <class T>
[[gnu::always_inline]] inline double lane_sum_exp(const T* x, std::int64_t n, T shift) {
  double lanes[kSumLanes] = {};
  std::int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    T e[kSumLanes];
    for (int l = 0; l < kSumLanes; ++l) e[l] = row_exp(x[j + l] - shift);
    for (int l = 0; l < kSumLanes; ++l) lanes[l] += e[l];
  }
  for (int l = 0; j < n; ++j, ++l) lanes[l] += row_exp(x[j] - shift);
  return add_lanes(lanes);
}

}  // namespace moegrad
