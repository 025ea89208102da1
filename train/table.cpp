#include "train/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>

#include "tensor/errors.h"

namespace moegrad::train {
namespace {

// The whole of `text` parsed as a number, or false.
template <class Number>
bool parse_whole(const std::string& text, Number& value) {
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && stop == end;
}

// Characters on screen, not bytes: UTF-8 continuation bytes (10xxxxxx) take no column.
std::size_t display_width(const std::string& text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

// `text` padded with spaces to `width` columns, on the right (left-aligned) or the left.
std::string pad(const std::string& text, std::size_t width, bool right_align) {
  std::string spaces(width - std::min(width, display_width(text)), ' ');
  return right_align ? spaces + text : text + spaces;
}

}  // namespace

bool looks_numeric(const std::string& cell) {
  std::string number = cell;
  if (!number.empty() && (number.back() == '%' || number.back() == 'x')) number.pop_back();
  double value = 0;
  return !number.empty() && parse_whole(number, value);
}

Table::Table(std::vector<std::string> columns) : columns_(std::move(columns)) {
  if (columns_.empty()) throw Error("[Table] needs at least one column");
  // to_json() keys each row by column name, so two columns may not share one.
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    for (std::size_t other = 0; other < c; ++other) {
      if (columns_[c] == columns_[other])
        throw Error(fmt::format("[Table] column name '{}' appears twice", columns_[c]));
    }
  }
}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns_.size()) {
    std::string names = columns_[0];
    for (std::size_t c = 1; c < columns_.size(); ++c) names += ", " + columns_[c];
    throw Error(fmt::format("[Table] row has {} cells but the table has {} columns ({})", cells.size(), columns_.size(),
                            names));
  }
  rows_.push_back(std::move(cells));
}

std::string Table::to_string() const {
  // Per column: its width (the widest of header and cells) and its alignment.
  std::size_t column_count = columns_.size();
  std::vector<std::size_t> widths(column_count);
  std::vector<bool> right_align(column_count);
  for (std::size_t c = 0; c < column_count; ++c) {
    widths[c] = display_width(columns_[c]);
    bool all_numeric = !rows_.empty();
    for (const auto& row : rows_) {
      widths[c] = std::max(widths[c], display_width(row[c]));
      all_numeric = all_numeric && (row[c].empty() || looks_numeric(row[c]));
    }
    right_align[c] = all_numeric;
  }

  // Two spaces between columns; no trailing spaces at the end of a line.
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < column_count; ++c) {
      if (c > 0) line += "  ";
      line += pad(cells[c], widths[c], right_align[c]);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    return line + "\n";
  };
  std::vector<std::string> rule(column_count);
  for (std::size_t c = 0; c < column_count; ++c) rule[c] = std::string(widths[c], '-');

  std::string text = render_line(columns_) + render_line(rule);
  for (const auto& row : rows_) text += render_line(row);
  return text;
}

void Table::print(std::ostream& out) const { out << to_string(); }

nlohmann::json Table::to_json() const {
  nlohmann::json table = nlohmann::json::array();
  for (const auto& row : rows_) {
    nlohmann::json object = nlohmann::json::object();
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      std::int64_t integer = 0;
      double real = 0;
      if (parse_whole(row[c], integer)) {
        object[columns_[c]] = integer;
      } else if (parse_whole(row[c], real) && std::isfinite(real)) {
        object[columns_[c]] = real;
      } else {
        object[columns_[c]] = row[c];
      }
    }
    table.push_back(std::move(object));
  }
  return table;
}

}  // namespace moegrad::train
