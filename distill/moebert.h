// MoEBERT (Zuo et al., "MoEBERT: from BERT to Mixture-of-Experts via Importance-Guided Adaptation",
// NAACL 2022, arXiv 2204.07675, §3.2; PAPERS.md §12). One idea: turn a trained dense FFN into experts
// without losing what it knows — the neurons that matter most go to every expert, the rest are dealt
// out, so each expert starts as a good approximation of the FFN and together they are the FFN exactly.
//
//   I_j = Σ_{(x,y)∈D} | (w¹_j)ᵀ ∇_{w¹_j} L(x,y) + (w²_j)ᵀ ∇_{w²_j} L(x,y) |        §3.2 eq. (4)
//
// w¹_j is neuron j's input weights (row j of nn::Linear w1's (H,D) weight), w²_j its output weights
// (column j of w2's (D,H) weight). Sort neurons by I_j; the top s are shared by every expert; the
// others are dealt round-robin over the N experts (as the public code does), so expert e holds the
// shared neurons, then the neurons of rank s+e, s+e+N, ...; each expert copies b1 for its neurons and
// all of b2. Invariant: every expert's own neurons, the shared neurons once and b2 once, summed, give
// the dense FFN. Paper defaults: N = 4 experts, 3072 neurons, s = 512 (expert width 768).
//
// Letters: D model width, H dense hidden width, E experts (the paper's N), H_e = s + (H − s)/E.
#pragma once
#include <cstdint>

#include "nn/layers.h"

namespace moegrad::distill {

// The summand of eq. (4) for the gradients the FFN holds now: |Σ_d w1[j,d]·∂w1[j,d] + Σ_d
// w2[d,j]·∂w2[d,j]| per neuron, (H). The paper sums it over examples: call it after each
// example's backward and add (after a batch's backward it is the |sum|, not the sum of |·|).
Tensor neuron_importance(const nn::FeedForward& ffn);

// The experts in MoELayer's layout (moe/moe_layer.h), so they can be copied into one.
struct ExpertSplit {
  Tensor w1, b1, w2, b2;  // (E,D,H_e), (E,H_e), (E,H_e,D), (E,D)
  Tensor neurons;         // (E,H_e) int64: the dense neuron behind each expert column
  std::int64_t shared = 0;  // the first `shared` columns of every expert are the shared neurons
  GeluApproximation activation = GeluApproximation::Erf;  // the dense FFN's, for the MoE layer
};

// importance (H). Needs 0 <= shared <= H and E dividing H − shared (equal expert widths).
ExpertSplit split_into_experts(const nn::FeedForward& ffn, const Tensor& importance, std::int64_t experts,
                               std::int64_t shared);

}  // namespace moegrad::distill
