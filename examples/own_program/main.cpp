// A small BERT whose FFNs are Switch MoE layers, trained for a few AdamW steps on a toy task (is the
// first token even?), its routing printed, and a checkpoint that describes itself saved.
#include <moegrad/moegrad.h>
using namespace moegrad;

int main() {
  Generator generator(0);
  moe::MoETransformerConfig config;  // architecture "bert_classifier", 2 classes
  config.bert = {.vocab_size = 16, .max_positions = 8, .dim = 32, .heads = 2, .layers = 2, .ffn_hidden = 64,
                 .dropout = 0.0};
  config.every = 1;  // an MoE FFN in every layer
  config.first_moe_layer = 0;
  config.moe = {.dim = 32, .expert_hidden = 64};
  config.router = moe::SwitchRouterConfig{.dim = 32, .experts = 4};
  moe::MoETransformer model = moe::build_model(config, generator);

  // 64 sequences of 8 tokens; the label says whether the first token is even.
  Tensor ids = randint(0, 16, {64, 8}, generator);
  std::vector<std::int64_t> tokens = ids.to_vector<std::int64_t>(), labels;
  for (std::size_t row = 0; row < tokens.size(); row += 8) labels.push_back(tokens[row] % 2 == 0);
  Tensor targets = from_vector(labels);

  nn::AdamW optimizer(model.module->parameters(), {.lr = 3e-3});  // weight_decay 0.01, as PyTorch
  nn::Taps record;
  for (int step = 1; step <= 30; ++step) {
    record = nn::Taps::reports_only();  // one record per forward: each MoE layer reports its routing
    Tensor logits = model.bert_classifier->forward(ids, Tensor(), Tensor(), &record);
    Tensor loss = cross_entropy(logits, targets) + moe::total_aux_loss(record);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step % 10 == 0) fmt::print("step {:2}  loss {:.4f}\n", step, loss.item());
  }

  // Routing of the last forward: how many tokens each expert of each MoE layer processed.
  for (const auto& [name, routing] : moe::routings(record)) {
    fmt::print("{}: tokens per expert {}\n", name, fmt::join(routing->tokens_per_expert.to_vector<std::int64_t>(), " "));
  }

  // config.json holds the model, MoE and router configuration: moe::build_model rebuilds it alone.
  nn::save_checkpoint("own_program_checkpoint", *model.module, config.to_json());
  fmt::print("moegrad {}: checkpoint saved to own_program_checkpoint/\n", version());
}
