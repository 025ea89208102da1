#include "moe/expert_specialisation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tensor/errors.h"

namespace moegrad::moe {
namespace {

std::int64_t total_of(const ClassCounts& counts) {
  std::int64_t total = 0;
  for (const auto& row : counts) {
    for (std::int64_t n : row) total += n;
  }
  return total;
}

}  // namespace

ClassCounts count_classes_per_expert(const std::vector<std::int64_t>& expert_of_token,
                                     const std::vector<std::int64_t>& class_of_token, std::int64_t experts,
                                     std::int64_t classes) {
  if (experts <= 0 || classes <= 0) {
    throw Error(fmt::format("[count_classes_per_expert] experts and classes must be positive, got {} and {}", experts,
                            classes));
  }
  if (expert_of_token.size() != class_of_token.size()) {
    throw Error(fmt::format("[count_classes_per_expert] {} expert ids but {} class ids: one of each per token",
                            expert_of_token.size(), class_of_token.size()));
  }
  ClassCounts counts(static_cast<std::size_t>(experts), std::vector<std::int64_t>(static_cast<std::size_t>(classes), 0));
  for (std::size_t t = 0; t < expert_of_token.size(); ++t) {
    std::int64_t e = expert_of_token[t], c = class_of_token[t];
    if (e < 0 || e >= experts || c < 0 || c >= classes) {
      throw Error(fmt::format("[count_classes_per_expert] token {} has expert {} and class {}; expected [0, {}) and [0, {})",
                              t, e, c, experts, classes));
    }
    counts[static_cast<std::size_t>(e)][static_cast<std::size_t>(c)] += 1;
  }
  return counts;
}

std::vector<std::vector<double>> class_given_expert(const ClassCounts& counts) {
  std::vector<std::vector<double>> conditional;
  for (const auto& row : counts) {
    std::int64_t load = 0;
    for (std::int64_t n : row) load += n;
    std::vector<double> probabilities(row.size(), 0.0);
    for (std::size_t c = 0; c < row.size() && load > 0; ++c) {
      probabilities[c] = static_cast<double>(row[c]) / static_cast<double>(load);
    }
    conditional.push_back(std::move(probabilities));
  }
  return conditional;
}

double mutual_information_bits(const ClassCounts& counts) {
  auto total = static_cast<double>(total_of(counts));
  if (total == 0.0) return 0.0;
  // The marginals p(e) (row sums) and p(c) (column sums), as counts.
  std::vector<double> per_expert(counts.size(), 0.0), per_class(counts.front().size(), 0.0);
  for (std::size_t e = 0; e < counts.size(); ++e) {
    for (std::size_t c = 0; c < counts[e].size(); ++c) {
      per_expert[e] += static_cast<double>(counts[e][c]);
      per_class[c] += static_cast<double>(counts[e][c]);
    }
  }
  // p(e,c) log2(p(e,c) / (p(e) p(c))) = (n/N) log2(n N / (n_e n_c)); empty cells add 0 (0 log 0 = 0).
  double information = 0.0;
  for (std::size_t e = 0; e < counts.size(); ++e) {
    for (std::size_t c = 0; c < counts[e].size(); ++c) {
      auto n = static_cast<double>(counts[e][c]);
      if (n > 0.0) information += n / total * std::log2(n * total / (per_expert[e] * per_class[c]));
    }
  }
  return information;
}

double purity(const ClassCounts& counts) {
  std::int64_t total = total_of(counts), majority = 0;
  for (const auto& row : counts) majority += row.empty() ? 0 : *std::max_element(row.begin(), row.end());
  return total > 0 ? static_cast<double>(majority) / static_cast<double>(total) : 0.0;
}

double concentration(const ClassCounts& counts) {
  std::int64_t total = total_of(counts), majority = 0;
  for (std::size_t c = 0; !counts.empty() && c < counts.front().size(); ++c) {
    std::int64_t largest = 0;
    for (const auto& row : counts) largest = std::max(largest, row[c]);
    majority += largest;
  }
  return total > 0 ? static_cast<double>(majority) / static_cast<double>(total) : 0.0;
}

ClassCounts shuffled_counts(std::vector<std::int64_t> expert_of_token, const std::vector<std::int64_t>& class_of_token,
                            std::int64_t experts, std::int64_t classes, Generator& generator) {
  // Fisher–Yates: position i swaps with a uniform position in [0, i].
  for (std::size_t i = expert_of_token.size(); i > 1; --i) {
    auto j = static_cast<std::size_t>(generator.next_uniform() * static_cast<double>(i));
    std::swap(expert_of_token[i - 1], expert_of_token[std::min(j, i - 1)]);
  }
  return count_classes_per_expert(expert_of_token, class_of_token, experts, classes);
}

}  // namespace moegrad::moe
