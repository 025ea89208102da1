// A summary table for the end of a run, printed with aligned columns:
//
//   Table table({"model", "accuracy", "time (s)"});
//   table.add_row({"mlp", "88.4%", "95.2"});
//   table.print(std::cout);
//
//   model  accuracy  time (s)
//   -----  --------  --------
//   mlp       88.4%      95.2
//
// A column whose cells are all numbers (optionally ending in '%' or 'x', as in "88.4%" or
// "2.5x") is right-aligned so digits line up; any other column is left-aligned. Cells are strings
// so the caller chooses the precision; to_json() gives the same table for summary.json.
#pragma once
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moegrad::train {

class Table {
 public:
  explicit Table(std::vector<std::string> columns);

  // Throws moegrad::Error when the row does not have one cell per column.
  void add_row(std::vector<std::string> cells);

  void print(std::ostream& out) const;
  std::string to_string() const;
  // An array with one object per row, keyed by column name. A cell that is exactly a finite
  // number ("95.2", "12") becomes a JSON number; any other cell ("88.4%", "mlp") stays a string.
  nlohmann::json to_json() const;

  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// True for "95.2", "-3", "1e-4", "88.4%", "2.5x"; false for "", "mlp", "1.2.3".
bool looks_numeric(const std::string& cell);

}  // namespace moegrad::train
