#include <filesystem>

#include "data/idx.h"
#include "tests/temp_directory.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::data;
using namespace moegrad::testing;

namespace {

// A raw IDX byte string: magic, big-endian dims, then `data` as given.
std::string idx_bytes(unsigned char type, const std::vector<std::uint32_t>& dims, const std::string& data) {
  std::string bytes = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t size : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((size >> shift) & 0xFF);
  }
  return bytes + data;
}

IdxArray uint8_array(const std::vector<std::int64_t>& dims, const std::vector<unsigned char>& values) {
  IdxArray array;
  array.type = IdxType::UInt8;
  array.dims = dims;
  array.bytes = values;
  return array;
}

}  // namespace

TEST_CASE("an IDX file written gzip'd reads back with the same type, dims and bytes") {
  TempDirectory dir;
  IdxArray written = uint8_array({2, 2, 3}, {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255});
  write_idx(dir.file("images-idx3-ubyte.gz"), written);
  IdxArray read = read_idx(dir.file("images-idx3-ubyte.gz"));
  CHECK(read.type == IdxType::UInt8);
  CHECK(read.dims == std::vector<std::int64_t>{2, 2, 3});
  CHECK(read.bytes == written.bytes);
  CHECK(read.numel() == 12);
  CHECK(idx_to_tensor(read).shape() == Shape{2, 2, 3});
  CHECK(idx_to_tensor(read).at({1, 1, 2}) == 255.0);
}

TEST_CASE("a plain (not gzip'd) IDX file reads the same way") {
  TempDirectory dir;
  std::string path = dir.write("labels-idx1-ubyte", idx_bytes(0x08, {3}, std::string("\x07\x00\x09", 3)));
  CHECK(idx_to_tensor(read_idx(path)).to_vector<std::int64_t>() == std::vector<std::int64_t>{7, 0, 9});
}

TEST_CASE("idx_to_tensor decodes big-endian signed integers and floats") {
  TempDirectory dir;
  // int16 -2 = ff fe, 258 = 01 02
  Tensor int16 = idx_to_tensor(read_idx(dir.write("a", idx_bytes(0x0B, {2}, std::string("\xff\xfe\x01\x02", 4)))));
  CHECK(int16.dtype() == kInt64);
  CHECK(int16.to_vector<std::int64_t>() == std::vector<std::int64_t>{-2, 258});
  // int8 -1 = ff; int32 -65536 = ff ff 00 00
  CHECK(idx_to_tensor(read_idx(dir.write("b", idx_bytes(0x09, {1}, "\xff")))).item() == -1.0);
  CHECK(idx_to_tensor(read_idx(dir.write("c", idx_bytes(0x0C, {1}, std::string("\xff\xff\x00\x00", 4))))).item() == -65536.0);
  // float32 1.5 = 3f c0 00 00; float64 -2.25 = c0 02 00 00 00 00 00 00
  Tensor float32 = idx_to_tensor(read_idx(dir.write("d", idx_bytes(0x0D, {1}, std::string("\x3f\xc0\x00\x00", 4)))));
  CHECK(float32.dtype() == kFloat32);
  CHECK(float32.item() == 1.5);
  Tensor float64 = idx_to_tensor(read_idx(dir.write("e", idx_bytes(0x0E, {1}, std::string("\xc0\x02\0\0\0\0\0\0", 8)))));
  CHECK(float64.dtype() == kFloat64);
  CHECK(float64.item() == -2.25);
}

TEST_CASE("read_idx names the path of a missing, foreign, truncated or overlong file") {
  TempDirectory dir;
  std::string missing = dir.file("nothing-here.gz");
  CHECK_THROWS_WITH_AS(read_idx(missing), doctest::Contains(std::string("[read_idx] cannot open '" + missing + "'").c_str()), Error);

  std::string foreign = dir.write("foreign", "PK\x03\x04 this is a zip file");
  CHECK_THROWS_WITH_AS(read_idx(foreign), doctest::Contains(std::string("'" + foreign + "' is not an IDX file: magic number 50 4b 03 04").c_str()),
                       Error);

  std::string bad_type = dir.write("bad-type", idx_bytes(0x07, {1}, "x"));
  CHECK_THROWS_WITH_AS(read_idx(bad_type), doctest::Contains("is not an IDX file"), Error);

  std::string tiny = dir.write("tiny", std::string("\0\0", 2));
  CHECK_THROWS_WITH_AS(read_idx(tiny), doctest::Contains(std::string("'" + tiny + "' is truncated: 2 bytes").c_str()), Error);

  std::string short_header = dir.write("short-header", std::string("\0\0\x08\x03\0\0\0\x02", 8));
  CHECK_THROWS_WITH_AS(read_idx(short_header), doctest::Contains("declares 3 dimensions but holds 4 of their 12 bytes"),
                       Error);

  std::string short_data = dir.write("short-data", idx_bytes(0x08, {2, 5}, "12345"));
  CHECK_THROWS_WITH_AS(read_idx(short_data),
                       doctest::Contains(std::string("'" + short_data + "' is truncated: dimensions [2,5] of 1-byte values declare 10 "
                                         "data bytes, the file holds 5").c_str()),
                       Error);

  std::string long_data = dir.write("long-data", idx_bytes(0x08, {2}, "123"));
  CHECK_THROWS_WITH_AS(read_idx(long_data), doctest::Contains("has bytes after the 2 data bytes its dimensions [2] declare"),
                       Error);
}

