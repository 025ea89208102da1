// A few AdamW steps of an MoE BERT classifier on fixed ids and labels, the aux loss read from each
// forward's record: the trained model the config and PyTorch interop tests save and reload.
#pragma once
#include "moe/config_json.h"
#include "moe/layouts.h"
#include "nn/optim.h"
#include "tests/helpers.h"

namespace moegrad::testing {

inline void train_classifier(moe::MoETransformer& model, const Tensor& ids, const Tensor& labels, int steps) {
  nn::AdamW optimizer(model.module->parameters(), {.lr = 1e-2});
  for (int step = 0; step < steps; ++step) {
    nn::Taps record = nn::Taps::reports_only();  // this forward's routing
    Tensor logits = model.bert_classifier->forward(ids, Tensor(), Tensor(), &record);
    Tensor loss = cross_entropy(logits, labels) + moe::total_aux_loss(record);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
}

}  // namespace moegrad::testing
