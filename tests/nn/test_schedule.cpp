// Learning-rate schedules: the multiplier at chosen steps of warmup, linear and cosine decay, and
// the Scheduler that applies it to an optimizer.
#include <cmath>
#include <numbers>

#include "nn/optim.h"
#include "nn/schedule.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::nn;

TEST_CASE("warmup rises by 1/W per step and reaches 1 at the last warmup step") {
  LrSchedule schedule = warmup_constant(4);
  CHECK(schedule(0) == 0.25);  // (0 + 1) / 4: the first update already learns
  CHECK(schedule(1) == 0.5);
  CHECK(schedule(3) == 1.0);
  CHECK(schedule(100) == 1.0);
  CHECK(warmup_constant(0)(0) == 1.0);
  CHECK(constant_schedule()(12345) == 1.0);
}

TEST_CASE("linear decay falls from 1 after warmup to the final ratio at total_steps and stays there") {
  // W = 4, T = 10: decay over 6 steps
  LrSchedule to_zero = warmup_linear_decay(4, 10);
  CHECK(to_zero(0) == 0.25);
  CHECK(to_zero(3) == 1.0);
  CHECK(to_zero(4) == 1.0);                        // q = 0
  CHECK(to_zero(7) == doctest::Approx(0.5));       // q = 3/6
  CHECK(to_zero(10) == 0.0);                       // q = 1
  CHECK(to_zero(20) == 0.0);
  LrSchedule to_tenth = warmup_linear_decay(4, 10, 0.1);
  CHECK(to_tenth(7) == doctest::Approx(0.55));     // 0.1 + 0.9 * 0.5
  CHECK(to_tenth(20) == doctest::Approx(0.1));
}

TEST_CASE("cosine decay is 1 after warmup, half way at mid-decay, the final ratio at the end") {
  LrSchedule no_warmup = warmup_cosine_decay(0, 10);
  CHECK(no_warmup(0) == 1.0);
  CHECK(no_warmup(5) == doctest::Approx(0.5));                                 // ½(1 + cos π/2)
  CHECK(no_warmup(2) == doctest::Approx(0.5 * (1 + std::cos(std::numbers::pi * 0.2))));   // 0.9045085
  CHECK(no_warmup(10) == doctest::Approx(0.0));
  LrSchedule with_warmup = warmup_cosine_decay(2, 12, 0.1);
  CHECK(with_warmup(0) == 0.5);
  CHECK(with_warmup(7) == doctest::Approx(0.55));                              // 0.1 + 0.9 * ½
  CHECK(with_warmup(50) == doctest::Approx(0.1));
}

TEST_CASE("Scheduler sets base lr times the multiplier for the optimizer's next step, per group") {
  Tensor a = from_vector(std::vector<double>{1}).requires_grad_();
  Tensor b = from_vector(std::vector<double>{1}).requires_grad_();
  SGD optimizer(std::vector<ParameterGroup>{{{a}, 0.1, 0.0}, {{b}, 0.01, 0.0}});
  Scheduler scheduler(optimizer, warmup_linear_decay(2, 6));
  CHECK(scheduler.multiplier() == 0.5);
  CHECK(optimizer.groups()[0].lr == doctest::Approx(0.05));
  CHECK(optimizer.groups()[1].lr == doctest::Approx(0.005));
  // the first update uses lr 0.05: p = 1 - 0.05 * 1
  a.set_grad(from_vector(std::vector<double>{1}));
  optimizer.step();
  scheduler.step();
  CHECK(a.item() == doctest::Approx(0.95));
  CHECK(optimizer.lr() == doctest::Approx(0.1));
  for (int i = 0; i < 3; ++i) {
    optimizer.step();
    scheduler.step();
  }
  // 4 steps taken: q = (4 - 2) / 4, multiplier 0.5
  CHECK(optimizer.lr() == doctest::Approx(0.05));
  CHECK(optimizer.groups()[1].lr == doctest::Approx(0.005));
}

TEST_CASE("a Scheduler built after load_state resumes the schedule where the saved run was") {
  Tensor p = from_vector(std::vector<double>{1}).requires_grad_();
  SGD first({p}, {.lr = 0.1});
  Scheduler first_scheduler(first, warmup_cosine_decay(1, 5));
  for (int i = 0; i < 3; ++i) {
    p.set_grad(from_vector(std::vector<double>{1}));
    first.step();
    first_scheduler.step();
  }
  Tensor q = from_vector(std::vector<double>{1}).requires_grad_();
  SGD second({q}, {.lr = 0.1});
  second.load_state(first.state());
  Scheduler second_scheduler(second, warmup_cosine_decay(1, 5));
  CHECK(second.lr() == first.lr());
  CHECK(second_scheduler.multiplier() == first_scheduler.multiplier());
}

TEST_CASE("schedules reject steps and ratios that make no sense") {
  CHECK_THROWS_WITH_AS(warmup_linear_decay(10, 10), doctest::Contains("[warmup_linear_decay] total_steps (10) must be "
                                                                      "greater than warmup_steps (10)"),
                       Error);
  CHECK_THROWS_WITH_AS(warmup_cosine_decay(-1, 10), doctest::Contains("[warmup_cosine_decay] warmup_steps must be >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(warmup_cosine_decay(0, 10, 1.5), doctest::Contains("final_ratio must be in [0, 1], got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(warmup_constant(-2), doctest::Contains("[warmup_constant] warmup_steps must be >= 0"), Error);
  Tensor p = from_vector(std::vector<double>{1}).requires_grad_();
  SGD optimizer({p});
  CHECK_THROWS_WITH_AS(Scheduler(optimizer, LrSchedule{}), doctest::Contains("[Scheduler] the schedule is empty"),
                       Error);
}
