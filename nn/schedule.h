// Learning-rate schedules: functions from a step number to a multiplier of the base learning
// rate, and a Scheduler that applies one to an optimizer.
//
// `step` counts the optimizer updates already taken, so schedule(0) is the multiplier of the very
// first update. With W warmup steps, T total steps and a final ratio r:
//   warmup   s < W:       (s + 1) / W            rises linearly, reaching 1 at the last warmup step
//                                                 (so the first update is not wasted at lr 0)
//   decay    W ≤ s ≤ T:   progress q = (s − W) / (T − W)
//                linear:  r + (1 − r)·(1 − q)
//                cosine:  r + (1 − r)·½(1 + cos πq)     (Loshchilov & Hutter, 2017, SGDR, one cycle)
//   after    s > T:       r
#pragma once
#include <cstdint>
#include <functional>

#include "nn/optim.h"

namespace moegrad::nn {

using LrSchedule = std::function<double(std::int64_t step)>;

// 1 at every step.
LrSchedule constant_schedule();
// Linear warmup over warmup_steps, then 1.
LrSchedule warmup_constant(std::int64_t warmup_steps);
// Linear warmup, then linear decay to final_ratio at total_steps (BERT's schedule with r = 0).
LrSchedule warmup_linear_decay(std::int64_t warmup_steps, std::int64_t total_steps, double final_ratio = 0.0);
// Linear warmup, then cosine decay to final_ratio at total_steps (GPT-3 uses r = 0.1).
LrSchedule warmup_cosine_decay(std::int64_t warmup_steps, std::int64_t total_steps, double final_ratio = 0.0);

// Sets optimizer's learning rates to base × schedule(optimizer.step_count()): once when built,
// and again each time step() is called (call it after optimizer.step()). It keeps no count of its
// own, so after optimizer.load_state() a new Scheduler (or the next step()) picks up where the
// saved run was.
class Scheduler {
 public:
  Scheduler(Optimizer& optimizer, LrSchedule schedule);
  void step();
  double multiplier() const { return multiplier_; }  // the one applied last

 private:
  Optimizer& optimizer_;
  LrSchedule schedule_;
  double multiplier_ = 1.0;
};

}  // namespace moegrad::nn
