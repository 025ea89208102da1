// CPU indexing kernels: gather / scatter_add (one index per element) and index_select / index_add
// (one index per slice). Every tensor is contiguous and is read as (outer, length, inner) around
// the indexed axis; indices are int64 and already bounds-checked by the op.
//
// The reads (gather, index_select) split their output rows over threads. The accumulations
// (scatter_add, index_add) split the columns (o, i) of `out` instead: every write to a column comes
// from the thread that owns it, so repeated indices add up without atomics or races.
#include <fmt/format.h>

#include <algorithm>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/errors.h"

namespace moegrad {

namespace {

// A contiguous tensor seen as (outer, length, inner) around `axis`.
struct AxisSplit {
  std::int64_t outer = 1, length = 1, inner = 1;
};

AxisSplit split_at(const Shape& shape, std::int64_t axis) {
  AxisSplit split;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
    if (d < axis) split.outer *= shape[d];
    else if (d == axis) split.length = shape[d];
    else split.inner *= shape[d];
  }
  return split;
}

// Grain for a parallel loop whose items each cost `work` element operations.
std::int64_t grain_for(std::int64_t work) {
  return std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(work, 1));
}

// Runs body(o, i_begin, i_end) over the columns [begin, end) of an (outer, inner) grid, one call
// per stretch of columns that shares its outer index o.
template <class Body>
void for_each_column_run(std::int64_t begin, std::int64_t end, std::int64_t inner, Body&& body) {
  for (std::int64_t column = begin; column < end;) {
    std::int64_t o = column / inner, i_begin = column % inner;
    std::int64_t i_end = std::min(inner, i_begin + (end - column));
    body(o, i_begin, i_end);
    column += i_end - i_begin;
  }
}

}  // namespace

// x (outer, length, inner), index and out (outer, picks, inner):
// out[o, j, i] = x[o, index[o, j, i], i]
void CpuBackend::gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
  AxisSplit source = split_at(x.shape(), dim);
  std::int64_t picks = index.shape()[dim], inner = source.inner;
  const std::int64_t* where = index.data<std::int64_t>();
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* result = out.data<T>();
    parallel_for(source.outer * picks, grain_for(inner), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t row = begin; row < end; ++row) {
        const T* block = in + (row / picks) * source.length * inner;
        const std::int64_t* row_index = where + row * inner;
        T* row_out = result + row * inner;
        for (std::int64_t i = 0; i < inner; ++i) row_out[i] = block[row_index[i] * inner + i];
      }
    });
  });
}

// out (outer, length, inner), index and src (outer, picks, inner):
// out[o, index[o, j, i], i] += src[o, j, i]
void CpuBackend::scatter_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) {
  AxisSplit target = split_at(out.shape(), dim);
  std::int64_t picks = index.shape()[dim], inner = target.inner;
  const std::int64_t* where = index.data<std::int64_t>();
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* result = out.data<T>();
    parallel_for(target.outer * inner, grain_for(picks), [&](std::int64_t begin, std::int64_t end) {
      for_each_column_run(begin, end, inner, [&](std::int64_t o, std::int64_t i_begin, std::int64_t i_end) {
        T* block = result + o * target.length * inner;
        for (std::int64_t j = 0; j < picks; ++j) {
          std::int64_t row = o * picks + j;
          const std::int64_t* row_index = where + row * inner;
          const T* row_src = in + row * inner;
          for (std::int64_t i = i_begin; i < i_end; ++i) block[row_index[i] * inner + i] += row_src[i];
        }
      });
    });
  });
}

// x (outer, length, inner), index (picks), out (outer, picks, inner):
// out[o, j, :] = x[o, index[j], :]
void CpuBackend::index_select(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
  AxisSplit source = split_at(x.shape(), dim);
  std::int64_t picks = index.numel(), inner = source.inner;
  const std::int64_t* where = index.data<std::int64_t>();
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* result = out.data<T>();
    parallel_for(source.outer * picks, grain_for(inner), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t row = begin; row < end; ++row) {
        std::int64_t o = row / picks, j = row % picks;
        const T* source_row = in + (o * source.length + where[j]) * inner;
        std::copy(source_row, source_row + inner, result + row * inner);
      }
    });
  });
}

// out (outer, length, inner), index (picks), src (outer, picks, inner):
// out[o, index[j], :] += src[o, j, :]
void CpuBackend::index_add(Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& src) {
  AxisSplit target = split_at(out.shape(), dim);
  std::int64_t picks = index.numel(), inner = target.inner;
  const std::int64_t* where = index.data<std::int64_t>();
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* result = out.data<T>();
    parallel_for(target.outer * inner, grain_for(picks), [&](std::int64_t begin, std::int64_t end) {
      for_each_column_run(begin, end, inner, [&](std::int64_t o, std::int64_t i_begin, std::int64_t i_end) {
        for (std::int64_t j = 0; j < picks; ++j) {
          T* target_row = result + (o * target.length + where[j]) * inner;
          const T* source_row = in + (o * picks + j) * inner;
          for (std::int64_t i = i_begin; i < i_end; ++i) target_row[i] += source_row[i];
        }
      });
    });
  });
}

// One pass over the index in place (no reduction ops, no host copy): the range check every
// indexing op runs before its kernel.
void CpuBackend::check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what) {
  const std::int64_t* data = index.data<std::int64_t>();
  std::int64_t low = data[0], high = data[0];
  for (std::int64_t i = 1; i < index.numel(); ++i) {
    low = std::min(low, data[i]);
    high = std::max(high, data[i]);
  }
  if (low < 0 || high >= size) {
    throw IndexError(fmt::format("[{}] {} holds values in [{}, {}] but must lie in [0, {}) (shape {})", op, what, low,
                                 high, size, shape_str(index.shape())));
  }
}

}  // namespace moegrad
