// MobileBERT (Sun et al., "MobileBERT: a Compact Task-Agnostic BERT for Resource-Limited Devices",
// ACL 2020, arXiv 2004.02984; PAPERS.md §11). One idea: make a thin, deep student whose layer
// outputs have the SAME width as a teacher's, so its feature maps and attention maps can be
// distilled layer by layer; keep the cost down by working inside each block at a narrow width.
//
// A block (§3.1, Figure 1(c); the teacher IB-BERT is Figure 1(b), the same with intra > inter):
//   b  = Norm(W_in x + b_in)                           linear in: inter N -> intra I ("bottleneck")
//   q, k from b_qk = Norm(W_qk x + b_qk)  and  v from x     the public configs' key_query_shared_bottleneck
//   a  = Norm(b + MHA(q, k, v))                        attention at the intra width, residual on b
//   a  = Norm(a + W_2 act(W_1 a))     F times          F stacked FFNs (§3.1: F = 4 restores the
//                                                      attention:FFN parameter ratio a thin block loses)
//   y  = Norm(x + W_out a + b_out)                     linear out: I -> N, residual at the inter width
// With value_from_block_input off, q, k and v all come from b (no second bottleneck).
//
// Operational optimisations (§3.3), each a config option against BERT's choice:
//   NoNorm(h) = γ ∘ h + β   (γ starts at 1, β at 0)   instead of LayerNorm
//   ReLU                                              instead of GELU
//
// Embeddings: the paper embeds tokens at 128 and widens them with a 3-token convolution to 512.
// Here the token, position and segment embeddings are plain tables at the inter width N (then the
// block norm), which the brief allows; the layer-wise losses never look at how they were made.
//
// Taps (nn/taps.h), with nn/ BERT's names so distill/layerwise.h reads them unchanged:
//   embeddings (B,T,N), layers.i.bottleneck (B,T,I), layers.i.attention.{q,k,v,scores,probs,context},
//   layers.i.attention_out (B,T,I), layers.i.trunk (B,T,N).
// Letters: B batch, T tokens, N inter-block width, I intra-block width, H heads, F stacked FFNs,
// V vocabulary.
#pragma once
#include <cstdint>
#include <memory>

#include "nn/layers.h"
#include "nn/taps.h"

namespace moegrad::distill {

enum class BlockNorm { NoNorm, LayerNorm };
enum class BlockActivation { ReLU, GELU };

struct MobileBertConfig {
  std::int64_t vocab_size = 30522;
  std::int64_t max_positions = 512;
  std::int64_t type_vocab_size = 2;
  std::int64_t inter_dim = 512;   // the block input/output width, shared with the teacher
  std::int64_t intra_dim = 128;   // inside the block: 128 (student), 1024 (IB-BERT teacher)
  std::int64_t heads = 4;
  std::int64_t ffn_hidden = 512;  // each stacked FFN's hidden width
  std::int64_t stacked_ffns = 4;  // F
  std::int64_t layers = 24;
  bool value_from_block_input = true;  // V from x, Q and K from their own bottleneck (public configs)
  BlockNorm norm = BlockNorm::NoNorm;
  BlockActivation activation = BlockActivation::ReLU;
  double dropout = 0.0;
  double layer_norm_eps = 1e-12;
  double init_std = 0.02;

