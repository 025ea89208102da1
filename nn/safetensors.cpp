// safetensors reading and writing; the format is described in nn/safetensors.h. The loader works in
// two passes: it first reads the header into a list of entries and checks each size and offset
// against the data section, and only then allocates tensors and copies bytes, so a file that lies
// can never make it read outside what it holds.
#include "nn/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <tuple>
#include <vector>

#include "nn/safetensors_dtypes.h"
#include "nn/safetensors_json.h"

namespace moegrad::nn {

// The data section is little-endian and we copy it byte for byte.
static_assert(std::endian::native == std::endian::little, "moegrad's safetensors code assumes a little-endian host");

namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
const std::string kMetadataKey = "__metadata__";

// A piece of the header for an error message: enough to recognise, never megabytes. Nested
// values are described, not printed: dump() recurses, and a hostile header can nest a million deep.
std::string excerpt(const json& value) {
  const bool flat = !value.is_structured() || (value.is_array() && std::none_of(value.begin(), value.end(),
                                                                                [](const json& item) {
                                                                                  return item.is_structured();
                                                                                }));
  if (!flat) return fmt::format("a JSON {} of {} entries", value.type_name(), value.size());
  std::string text = value.dump();
  return text.size() <= 80 ? text : text.substr(0, 77) + "...";
}

// ---------------- reading ----------------

// One tensor as the header describes it, checked against the data section but not yet copied.
struct Entry {
  std::string name;
  FileDType file_dtype;  // as stored
  DType dtype;           // as loaded
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

[[noreturn]] void fail_load(const std::string& where, const std::string& what) {
  throw IoError(fmt::format("[load_safetensors] {}: {}", where, what));
}

// Reads header entries of a file (`where`, for messages) whose data section has data_bytes bytes.
class HeaderReader {
 public:
  HeaderReader(const std::string& where, std::uint64_t data_bytes, const LoadOptions& options)
      : where_(where), data_bytes_(data_bytes), options_(options) {}

  [[noreturn]] void fail(const std::string& what) const { fail_load(where_, what); }

  Entry read_entry(const std::string& name, const json& value) const {
    if (!value.is_object()) {
      fail(fmt::format("the entry of tensor '{}' must be an object with dtype, shape and data_offsets, got {}", name,
                       excerpt(value)));
    }
    Entry entry;
    entry.name = name;
    entry.file_dtype = read_dtype(name, field(name, value, "dtype"));
    entry.dtype = *entry.file_dtype.loads_as;
    entry.shape = read_shape(name, field(name, value, "shape"));
    read_offsets(entry, field(name, value, "data_offsets"));
    return entry;
  }

 private:
  const json& field(const std::string& name, const json& entry, const char* key) const {
    auto found = entry.find(key);
    if (found == entry.end()) fail(fmt::format("the entry of tensor '{}' has no \"{}\" field", name, key));
    return *found;
  }

  // A dtype moegrad has, or one it converts from when the options allow; otherwise a DTypeError
  // naming the tensor, so the caller knows which tensor and why.
  FileDType read_dtype(const std::string& name, const json& value) const {
    if (!value.is_string()) fail(fmt::format("the dtype of tensor '{}' must be a string, got {}", name, excerpt(value)));
    const std::string& text = value.get_ref<const std::string&>();
    std::optional<FileDType> dtype = file_dtype(text);
    auto refuse = [&](const std::string& why) {
      throw DTypeError(fmt::format("[load_safetensors] {}: tensor '{}' has dtype {}, {}", where_, name, excerpt(value), why));
    };
    if (!dtype) refuse("which is not a safetensors dtype");
    if (!dtype->loads_as) refuse("which moegrad cannot load without losing values (it has F32, F64, BF16 and I64)");
    if (!dtype->exact_match && !options_.convert_dtypes) {
      refuse(fmt::format("which moegrad holds as {}: load with LoadOptions{{.convert_dtypes = true}} to convert it",
                         dtype_name(*dtype->loads_as)));
    }
    return *dtype;
  }

  // Every dimension a non-negative integer, and the element count (ignoring zero dimensions, so
  // that [0, 2^40, 2^40] is refused too: its strides would not fit in 64 bits) within int64.
  Shape read_shape(const std::string& name, const json& value) const {
    if (!value.is_array()) fail(fmt::format("the shape of tensor '{}' must be an array, got {}", name, excerpt(value)));
    Shape shape;
    std::int64_t product = 1;
    for (const json& dimension : value) {
      if (!dimension.is_number_unsigned()) {
        fail(fmt::format("the shape {} of tensor '{}' must hold non-negative integers", excerpt(value), name));
      }
      if (dimension.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(fmt::format("the shape {} of tensor '{}' has a dimension {} too large for a 64-bit signed size",
                         excerpt(value), name, dimension.get<std::uint64_t>()));
      }
      std::int64_t size = static_cast<std::int64_t>(dimension.get<std::uint64_t>());
      if (__builtin_mul_overflow(product, std::max<std::int64_t>(size, 1), &product)) {
        fail(fmt::format("the shape {} of tensor '{}' has more elements than fit in 64 bits", excerpt(value), name));
      }
      shape.push_back(size);
    }
    return shape;
  }

