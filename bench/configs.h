// The four configs of the performance issue, built with the public API only (bench/train_step.cpp
// times them; bench/torch_step.py builds the same four in PyTorch).
//   vocab 8192, d_model 256, 4 heads, d_ff 1024, 4 layers, MoE in layers 2 and 4 (8 experts, plain
//   top-2: gates renormalised over the two, capacity factor 1.25 over k·T/E slots, first choices
//   placed first), batch 32 × 128, post-LN, learned positions, no segment embedding, GELU (tanh) in
//   every FFN, no dropout, no padding mask, float32, MLM head a plain Linear(d_model -> vocab).
//   moe_layer:  one MoE layer fwd+bwd on B·T tokens, loss = mean(y²) + 0.01 · aux
//   dense_ffn:  the same for a dense FFN with d_ff 2048 (equal active FLOPs), loss = mean(y²)
//   bert_moe:   one AdamW step of the MoE BERT, MLM cross-entropy over all positions + 0.01 · aux
//   bert_dense: the same model with dense FFNs
// aux is GShard's, at the Switch scale: E · Σ_e (fraction of first choices to e) · (mean gate of e).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "moe/gshard_router.h"
#include "moe/layouts.h"
#include "moe/moe_layer.h"
#include "moegrad.h"
#include "nn/bert.h"
#include "nn/optim.h"