TEST_CASE("a gzip stream cut in half is an error, not a crash") {
  TempDirectory dir;
  std::vector<unsigned char> values(4000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<unsigned char>((i * 7919) % 251);
  std::string path = dir.file("cut.gz");
  write_idx(path, uint8_array({4000}, values));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  CHECK_THROWS_WITH_AS(read_idx(path), doctest::Contains(std::string("[read_idx] '" + path + "'").c_str()), Error);
}

TEST_CASE("write_idx refuses bytes that do not match the dims") {
  TempDirectory dir;
  CHECK_THROWS_WITH_AS(write_idx(dir.file("x.gz"), uint8_array({2, 3}, {1, 2, 3})),
                       doctest::Contains("[write_idx] dimensions [2,3] of 1-byte values need 6 bytes, got 3"), Error);
}

TEST_CASE("load_fashion_mnist scales pixels to [0,1], keeps labels as int64 and honours limit") {
  TempDirectory dir;
  // 3 images of 2x2 pixels
  write_idx(dir.file("train-images-idx3-ubyte.gz"), uint8_array({3, 2, 2}, {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}));
  write_idx(dir.file("train-labels-idx1-ubyte.gz"), uint8_array({3}, {9, 0, 4}));

  ImageSet all = load_fashion_mnist(dir.path(), true);
  CHECK(all.images.shape() == Shape{3, 4});
  CHECK(all.images.dtype() == kFloat32);
  CHECK(all.rows == 2);
  CHECK(all.cols == 2);
  check_close(all.images.narrow(0, 0, 1), {0.0, 1.0, 0.2, 0.4});
  CHECK(all.labels.dtype() == kInt64);
  CHECK(all.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{9, 0, 4});

  ImageSet first_two = load_fashion_mnist(dir.path(), true, 2);
  CHECK(first_two.images.shape() == Shape{2, 4});
  CHECK(first_two.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{9, 0});
  CHECK(load_fashion_mnist(dir.path(), true, 100).images.shape() == Shape{3, 4});
  CHECK(fashion_mnist_class_names().size() == 10);
}

TEST_CASE("load_fashion_mnist explains a missing set, mismatched counts, bad labels and a bad limit") {
  TempDirectory dir;
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path(), false),
                       doctest::Contains("t10k-images-idx3-ubyte.gz' not found: install Debian's dataset-fashion-mnist"),
                       Error);
  write_idx(dir.file("train-images-idx3-ubyte.gz"), uint8_array({2, 1, 1}, {1, 2}));
  write_idx(dir.file("train-labels-idx1-ubyte.gz"), uint8_array({3}, {1, 2, 3}));
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path()), doctest::Contains("should hold 2 uint8 labels to match the images"),
                       Error);
  write_idx(dir.file("train-labels-idx1-ubyte.gz"), uint8_array({2}, {1, 12}));
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path()), doctest::Contains("label 1 is 12, expected a class in [0, 10)"),
                       Error);
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path(), true, 0), doctest::Contains("limit must be -1 (all images) or positive"),
                       Error);
}

TEST_CASE("the installed Fashion-MNIST has 60,000 training and 10,000 test images of 28x28 with 10 classes") {
  if (!std::filesystem::exists(std::string(kFashionMnistDirectory) + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed");
    return;
  }
  ImageSet train = load_fashion_mnist(kFashionMnistDirectory, true);
  ImageSet test = load_fashion_mnist(kFashionMnistDirectory, false);
  CHECK(train.images.shape() == Shape{60000, 784});
  CHECK(test.images.shape() == Shape{10000, 784});
  CHECK(train.rows == 28);
  CHECK(train.cols == 28);
  CHECK(min(train.labels).item() == 0.0);
  CHECK(max(train.labels).item() == 9.0);
  CHECK(min(test.images).item() >= 0.0);
  CHECK(max(test.images).item() <= 1.0);
  // Fashion-MNIST's training set is balanced: 6,000 images per class.
  CHECK(sum(eq(train.labels, scalar(3.0, kInt64))).item() == 6000.0);
}