  // [begin, end) inside the data section, holding exactly numel * dtype-size bytes.
  void read_offsets(Entry& entry, const json& value) const {
    const bool well_formed = value.is_array() && value.size() == 2 && value[0].is_number_unsigned() &&
                             value[1].is_number_unsigned();
    if (!well_formed) {
      fail(fmt::format("the data_offsets of tensor '{}' must be two non-negative integers [begin, end], got {}",
                       entry.name, excerpt(value)));
    }
    entry.begin = value[0].get<std::uint64_t>();
    entry.end = value[1].get<std::uint64_t>();
    if (entry.end < entry.begin) {
      fail(fmt::format("the data_offsets {} of tensor '{}' end before they begin", excerpt(value), entry.name));
    }
    if (entry.end > data_bytes_) {
      fail(fmt::format("the data_offsets {} of tensor '{}' reach past the end of the data section ({} bytes)",
                       excerpt(value), entry.name, data_bytes_));
    }
    const std::uint64_t held = entry.end - entry.begin, element = entry.file_dtype.element_bytes;
    const std::uint64_t numel = static_cast<std::uint64_t>(numel_of(entry.shape));  // fits: checked in read_shape
    if (held % element != 0 || held / element != numel) {
      fail(fmt::format("tensor '{}' of dtype {} and shape {} needs {} elements of {} bytes, but its data_offsets {} "
                       "hold {} bytes",
                       entry.name, entry.file_dtype.name, shape_str(entry.shape), numel, element,
                       excerpt(value), held));
    }
  }

  std::string where_;
  std::uint64_t data_bytes_;
  LoadOptions options_;
};

std::map<std::string, std::string> read_metadata(const HeaderReader& reader, const json& value) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;  // the reference writer's "no metadata"
  if (!value.is_object()) reader.fail(fmt::format("__metadata__ must be an object, got {}", excerpt(value)));
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      reader.fail(fmt::format("__metadata__ must map strings to strings, but '{}' holds {}", key, excerpt(item)));
    }
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// The regions must tile the data section: sorted by offset, each begins where the previous ended
// (empty tensors take no room and may share an offset), and the last ends at the section's end.
void check_regions_tile(const HeaderReader& reader, std::vector<Entry> entries, std::uint64_t data_bytes) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered) {
      reader.fail(fmt::format("tensors '{}' [{}, {}) and '{}' [{}, {}) overlap in the data section", previous->name,
                              previous->begin, previous->end, entry.name, entry.begin, entry.end));
    }
    if (entry.begin > covered) {
      reader.fail(fmt::format("bytes [{}, {}) of the data section belong to no tensor (before '{}')", covered,
                              entry.begin, entry.name));
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_bytes) {
    reader.fail(fmt::format("the data section has {} bytes but the tensors cover only the first {}: {} bytes of "
                            "trailing data",
                            data_bytes, covered, data_bytes - covered));
  }
}

// ---------------- writing ----------------

std::string serialize(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& metadata,
                      const std::string& where) {
  json header = json::object();
  std::vector<Tensor> host_tensors;  // contiguous CPU copies, in name order
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) {
      throw Error(fmt::format("[save_safetensors] {}: the tensor name \"__metadata__\" is reserved by the format", where));
    }
    if (!tensor.defined()) throw Error(fmt::format("[save_safetensors] {}: tensor '{}' is undefined", where, name));
    Tensor host = tensor.detach().to(cpu()).contiguous();
    const std::uint64_t bytes = static_cast<std::uint64_t>(host.numel()) * dtype_size(host.dtype());
    header[name] = {{"dtype", file_dtype_name(host.dtype())},
                    {"shape", host.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    host_tensors.push_back(host);
  }
  // "format": "pt" unless the caller says otherwise: PyTorch's writer puts it there, and Hugging Face
  // loaders (transformers' from_pretrained) refuse a file without it.
  std::map<std::string, std::string> full_metadata = metadata;
  full_metadata.emplace("format", "pt");
  header[kMetadataKey] = full_metadata;

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const json::exception& error) {
    throw Error(fmt::format("[save_safetensors] {}: tensor names and metadata must be valid UTF-8 ({})", where,
                            error.what()));
  }
  // Spaces after the JSON keep the data section 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  const std::uint64_t header_length = header_text.size();
  out.append(reinterpret_cast<const char*>(&header_length), 8);
  out += header_text;
  for (const Tensor& host : host_tensors) {
    const std::size_t bytes = static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype());
    if (bytes > 0) out.append(static_cast<const char*>(host.data_ptr()), bytes);
  }
  return out;
}

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw std::system_error(errno, std::generic_category(), "write");
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

