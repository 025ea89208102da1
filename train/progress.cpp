#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "tensor/errors.h"

namespace moegrad::train {

double steady_clock_seconds() {
  auto since_epoch = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

std::string format_duration(double seconds) {
  auto total = static_cast<std::int64_t>(std::max(0.0, seconds));
  std::int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{:02}:{:02}", minutes, secs);
}

std::string format_rate(double per_second) {
  if (per_second >= 1e9) return fmt::format("{:.2f}G", per_second / 1e9);
  if (per_second >= 1e6) return fmt::format("{:.2f}M", per_second / 1e6);
  if (per_second >= 1e3) return fmt::format("{:.1f}k", per_second / 1e3);
  return fmt::format("{:.1f}", per_second);
}

ProgressBar::ProgressBar(std::int64_t total_steps, std::string label, ProgressOptions options)
    : total_steps_(total_steps), label_(std::move(label)), options_(std::move(options)) {
  if (total_steps_ <= 0) throw Error(fmt::format("[ProgressBar] total_steps must be positive, got {}", total_steps_));
  if (options_.bar_width < 0)
    throw Error(fmt::format("[ProgressBar] bar_width must be >= 0, got {}", options_.bar_width));
  if (!options_.clock) options_.clock = steady_clock_seconds;
  out_ = options_.out != nullptr ? options_.out : &std::cout;
  // Only a real terminal understands '\r' as "go back and redraw"; a log file would keep every copy.
  terminal_ = options_.mode == ProgressMode::Terminal ||
              (options_.mode == ProgressMode::Auto && out_ == &std::cout && isatty(STDOUT_FILENO));
  start_time_ = options_.clock();
  now_ = start_time_;
  last_print_time_ = start_time_;
}

ProgressBar::~ProgressBar() {
  try {
    finish();
  } catch (...) {
    // A destructor must not throw; a failed last line of a progress bar is not worth a crash.
  }
}

void ProgressBar::update(std::int64_t step, const Metrics& metrics) {
  step_ = step;
  metrics_ = metrics;
  now_ = options_.clock();
  if (should_print(now_)) draw(now_);
}

void ProgressBar::add_items(std::int64_t count) { items_ += count; }

void ProgressBar::message(const std::string& line) {
  if (terminal_ && last_line_length_ > 0) {
    // Blank the bar, print the message on its line, then draw the bar again below it.
    *out_ << '\r' << std::string(last_line_length_, ' ') << '\r' << line << '\n';
    last_line_length_ = 0;
    draw(now_);
    return;
  }
  *out_ << line << '\n' << std::flush;
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  now_ = options_.clock();
  if (last_printed_step_ != step_) draw(now_);
  if (terminal_) *out_ << '\n' << std::flush;  // leave the redrawn line behind for good
}

bool ProgressBar::should_print(double now) const {
  if (step_ == last_printed_step_) return false;
  if (step_ >= total_steps_) return true;
  double since_last_print = now - last_print_time_;
  if (terminal_) return since_last_print >= options_.redraw_interval_seconds;
  // Plain lines: one per 10% of the steps (tenth = 0..10), or a heartbeat for slow loops.
  auto tenth = [this](std::int64_t step) { return std::max<std::int64_t>(step, 0) * 10 / total_steps_; };
  return tenth(step_) > tenth(last_printed_step_) || since_last_print >= options_.plain_interval_seconds;
}

void ProgressBar::draw(double now) {
  std::string line = render();
  if (terminal_) {
    std::size_t leftover = last_line_length_ > line.size() ? last_line_length_ - line.size() : 0;
    *out_ << '\r' << line << std::string(leftover, ' ') << std::flush;
    last_line_length_ = line.size();
  } else {
    *out_ << line << '\n' << std::flush;
  }
  last_print_time_ = now;
  last_printed_step_ = step_;
}

std::string ProgressBar::render() const {
  std::int64_t done = std::clamp<std::int64_t>(step_, 0, total_steps_);
  std::int64_t percent = done * 100 / total_steps_;
  std::int64_t filled = done * options_.bar_width / total_steps_;
  std::string bar = std::string(filled, '#') + std::string(options_.bar_width - filled, '.');
  // The step is padded to the width of the total so the line does not jitter as it grows.
  std::size_t step_width = std::to_string(total_steps_).size();

  std::string line = label_.empty() ? "" : label_ + " ";
  line += fmt::format("{:>{}}/{} [{}] {:>3}%", step_, step_width, total_steps_, bar, percent);
  for (const auto& [name, value] : metrics_) line += fmt::format(" {} {:.4g}", name, value);

  double elapsed = now_ - start_time_;
  if (items_ > 0 && elapsed > 0) line += fmt::format(" | {} {}/s", format_rate(items_ / elapsed), options_.item_unit);
  std::string left = "--:--";
  if (done > 0) left = format_duration(elapsed / static_cast<double>(done) * static_cast<double>(total_steps_ - done));
  line += fmt::format(" | {} elapsed, {} left", format_duration(elapsed), left);
  return line;
}

}  // namespace moegrad::train
