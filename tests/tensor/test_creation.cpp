#include <sstream>

#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("zeros, ones, full, arange and from_vector make the values asked for") {
  check_close(zeros({2, 2}), {0, 0, 0, 0});
  check_close(ones({3}, kFloat64), {1, 1, 1});
  check_close(full({2}, 7.5), {7.5, 7.5});
  check_close(arange(0.0, 1.0, 0.25), {0, 0.25, 0.5, 0.75});
  CHECK(arange(5).dtype() == kInt64);
  check_close(arange(5), {0, 1, 2, 3, 4});
  Tensor m = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(m.at({1, 2}) == 6.0);
  CHECK(m.at({-1, -1}) == 6.0);
  CHECK(scalar(3.0).dim() == 0);
  CHECK(scalar(3.0).item() == 3.0);
  CHECK(from_vector(std::vector<std::int64_t>{4, 5}).to_vector<std::int64_t>() == std::vector<std::int64_t>{4, 5});
}

TEST_CASE("creation errors are clear") {
  CHECK_THROWS_WITH_AS(from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                       doctest::Contains("[from_vector] 3 values cannot fill shape [2,2]"), ShapeError);
  CHECK_THROWS_AS(zeros({-1}), ShapeError);
  CHECK_THROWS_AS(arange(0.0, 1.0, 0.0), Error);
  CHECK_THROWS_WITH_AS(ones({2}).item(), doctest::Contains("[item] expects a tensor with exactly one element"), ShapeError);
  CHECK_THROWS_AS(ones({2}).at({2}), IndexError);
}

TEST_CASE("a shape whose size does not fit in 64 bits is a ShapeError naming the op and the shape") {
  // 2^31 x 2^31 elements fit in int64, but times 4 bytes is 2^64: the byte count is what wraps.
  CHECK_THROWS_WITH_AS(zeros({std::int64_t{1} << 31, std::int64_t{1} << 31}),
                       doctest::Contains("[zeros] shape [2147483648,2147483648] of 4-byte elements needs more bytes"),
                       ShapeError);
  // 2^80 elements: the element count itself wraps.
  CHECK_THROWS_WITH_AS(zeros({std::int64_t{1} << 40, std::int64_t{1} << 40}),
                       doctest::Contains("[zeros] shape [1099511627776,1099511627776] has more elements than fit"),
                       ShapeError);
  // No elements, but the strides of the two big axes would still wrap.
  CHECK_THROWS_WITH_AS(ones({0, std::int64_t{1} << 40, std::int64_t{1} << 40}, kInt64), doctest::Contains("[ones]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(full({std::int64_t{1} << 62, 2}, 1.0, kFloat64), doctest::Contains("[full]"), ShapeError);
  Generator generator(0);
  CHECK_THROWS_WITH_AS(randn({std::int64_t{1} << 62, 4}, generator), doctest::Contains("[normal]"), ShapeError);
  CHECK_THROWS_WITH_AS(Tensor::empty({std::int64_t{1} << 61}, kFloat64), doctest::Contains("[empty]"), ShapeError);
  CHECK_THROWS_WITH_AS(numel_of({std::int64_t{1} << 32, std::int64_t{1} << 32}), doctest::Contains("[numel]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(arange(0.0, 1e300, 1.0), doctest::Contains("[arange]"), Error);
  CHECK_THROWS_AS(zeros({2}).reshape({std::int64_t{1} << 32, std::int64_t{1} << 32}), ShapeError);
  // The largest shapes that do fit are still fine to describe (no allocation for zero elements).
  CHECK(zeros({0, std::int64_t{1} << 40}).numel() == 0);
}

TEST_CASE("the same seed gives the same numbers, another seed different ones") {
  Generator a(42), b(42), c(43);
  CHECK(randn({100}, a).to_vector<float>() == randn({100}, b).to_vector<float>());
  CHECK(randn({100}, a).to_vector<float>() != randn({100}, c).to_vector<float>());
}

TEST_CASE("element i of a draw depends only on the seed and the counter, not on how the draw is split") {
  Generator whole(7), parts(7);
  std::vector<double> all = rand({10}, whole, kFloat64).to_vector<double>();
  std::vector<double> first = rand({4}, parts, kFloat64).to_vector<double>();
  std::vector<double> rest = rand({6}, parts, kFloat64).to_vector<double>();
  first.insert(first.end(), rest.begin(), rest.end());
  CHECK(all == first);
  CHECK(whole.offset() == 10);
}

TEST_CASE("Philox 4x32-10 matches the published known-answer vectors") {
  // Random123's kat_vectors: philox4x32 10 rounds with counter 0 and key 0.
  auto block = philox4x32(0, 0);
  CHECK(block[0] == 0x6627e8d5u);
  CHECK(block[1] == 0xe169c58du);
  CHECK(block[2] == 0xbc57ac4cu);
  CHECK(block[3] == 0x9b00dbd8u);
}

TEST_CASE("rand, randn, randint and bernoulli have the right statistics") {
  Generator generator(1);
  Tensor u = rand({100000}, generator, kFloat64);
  CHECK(mean(u).item() == doctest::Approx(0.5).epsilon(0.01));
  CHECK(min(u).item() >= 0.0);
  CHECK(max(u).item() < 1.0);
  Tensor n = randn({100000}, generator, kFloat64);
  CHECK(std::abs(mean(n).item()) < 0.01);
  CHECK(var(n).item() == doctest::Approx(1.0).epsilon(0.02));
  Tensor k = randint(-3, 4, {10000}, generator);
  CHECK(k.dtype() == kInt64);
  CHECK(min(k).item() == -3.0);
  CHECK(max(k).item() == 3.0);
  Tensor coin = bernoulli({100000}, 0.3, generator);
  CHECK(mean(coin).item() == doctest::Approx(0.3).epsilon(0.02));
  Tensor g = normal({100000}, 5.0, 2.0, generator, kFloat64);
  CHECK(mean(g).item() == doctest::Approx(5.0).epsilon(0.01));
}

TEST_CASE("printing shows values, shape and dtype") {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  std::string text = fmt::format("{}", x);
  CHECK(text.find("[[1.0000, 2.0000],") != std::string::npos);
  CHECK(text.find("shape=[2,2], dtype=float32") != std::string::npos);
  std::ostringstream stream;
  stream << from_vector(std::vector<std::int64_t>{3, 4});
  CHECK(stream.str() == "tensor([3, 4], shape=[2], dtype=int64)");
  Tensor big = zeros({2000});
  CHECK(big.str().find("...") != std::string::npos);
  Tensor y = leaf({2}, 1) * 2.0;
  CHECK(y.str().find("grad_fn=mul") != std::string::npos);
}

TEST_CASE("a cuda device is a clear error in a build or machine without one") {
  if (cuda_available()) return;
  CHECK_THROWS_WITH_AS(zeros({2}, kFloat32, cuda(0)), doctest::Contains("cuda:0 requested"), DeviceError);
  CHECK_THROWS_AS(parse_device("gpu"), DeviceError);
  CHECK(parse_device("cuda:1") == cuda(1));
}
