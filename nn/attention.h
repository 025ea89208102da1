// Multi-head self-attention (Vaswani et al. 2017):
//   q, k, v = x W_q, x W_k, x W_v split into H heads of Dh = D/H
//   scores = q kᵀ / √Dh  (+ masks),  probs = softmax(scores),  context = probs v
//   out = concat_heads(context) W_o
// Shapes: x (B,T,D); padding_mask (B,T) with 1 for real tokens and 0 for padding (or undefined).
// A causal mask lets token t see tokens ≤ t only. Queries, keys, values, scores, probabilities and
// context vectors, per head, are recorded into taps (nn/taps.h) when asked.
#pragma once
#include "nn/layers.h"
#include "nn/taps.h"

namespace moegrad::nn {

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(std::int64_t dim, std::int64_t heads, double dropout = 0.0,
                     Generator& generator = default_generator());
  Tensor forward(const Tensor& x, const Tensor& padding_mask = Tensor(), bool causal = false, Taps* taps = nullptr);

  std::int64_t dim, heads;
  std::shared_ptr<Linear> query, key, value, output;
  std::shared_ptr<Dropout> attention_dropout;
};

// Additive mask (1, 1, T, T): 0 where key ≤ query, -1e9 above the diagonal.
Tensor causal_mask(std::int64_t tokens, DType dtype, Device device);

}  // namespace moegrad::nn
