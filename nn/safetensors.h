// The safetensors file format (huggingface/safetensors), so PyTorch users open moegrad weights and
// moegrad opens theirs. A file is:
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  a JSON object: for each tensor {"dtype": "F32", "shape": [2,3], "data_offsets": [b, e]},
//              plus an optional "__metadata__": {string: string}; padded with spaces to a multiple of 8
//   [rest]     the data section: each tensor's row-major little-endian bytes at [b, e)
//
// moegrad writes the dtypes it has (F32, F64, I64) and reads those; F16, BF16 and the integer
// dtypes load converted when asked (LoadOptions; nn/safetensors_dtypes.h lists them). The loader
// trusts nothing in a file: before parsing, the header's nesting depth (128), array lengths (1024)
// and tensor count (100,000) are checked, so a hostile header cannot take gigabytes; a NUL in the
// header and a key twice in one object are refused, as the reference reader does; every size and
// offset is checked before a byte is copied, and the tensors' regions must tile the data section
// exactly (no holes, no overlaps, nothing after the last one). Every problem is a moegrad::Error
// whose message starts with "[load_safetensors] <path>:" (a DTypeError for a dtype, else IoError).
#pragma once
#include <functional>
#include <map>
#include <string>

#include "tensor/errors.h"
#include "tensor/tensor.h"

namespace moegrad::nn {

// A file that cannot be opened, read or written, or whose content is not a valid safetensors file.
// (A dtype that cannot be loaded, such as "F8_E4M3", is a moegrad::DTypeError instead.)
struct IoError : Error {
  using Error::Error;
};

struct LoadOptions {
  // Load F16/BF16 as float32 and BOOL/U8/I8/I16/U16/I32/U32 as int64. Without it such a tensor is
  // a DTypeError naming the tensor and its dtype: the tensor would come back in another dtype.
  bool convert_dtypes = false;
};

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes the tensors (any device: they are copied to the CPU first) in sorted name order, atomically
// (see write_file_atomically). The name "__metadata__" is reserved by the format. The metadata gets
// "format": "pt" unless it holds a "format" already (Hugging Face loaders require the key).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
SafetensorsFile load_safetensors(const std::string& path, const LoadOptions& options = {});

// The same, in memory: the bytes of a file and back. `name_for_errors` stands for the path in messages.
std::string safetensors_bytes(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
SafetensorsFile load_safetensors_from_bytes(const std::string& bytes, const std::string& name_for_errors,
                                            const LoadOptions& options = {});

// Replaces the file at `path` with `bytes` so that a reader sees either the old file or the new
// one, never a mix: the bytes go to `path + ".tmp-<pid>"` in the same directory, are fsync'ed, the
// temp file is renamed over the target, and the directory is fsync'ed so the rename itself is
// durable. If anything fails (or the process dies) before the rename, the old file is untouched;
// on a failure the temp file is removed. `op` names the caller in error messages.
// `after_half_written(temp_path)` runs once half of the bytes are in the temp file: tests throw
// from it to simulate a save that dies half-way.
void write_file_atomically(const std::string& path, const std::string& bytes, const std::string& op,
                           const std::function<void(const std::string& temp_path)>& after_half_written = {});

// The whole file in memory (checkpoints here are small). Throws IoError naming `op` and the path.
std::string read_file_bytes(const std::string& path, const std::string& op);

}  // namespace moegrad::nn
