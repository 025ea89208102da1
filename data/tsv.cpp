#include "data/tsv.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>

#include "tensor/creation.h"
#include "tensor/errors.h"

namespace moegrad::data {

namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    std::size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) return fields;
    start = tab + 1;
  }
}

// The start of a long line, for error messages.
std::string preview(std::string_view text) { return std::string(text.substr(0, 80)); }

bool parse_integer(const std::string& text, std::int64_t& value) {
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && stop == end && !text.empty();
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code = length == 1 ? lead : lead & (0x7F >> length);
    for (int k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Shortest form only, no UTF-16 surrogates, nothing past the last code point.
    static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) return false;
    i += static_cast<std::size_t>(length);
  }
  return true;
}

std::vector<Example> read_tsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("[read_tsv] cannot open '{}'", path));
  std::vector<Example> examples;
  std::size_t columns = 0;  // set by the first non-empty line
  std::string line;
  for (std::int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (!is_valid_utf8(line)) throw Error(fmt::format("[read_tsv] {}:{}: the line is not valid UTF-8", path, line_number));
    std::vector<std::string_view> fields = split_tabs(line);
    if (fields.size() != 2 && fields.size() != 3) {
      throw Error(fmt::format("[read_tsv] {}:{}: expected label<TAB>text or label<TAB>text_a<TAB>text_b, got {} fields in "
                              "'{}'",
                              path, line_number, fields.size(), preview(line)));
    }
    if (columns == 0) columns = fields.size();
    if (fields.size() != columns) {
      throw Error(fmt::format("[read_tsv] {}:{}: {} fields, but the file's first line has {}; a file holds either single "
                              "sentences or pairs",
                              path, line_number, fields.size(), columns));
    }
    if (fields[0].empty()) throw Error(fmt::format("[read_tsv] {}:{}: empty label", path, line_number));
    examples.push_back({std::string(fields[0]), std::string(fields[1]), columns == 3 ? std::string(fields[2]) : ""});
  }
  return examples;
}

void write_tsv(const std::string& path, const std::vector<Example>& examples) {
  bool pairs = std::any_of(examples.begin(), examples.end(), [](const Example& e) { return !e.text_b.empty(); });
  std::string text;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const Example& example = examples[i];
    for (const std::string* field : {&example.label, &example.text_a, &example.text_b}) {
      if (field->find_first_of("\t\n\r") != std::string::npos) {
        throw Error(fmt::format("[write_tsv] example {} for '{}' has a tab or line break in '{}'; pass the text "
                                "through clean_text()",
                                i, path, preview(*field)));
      }
    }
    if (example.label.empty()) throw Error(fmt::format("[write_tsv] example {} for '{}' has an empty label", i, path));
    text += example.label + '\t' + example.text_a;
    if (pairs) text += '\t' + example.text_b;
    text += '\n';
  }
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw Error(fmt::format("[write_tsv] writing '{}' failed", path));
}

std::string clean_text(std::string_view raw) {
  // Render overstrikes: a backspace takes back the character before it, as a terminal would show.
  std::string rendered;
  for (char c : raw) {
    if (c == '\b') {
      if (!rendered.empty()) rendered.pop_back();
    } else {
      rendered += c;
    }
  }
  // Control characters and whitespace runs -> one space; trim.
  std::string out;
  bool pending_space = false;
  for (char c : rendered) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F || c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::map<std::string, std::int64_t> label_counts(const std::vector<Example>& examples) {
  std::map<std::string, std::int64_t> counts;
  for (const Example& example : examples) ++counts[example.label];
  return counts;
}

LabelVocabulary::LabelVocabulary(const std::vector<std::string>& labels) {
  std::set<std::string> unique(labels.begin(), labels.end());
  labels_.assign(unique.begin(), unique.end());
  bool all_integers = !labels_.empty() && std::all_of(labels_.begin(), labels_.end(), [](const std::string& label) {
    std::int64_t value;
    return parse_integer(label, value);
  });
  if (all_integers) {
    std::sort(labels_.begin(), labels_.end(), [](const std::string& a, const std::string& b) {
      std::int64_t x = 0, y = 0;
      parse_integer(a, x);
      parse_integer(b, y);
      return x != y ? x < y : a < b;  // "1" and "01" are distinct labels; keep them ordered
    });
  }
  for (std::size_t i = 0; i < labels_.size(); ++i) ids_[labels_[i]] = static_cast<std::int64_t>(i);
}

LabelVocabulary LabelVocabulary::from_examples(const std::vector<Example>& examples) {
  std::vector<std::string> labels;
  for (const Example& example : examples) labels.push_back(example.label);
  return LabelVocabulary(labels);
}

std::int64_t LabelVocabulary::id_of(const std::string& label) const {
  auto found = ids_.find(label);
  if (found == ids_.end()) {
    std::string known;
    for (const std::string& name : labels_) known += (known.empty() ? "'" : ", '") + name + "'";
    throw IndexError(fmt::format("[LabelVocabulary] unknown label '{}'; the {} known labels are {}", label, labels_.size(),
                                 known));
  }
  return found->second;
}

const std::string& LabelVocabulary::label_of(std::int64_t id) const {
  if (id < 0 || id >= size()) {
    throw IndexError(fmt::format("[LabelVocabulary] class id {} is out of range [0, {})", id, size()));
  }
  return labels_[static_cast<std::size_t>(id)];
}

Tensor LabelVocabulary::ids_of(const std::vector<Example>& examples) const {
  std::vector<std::int64_t> ids;
  ids.reserve(examples.size());
  for (const Example& example : examples) ids.push_back(id_of(example.label));
  return from_vector(ids);
}

}  // namespace moegrad::data
