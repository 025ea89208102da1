// Mutual information and purity of expert-by-class counts, against numbers worked by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "moe/expert_specialisation.h"
#include "tensor/errors.h"

using namespace moegrad;
using namespace moegrad::moe;

TEST_CASE("expert specialisation: one class per expert gives I = H(C) = 1 bit and purity 1") {
  ClassCounts counts = {{2, 0}, {0, 2}};
  CHECK(mutual_information_bits(counts) == doctest::Approx(1.0));
  CHECK(purity(counts) == doctest::Approx(1.0));
}

TEST_CASE("expert specialisation: experts with the same class mix give I = 0 and purity = the largest class") {
  CHECK(mutual_information_bits({{1, 1}, {1, 1}}) == doctest::Approx(0.0));
  CHECK(purity({{1, 1}, {1, 1}}) == doctest::Approx(0.5));
  CHECK(mutual_information_bits({{3, 1}, {6, 2}}) == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(purity({{3, 1}, {6, 2}}) == doctest::Approx(0.75));
}

TEST_CASE("expert specialisation: {{3,1},{1,3}} gives 1 − H(1/4) = 0.188722 bits and purity 0.75") {
  // Cells: 2 × 3/8 log2(1.5) + 2 × 1/8 log2(0.5) = 0.438722 − 0.25.
  ClassCounts counts = {{3, 1}, {1, 3}};
  CHECK(mutual_information_bits(counts) == doctest::Approx(0.188722).epsilon(1e-5));
  CHECK(purity(counts) == doctest::Approx(0.75));
  CHECK(concentration(counts) == doctest::Approx(0.75));
}

TEST_CASE("expert specialisation: uneven loads and classes, {{4,0,0},{1,1,2}}: I = H(C) − H(C|E) = 0.548795 bits") {
  // H(C) with p(c) = (5/8, 1/8, 2/8) is 1.298795; expert 0 is pure (0 bits), expert 1 holds (1/4, 1/4, 1/2)
  // (1.5 bits) and half the tokens: H(C|E) = 0.75.
  ClassCounts counts = {{4, 0, 0}, {1, 1, 2}};
  CHECK(mutual_information_bits(counts) == doctest::Approx(0.548795).epsilon(1e-5));
  CHECK(purity(counts) == doctest::Approx(6.0 / 8.0));
  CHECK(concentration(counts) == doctest::Approx(7.0 / 8.0));  // class 0: 4 in expert 0; class 1: 1; class 2: 2
  auto conditional = class_given_expert(counts);
  CHECK(conditional[0] == std::vector<double>{1.0, 0.0, 0.0});
  CHECK(conditional[1] == std::vector<double>{0.25, 0.25, 0.5});
}

TEST_CASE("expert specialisation: counting tokens, an expert with no tokens, empty tables, bad ids") {
  ClassCounts counts = count_classes_per_expert({0, 0, 2, 2, 2}, {1, 1, 0, 1, 1}, 3, 2);
  CHECK(counts == ClassCounts{{0, 2}, {0, 0}, {1, 2}});
  CHECK(class_given_expert(counts)[1] == std::vector<double>{0.0, 0.0});
  CHECK(mutual_information_bits({{0, 0}, {0, 0}}) == 0.0);
  CHECK(purity({{0, 0}, {0, 0}}) == 0.0);
  CHECK(concentration({{0, 0}, {0, 0}}) == 0.0);
  CHECK_THROWS_AS(count_classes_per_expert({0, 3}, {0, 0}, 3, 2), Error);
  CHECK_THROWS_AS(count_classes_per_expert({0}, {0, 1}, 3, 2), Error);
  CHECK_THROWS_AS(count_classes_per_expert({0}, {2}, 3, 2), Error);
}

TEST_CASE("expert specialisation: the shuffled baseline keeps every load and class size and loses the link") {
  // 1000 tokens, expert 0 takes exactly the 300 class-0 tokens: I = H(0.3) = 0.881291 bits before
  // shuffling. After it the expected I is about (E−1)(C−1) / (2 N ln 2) = 0.0007 bits.
  std::vector<std::int64_t> experts(1000), classes(1000);
  for (std::size_t t = 0; t < 1000; ++t) experts[t] = classes[t] = t < 300 ? 0 : 1;
  CHECK(mutual_information_bits(count_classes_per_expert(experts, classes, 2, 2)) == doctest::Approx(0.881291).epsilon(1e-5));
  Generator generator(7);
  ClassCounts shuffled = shuffled_counts(experts, classes, 2, 2, generator);
  CHECK(shuffled[0][0] + shuffled[0][1] == 300);  // expert 0's load
  CHECK(shuffled[0][0] + shuffled[1][0] == 300);  // class 0's size
  CHECK(mutual_information_bits(shuffled) < 0.01);
}
