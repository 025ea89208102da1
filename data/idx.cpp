#include "data/idx.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::data {

namespace {

// gzclose on scope exit, so every error path below releases the file.
struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

GzFile open_gz(const char* op, const std::string& path, const char* mode) {
  errno = 0;
  gzFile file = gzopen(path.c_str(), mode);
  if (file == nullptr) {
    throw Error(fmt::format("[{}] cannot open '{}': {}", op, path, errno ? std::strerror(errno) : "zlib error"));
  }
  return GzFile(file);
}

// Reads up to `count` bytes, fewer only at the end of the file; a corrupt gzip stream is an error.
std::int64_t read_bytes(gzFile file, const std::string& path, unsigned char* out, std::int64_t count) {
  constexpr std::int64_t kChunk = 1 << 20;  // gzread takes an unsigned int length
  std::int64_t done = 0;
  while (done < count) {
    int want = static_cast<int>(std::min(kChunk, count - done));
    int got = gzread(file, out + done, static_cast<unsigned>(want));
    if (got < 0) {
      int code = 0;
      throw Error(fmt::format("[read_idx] '{}' is not a readable (gzip) file: {}", path, gzerror(file, &code)));
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

std::uint32_t big_endian_u32(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

bool is_known_type(unsigned char code) {
  return code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D || code == 0x0E;
}

// Value `index` of a big-endian array of `size`-byte values, as the unsigned integer of its bits.
std::uint64_t big_endian_bits(const unsigned char* bytes, std::int64_t index, std::int64_t size) {
  std::uint64_t bits = 0;
  for (std::int64_t b = 0; b < size; ++b) bits = (bits << 8) | bytes[index * size + b];
  return bits;
}

std::string hex_byte(unsigned value) {
  const char* digits = "0123456789abcdef";
  return {digits[(value >> 4) & 0xF], digits[value & 0xF]};
}

std::string dims_str(const std::vector<std::int64_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(dims[i]);
  }
  return text + "]";
}

}  // namespace

std::int64_t idx_element_size(IdxType type) {
  switch (type) {
    case IdxType::UInt8:
    case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32:
    case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
  }
  throw Error(fmt::format("[idx] unknown IDX type code 0x{}", hex_byte(static_cast<unsigned>(type))));
}

std::int64_t IdxArray::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path) {
  GzFile file = open_gz("read_idx", path, "rb");

  // Magic number: two zero bytes, the type code, the number of dimensions.
  unsigned char magic[4];
  std::int64_t got = read_bytes(file.get(), path, magic, 4);
  if (got < 4) throw Error(fmt::format("[read_idx] '{}' is truncated: {} bytes, shorter than the 4-byte magic number", path, got));
  if (magic[0] != 0 || magic[1] != 0 || !is_known_type(magic[2]) || magic[3] == 0) {
    throw Error(fmt::format("[read_idx] '{}' is not an IDX file: magic number {} {} {} {}, expected "
                            "00 00 <type 08/09/0b/0c/0d/0e> <dimensions >= 1>",
                            path, hex_byte(magic[0]), hex_byte(magic[1]), hex_byte(magic[2]), hex_byte(magic[3])));
  }
  IdxArray array;
  array.type = static_cast<IdxType>(magic[2]);
  int dimension_count = magic[3];

  // Dimensions, each a big-endian uint32.
  std::vector<unsigned char> header(4 * static_cast<std::size_t>(dimension_count));
  got = read_bytes(file.get(), path, header.data(), static_cast<std::int64_t>(header.size()));
  if (got < static_cast<std::int64_t>(header.size())) {
    throw Error(fmt::format("[read_idx] '{}' is truncated: the header declares {} dimensions but holds {} of their {} bytes",
                            path, dimension_count, got, header.size()));
  }
  std::int64_t element_size = idx_element_size(array.type);
  std::int64_t byte_count = element_size;
  for (int d = 0; d < dimension_count; ++d) {
    std::int64_t size = big_endian_u32(&header[4 * static_cast<std::size_t>(d)]);
    array.dims.push_back(size);
    if (size != 0 && byte_count > std::numeric_limits<std::int64_t>::max() / size) {
      throw Error(fmt::format("[read_idx] '{}' declares dimensions {} whose byte count overflows", path, dims_str(array.dims)));
    }
    byte_count *= size;
  }

  // Values: exactly byte_count bytes, then the end of the file. Read in chunks into a growing
  // buffer, so a header that lies about huge sizes fails at the end of the data, not at allocation.
  constexpr std::int64_t kChunk = 1 << 22;
  while (static_cast<std::int64_t>(array.bytes.size()) < byte_count) {
    std::int64_t have = static_cast<std::int64_t>(array.bytes.size());
    std::int64_t want = std::min(kChunk, byte_count - have);
    array.bytes.resize(static_cast<std::size_t>(have + want));
    std::int64_t read = read_bytes(file.get(), path, array.bytes.data() + have, want);
    if (read < want) {
      throw Error(fmt::format("[read_idx] '{}' is truncated: dimensions {} of {}-byte values declare {} data bytes, the file "
                              "holds {}",
                              path, dims_str(array.dims), element_size, byte_count, have + read));
    }
  }
  unsigned char extra[1];
  if (read_bytes(file.get(), path, extra, 1) != 0) {
    throw Error(fmt::format("[read_idx] '{}' has bytes after the {} data bytes its dimensions {} declare", path, byte_count,
                            dims_str(array.dims)));
  }
  return array;
}

void write_idx(const std::string& path, const IdxArray& array) {
  std::int64_t expected = array.numel() * idx_element_size(array.type);
  if (array.dims.empty() || array.dims.size() > 255 || static_cast<std::int64_t>(array.bytes.size()) != expected) {
    throw Error(fmt::format("[write_idx] dimensions {} of {}-byte values need {} bytes, got {} (and 1 to 255 dimensions)",
                            dims_str(array.dims), idx_element_size(array.type), expected, array.bytes.size()));
  }
  bool gzip = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  GzFile file = open_gz("write_idx", path, gzip ? "wb" : "wbT");  // "T": write without compression

  std::vector<unsigned char> header = {0, 0, static_cast<unsigned char>(array.type),
                                       static_cast<unsigned char>(array.dims.size())};
  for (std::int64_t size : array.dims) {
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<unsigned char>(size >> shift));
  }
  auto write = [&](const unsigned char* bytes, std::size_t count) {
    for (std::size_t done = 0; done < count;) {
      unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(count - done, 1 << 20));
      if (gzwrite(file.get(), bytes + done, chunk) != static_cast<int>(chunk)) {
        int code = 0;
        throw Error(fmt::format("[write_idx] writing '{}' failed: {}", path, gzerror(file.get(), &code)));
      }
      done += chunk;
    }
  };
  write(header.data(), header.size());
  write(array.bytes.data(), array.bytes.size());
  if (gzclose(file.release()) != Z_OK) throw Error(fmt::format("[write_idx] closing '{}' failed", path));
}

