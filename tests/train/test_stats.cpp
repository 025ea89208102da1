// The paired-difference interval, against numbers worked by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "train/stats.h"

using namespace moegrad::train;

TEST_CASE("stats: differences {1,2,3} give mean 2 and [-0.484, 4.484], not shown") {
  // d = {1,2,3}: d̄ = 2, sd = 1, SE = 1/√3 = 0.57735, t_{0.975,2} = 4.303, half width 2.48434.
  PairedDifference d = paired_difference({11, 12, 13}, {10, 10, 10});
  CHECK(d.mean == doctest::Approx(2.0));
  CHECK(d.standard_error == doctest::Approx(1.0 / std::sqrt(3.0)));
  CHECK(d.low == doctest::Approx(2.0 - 4.303 / std::sqrt(3.0)));
  CHECK(d.low == doctest::Approx(-0.48434).epsilon(1e-4));
  CHECK(d.high == doctest::Approx(4.48434).epsilon(1e-4));
  CHECK(d.seeds == 3);
  CHECK_FALSE(d.shown);
}

TEST_CASE("stats: a consistent difference is shown, in either direction") {
  // d = {1, 1.2, 0.8, 1.0}: d̄ = 1, sd = √(0.08/3) = 0.163299, SE = 0.0816497, t_{0.975,3} = 3.182:
  // [1 − 0.259809, 1 + 0.259809] = [0.740191, 1.259809].
  PairedDifference d = paired_difference({2, 2.2, 1.8, 2.0}, {1, 1, 1, 1});
  CHECK(d.low == doctest::Approx(0.740191).epsilon(1e-5));
  CHECK(d.high == doctest::Approx(1.259809).epsilon(1e-5));
  CHECK(d.shown);
  PairedDifference reversed = paired_difference({1, 1, 1, 1}, {2, 2.2, 1.8, 2.0});
  CHECK(reversed.high == doctest::Approx(-0.740191).epsilon(1e-5));
  CHECK(reversed.shown);
}

TEST_CASE("stats: Student t quantiles from the table, 1.96 past 30 degrees of freedom") {
  CHECK(student_t_975(1) == 12.706);
  CHECK(student_t_975(2) == 4.303);
  CHECK(student_t_975(30) == 2.042);
  CHECK(student_t_975(31) == 1.96);
  CHECK_THROWS_AS(student_t_975(0), std::invalid_argument);
  CHECK_THROWS_AS(paired_difference({1.0}, {2.0}), std::invalid_argument);
  CHECK_THROWS_AS(paired_difference({1.0, 2.0}, {2.0}), std::invalid_argument);
}

TEST_CASE("stats: a comparison is written as the JSON object, keys in order") {
  Comparison comparison = compare("switch beats dense", "switch", "dense", "accuracy", {11, 12, 13}, {10, 10, 10});
  nlohmann::ordered_json json = to_json(comparison);
  CHECK(json["difference"].get<double>() == doctest::Approx(2.0));
  CHECK(json["ci95"][0].get<double>() == doctest::Approx(-0.48434).epsilon(1e-4));
  CHECK(json["ci95"][1].get<double>() == doctest::Approx(4.48434).epsilon(1e-4));
  json["ci95"] = {-0.5, 4.5};  // round numbers for the exact text below
  CHECK(json.dump() ==
        R"({"claim":"switch beats dense","a":"switch","b":"dense","metric":"accuracy","difference":2.0,)"
        R"("ci95":[-0.5,4.5],"seeds":3,"shown":false})");
}

TEST_CASE("stats: a claim is shown only when the interval lies on A's side of 0") {
  // a − b = {2, 3, 4}: d̄ = 3, sd = 1, SE = 1/√3 = 0.57735, t(2) = 4.303 → 3 ± 2.4842 = [0.516, 5.484].
  std::vector<double> a{12, 13, 14}, b{10, 10, 10};
  Comparison higher = compare("A has the higher accuracy", "A", "B", "accuracy", a, b, Better::Higher);
  CHECK(higher.ci95_low == doctest::Approx(0.5158).epsilon(1e-3));
  CHECK(higher.shown);
  // The same numbers as a loss: A is worse, so "A beats B" is not shown (its reverse is).
  Comparison lower = compare("A has the lower loss", "A", "B", "loss", a, b, Better::Lower);
  CHECK_FALSE(lower.shown);
  // And B beats A on the loss is shown.
  CHECK(compare("B has the lower loss", "B", "A", "loss", b, a, Better::Lower).shown);
  CHECK_FALSE(compare("B has the higher accuracy", "B", "A", "accuracy", b, a).shown);
  // In words: shown, the reverse shown, and an interval across 0.
  CHECK(verdict(higher) == "shown");
  CHECK(verdict(lower) == "not shown; the reverse is shown");
  CHECK(verdict(compare("A has the higher accuracy", "A", "B", "accuracy", {12, 9, 10}, {10, 10, 10})) ==
        "not shown at this scale");
}
