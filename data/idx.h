// IDX files, the format of MNIST and Fashion-MNIST (LeCun et al., "The MNIST database"):
//   bytes 0-1  zero
//   byte  2    type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
//   byte  3    number of dimensions D
//   then D big-endian uint32 sizes, then the values in row-major order, big-endian.
// Files may be gzip'd (as Debian ships Fashion-MNIST); zlib reads plain files through the same
// calls, so both work. A file must hold exactly the bytes its header declares: a short file, a
// file with trailing bytes or a wrong magic number is an error naming the path.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad::data {

enum class IdxType : std::uint8_t {
  UInt8 = 0x08,
  Int8 = 0x09,
  Int16 = 0x0B,
  Int32 = 0x0C,
  Float32 = 0x0D,
  Float64 = 0x0E,
};

// Bytes per value of an IDX type.
std::int64_t idx_element_size(IdxType type);

// One IDX file as stored: its type, its dimensions and its raw (big-endian) value bytes.
struct IdxArray {
  IdxType type = IdxType::UInt8;
  std::vector<std::int64_t> dims;
  std::vector<unsigned char> bytes;

  std::int64_t numel() const;  // product of dims (1 for no dims)
};

IdxArray read_idx(const std::string& path);
// Writes gzip'd when the path ends in ".gz", plain otherwise. bytes.size() must match dims.
void write_idx(const std::string& path, const IdxArray& array);
// Values as a tensor of shape dims: integer types become int64, float32 and float64 keep their type.
Tensor idx_to_tensor(const IdxArray& array);

// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 28x28 grey images of 10 kinds of clothing.
inline constexpr const char* kFashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

struct ImageSet {
  Tensor images;  // (N, rows*cols) float32, pixel / 255 in [0, 1]
  Tensor labels;  // (N) int64 in [0, 10)
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

// The training set (60,000 images) or, with train = false, the test set (10,000); limit > 0 keeps
// only the first `limit` images, -1 keeps all.
ImageSet load_fashion_mnist(const std::string& directory = kFashionMnistDirectory, bool train = true,
                            std::int64_t limit = -1);

// "T-shirt/top", "Trouser", ... in label order.
const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace moegrad::data