namespace moegrad::bench {

inline const std::vector<std::string> kConfigs = {"moe_layer", "dense_ffn", "bert_moe", "bert_dense"};

struct Shape4 {  // the sizes every config shares; batch and seq shrink for instruction counts
  std::int64_t batch = 32, seq = 128, vocab = 8192, dim = 256, heads = 4, ffn = 1024, layers = 4, experts = 8;
};

inline nn::BertConfig bert_config(const Shape4& s) {
  nn::BertConfig config;
  config.vocab_size = s.vocab;
  config.max_positions = s.seq;
  config.type_vocab_size = 0;
  config.dim = s.dim;
  config.heads = s.heads;
  config.layers = s.layers;
  config.ffn_hidden = s.ffn;
  config.dropout = 0.0;
  config.activation = nn::Activation::GeluTanh;
  config.mlm_head = nn::MlmHead::Linear;
  return config;
}

inline moe::MoELayerConfig moe_config(const Shape4& s) {
  moe::MoELayerConfig config;
  config.dim = s.dim;
  config.expert_hidden = s.ffn;
  config.capacity_factor_train = 1.25 * 2;  // C = 1.25 · k·T/E with k = 2: the layer's factor is per T/E
  config.z_loss_weight = 0.0;               // aux = the router's loss alone
  config.activation = GeluApproximation::Tanh;
  return config;
}

inline std::shared_ptr<moe::GShardRouter> plain_top2_router(const Shape4& s, Generator& generator) {
  moe::GShardRouterConfig config;
  config.dim = s.dim;
  config.experts = s.experts;
  config.aux_loss_weight = 1.0;  // E² · ℓ_aux = E · Σ f_e m_e: 1 at uniform routing
  config.random_second_choice = false;
  return std::make_shared<moe::GShardRouter>(config, generator);
}

// One config's model, inputs and loss. step_loss() runs the forward and returns the loss.
struct Workload {
  std::shared_ptr<nn::Module> model;
  std::map<std::string, Tensor> inputs;  // exported beside the weights for the PyTorch side
  std::function<Tensor()> step_loss;
  std::unique_ptr<nn::AdamW> optimizer;  // null for the single-layer configs
};

inline Workload make_workload(const std::string& name, const Shape4& s, Generator& generator) {
  Workload w;
  const std::int64_t tokens = s.batch * s.seq;
  if (name == "moe_layer" || name == "dense_ffn") {
    Tensor x = randn({tokens, s.dim}, generator);
    x.requires_grad_(true);  // a layer inside a network passes its input gradient on
    w.inputs["x"] = x;
    if (name == "moe_layer") {
      auto layer = std::make_shared<moe::MoELayer>(moe_config(s), plain_top2_router(s, generator), generator);
      w.model = layer;
      w.step_loss = [layer, x] {
        moe::MoEOutput out = layer->apply(x);
        return mean(square(out.output)) + out.routing.aux_loss * 0.01;
      };
    } else {
      auto ffn = std::make_shared<nn::FeedForward>(s.dim, 2 * s.ffn, 0.0, generator, nn::Activation::GeluTanh);
      w.model = ffn;
      w.step_loss = [ffn, x] { return mean(square(ffn->forward(x))); };
    }
    return w;
  }
  if (name != "bert_moe" && name != "bert_dense") throw Error("[bench] unknown config \"" + name + "\"");
  auto model = std::make_shared<nn::BertForMaskedLM>(bert_config(s), generator);
  if (name == "bert_moe") {  // layers 2 and 4: every = 2 from index 1
    moe::use_moe_every_other_layer(*model->encoder->layers, moe_config(s),
                                   [&](std::int64_t) { return plain_top2_router(s, generator); }, generator, 2, 1);
  }
  Tensor ids = randint(0, s.vocab, {s.batch, s.seq}, generator);
  Tensor targets = randint(0, s.vocab, {s.batch, s.seq}, generator);
  w.inputs["ids"] = ids;
  w.inputs["targets"] = targets;
  w.model = model;
  const std::int64_t vocab = s.vocab;
  w.step_loss = [model, ids, targets, vocab] {
    nn::Taps record = nn::Taps::reports_only();
    Tensor logits = model->forward(ids, Tensor(), Tensor(), &record);
    return cross_entropy(reshape(logits, {-1, vocab}), reshape(targets, {-1})) + moe::total_aux_loss(record) * 0.01;
  };
  w.optimizer = std::make_unique<nn::AdamW>(model->parameters(), nn::AdamWOptions{.lr = 1e-4, .weight_decay = 0.01});
  return w;
}

// The matmuls of one training step (forward, and the two of each in the backward), as sgemm
// calls (C = op(A) op(B), op(A) m×k, op(B) k×n) with how often each runs. The GEMM roof of a config
// is the time raw cblas_sgemm needs for all of them.
struct Gemm {
  bool trans_a, trans_b;
  std::int64_t m, n, k, count;
};

// y = x Wᵀ: x (M,K), W (N,K); backward dx = dy W (M,N)(N,K), dW = dyᵀ x (N,M)(M,K)
inline void add_linear(std::vector<Gemm>& gemms, std::int64_t M, std::int64_t K, std::int64_t N, std::int64_t count,
                       bool input_grad = true) {
  gemms.push_back({false, true, M, N, K, count});
  if (input_grad) gemms.push_back({false, false, M, K, N, count});
  gemms.push_back({true, false, N, K, M, count});
}

inline std::vector<Gemm> step_gemms(const std::string& name, const Shape4& s) {
  std::vector<Gemm> gemms;
  const std::int64_t T = s.batch * s.seq, D = s.dim, H = s.ffn, E = s.experts;
  const std::int64_t rows_per_expert = 2 * T / E;  // k·T/E: every slot kept at balanced routing
  auto add_moe = [&](std::int64_t count) {
    add_linear(gemms, T, D, E, count);                    // router logits
    add_linear(gemms, rows_per_expert, D, H, E * count);  // the experts' first and second matmuls
    add_linear(gemms, rows_per_expert, H, D, E * count);
  };
  auto add_dense = [&](std::int64_t hidden, std::int64_t count) {
    add_linear(gemms, T, D, hidden, count);
    add_linear(gemms, T, hidden, D, count);
  };
  if (name == "moe_layer") add_moe(1);
  if (name == "dense_ffn") add_dense(2 * H, 1);
  if (name == "bert_moe" || name == "bert_dense") {
    const std::int64_t L = s.layers, Dh = D / s.heads, BH = s.batch * s.heads, moe_layers = name == "bert_moe" ? L / 2 : 0;
    add_linear(gemms, T, D, D, 4 * L);  // q, k, v, output projections
    // scores = q kᵀ (T,Dh)(Dh,T) and context = p v (T,T)(T,Dh) per batch·head, with their backwards
    gemms.push_back({false, true, s.seq, s.seq, Dh, BH * L});
    gemms.push_back({false, false, s.seq, Dh, s.seq, BH * L});  // dq = ds k
    gemms.push_back({true, false, s.seq, Dh, s.seq, BH * L});   // dk = dsᵀ q
    gemms.push_back({false, false, s.seq, Dh, s.seq, BH * L});  // context
    gemms.push_back({false, true, s.seq, s.seq, Dh, BH * L});   // dp = dc vᵀ
    gemms.push_back({true, false, s.seq, Dh, s.seq, BH * L});   // dv = pᵀ dc
    add_dense(H, L - moe_layers);
    if (moe_layers > 0) add_moe(moe_layers);
    add_linear(gemms, T, D, s.vocab, 1);  // the MLM head
  }
  return gemms;
}

inline double gemm_flops(const std::vector<Gemm>& gemms) {
  double flops = 0;
  for (const Gemm& g : gemms) flops += 2.0 * g.m * g.n * g.k * g.count;
  return flops;
}

}  // namespace moegrad::bench
