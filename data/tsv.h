// GLUE-style task files: one example a line, `label<TAB>text` or `label<TAB>text_a<TAB>text_b`,
// UTF-8, no header. Any file of that form is a task, so users can bring their own. A file is either
// all single-sentence or all pairs; a malformed line is an error naming file:line.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad::data {

struct Example {
  std::string label;
  std::string text_a;
  std::string text_b;  // empty for single-sentence tasks

  bool operator==(const Example&) const = default;
};

// Empty lines are skipped, a trailing '\r' (Windows line ends) is dropped.
std::vector<Example> read_tsv(const std::string& path);
// Writes three columns when any example has a text_b, else two. Fields must not hold a tab or a
// line break (clean_text() makes any text safe) and labels must not be empty.
void write_tsv(const std::string& path, const std::vector<Example>& examples);

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// One line of plain text from raw text: backspace overstrikes ("_\bx", old terminals' underline
// and bold) are rendered as the final character, every other control character and every run of
// whitespace becomes one space, and the ends are trimmed.
std::string clean_text(std::string_view raw);

// How many examples each label has, in label order.
std::map<std::string, std::int64_t> label_counts(const std::vector<Example>& examples);

// Label strings <-> class ids 0..C-1. Sorted, so the same label set always gives the same ids:
// numerically when every label is an integer ("2" before "10"), else byte-wise.
class LabelVocabulary {
 public:
  LabelVocabulary() = default;
  explicit LabelVocabulary(const std::vector<std::string>& labels);  // duplicates are fine
  static LabelVocabulary from_examples(const std::vector<Example>& examples);

  std::int64_t id_of(const std::string& label) const;  // throws, listing the known labels
  const std::string& label_of(std::int64_t id) const;
  std::int64_t size() const { return static_cast<std::int64_t>(labels_.size()); }
  const std::vector<std::string>& labels() const { return labels_; }
  // The class ids of the examples' labels, (N) int64.
  Tensor ids_of(const std::vector<Example>& examples) const;

 private:
  std::vector<std::string> labels_;
  std::map<std::string, std::int64_t> ids_;
};

}  // namespace moegrad::data
