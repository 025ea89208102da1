// Reductions over the middle axis of x seen as (outer, length, inner): sum, max, min and their
// arg- forms; and the running sum (cumsum) along the same axis. float32 sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"

namespace moegrad {

namespace {

template <class T>
using Accumulator = std::conditional_t<std::is_same_v<T, float>, double, T>;

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  return false;
}

// One output element: reduce x[o, 0..length-1, i].
template <class T>
void reduce_one(ReduceOp op, const T* x, std::int64_t length, std::int64_t inner, T* out_value,
                std::int64_t* out_index) {
  if (op == ReduceOp::Sum) {
    Accumulator<T> total = 0;
    for (std::int64_t l = 0; l < length; ++l) total += x[l * inner];
    *out_value = static_cast<T>(total);
    return;
  }
  // max / min / argmax / argmin: the first extreme wins; a NaN wins over everything (as in PyTorch)
  bool want_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
  T best = x[0];
  std::int64_t best_index = 0;
  for (std::int64_t l = 1; l < length && !is_nan(best); ++l) {
    T v = x[l * inner];
    if (is_nan(v) || (want_max ? v > best : v < best)) {
      best = v;
      best_index = l;
    }
  }
  if (out_value) *out_value = best;
  if (out_index) *out_index = best_index;
}

// Sums over the middle axis when inner > 1, e.g. a bias gradient (N,C) -> (C): whole rows are
// added into a block of accumulators, so the inner loop runs over contiguous memory and vectorises,
// where one strided walk per output touched a new cache line (and often a new page) per element.
// The work is split over (outer, column block) pairs; each output is still summed by one thread in
// row order, so the result does not depend on the thread count.
template <class T>
void sum_rows(const T* in, std::int64_t outer, std::int64_t length, std::int64_t inner, T* out) {
  constexpr std::int64_t kBlock = 64;  // columns per task: the accumulators stay in L1
  const std::int64_t blocks = (inner + kBlock - 1) / kBlock;
  const std::int64_t work_per_task = length * std::min(inner, kBlock);
  parallel_for(outer * blocks, std::max<std::int64_t>(1, kParallelGrain / work_per_task),
               [&](std::int64_t begin, std::int64_t end) {
                 Accumulator<T> totals[kBlock];
                 for (std::int64_t task = begin; task < end; ++task) {
                   std::int64_t o = task / blocks, first = (task % blocks) * kBlock;
                   std::int64_t width = std::min(kBlock, inner - first);
                   std::fill(totals, totals + width, Accumulator<T>(0));
                   const T* block = in + o * length * inner + first;
                   for (std::int64_t l = 0; l < length; ++l) {
                     const T* row = block + l * inner;
                     for (std::int64_t c = 0; c < width; ++c) totals[c] += row[c];
                   }
                   for (std::int64_t c = 0; c < width; ++c) out[o * inner + first + c] = static_cast<T>(totals[c]);
                 }
               });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner,
                        Tensor& out) {
  bool arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    if (length == 0) {  // only sums reach here with length 0 (the op checks); the empty sum is 0
      T* result = out.data<T>();
      for (std::int64_t i = 0; i < outer * inner; ++i) result[i] = T(0);
      return;
    }
    if (inner == 1 && op == ReduceOp::Sum) {
      // rows: contiguous, the loop the compiler vectorises
      T* result = out.data<T>();
      parallel_for(outer, std::max<std::int64_t>(1, kParallelGrain / length), [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t o = begin; o < end; ++o) {
          const T* row = in + o * length;
          Accumulator<T> total = 0;
          for (std::int64_t l = 0; l < length; ++l) total += row[l];
          result[o] = static_cast<T>(total);
        }
      });
      return;
    }
    if (op == ReduceOp::Sum) {
      sum_rows<T>(in, outer, length, inner, out.data<T>());
      return;
    }
    T* values = arg ? nullptr : out.data<T>();
    std::int64_t* indices = arg ? out.data<std::int64_t>() : nullptr;
    std::int64_t outputs = outer * inner;
    parallel_for(outputs, std::max<std::int64_t>(1, kParallelGrain / length), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t j = begin; j < end; ++j) {
        std::int64_t o = j / inner, i = j % inner;
        reduce_one<T>(op, in + o * length * inner + i, length, inner, values ? values + j : nullptr,
                      indices ? indices + j : nullptr);
      }
    });
  });
}

void CpuBackend::cumsum(const Tensor& x, std::int64_t outer, std::int64_t length, std::int64_t inner, Tensor& out) {
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* result = out.data<T>();
    parallel_for(outer * inner, std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(length, 1)),
                      [&](std::int64_t begin, std::int64_t end) {
                        for (std::int64_t j = begin; j < end; ++j) {
                          std::int64_t o = j / inner, i = j % inner;
                          const T* source = in + o * length * inner + i;
                          T* target = result + o * length * inner + i;
                          Accumulator<T> running = 0;
                          for (std::int64_t l = 0; l < length; ++l) {
                            running += source[l * inner];
                            target[l * inner] = static_cast<T>(running);
                          }
                        }
                      });
  });
}

}  // namespace moegrad
