// Knowledge distillation (Hinton, Vinyals, Dean 2015; distill/kd.h): a big MLP teacher trained on
// Fashion-MNIST teaches a small MLP student through its softened outputs softmax(z/T). This example
// measures, with several seeds, each seed pairing every method on the same student initialisation
// and the same data order:
//   1. the student's test accuracy and its agreement with the teacher, trained on hard labels only
//      vs on soft targets at T = 1, 2, 4, 8 (L = α T² CE(q_t, q_s) + (1 − α) CE(y, p_s));
//   2. the paper's "transfer set without one class" (§3): the student never sees a class (3, Dress,
//      by default) in training. With hard labels it cannot know the class exists; with soft targets
//      the teacher's probabilities for that class on other images still tell it. As in the paper the
//      class's output bias is then raised by one number δ, chosen here on held-out training images
//      (the paper chose 3.5 for MNIST on its test set).
//   build/examples/hinton_kd --threads 1   default run: 2.5 min CPU (18 min wall on a busy shared machine)
//   build/examples/hinton_kd --quick       seconds: tiny data and models (CI smoke test)
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "data/batching.h"
#include "data/idx.h"
#include "distill/kd.h"
#include "moegrad.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "train/metrics_log.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/run_dir.h"
#include "train/stats.h"
#include "train/table.h"

using namespace moegrad;

namespace {

// 784 -> hidden -> hidden -> 10 with ReLU, and dropout after each hidden layer when p > 0.
std::shared_ptr<nn::Sequential> mlp(std::int64_t inputs, std::int64_t hidden, double dropout, Generator& generator) {
  auto model = std::make_shared<nn::Sequential>();
  for (std::int64_t in : {inputs, hidden}) {
    model->push_back(std::make_shared<nn::Linear>(in, hidden, true, generator));
    model->push_back(std::make_shared<nn::ReLU>());
    if (dropout > 0.0) model->push_back(std::make_shared<nn::Dropout>(dropout, generator));
  }
  model->push_back(std::make_shared<nn::Linear>(hidden, 10, true, generator));
  return model;
}

// Logits (N,10) of `model` on images (N,784), in eval mode and without a graph.
Tensor logits_of(nn::Sequential& model, const Tensor& images) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<Tensor> parts;
  for (std::int64_t start = 0; start < images.size(0); start += 2000) {
    parts.push_back(model.forward(images.narrow(0, start, std::min<std::int64_t>(2000, images.size(0) - start))));
  }
  model.train();
  return concat(parts, 0);
}

// The fraction of rows whose argmax equals `labels`; with `only_class` >= 0, among rows of that label.
double accuracy(const Tensor& logits, const Tensor& labels, std::int64_t only_class = -1) {
  std::vector<std::int64_t> predicted = argmax(logits, 1).to_vector<std::int64_t>();
  std::vector<std::int64_t> truth = labels.to_vector<std::int64_t>();
  std::int64_t right = 0, counted = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (only_class >= 0 && truth[i] != only_class) continue;
    ++counted;
    right += predicted[i] == truth[i];
  }
  return counted > 0 ? static_cast<double>(right) / static_cast<double>(counted) : NAN;
}

// The paper's correction for an omitted class: add δ to that class's logit, δ chosen from a grid to
// maximise accuracy on the validation logits (ties: the smallest δ).
double best_bias_shift(const Tensor& validation_logits, const Tensor& validation_labels, std::int64_t omitted) {
  double best_shift = 0.0, best = -1.0;
  Tensor unit = one_hot(from_vector(std::vector<std::int64_t>{omitted}), 10, validation_logits.dtype());  // (1,10)
  for (double shift = 0.0; shift <= 15.0; shift += 0.25) {
    double value = accuracy(validation_logits + unit * shift, validation_labels);
    if (value > best) best = value, best_shift = shift;
  }
  return best_shift;
}

// KL(softmax(teacher / T) ‖ softmax(student / T)), mean over rows: how far the student is from the
// teacher's soft targets at T. soft_cross_entropy(z, z, T) is the teacher's own entropy H(q_t).
double soft_target_kl(const Tensor& student_logits, const Tensor& teacher_logits, double temperature) {
  return distill::soft_cross_entropy(student_logits, teacher_logits, temperature).item() -
         distill::soft_cross_entropy(teacher_logits, teacher_logits, temperature).item();
}

