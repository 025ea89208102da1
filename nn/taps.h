// Taps: named intermediate tensors a model records during forward, into a record the caller owns.
// Distillation reads them (TCD's relation matrices, TinyBERT/MobileBERT feature and attention
// transfer) without any layer knowing which method is reading. Names are dotted like parameter
// names: "layers.3.trunk", "layers.3.attention.probs". Tensors keep their graph, so a loss on a
// student's taps trains the student.
//
// What the Transformer layers record (B batch, T tokens, D width, H heads, Dh = D/H):
//   embeddings                    (B,T,D)  the encoder input
//   layers.i.attention.q|k|v      (B,H,T,Dh)
//   layers.i.attention.scores     (B,H,T,T) before softmax (masked entries: score - 1e9)
//   layers.i.attention.probs      (B,H,T,T)
//   layers.i.attention.context    (B,H,T,Dh)
//   layers.i.attention_branch     (B,T,D)  attention output before its residual add
//   layers.i.hidden               (B,T,D)  between the attention and FFN sublayers
//   layers.i.ffn_branch           (B,T,D)  FFN (or MoE) output before its residual add
//   layers.i.trunk                (B,T,D)  the layer output
//
// The same object is the caller's record of one forward: besides the tapped tensors it holds what
// layers report about themselves, such as each MoE layer's routing ("layers.1.ffn" ->
// moe::RoutingInfo, with its aux losses). Those entries are kept whatever the patterns say (a
// training loss needs them), and a name may be reported once: one record per forward.
//
//   nn::Taps record = nn::Taps::reports_only();  // no activations, just the layers' reports
//   Tensor logits = model.forward(ids, segments, mask, &record);
//   Tensor loss = cross_entropy(...) + moe::total_aux_loss(record);
#pragma once
#include <any>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad::nn {

class Taps {
 public:
  // Records only names matching one of the patterns ('*' wildcard); the default records all.
  explicit Taps(std::vector<std::string> patterns = {"*"}) : patterns_(std::move(patterns)) {}
  // A record that taps no tensor and keeps only the layers' reports (what training needs).
  static Taps reports_only() { return Taps(std::vector<std::string>{}); }

  bool wants(const std::string& name) const;  // full dotted name
  void put(const std::string& name, const Tensor& value);  // full dotted name; overwrites
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const Tensor& get(const std::string& name) const;  // throws Error listing the recorded names
  std::vector<std::string> names() const;
  void clear() {
    values_.clear();
    reports_.clear();
  }

  // A layer's report about this forward under the current prefix + name (e.g. an MoE layer's
  // RoutingInfo). Throws if that name already reported: reuse a record only after clear().
  void report(const std::string& name, std::any value);
  // Every report holding a T, with its full dotted name, in name order.
  template <class T>
  std::vector<std::pair<std::string, const T*>> reports() const {
    std::vector<std::pair<std::string, const T*>> found;
    for (const auto& [name, value] : reports_) {
      if (const T* typed = std::any_cast<T>(&value)) found.push_back({name, typed});
    }
    return found;
  }

  // The prefix under which layers record ("layers.3."); TapScope maintains it.
  const std::string& prefix() const { return prefix_; }

 private:
  friend class TapScope;
  std::vector<std::string> patterns_;
  std::map<std::string, Tensor> values_;
  std::map<std::string, std::any> reports_;
  std::string prefix_;
};

// Pushes "<name>." onto the taps' prefix for its lifetime; does nothing when taps is null, so a
// layer writes `TapScope scope(taps, "attention"); record(taps, "probs", p);` unconditionally.
class TapScope {
 public:
  TapScope(Taps* taps, const std::string& name);
  ~TapScope();
  TapScope(const TapScope&) = delete;
  TapScope& operator=(const TapScope&) = delete;

 private:
  Taps* taps_;
  std::size_t previous_length_ = 0;
};

// Records value under the current prefix + name when taps is non-null and wants it.
void record_tap(Taps* taps, const std::string& name, const Tensor& value);
// The same for a value the layer does not otherwise compute: compute() runs only when it is wanted.
void record_tap(Taps* taps, const std::string& name, const std::function<Tensor()>& compute);

}  // namespace moegrad::nn