Tensor idx_to_tensor(const IdxArray& array) {
  const unsigned char* bytes = array.bytes.data();
  std::int64_t n = array.numel();
  switch (array.type) {
    case IdxType::Float32: {
      std::vector<float> values(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        auto bits = static_cast<std::uint32_t>(big_endian_bits(bytes, i, 4));
        std::memcpy(&values[static_cast<std::size_t>(i)], &bits, 4);
      }
      return from_vector(values, array.dims);
    }
    case IdxType::Float64: {
      std::vector<double> values(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint64_t bits = big_endian_bits(bytes, i, 8);
        std::memcpy(&values[static_cast<std::size_t>(i)], &bits, 8);
      }
      return from_vector(values, array.dims);
    }
    default: break;
  }
  // Integer types: sign-extend the signed ones.
  std::int64_t size = idx_element_size(array.type);
  std::vector<std::int64_t> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint64_t bits = big_endian_bits(bytes, i, size);
    switch (array.type) {
      case IdxType::Int8: values[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(bits); break;
      case IdxType::Int16: values[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(bits); break;
      case IdxType::Int32: values[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(bits); break;
      default: values[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(bits); break;
    }
  }
  return from_vector(values, array.dims);
}

ImageSet load_fashion_mnist(const std::string& directory, bool train, std::int64_t limit) {
  if (limit == 0 || limit < -1) {
    throw Error(fmt::format("[load_fashion_mnist] limit must be -1 (all images) or positive, got {}", limit));
  }
  std::string prefix = directory + (train ? "/train" : "/t10k");
  std::string images_path = prefix + "-images-idx3-ubyte.gz", labels_path = prefix + "-labels-idx1-ubyte.gz";
  for (const std::string& path : {images_path, labels_path}) {
    if (!std::filesystem::exists(path)) {
      throw Error(fmt::format("[load_fashion_mnist] '{}' not found: install Debian's dataset-fashion-mnist package "
                              "(tools/install_deps.sh) or pass the directory that holds the files",
                              path));
    }
  }
  IdxArray images = read_idx(images_path), labels = read_idx(labels_path);
  if (images.type != IdxType::UInt8 || images.dims.size() != 3) {
    throw Error(fmt::format("[load_fashion_mnist] '{}' should hold uint8 images (N, rows, cols), got type 0x{} dims {}",
                            images_path, hex_byte(static_cast<unsigned>(images.type)), dims_str(images.dims)));
  }
  if (labels.type != IdxType::UInt8 || labels.dims.size() != 1 || labels.dims[0] != images.dims[0]) {
    throw Error(fmt::format("[load_fashion_mnist] '{}' should hold {} uint8 labels to match the images, got type 0x{} "
                            "dims {}",
                            labels_path, images.dims[0], hex_byte(static_cast<unsigned>(labels.type)), dims_str(labels.dims)));
  }

  std::int64_t count = limit < 0 ? images.dims[0] : std::min(limit, images.dims[0]);
  std::int64_t pixels = images.dims[1] * images.dims[2];
  ImageSet set;
  set.rows = images.dims[1];
  set.cols = images.dims[2];
  set.images = Tensor::empty({count, pixels}, kFloat32);
  float* image_values = set.images.data<float>();
  for (std::int64_t i = 0; i < count * pixels; ++i) {
    image_values[i] = static_cast<float>(images.bytes[static_cast<std::size_t>(i)]) / 255.0f;
  }
  std::vector<std::int64_t> label_values(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    label_values[static_cast<std::size_t>(i)] = labels.bytes[static_cast<std::size_t>(i)];
    if (label_values[static_cast<std::size_t>(i)] >= 10) {
      throw Error(fmt::format("[load_fashion_mnist] '{}' label {} is {}, expected a class in [0, 10)", labels_path, i,
                              label_values[static_cast<std::size_t>(i)]));
    }
  }
  set.labels = from_vector(label_values);
  return set;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace moegrad::data