struct Method {
  std::string name;
  double temperature = 0.0;  // 0: hard labels only
};

struct StudentRun {
  std::vector<double> accuracy_curve;  // test accuracy after each epoch
  Tensor test_logits, validation_logits;
};

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double sd_of(const std::vector<double>& v) {
  double m = mean_of(v), s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0;
}
std::string percent_spread(const std::vector<double>& v) {
  return fmt::format("{:.2f} ± {:.2f}", 100.0 * mean_of(v), 100.0 * sd_of(v));
}

// mean, mean − sd and mean + sd across seeds as three series: the error band of one method.
// A comparison stated in the direction its mean difference points: "A beats B" when a − b > 0
// on average, else "B beats A" (so "shown" never endorses a claim the data contradict).
train::Comparison directed(const std::string& metric, const std::string& a_name, const std::string& b_name,
                           const std::vector<double>& a, const std::vector<double>& b) {
  train::Comparison c = train::compare(a_name + " beats " + b_name + " on " + metric, a_name, b_name, metric, a, b);
  if (c.difference >= 0.0) return c;
  return train::compare(b_name + " beats " + a_name + " on " + metric, b_name, a_name, metric, b, a);
}

std::vector<train::Series> band(const std::string& title, const std::vector<double>& x,
                                const std::vector<std::vector<double>>& per_seed) {
  std::vector<double> mean(x.size()), low(x.size()), high(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<double> column;
    for (const auto& seed : per_seed) column.push_back(100.0 * seed[i]);
    mean[i] = mean_of(column), low[i] = mean[i] - sd_of(column), high[i] = mean[i] + sd_of(column);
  }
  return {{title + " (mean)", x, mean}, {title + " − sd", x, low}, {title + " + sd", x, high}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hinton knowledge distillation: MLP teacher -> small MLP student on Fashion-MNIST"};
  train::ExampleFlags flags;
  std::int64_t seeds = 3, teacher_hidden = 512, student_hidden = 100, teacher_epochs = 5, student_epochs = 30,
               batch_size = 128, validation = 5000, transfer = 5000, omitted = 3;
  std::vector<double> temperatures = {1, 2, 4, 8};
  double alpha = 0.9, teacher_dropout = 0.3, lr = 1e-3, omit_temperature = 8.0;
  bool omit_experiment = true;
  std::string data_dir = data::kFashionMnistDirectory;
  train::add_example_flags(app, flags);
  app.add_option("--seeds", seeds, "student seeds (each pairs all methods)")->check(CLI::Range(2, 100));
  app.add_option("--temperatures", temperatures, "soft-target temperatures T");
  app.add_option("--alpha", alpha, "weight α of the soft term (1 − α on the hard labels)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--teacher-hidden", teacher_hidden, "teacher: two hidden layers of this width")->check(CLI::PositiveNumber);
  app.add_option("--teacher-dropout", teacher_dropout, "teacher dropout (the paper's big nets used dropout)");
  app.add_option("--teacher-epochs", teacher_epochs, "teacher epochs")->check(CLI::PositiveNumber);
  app.add_option("--student-hidden", student_hidden, "student: two hidden layers of this width")->check(CLI::PositiveNumber);
  app.add_option("--student-epochs", student_epochs, "student epochs")->check(CLI::PositiveNumber);
  app.add_option("--transfer", transfer, "images in the student's transfer set, the first of the teacher's (-1: all)");
  app.add_option("--batch-size", batch_size, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam learning rate (teacher and student)")->check(CLI::PositiveNumber);
  app.add_option("--omit-class", omitted, "class left out of the transfer set in part 2")->check(CLI::Range(0, 9));
  app.add_option("--omit-temperature", omit_temperature, "T of the soft student in part 2")->check(CLI::PositiveNumber);
  app.add_flag("--omit-experiment,!--no-omit-experiment", omit_experiment, "run part 2");
  app.add_option("--data", data_dir, "folder of the IDX files (Debian package dataset-fashion-mnist)");
  CLI11_PARSE(app, argc, argv);
  train::use_threads(flags.threads);
  if (flags.quick) {
    seeds = 2, teacher_hidden = 128, student_hidden = 16, teacher_epochs = 2, student_epochs = 6, validation = 1000,
    transfer = 1000;
  }
  train::RunDir run = train::RunDir::create(flags.out, "hinton_kd");
  train::MetricsLog metrics(run.metrics_path());

  // ---- data: the last `validation` training images are held out (for δ), the rest is the transfer set ----
  data::ImageSet all_train = data::load_fashion_mnist(data_dir, true, flags.quick ? 6000 : -1);
  data::ImageSet test = data::load_fashion_mnist(data_dir, false, flags.quick ? 2000 : -1);
  std::int64_t pool = all_train.images.size(0) - validation;
  if (pool < 100) throw Error(fmt::format("[hinton_kd] --validation {} leaves too few training images", validation));
  std::int64_t transfer_size = transfer > 0 ? std::min(transfer, pool) : pool;
  // The teacher learns from all `pool` images; the student's transfer set is the first transfer_size of them.
  Tensor train_x = all_train.images.narrow(0, 0, pool), train_y = all_train.labels.narrow(0, 0, pool);
  Tensor valid_x = all_train.images.narrow(0, pool, validation), valid_y = all_train.labels.narrow(0, pool, validation);
  fmt::print("Fashion-MNIST: teacher's training set {} images, student's transfer set the first {}, validation {}, "
             "test {}\n",
             pool, transfer_size, validation,
             test.images.size(0));

  // ---- the teacher: trained once on the transfer set with hard labels and dropout ----
  std::int64_t teacher_steps = (pool + batch_size - 1) / batch_size, student_steps = (transfer_size + batch_size - 1) / batch_size;
  Generator teacher_generator(flags.seed + 7919);
  auto teacher = mlp(784, teacher_hidden, teacher_dropout, teacher_generator);
  {
    nn::AdamOptions options;
    options.lr = lr;
    nn::Adam optimizer(teacher->parameters(), options);
    train::ProgressBar bar(teacher_epochs * teacher_steps, "teacher");
    std::int64_t step = 0;
    for (std::int64_t epoch = 0; epoch < teacher_epochs; ++epoch) {
      for (const auto& indices : data::shuffled_batches(pool, batch_size, teacher_generator)) {
        Tensor rows = from_vector(indices);
        Tensor loss = cross_entropy(teacher->forward(index_select(train_x, 0, rows)), index_select(train_y, 0, rows));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        bar.update(++step, {{"loss", loss.item()}});
      }
    }
    bar.finish();
  }
  Tensor teacher_train_logits = logits_of(*teacher, train_x), teacher_test_logits = logits_of(*teacher, test.images);
  Tensor teacher_test_predictions = argmax(teacher_test_logits, 1);
  double teacher_accuracy = accuracy(teacher_test_logits, test.labels);
  fmt::print("teacher 784-{}-{}-10: test accuracy {:.2f}%\n", teacher_hidden, teacher_hidden, 100.0 * teacher_accuracy);

  // One student run on the rows `keep` of the transfer set: hard labels (T = 0) or soft targets at T.
  std::int64_t total_student_runs = seeds * static_cast<std::int64_t>(1 + temperatures.size() + (omit_experiment ? 2 : 0));
  train::ProgressBar bar(total_student_runs * student_epochs * student_steps, "students");
  std::int64_t global_step = 0;
  auto train_student = [&](const std::string& name, double temperature, std::uint64_t seed, const Tensor& keep) {
    Generator init(seed), order(seed + 104729);  // the same init and data order for every method of a seed
    auto student = mlp(784, student_hidden, 0.0, init);
    nn::AdamOptions options;
    options.lr = lr;
    nn::Adam optimizer(student->parameters(), options);
    Tensor x = index_select(train_x, 0, keep), y = index_select(train_y, 0, keep);
    Tensor teacher_logits = index_select(teacher_train_logits, 0, keep);
    StudentRun result;
    for (std::int64_t epoch = 1; epoch <= student_epochs; ++epoch) {
      for (const auto& indices : data::shuffled_batches(x.size(0), batch_size, order)) {
        Tensor rows = from_vector(indices);
        Tensor logits = student->forward(index_select(x, 0, rows));
        Tensor labels = index_select(y, 0, rows);
        Tensor loss = temperature > 0.0 ? distill::distillation_loss(logits, index_select(teacher_logits, 0, rows),
                                                                     labels, temperature, alpha)
                                              .total
                                        : cross_entropy(logits, labels);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        bar.update(++global_step, {{"loss", loss.item()}});
      }
      result.test_logits = logits_of(*student, test.images);
      result.accuracy_curve.push_back(accuracy(result.test_logits, test.labels));
      metrics.write({{"run", name}, {"seed", seed}, {"epoch", epoch}, {"test_accuracy", result.accuracy_curve.back()}});
    }
    result.validation_logits = logits_of(*student, valid_x);
    return result;
  };

  // ---- 1. hard labels vs soft targets at each T, paired by seed ----
  std::vector<Method> methods = {{"hard labels", 0.0}};
  for (double t : temperatures) methods.push_back({fmt::format("soft T={:g}", t), t});
  Tensor everything = arange(transfer_size);
  std::vector<std::vector<StudentRun>> runs(methods.size());  // [method][seed]
  for (std::int64_t s = 0; s < seeds; ++s) {
    for (std::size_t m = 0; m < methods.size(); ++m) {
      auto seed = flags.seed + static_cast<std::uint64_t>(s);
      runs[m].push_back(train_student(methods[m].name, methods[m].temperature, seed, everything));
    }
  }

  // ---- 2. the transfer set without one class ----
  std::vector<StudentRun> omit_hard, omit_soft;
  if (omit_experiment) {
    std::vector<std::int64_t> labels = train_y.to_vector<std::int64_t>(), kept;
    for (std::int64_t i = 0; i < transfer_size; ++i) {
      if (labels[static_cast<std::size_t>(i)] != omitted) kept.push_back(i);
    }
    Tensor keep = from_vector(kept);
    for (std::int64_t s = 0; s < seeds; ++s) {
      auto seed = flags.seed + static_cast<std::uint64_t>(s);
      omit_hard.push_back(train_student("omit: hard labels", 0.0, seed, keep));
      omit_soft.push_back(train_student(fmt::format("omit: soft T={:g}", omit_temperature), omit_temperature, seed, keep));
    }
  }
  bar.finish();

  // ---- table and comparisons ----
  auto test_accuracies = [&](const std::vector<StudentRun>& rs) {
    std::vector<double> v;
    for (const auto& r : rs) v.push_back(r.accuracy_curve.back());
    return v;
  };
  auto agreements = [&](const std::vector<StudentRun>& rs) {
    std::vector<double> v;
    for (const auto& r : rs) v.push_back(mean(eq(argmax(r.test_logits, 1), teacher_test_predictions).to(kFloat64)).item());
    return v;
  };
  train::Table table({"student (seeds: " + std::to_string(seeds) + ")", "test accuracy %", "agreement with teacher %"});
  nlohmann::ordered_json comparisons = nlohmann::ordered_json::array();
  std::vector<double> hard_accuracy = test_accuracies(runs[0]), hard_agreement = agreements(runs[0]);
  bool any_shown = false;
  std::string best_name;
  double best_gain = -1e9;  // the best soft T by mean test accuracy, whether or not it beats hard labels
  for (std::size_t m = 0; m < methods.size(); ++m) {
    std::vector<double> acc = test_accuracies(runs[m]), agree = agreements(runs[m]);
    table.add_row({methods[m].name, percent_spread(acc), percent_spread(agree)});
    if (m == 0) continue;
    train::Comparison c = directed("test accuracy", methods[m].name, "hard labels", acc, hard_accuracy);
    train::Comparison a = directed("agreement with the teacher", methods[m].name, "hard labels", agree, hard_agreement);
    comparisons.push_back(train::to_json(c));
    comparisons.push_back(train::to_json(a));
    any_shown = any_shown || (c.shown && c.a == methods[m].name);
    double gain = mean_of(acc) - mean_of(hard_accuracy);
    if (gain > best_gain || best_name.empty()) best_gain = gain, best_name = methods[m].name;
  }
  fmt::print("\nteacher 784-{0}-{0}-10 (dropout {1}): {2:.2f}% test accuracy; students 784-{3}-{3}-10, {4} epochs, "
             "α = {5}\n",
             teacher_hidden, teacher_dropout, 100.0 * teacher_accuracy, student_hidden, student_epochs, alpha);
  table.print(std::cout);

  // Part 2: accuracy on the omitted class and overall, before and after the bias shift δ.
  train::Table omit_table({"transfer set without class " + std::to_string(omitted), "δ (on validation)",
                           "class acc. %", "class acc. after δ %", "test acc. %", "test acc. after δ %"});
  nlohmann::json omit_json;
  std::vector<double> omitted_after_hard, omitted_after_soft;
  bool unseen_shown = false;
  if (omit_experiment) {
    Tensor unit = one_hot(from_vector(std::vector<std::int64_t>{omitted}), 10, kFloat32);
    for (auto* group : {&omit_hard, &omit_soft}) {
      std::vector<double> shifts, before, after, overall, overall_after;
      for (const StudentRun& r : *group) {
        double shift = best_bias_shift(r.validation_logits, valid_y, omitted);
        Tensor shifted = r.test_logits + unit.to(r.test_logits.dtype()) * shift;
        shifts.push_back(shift);
        before.push_back(accuracy(r.test_logits, test.labels, omitted));
        after.push_back(accuracy(shifted, test.labels, omitted));
        overall.push_back(accuracy(r.test_logits, test.labels));
        overall_after.push_back(accuracy(shifted, test.labels));
      }
      std::string name = group == &omit_hard ? "hard labels" : fmt::format("soft T={:g}", omit_temperature);
      omit_table.add_row({name, fmt::format("{:.2f} ± {:.2f}", mean_of(shifts), sd_of(shifts)), percent_spread(before),
                          percent_spread(after), percent_spread(overall), percent_spread(overall_after)});
      omit_json[name] = {{"bias_shift", shifts}, {"class_accuracy", before}, {"class_accuracy_after_shift", after},
                         {"test_accuracy", overall}, {"test_accuracy_after_shift", overall_after}};
      (group == &omit_hard ? omitted_after_hard : omitted_after_soft) = after;
    }
    fmt::print("\nclass {} ({}) never in the student's transfer set; teacher's accuracy on it {:.2f}%\n", omitted,
               data::fashion_mnist_class_names()[static_cast<std::size_t>(omitted)],
               100.0 * accuracy(teacher_test_logits, test.labels, omitted));
    omit_table.print(std::cout);
    train::Comparison unseen = directed(fmt::format("test accuracy on unseen class {} after the bias shift", omitted),
                                        fmt::format("soft T={:g}", omit_temperature), "hard labels",
                                        omitted_after_soft, omitted_after_hard);
    unseen_shown = unseen.shown && unseen.a != "hard labels";
    comparisons.push_back(train::to_json(unseen));
  }

  // ---- plots: error bands (mean ± sd across seeds) ----
  std::vector<double> epochs_axis;
  for (std::int64_t e = 1; e <= student_epochs; ++e) epochs_axis.push_back(static_cast<double>(e));
  std::size_t best_index = 1;
  for (std::size_t m = 1; m < methods.size(); ++m) {
    if (methods[m].name == best_name) best_index = m;
  }
  auto curves_of = [](const std::vector<StudentRun>& rs) {
    std::vector<std::vector<double>> c;
    for (const auto& r : rs) c.push_back(r.accuracy_curve);
    return c;
  };
  std::vector<train::Series> curves = band("hard labels", epochs_axis, curves_of(runs[0]));
  for (auto& s : band(methods[best_index].name, epochs_axis, curves_of(runs[best_index]))) curves.push_back(s);
  train::line_plot(run.plot_path("accuracy_curves"), "student test accuracy (band: ± sd across seeds)", "epoch",
                   "test accuracy (%)", curves);
  std::vector<std::vector<double>> by_temperature(static_cast<std::size_t>(seeds)), hard_flat(static_cast<std::size_t>(seeds));
  for (std::size_t m = 1; m < methods.size(); ++m) {
    for (std::int64_t s = 0; s < seeds; ++s) {
      by_temperature[s].push_back(runs[m][s].accuracy_curve.back());
      hard_flat[s].push_back(runs[0][s].accuracy_curve.back());
    }
  }
  std::vector<train::Series> versus_t = band("soft targets", temperatures, by_temperature);
  for (auto& s : band("hard labels", temperatures, hard_flat)) versus_t.push_back(s);
  train::line_plot(run.plot_path("accuracy_vs_temperature"), "student test accuracy vs T (band: ± sd across seeds)",
                   "temperature T", "test accuracy (%)", versus_t);
  if (omit_experiment) {
    train::bar_plot(run.plot_path("omitted_class"),
                    fmt::format("accuracy on class {} never seen in transfer (after δ, mean of seeds)", omitted),
                    {"hard labels", fmt::format("soft T={:g}", omit_temperature)},
                    {100.0 * mean_of(omitted_after_hard), 100.0 * mean_of(omitted_after_soft)}, "accuracy (%)");
  }

  // ---- verdict ----
  double best_mean = mean_of(test_accuracies(runs[best_index]));
  std::string omit_text = omit_experiment ? fmt::format("; class {} unseen: {:.1f}% (hard) vs {:.1f}% (soft) after δ",
                                                        omitted, 100.0 * mean_of(omitted_after_hard),
                                                        100.0 * mean_of(omitted_after_soft))
                                          : "";
  run.write_summary({{"example", "hinton_kd"},
                     {"seeds", seeds},
                     {"teacher_test_accuracy", teacher_accuracy},
                     {"alpha", alpha},
                     {"table", table.to_json()},
                     {"omitted_class", omitted},
                     {"omit_experiment", omit_json},
                     {"omit_table", omit_table.to_json()},
                     {"comparisons", nlohmann::json::parse(comparisons.dump())}});
  for (const auto& c : comparisons) {
    fmt::print("{}: {:+.2f} points [{:+.2f}, {:+.2f}] -> {}\n", c["claim"].get<std::string>(),
               100.0 * c["difference"].get<double>(), 100.0 * c["ci95"][0].get<double>(),
               100.0 * c["ci95"][1].get<double>(), c["shown"].get<bool>() ? "shown" : "not shown at this scale");
  }
  fmt::print("\nOutputs in {}\n", run.path().string());
  // The paper's two effects: soft targets teach the student more (accuracy), and they teach a class
  // the transfer set lacks. At --quick size both are noise; the default run decides them.
  fmt::print("the paper's effects: student acc. hard {:.2f}% vs {} {:.2f}%, teacher {:.2f}%{}: accuracy gain {}, "
             "unseen class {}\n",
             100.0 * mean_of(hard_accuracy), best_name, 100.0 * best_mean, 100.0 * teacher_accuracy, omit_text,
             any_shown ? "shown" : "not shown", !omit_experiment ? "not run" : unseen_shown ? "shown" : "not shown");
  // The tour's smoke check is the mechanism, which a few steps already show: at the highest T the
  // teacher's soft targets spread over more classes (higher entropy) than at T = 1, and on every seed
  // the student trained on them sits closer to them (KL at that T) than the hard-label student; every
  // model is above chance (10 classes).
  std::size_t hottest = static_cast<std::size_t>(
      std::max_element(methods.begin() + 1, methods.end(),
                       [](const Method& a, const Method& b) { return a.temperature < b.temperature; }) -
      methods.begin());
  double t_max = methods[hottest].temperature;
  auto teacher_entropy = [&](double t) {
    return distill::soft_cross_entropy(teacher_test_logits, teacher_test_logits, t).item();  // H(q_t)
  };
  std::vector<double> kl_soft, kl_hard;
  double worst_student = 1.0;
  bool closer_every_seed = true;
  for (std::int64_t s = 0; s < seeds; ++s) {
    kl_soft.push_back(soft_target_kl(runs[hottest][s].test_logits, teacher_test_logits, t_max));
    kl_hard.push_back(soft_target_kl(runs[0][s].test_logits, teacher_test_logits, t_max));
    closer_every_seed = closer_every_seed && kl_soft.back() < kl_hard.back();
    for (const auto& method_runs : runs) worst_student = std::min(worst_student, method_runs[s].accuracy_curve.back());
  }
  bool mechanism_check = teacher_entropy(t_max) > teacher_entropy(1.0) && closer_every_seed &&
                         std::min(worst_student, teacher_accuracy) > 0.1;
  fmt::print("tour: hinton_kd | soft targets carry more: teacher entropy {:.2f} nats @T={:g} > {:.2f} @T=1; the "
             "student taught by them is closer to them on every seed: KL @T={:g} {:.4f} < {:.4f} (hard labels); "
             "every model learned: worst student {:.1f}%, teacher {:.1f}% > 10% chance | {}\n",
             teacher_entropy(t_max), t_max, teacher_entropy(1.0), t_max, mean_of(kl_soft), mean_of(kl_hard),
             100.0 * worst_student, 100.0 * teacher_accuracy, mechanism_check ? "yes" : "no");
  return 0;
}
