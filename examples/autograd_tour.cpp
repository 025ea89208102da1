// A short tour of the core: tensors and views, broadcasting, a loss, backward, reading
// gradients (also of an intermediate gate value), gradcheck, and a tiny model fitted by
// gradient descent. `make demo` runs it; later issues turn the demo into the tour of papers.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "moegrad.h"
#include "train/metrics_log.h"
#include "train/run_dir.h"

using namespace moegrad;

int main(int argc, char** argv) {
  CLI::App app{"moegrad autograd tour"};
  train::ExampleFlags flags;
  int steps = 200;
  double learning_rate = 0.1;
  train::add_example_flags(app, flags);
  app.add_option("--steps", steps, "gradient-descent steps for the fit")->check(CLI::PositiveNumber);
  app.add_option("--lr", learning_rate, "learning rate")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  std::uint64_t seed = flags.seed;

  fmt::print("1. Tensors are views over shared storage\n");
  Tensor x = arange(0.0, 6.0, 1.0).reshape({2, 3});
  fmt::print("x = {}\nx.t() = {}  (same storage: {})\n\n", x, x.t(), x.t().storage() == x.storage());

  fmt::print("2. Broadcasting: a (2,3) matrix plus a (3) row\n");
  fmt::print("x + [10, 20, 30] = {}\n\n", x + from_vector(std::vector<float>{10, 20, 30}));

  fmt::print("3. A loss, backward, and the gradients it leaves\n");
  // L = Σ σ(w·x) · t: the gate σ(w·x) is an intermediate; retain_grad keeps dL/dgate for us.
  Tensor w = from_vector(std::vector<float>{0.5f, -0.25f, 1.0f}).requires_grad_();
  Tensor gate = sigmoid(matmul(x, w));
  gate.retain_grad();
  Tensor target = from_vector(std::vector<float>{1.0f, 2.0f});
  Tensor loss = sum(gate * target);
  loss.backward();
  fmt::print("gate = {}\ndL/dgate = {}  (= target)\ndL/dw = {}\n\n", gate, gate.grad(), w.grad());

  fmt::print("4. gradcheck compares backward with central differences (float64)\n");
  Generator generator(seed);
  Tensor a = randn({3, 4}, generator, kFloat64).requires_grad_();
  Tensor b = randn({4, 2}, generator, kFloat64).requires_grad_();
  GradcheckResult check = gradcheck([](const std::vector<Tensor>& v) { return tanh(matmul(v[0], v[1])); }, {a, b});
  fmt::print("tanh(a @ b): {} (largest error {:.2e})\n\n", check.ok ? "gradients agree" : check.message, check.worst_error);

  fmt::print("5. Fitting y = 3x - 2 + noise with gradient descent\n");
  Tensor inputs = uniform({256, 1}, -1.0, 1.0, generator);
  Tensor targets = inputs * 3.0 - 2.0 + randn({256, 1}, generator) * 0.1;
  Tensor slope = zeros({1, 1}).requires_grad_(), intercept = zeros({1}).requires_grad_();
  double first_loss = 0.0, last_loss = 0.0;
  train::RunDir run = train::RunDir::create(flags.out, "autograd_tour");
  train::MetricsLog metrics(run.metrics_path());
  for (int step = 0; step < steps; ++step) {
    Tensor prediction = matmul(inputs, slope) + intercept;
    Tensor mse = mean(square(prediction - targets));
    slope.zero_grad();
    intercept.zero_grad();
    mse.backward();
    {
      NoGradGuard no_grad;  // the update itself is not part of the model
      slope.copy_(slope - slope.grad() * learning_rate);
      intercept.copy_(intercept - intercept.grad() * learning_rate);
    }
    last_loss = mse.item();
    metrics.write({{"step", step}, {"split", "train"}, {"loss", last_loss}});
    if (step == 0) first_loss = last_loss;
    if (step % std::max(1, steps / 5) == 0 || step + 1 == steps) {
      fmt::print("  step {:>4}  loss {:.5f}\n", step, last_loss);
    }
  }
  fmt::print("\n{:<12} {:>10} {:>10}\n", "parameter", "true", "fitted");
  fmt::print("{:<12} {:>10.3f} {:>10.3f}\n", "slope", 3.0, slope.item());
  fmt::print("{:<12} {:>10.3f} {:>10.3f}\n", "intercept", -2.0, intercept.item());
  fmt::print("{:<12} {:>10.5f} {:>10.5f}\n", "loss", first_loss, last_loss);
  bool fitted = std::abs(slope.item() - 3.0) < 0.1 && std::abs(intercept.item() + 2.0) < 0.1;
  run.write_summary({{"example", "autograd_tour"}, {"slope", slope.item()}, {"intercept", intercept.item()},
                      {"first_loss", first_loss}, {"final_loss", last_loss}, {"fitted", fitted}});
  fmt::print("\n{}\n", fitted ? "The fit recovered the line: autograd and the update work together."
                              : "The fit did not converge: try more --steps or a larger --lr.");
  train::print_profile(flags);
  return fitted ? 0 : 1;
}
