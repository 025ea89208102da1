#include "tensor/dtype.h"

#include "tensor/errors.h"

namespace moegrad {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::BFloat16: return "bfloat16";
  }
  return "unknown";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::BFloat16: return 2;
  }
  return 0;
}

bool is_floating(DType dtype) { return dtype != DType::Int64; }

DType promote_types(DType a, DType b) {
  if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
  if (a == DType::Float32 || b == DType::Float32) return DType::Float32;
  if (a == DType::BFloat16 || b == DType::BFloat16) return DType::BFloat16;
  return DType::Int64;
}

void throw_no_bfloat16_kernel() {
  throw DTypeError(
      "[kernel] a bfloat16 tensor reached a kernel written for float32/float64/int64 only; bfloat16 ops run "
      "through tensor/bfloat16_compute.h on the CPU (expected: a CPU tensor, or cast with .to(kFloat32))");
}

}  // namespace moegrad