// Owns the temp file until the rename: closes it and, unless committed, deletes it on the way out.
struct TempFile {
  std::string path;
  int fd = -1;
  bool committed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed) ::unlink(path.c_str());
  }
};

}  // namespace

// ---------------- public functions ----------------

SafetensorsFile load_safetensors_from_bytes(const std::string& bytes, const std::string& name_for_errors,
                                            const LoadOptions& options) {
  const std::string& where = name_for_errors;
  if (bytes.size() < 8) {
    fail_load(where, fmt::format("the file has {} bytes, fewer than the 8 that hold the header length", bytes.size()));
  }
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  if (header_length > kMaxHeaderBytes) {
    fail_load(where, fmt::format("the header length {} is over the {}-byte limit", header_length, kMaxHeaderBytes));
  }
  if (header_length > bytes.size() - 8) {
    fail_load(where, fmt::format("the header length {} runs past the end of the file ({} bytes)", header_length,
                                 bytes.size()));
  }

  const json header = parse_header(where, bytes.data() + 8, bytes.data() + 8 + header_length);
  if (!header.is_object()) fail_load(where, fmt::format("the header must be a JSON object, got {}", excerpt(header)));

  // Pass 1: read and check every entry against the data section.
  const std::uint64_t data_start = 8 + header_length, data_bytes = bytes.size() - data_start;
  HeaderReader reader(where, data_bytes, options);
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      file.metadata = read_metadata(reader, value);
    } else {
      entries.push_back(reader.read_entry(name, value));
    }
  }
  check_regions_tile(reader, entries, data_bytes);

  // Pass 2: every region is known to lie inside the data section; copy.
  for (const Entry& entry : entries) {
    Tensor tensor = Tensor::empty(entry.shape, entry.dtype, cpu(), "load_safetensors");
    if (entry.end > entry.begin) {
      convert_elements(entry.file_dtype, bytes.data() + data_start + entry.begin, tensor.numel(), tensor.data_ptr());
    }
    file.tensors[entry.name] = tensor;
  }
  return file;
}

SafetensorsFile load_safetensors(const std::string& path, const LoadOptions& options) {
  return load_safetensors_from_bytes(read_file_bytes(path, "load_safetensors"), path, options);
}

std::string safetensors_bytes(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  return serialize(tensors, metadata, "(in memory)");
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, serialize(tensors, metadata, path), "save_safetensors");
}

void write_file_atomically(const std::string& path, const std::string& bytes, const std::string& op,
                           const std::function<void(const std::string& temp_path)>& after_half_written) {
  // Messages are formatted where the call failed, before any cleanup can change errno.
  auto failure = [&](const std::string& what, int error_number) {
    return IoError(fmt::format("[{}] {}: {} ({})", op, path, what, std::strerror(error_number)));
  };
  TempFile temp{fmt::format("{}.tmp-{}", path, ::getpid())};
  temp.fd = ::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (temp.fd < 0) {
    temp.committed = true;  // nothing was created, nothing to delete
    throw failure("cannot create the temp file " + temp.path, errno);
  }
  const std::size_t half = bytes.size() / 2;
  try {
    write_all(temp.fd, bytes.data(), half);
    if (after_half_written) after_half_written(temp.path);
    write_all(temp.fd, bytes.data() + half, bytes.size() - half);
  } catch (const std::system_error& error) {
    throw failure("cannot write the temp file " + temp.path, error.code().value());
  }
  // fsync before rename: otherwise a crash soon after could leave the new name on empty blocks.
  if (::fsync(temp.fd) != 0) throw failure("cannot flush the temp file " + temp.path + " to disk", errno);
  const int fd = temp.fd;
  temp.fd = -1;
  if (::close(fd) != 0) throw failure("cannot close the temp file " + temp.path, errno);
  if (::rename(temp.path.c_str(), path.c_str()) != 0) throw failure("cannot rename " + temp.path + " over it", errno);
  temp.committed = true;

  // The rename lives in the directory: sync it too so the new file survives a power cut.
  // Some file systems cannot sync a directory (EINVAL); there is nothing more to do on those.
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) throw failure("cannot open the directory " + directory + " to sync it", errno);
  const int synced = ::fsync(directory_fd);
  const int sync_error = errno;
  ::close(directory_fd);
  if (synced != 0 && sync_error != EINVAL) throw failure("cannot sync the directory " + directory, sync_error);
}

std::string read_file_bytes(const std::string& path, const std::string& op) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    const bool exists = std::filesystem::exists(path, error);
    throw IoError(fmt::format("[{}] {}: {}", op, path, exists ? "not a regular file" : "no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("[{}] {}: cannot open the file ({})", op, path, std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw IoError(fmt::format("[{}] {}: cannot find the file's size", op, path));
  in.seekg(0, std::ios::beg);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), size)) throw IoError(fmt::format("[{}] {}: cannot read the file", op, path));
  return bytes;
}

}  // namespace moegrad::nn
