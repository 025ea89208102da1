// Element types. float32 is the default; float64 is what gradient checks run in; int64 holds
// indices (token ids, expert ids, top-k indices) and 0/1 masks never need it (they use the data's dtype).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace moegrad {

enum class DType { Float32, Float64, Int64 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;

const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
bool is_floating(DType dtype);

// The dtype of a binary op's result: float64 > float32 > int64, as in PyTorch.
DType promote_types(DType a, DType b);

// Calls body(T{}) with T the C++ type of `dtype`: the one place a kernel turns a dtype into a type.
template <class Body>
void dispatch_dtype(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    case DType::Int64: body(std::int64_t{}); return;
  }
}

// Same, for kernels that only make sense on floating types.
template <class Body>
void dispatch_floating(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    case DType::Int64: break;
  }
}

}  // namespace moegrad
