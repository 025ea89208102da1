// Warmup and decay schedules (formulas in nn/schedule.h).
#include "nn/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "tensor/errors.h"

namespace moegrad::nn {

namespace {
enum class Decay { Linear, Cosine };

void check_steps(const char* name, std::int64_t warmup_steps, std::int64_t total_steps, double final_ratio) {
  if (warmup_steps < 0) throw Error(fmt::format("[{}] warmup_steps must be >= 0, got {}", name, warmup_steps));
  if (total_steps <= warmup_steps) {
    throw Error(fmt::format("[{}] total_steps ({}) must be greater than warmup_steps ({}) to leave room to decay",
                            name, total_steps, warmup_steps));
  }
  if (!(final_ratio >= 0.0 && final_ratio <= 1.0)) {
    throw Error(fmt::format("[{}] final_ratio must be in [0, 1], got {}", name, final_ratio));
  }
}

double warmup(std::int64_t step, std::int64_t warmup_steps) {
  return static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
}

LrSchedule warmup_then_decay(std::int64_t warmup_steps, std::int64_t total_steps, double final_ratio, Decay decay) {
  return [=](std::int64_t step) {
    if (step < warmup_steps) return warmup(step, warmup_steps);
    double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
    progress = std::min(progress, 1.0);
    double shape = decay == Decay::Linear ? 1.0 - progress : 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    return final_ratio + (1.0 - final_ratio) * shape;
  };
}
}  // namespace

LrSchedule constant_schedule() {
  return [](std::int64_t) { return 1.0; };
}

LrSchedule warmup_constant(std::int64_t warmup_steps) {
  if (warmup_steps < 0) throw Error(fmt::format("[warmup_constant] warmup_steps must be >= 0, got {}", warmup_steps));
  return [=](std::int64_t step) { return step < warmup_steps ? warmup(step, warmup_steps) : 1.0; };
}

LrSchedule warmup_linear_decay(std::int64_t warmup_steps, std::int64_t total_steps, double final_ratio) {
  check_steps("warmup_linear_decay", warmup_steps, total_steps, final_ratio);
  return warmup_then_decay(warmup_steps, total_steps, final_ratio, Decay::Linear);
}

LrSchedule warmup_cosine_decay(std::int64_t warmup_steps, std::int64_t total_steps, double final_ratio) {
  check_steps("warmup_cosine_decay", warmup_steps, total_steps, final_ratio);
  return warmup_then_decay(warmup_steps, total_steps, final_ratio, Decay::Cosine);
}

Scheduler::Scheduler(Optimizer& optimizer, LrSchedule schedule) : optimizer_(optimizer), schedule_(std::move(schedule)) {
  if (!schedule_) throw Error("[Scheduler] the schedule is empty");
  step();
}

void Scheduler::step() {
  multiplier_ = schedule_(optimizer_.step_count());
  optimizer_.set_lr_scale(multiplier_);
}

}  // namespace moegrad::nn
