// Element types. float32 is the default; float64 is what gradient checks run in; bfloat16 is
// float32's range with 8 bits of precision (storage only: tensor/bfloat16_compute.h says how ops
// compute on it); int64 holds indices (token ids, expert ids, top-k indices) and 0/1 masks never
// need it (they use the data's dtype).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/bfloat16.h"

namespace moegrad {

enum class DType { Float32, Float64, Int64, BFloat16 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBFloat16 = DType::BFloat16;

const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
bool is_floating(DType dtype);

// The dtype of a binary op's result: float64 > float32 > bfloat16 > int64, as in PyTorch.
DType promote_types(DType a, DType b);

// Thrown by the dispatchers below when a bfloat16 tensor reaches a compute kernel: those run on
// float32 copies (tensor/bfloat16_compute.h), so getting here means a path that skipped that.
[[noreturn]] void throw_no_bfloat16_kernel();

// Calls body(T{}) with T the C++ type of `dtype`: the one place a kernel turns a dtype into a type.
// Compute kernels are written for float, double and int64 only; bfloat16 never reaches them.
template <class Body>
void dispatch_dtype(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    case DType::Int64: body(std::int64_t{}); return;
    case DType::BFloat16: throw_no_bfloat16_kernel();
  }
}

// Same, for kernels that only make sense on floating types.
template <class Body>
void dispatch_floating(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    case DType::Int64: break;
    case DType::BFloat16: throw_no_bfloat16_kernel();
  }
}

// dispatch_dtype plus bfloat16 (tensor/bfloat16.h), for the few kernels that only move and convert
// values (fill, copy, reading values to the host): the place where numbers enter and leave bfloat16.
template <class Body>
void dispatch_storage_dtype(DType dtype, Body&& body) {
  if (dtype == DType::BFloat16) {
    body(bfloat16{});
    return;
  }
  dispatch_dtype(dtype, body);
}

}  // namespace moegrad
