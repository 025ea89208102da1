// Fashion-MNIST with a multilayer perceptron: the first example of the framework end to end:
// data from a Debian package, a model from nn/, Adam, a progress bar, evaluation each epoch, a
// table, a JSONL log, loss and accuracy plots, summary.json.
//   build/examples/fashion_mnist              ~1-2 minutes on 2 cores, ~88-89% test accuracy
//   build/examples/fashion_mnist --quick      a few seconds: checks that the loss falls (CI)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>

#include "data/batching.h"
#include "data/idx.h"
#include "moegrad.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "train/metrics_log.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// Accuracy of `model` on (images, labels), in batches, without a graph.
double accuracy(nn::Sequential& model, const data::ImageSet& set, std::int64_t batch_size) {
  NoGradGuard no_grad;
  model.eval();
  std::int64_t correct = 0, n = set.images.size(0);
  for (std::int64_t start = 0; start < n; start += batch_size) {
    std::int64_t size = std::min(batch_size, n - start);
    Tensor predicted = argmax(model.forward(set.images.narrow(0, start, size)), 1);
    correct += static_cast<std::int64_t>(sum(eq(predicted, set.labels.narrow(0, start, size))).item());
  }
  model.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fashion-MNIST with an MLP"};
  train::ExampleFlags flags;
  int epochs = 8, hidden = 256;
  std::int64_t batch_size = 128;
  double learning_rate = 1e-3;
  std::string data_dir = data::kFashionMnistDirectory;
  train::add_example_flags(app, flags);
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "width of the two hidden layers")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", learning_rate, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--data", data_dir, "folder of the IDX files (Debian package dataset-fashion-mnist)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) epochs = 1;
  train::RunDir run = train::RunDir::create(flags.out, "fashion_mnist");

  // ---- data ----
  data::ImageSet train_set = data::load_fashion_mnist(data_dir, true, flags.quick ? 6000 : -1);
  data::ImageSet test_set = data::load_fashion_mnist(data_dir, false, flags.quick ? 2000 : -1);
  std::int64_t pixels = train_set.images.size(1);
  fmt::print("Fashion-MNIST: {} training and {} test images of {} pixels\n", train_set.images.size(0),
             test_set.images.size(0), pixels);

  // ---- model: 784 -> hidden -> hidden -> 10 ----
  Generator generator(flags.seed);
  nn::Sequential model({std::make_shared<nn::Linear>(pixels, hidden, true, generator), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Linear>(hidden, hidden, true, generator), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Linear>(hidden, 10, true, generator)});
  nn::AdamOptions adam;
  adam.lr = learning_rate;
  nn::Adam optimizer(model.parameters(), adam);

  // ---- training ----
  train::MetricsLog log(run.metrics_path());
  train::ProgressOptions progress_options;
  progress_options.item_unit = "img";
  train::ProgressBar bar(epochs * ((train_set.images.size(0) + batch_size - 1) / batch_size), "train",
                         progress_options);
  train::Table table({"epoch", "train loss", "test accuracy", "seconds"});
  std::vector<double> steps, losses, epoch_axis, accuracies;
  double first_loss = 0.0, last_epoch_loss = 0.0, test_accuracy = 0.0;
  std::int64_t step = 0;
  auto start = std::chrono::steady_clock::now();
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double epoch_loss = 0.0;
    std::int64_t batches = 0;
    for (const auto& indices : data::shuffled_batches(train_set.images.size(0), batch_size, generator)) {
      Tensor rows = from_vector(indices);
      Tensor loss = cross_entropy(model.forward(index_select(train_set.images, 0, rows)),
                                  index_select(train_set.labels, 0, rows));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      double value = loss.item();
      if (step == 0) first_loss = value;
      epoch_loss += value;
      ++batches;
      ++step;
      steps.push_back(static_cast<double>(step));
      losses.push_back(value);
      bar.add_items(static_cast<std::int64_t>(indices.size()));
      bar.update(step, {{"loss", value}, {"epoch", epoch}});
      if (step % 50 == 0) log.write({{"step", step}, {"split", "train"}, {"loss", value}});
    }
    last_epoch_loss = epoch_loss / static_cast<double>(batches);
    test_accuracy = accuracy(model, test_set, 1000);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.message(fmt::format("epoch {}: train loss {:.4f}, test accuracy {:.2f}%", epoch, last_epoch_loss,
                            100.0 * test_accuracy));
    log.write({{"step", step}, {"epoch", epoch}, {"split", "test"}, {"accuracy", test_accuracy}});
    table.add_row({std::to_string(epoch), fmt::format("{:.4f}", last_epoch_loss),
                   fmt::format("{:.2f}%", 100.0 * test_accuracy), fmt::format("{:.1f}", seconds)});
    epoch_axis.push_back(epoch);
    accuracies.push_back(100.0 * test_accuracy);
  }
  bar.finish();

  // ---- results ----
  fmt::print("\n");
  table.print(std::cout);
  train::PlotOptions log_scale;
  log_scale.log_y = true;
  train::line_plot(run.plot_path("loss"), "Fashion-MNIST MLP: training loss", "step", "cross-entropy",
                   {{"train loss", steps, losses}}, log_scale);
  train::line_plot(run.plot_path("accuracy"), "Fashion-MNIST MLP: test accuracy", "epoch", "accuracy (%)",
                   {{"test accuracy", epoch_axis, accuracies}});
  run.write_summary({{"example", "fashion_mnist"},
                     {"epochs", epochs},
                     {"test_accuracy", test_accuracy},
                     {"first_loss", first_loss},
                     {"final_epoch_loss", last_epoch_loss},
                     {"table", table.to_json()}});
  bool loss_fell = last_epoch_loss < first_loss * 0.5;
  fmt::print("\n{} Outputs in {}\n",
             flags.quick ? (loss_fell ? "Quick run: the loss fell." : "Quick run: the loss did NOT fall.")
                         : fmt::format("Test accuracy {:.2f}% after {} epochs.", 100.0 * test_accuracy, epochs),
             run.path().string());
  train::print_profile(flags);
  return loss_fell ? 0 : 1;
}
