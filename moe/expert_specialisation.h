// How much an MoE layer's experts specialise in kinds of token, measured from where the router sent
// each token. ST-MoE (Zoph et al. 2022, §7) reads its routing tables by eye: encoder experts take
// punctuation, proper nouns or numbers, decoder experts show no such pattern. Here that becomes two
// numbers over a table n[e][c] of tokens of class c that expert e received (N tokens in all):
//
//   mutual information  I(E;C) = Σ_e Σ_c p(e,c) log2( p(e,c) / (p(e) p(c)) ),  p(e,c) = n[e][c]/N,
//                        in bits: 0 when the expert says nothing about the class, at most H(C);
//   purity               (1/N) Σ_e max_c n[e][c]: the share of tokens whose class is their expert's
//                        most common one (clustering purity; at least max_c p(c) even for random routing);
//   concentration        (1/N) Σ_c max_e n[e][c]: the share of tokens sent to the expert that takes most
//                        of their class (purity of the transposed table; "one expert takes punctuation").
//
// Both are biased upward on a finite sample (even independent routing gives I > 0), so they are read
// against a shuffled baseline: the same tokens and the same load per expert, but the expert
// assignments permuted across tokens, which keeps p(e) and p(c) and breaks any link between them.
// Letters: N tokens, E experts, C classes.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/random.h"

namespace moegrad::moe {

// n[e][c]: (E,C) token counts.
using ClassCounts = std::vector<std::vector<std::int64_t>>;

// Counts tokens per (expert, class): expert_of_token and class_of_token have one entry per token,
// values in [0, experts) and [0, classes). Throws Error naming the first bad entry or length mismatch.
ClassCounts count_classes_per_expert(const std::vector<std::int64_t>& expert_of_token,
                                     const std::vector<std::int64_t>& class_of_token, std::int64_t experts,
                                     std::int64_t classes);

// P(class | expert) = n[e][c] / Σ_c n[e][c]; a row of zeros for an expert that received no token.
std::vector<std::vector<double>> class_given_expert(const ClassCounts& counts);

// I(E;C) in bits, from the counts (0 for an empty table).
double mutual_information_bits(const ClassCounts& counts);

// (1/N) Σ_e max_c n[e][c] (0 for an empty table).
double purity(const ClassCounts& counts);

// (1/N) Σ_c max_e n[e][c] (0 for an empty table).
double concentration(const ClassCounts& counts);

// The counts after permuting expert_of_token with a uniform random permutation (Fisher–Yates
// driven by `generator`): every expert keeps its load, every class its size.
ClassCounts shuffled_counts(std::vector<std::int64_t> expert_of_token, const std::vector<std::int64_t>& class_of_token,
                            std::int64_t experts, std::int64_t classes, Generator& generator);

}  // namespace moegrad::moe
