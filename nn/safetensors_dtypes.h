// The dtypes a safetensors file may name, and how each becomes one of moegrad's four. F32, F64,
// BF16 and I64 are moegrad's own and load as they are. The others load only when the caller opts in
// (LoadOptions::convert_dtypes), because the tensor comes back in another dtype than the file's:
//   F16                            -> float32 (exact: every half value is a float)
//   BOOL, U8, I8, I16, U16, I32, U32 -> int64 (exact)
// U64 (values past INT64_MAX) and the 8-bit floats have no lossless moegrad dtype: an error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tensor/dtype.h"

namespace moegrad::nn {

struct FileDType {
  std::string name;           // as the file spells it: "BF16"
  std::size_t element_bytes;  // in the file
  std::optional<DType> loads_as;  // the moegrad dtype it becomes; none: cannot be loaded
  bool exact_match;           // loads_as is the file's own dtype (no conversion)
};

// A dtype of the safetensors format, known or not to moegrad; nothing for a name the format lacks.
std::optional<FileDType> file_dtype(const std::string& name);

// The safetensors name of a moegrad dtype: "F32", "F64", "BF16", "I64".
const char* file_dtype_name(DType dtype);

// Converts `count` little-endian elements of `from` at `source` into `target` (contiguous, of
// dtype from.loads_as).
void convert_elements(const FileDType& from, const char* source, std::int64_t count, void* target);

}  // namespace moegrad::nn
