// Summary tables: exact rendered text and the JSON form for summary.json.
#include <sstream>

#include "tests/helpers.h"
#include "train/table.h"

using namespace moegrad;
using namespace moegrad::train;

TEST_CASE("a table aligns numbers right and text left under a header rule") {
  Table table({"model", "accuracy", "time (s)"});
  table.add_row({"mlp", "88.4%", "95.2"});
  table.add_row({"transformer", "90.1%", "312.0"});
  std::ostringstream out;
  table.print(out);
  CHECK(out.str() ==
        "model        accuracy  time (s)\n"
        "-----------  --------  --------\n"
        "mlp             88.4%      95.2\n"
        "transformer     90.1%     312.0\n");
}

TEST_CASE("a column with any text cell is left-aligned, and lines carry no trailing spaces") {
  Table table({"name", "value"});
  table.add_row({"lr", "3e-4"});
  table.add_row({"schedule", "cosine"});
  CHECK(table.to_string() ==
        "name      value\n"
        "--------  ------\n"
        "lr        3e-4\n"
        "schedule  cosine\n");
}

TEST_CASE("a table measures UTF-8 text in characters, not bytes") {
  Table table({"σ", "n"});
  table.add_row({"μ±σ", "12"});
  CHECK(table.to_string() ==
        "σ     n\n"
        "---  --\n"
        "μ±σ  12\n");
}

TEST_CASE("a table without rows prints its header and rule") {
  Table table({"a", "bb"});
  CHECK(table.to_string() == "a  bb\n-  --\n");
}

TEST_CASE("a table turns plain numbers into JSON numbers and keeps other cells as strings") {
  Table table({"model", "accuracy", "time (s)", "steps"});
  table.add_row({"mlp", "88.4%", "95.2", "1200"});
  nlohmann::json expected =
      nlohmann::json::array({{{"model", "mlp"}, {"accuracy", "88.4%"}, {"time (s)", 95.2}, {"steps", 1200}}});
  CHECK(table.to_json() == expected);
  CHECK(table.to_json()[0]["steps"].is_number_integer());
}

TEST_CASE("numeric cells are numbers, optionally with a percent sign or a times sign") {
  CHECK(looks_numeric("95.2"));
  CHECK(looks_numeric("-3"));
  CHECK(looks_numeric("1e-4"));
  CHECK(looks_numeric("88.4%"));
  CHECK(looks_numeric("2.5x"));
  CHECK_FALSE(looks_numeric(""));
  CHECK_FALSE(looks_numeric("%"));
  CHECK_FALSE(looks_numeric("mlp"));
  CHECK_FALSE(looks_numeric("1.2.3"));
}

TEST_CASE("a row must have one cell per column, and column names must differ") {
  Table table({"model", "accuracy"});
  CHECK_THROWS_WITH_AS(table.add_row({"mlp"}),
                       doctest::Contains("[Table] row has 1 cells but the table has 2 columns (model, accuracy)"),
                       Error);
  CHECK_THROWS_WITH_AS(Table({"a", "b", "a"}), doctest::Contains("[Table] column name 'a' appears twice"), Error);
  CHECK_THROWS_WITH_AS(Table(std::vector<std::string>{}), doctest::Contains("[Table] needs at least one column"),
                       Error);
}