  // The paper's sizes (§4.1, Table 1): MobileBERT and its teacher IB-BERT_LARGE (F = 1, LayerNorm
  // and GELU as BERT has them; the operational optimisations are the student's).
  static MobileBertConfig paper_student();
  static MobileBertConfig paper_teacher();
};

// NoNorm(h) = γ ∘ h + β over the last axis: LayerNorm's affine part without the normalisation.
class NoNorm : public nn::UnaryModule {
 public:
  explicit NoNorm(std::int64_t dim);
  Tensor forward(const Tensor& h) override;
  Tensor weight, bias;  // γ, β
};

// Multi-head attention whose queries and keys come from one input and values from another, all
// projected to the intra width I: q, k = W_q u, W_k u (u (B,T,I)); v = W_v x (x (B,T,D_v));
// probs = softmax(q kᵀ/√(I/H) + padding mask); out = W_o concat_heads(probs v) (B,T,I).
class BottleneckAttention : public nn::Module {
 public:
  BottleneckAttention(std::int64_t intra_dim, std::int64_t value_in_dim, std::int64_t heads, double dropout,
                      Generator& generator);
  Tensor forward(const Tensor& query_key_in, const Tensor& value_in, const Tensor& padding_mask, nn::Taps* taps);
  std::int64_t intra_dim, heads;
  std::shared_ptr<nn::Linear> query, key, value, output;
  std::shared_ptr<nn::Dropout> attention_dropout;
};

// One FFN of the stack with its own residual and norm: a' = Norm(a + W_2 act(W_1 a)), (B,T,I).
class StackedFfn : public nn::Module {
 public:
  StackedFfn(const MobileBertConfig& config, Generator& generator);
  Tensor forward(const Tensor& a);
  BlockActivation activation;
  std::shared_ptr<nn::Linear> w1, w2;
  std::shared_ptr<nn::UnaryModule> norm;
  std::shared_ptr<nn::Dropout> dropout;
};

// The bottleneck (I < N, student) or inverted-bottleneck (I > N, teacher) block above.
class MobileBertBlock : public nn::Module {
 public:
  MobileBertBlock(const MobileBertConfig& config, Generator& generator);
  // x (B,T,N), padding_mask (B,T) 1 = real token (or undefined) -> (B,T,N)
  Tensor forward(const Tensor& x, const Tensor& padding_mask, nn::Taps* taps);
  bool value_from_block_input;
  std::shared_ptr<nn::Linear> bottleneck_in, query_key_in, bottleneck_out;  // query_key_in null when off
  std::shared_ptr<nn::UnaryModule> bottleneck_norm, query_key_norm, attention_norm, output_norm;
  std::shared_ptr<BottleneckAttention> attention;
  std::shared_ptr<nn::ModuleList<StackedFfn>> ffns;
  std::shared_ptr<nn::Dropout> dropout;
};

class MobileBertEncoder : public nn::Module {
 public:
  explicit MobileBertEncoder(const MobileBertConfig& config, Generator& generator = default_generator());
  // ids, segments, attention_mask (B,T) int64 -> (B,T,N). Runs the first `layers_to_run` blocks
  // (all when -1): progressive transfer trains layer l without computing the ones above it.
  Tensor forward(const Tensor& ids, const Tensor& segments = Tensor(), const Tensor& attention_mask = Tensor(),
                 nn::Taps* taps = nullptr, std::int64_t layers_to_run = -1);
  MobileBertConfig config;
  std::shared_ptr<nn::Embedding> token, position, segment;
  std::shared_ptr<nn::UnaryModule> embedding_norm;
  std::shared_ptr<nn::Dropout> embedding_dropout;
  std::shared_ptr<nn::ModuleList<MobileBertBlock>> layers;
};

// Masked-LM head as BERT's: logits = LayerNorm(act(h W_t)) Eᵀ + b, E the (tied) token table.
// With labels it scores only the positions that have one (labels != ignore_index): (P,V) for the
// P labelled positions in row-major order, which is all an MLM loss reads and ~15% of the cost.
class MobileBertForMaskedLM : public nn::Module {
 public:
  explicit MobileBertForMaskedLM(const MobileBertConfig& config, Generator& generator = default_generator());
  struct Output {
    Tensor logits;  // (B,T,V), or (P,V) at the labelled positions when labels were given
    Tensor labels;  // (P) the labels of those positions (undefined without labels)
  };
  Output forward(const Tensor& ids, const Tensor& segments, const Tensor& attention_mask,
                 const Tensor& labels = Tensor(), nn::Taps* taps = nullptr, std::int64_t ignore_index = -100);
  std::shared_ptr<MobileBertEncoder> encoder;
  std::shared_ptr<nn::Linear> transform;
  std::shared_ptr<nn::LayerNorm> transform_norm;
  Tensor output_bias;
};

// Classifies a sequence from its first ([CLS]) token: logits (B,C) = W_c dropout(tanh(W_p h_cls)).
class MobileBertForSequenceClassification : public nn::Module {
 public:
  MobileBertForSequenceClassification(const MobileBertConfig& config, std::int64_t classes,
                                      Generator& generator = default_generator());
  Tensor forward(const Tensor& ids, const Tensor& segments = Tensor(), const Tensor& attention_mask = Tensor(),
                 nn::Taps* taps = nullptr);
  std::shared_ptr<MobileBertEncoder> encoder;
  std::shared_ptr<nn::Linear> pooler, classifier;
  std::shared_ptr<nn::Dropout> dropout;
};

// Parameter counts by the formulas above (weights and biases; norms 2 per feature).
struct BlockParameterCounts {
  std::int64_t attention = 0;  // Q/K bottleneck + W_q, W_k, W_v, W_o (everything that feeds attention only)
  std::int64_t ffn = 0;        // the F stacked FFNs with their norms
  std::int64_t other = 0;      // linear in/out and their norms, the attention norm
  std::int64_t total() const { return attention + ffn + other; }
  // attention : FFN, what §4.1 tunes (0.4-0.6 best for BERT-like blocks)
  double attention_to_ffn() const { return static_cast<double>(attention) / static_cast<double>(ffn); }
};
BlockParameterCounts block_parameter_counts(const MobileBertConfig& config);
std::int64_t encoder_parameter_count(const MobileBertConfig& config);  // embeddings + blocks

// Multiply-adds ×2 of one encoder forward over a sequence of T tokens (matmuls only: projections,
// FFNs, q kᵀ and probs v; norms, activations and softmax are O(T·width) and left out).
double encoder_forward_flops(const MobileBertConfig& config, std::int64_t tokens);

}  // namespace moegrad::distill
