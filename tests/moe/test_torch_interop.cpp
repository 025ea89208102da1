// A moegrad checkpoint opened in PyTorch (tests/python/torch_interop.py, the README's recipe): a BERT
// classifier with a Switch MoE layer, trained a few steps here, rebuilt in plain torch.nn from its
// config.json, its weights loaded from model.safetensors, gives the same logits to 1e-4.
#include "moe/config_json.h"
#include "moe/layouts.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "tests/helpers.h"
#include "tests/moe/train_steps.h"
#include "tests/python_script.h"
#include "tests/temp_directory.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("PyTorch loads a trained moegrad MoE BERT from its checkpoint and gives the same logits") {
  TempDirectory directory;
  Generator generator(11);
  moe::MoETransformerConfig config;
  config.architecture = "bert_classifier";
  config.bert = {.vocab_size = 20, .max_positions = 8, .dim = 16, .heads = 4, .layers = 2, .ffn_hidden = 32,
                 .dropout = 0.0};
  config.classes = 3;
  config.every = 2;  // layer 0 dense, layer 1 MoE
  config.first_moe_layer = 1;
  // Dropless in evaluation, so every token reaches its expert (the torch side has no capacity).
  config.moe = {.dim = 16, .expert_hidden = 24, .capacity_factor_eval = 0.0};
  config.router = moe::SwitchRouterConfig{.dim = 16, .experts = 4};
  moe::MoETransformer model = moe::build_model(config, generator);

  Tensor ids = randint(0, 20, {3, 8}, generator);
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 2, 1});
  train_classifier(model, ids, labels, 5);
  model.module->eval();
  Tensor logits = model.bert_classifier->forward(ids);
  // Trained weights, not the initial ones: biases moved off 0 (init sets them to 0).
  CHECK(max(abs(model.moe_layers[0]->b1)).item() > 0.0);

  nn::save_checkpoint(directory.file("ckpt"), *model.module, config.to_json());
  nn::save_safetensors(directory.file("expected.safetensors"), {{"ids", ids}, {"logits", logits.detach()}});
  run_python_script("torch_interop.py",
                    fmt::format("'{}' '{}'", directory.file("ckpt"), directory.file("expected.safetensors")),
                    directory.file("torch_interop.log"));
}
