// A small GPT trained on the King James Bible, one character at a time (Debian package bible-kjv).
// After a few minutes on 2 cores it samples readable-ish verses ("And the LORD said unto Moses...").
//   build/examples/char_lm              default run: a few minutes
//   build/examples/char_lm --quick      seconds: a tiny model, checks that the loss falls (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "examples/moe_lm.h"
#include "moegrad.h"
#include "nn/clip.h"
#include "nn/gpt.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/metrics_log.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;


int main(int argc, char** argv) {
  CLI::App app{"character-level GPT on the King James Bible"};
  train::ExampleFlags flags;
  nn::GptConfig config;
  config.max_positions = 64;
  config.dim = 128;
  config.heads = 4;
  config.layers = 2;
  config.ffn_hidden = 512;
  config.dropout = 0.0;
  std::int64_t steps = 500, batch = 16, sample_length = 300;
  double learning_rate = 3e-3, temperature = 0.8;
  train::add_example_flags(app, flags);
  app.add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "windows per step")->check(CLI::PositiveNumber);
  app.add_option("--context", config.max_positions, "characters per window")->check(CLI::PositiveNumber);
  app.add_option("--dim", config.dim, "model width")->check(CLI::PositiveNumber);
  app.add_option("--layers", config.layers, "Transformer layers")->check(CLI::PositiveNumber);
  app.add_option("--heads", config.heads, "attention heads")->check(CLI::PositiveNumber);
  app.add_option("--lr", learning_rate, "peak AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--temperature", temperature, "sampling temperature")->check(CLI::PositiveNumber);
  app.add_option("--sample-length", sample_length, "characters to sample at the end");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    steps = 40;
    config.dim = 32;
    config.layers = 1;
    config.heads = 2;
    config.max_positions = 32;
    sample_length = 80;
  }
  config.ffn_hidden = 4 * config.dim;
  train::RunDir run = train::RunDir::create(flags.out, "char_lm");

  // ---- data: every verse, one per line; the last 5% is held out ----
  examples::CharCorpus corpus = examples::load_kjv_characters(flags.quick);
  const std::vector<std::int64_t>& ids = corpus.ids;
  std::int64_t split = corpus.split;
  config.vocab_size = corpus.tokenizer.vocab_size();
  fmt::print("KJV: {} characters, vocabulary of {}\n", ids.size(), config.vocab_size);

  // ---- model and optimiser ----
  Generator generator(flags.seed);
  nn::GptModel model(config, generator);
  nn::AdamWOptions adamw;
  adamw.lr = learning_rate;
  adamw.weight_decay = 0.01;
  nn::AdamW optimizer(model.parameters(), adamw);
  nn::Scheduler scheduler(optimizer, nn::warmup_cosine_decay(steps / 10, steps, 0.1));
  fmt::print("GPT: {} layers, width {}, {} parameters\n", config.layers, config.dim, model.parameter_count());

  // ---- training ----
  train::MetricsLog log(run.metrics_path());
  train::ProgressOptions progress_options;
  progress_options.item_unit = "tok";
  train::ProgressBar bar(steps, "train", progress_options);
  train::Table table({"step", "train loss", "held-out loss", "lr"});
  std::vector<double> step_axis, train_losses, eval_axis, eval_losses;
  double first_loss = 0.0, last_loss = 0.0;
  for (std::int64_t step = 1; step <= steps; ++step) {
    auto [x, y] = examples::random_windows(ids, 0, split, batch, config.max_positions, generator);
    Tensor loss = cross_entropy(model.forward(x), y);
    optimizer.zero_grad();
    loss.backward();
    nn::clip_grad_norm(model.parameters(), 1.0);
    optimizer.step();
    scheduler.step();
    last_loss = loss.item();
    if (step == 1) first_loss = last_loss;
    step_axis.push_back(static_cast<double>(step));
    train_losses.push_back(last_loss);
    bar.add_items(batch * config.max_positions);
    bar.update(step, {{"loss", last_loss}, {"lr", optimizer.lr()}});
    if (step % std::max<std::int64_t>(1, steps / 5) == 0 || step == steps) {
      double held_out = examples::held_out_loss(model, corpus, batch);
      eval_axis.push_back(static_cast<double>(step));
      eval_losses.push_back(held_out);
      log.write({{"step", step}, {"train_loss", last_loss}, {"held_out_loss", held_out}, {"lr", optimizer.lr()}});
      table.add_row({std::to_string(step), fmt::format("{:.3f}", last_loss), fmt::format("{:.3f}", held_out),
                     fmt::format("{:.2e}", optimizer.lr())});
    }
  }
  bar.finish();

  // ---- a sample ----
  std::vector<std::int64_t> prompt = corpus.tokenizer.encode("And God said");
  std::vector<std::int64_t> sampled = model.generate(prompt, sample_length, temperature, generator);
  std::string sample = corpus.tokenizer.decode(sampled);
  fmt::print("\nSample (temperature {}):\n{}\n\n", temperature, sample);

  table.print(std::cout);
  train::line_plot(run.plot_path("loss"), "char-level GPT on the KJV", "step", "cross-entropy (nats/char)",
                   {{"train", step_axis, train_losses}, {"held out", eval_axis, eval_losses}});
  run.write_summary({{"example", "char_lm"},
                     {"steps", steps},
                     {"parameters", model.parameter_count()},
                     {"first_loss", first_loss},
                     {"final_held_out_loss", eval_losses.back()},
                     {"sample", sample},
                     {"table", table.to_json()}});
  bool loss_fell = eval_losses.back() < first_loss * 0.8;
  fmt::print("\n{} Outputs in {}\n", loss_fell ? "The loss fell: the model learned the text's statistics."
                                               : "The loss did NOT fall enough.",
             run.path().string());
  train::print_profile(flags);
  return loss_fell ? 0 : 1;
}
