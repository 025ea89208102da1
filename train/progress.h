// A progress bar for long loops:
//
//   ProgressBar bar(total_steps, "train");
//   for (step = 1; step <= total_steps; ++step) {
//     ...
//     bar.add_items(tokens_in_batch);              // optional: shows tokens/s (items/s)
//     bar.update(step, {{"loss", loss}, {"lr", lr}});
//   }
//   bar.finish();
//
// prints   train  120/1000 [##..................]  12% loss 0.53 lr 0.0003 | 5.1k tok/s | 00:12 elapsed, 01:28 left
//
// On a terminal the line is redrawn in place ('\r') at most ten times a second. When stdout is
// a file or a pipe (CI logs) every redraw would be a new line, so the bar prints plain lines
// instead: one each time another 10% of the steps is done, one at least every 30 seconds for
// slow loops, and the final line.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace moegrad::train {

// Seconds from some fixed moment; a monotonic clock by default, a fake one in tests.
using Clock = std::function<double()>;
double steady_clock_seconds();

// Auto: redraw in place when writing to std::cout and stdout is a terminal, plain lines otherwise.
enum class ProgressMode { Auto, Terminal, Plain };

struct ProgressOptions {
  std::ostream* out = nullptr;  // nullptr: std::cout
  ProgressMode mode = ProgressMode::Auto;
  Clock clock;                           // empty: steady_clock_seconds
  std::string item_unit = "items";       // the rate reads "<n> <item_unit>/s", e.g. "tok"
  double redraw_interval_seconds = 0.1;  // terminal: at most ten redraws a second
  double plain_interval_seconds = 30.0;  // plain: a line at least this often, even between 10% marks
  int bar_width = 20;
};

// Metric names and values, shown in the order given.
using Metrics = std::vector<std::pair<std::string, double>>;

class ProgressBar {
 public:
  ProgressBar(std::int64_t total_steps, std::string label, ProgressOptions options = {});
  ~ProgressBar();  // finishes the bar if finish() was not called, so a terminal line is ended
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `step` is the number of steps done so far (1 after the first step). Prints only when the
  // throttle allows; the final step (step == total) always prints.
  void update(std::int64_t step, const Metrics& metrics = {});
  // Counts items (tokens, images) processed; the rate shown is the total over the elapsed time.
  void add_items(std::int64_t count);
  // Prints a whole line (an evaluation result, say) without garbling the bar below it.
  void message(const std::string& line);
  // Prints the latest state as the final line. Later calls do nothing.
  void finish();

  // The line the bar would show now, without a '\r' or newline.
  std::string render() const;

 private:
  bool should_print(double now) const;
  void draw(double now);

  std::int64_t total_steps_;
  std::string label_;
  ProgressOptions options_;
  std::ostream* out_;
  bool terminal_;
  double start_time_;

  std::int64_t step_ = 0;
  std::int64_t items_ = 0;
  Metrics metrics_;
  double now_ = 0.0;  // the clock at the latest update

  double last_print_time_;
  std::int64_t last_printed_step_ = -1;
  std::size_t last_line_length_ = 0;  // terminal: to blank out leftovers of a longer line
  bool finished_ = false;
};

// "07:05" below an hour, "1:02:03" above.
std::string format_duration(double seconds);
// "950.0", "5.1k", "2.35M", "1.20G": a rate, short enough for one line.
std::string format_rate(double per_second);

}  // namespace moegrad::train
