// The MoE LM examples' reading of curves (examples/moe_lm_report.h): the loss at a FLOP or time
// budget, paired per seed, and the mean ± sd band over seeds, against numbers worked by hand.
#include "examples/moe_lm_report.h"
#include "tests/helpers.h"

using namespace moegrad;
using namespace moegrad::examples;

namespace {

LmResult curve(std::vector<double> flops, std::vector<double> seconds, std::vector<double> loss) {
  LmResult r;
  r.eval_steps = {10, 20, 30};
  r.eval_flops = std::move(flops);
  r.eval_seconds = std::move(seconds);
  r.eval_loss = std::move(loss);
  r.final_eval_loss = r.eval_loss.back();
  return r;
}

}  // namespace

TEST_CASE("loss_at interpolates between evaluations and refuses a budget before the first") {
  std::vector<double> x = {100, 200, 400}, loss = {3.0, 2.0, 1.0};
  CHECK(loss_at(x, loss, 150) == doctest::Approx(2.5));
  CHECK(loss_at(x, loss, 300) == doctest::Approx(1.5));
  CHECK(loss_at(x, loss, 200) == doctest::Approx(2.0));
  CHECK(loss_at(x, loss, 1000) == doctest::Approx(1.0));  // past the end: the final loss
  CHECK(std::isnan(loss_at(x, loss, 50)));
}

TEST_CASE("losses_at_equal_budget reads both runs of a seed at the smaller run's total") {
  // a spends 300 FLOPs in all, b 600: both are read at 300, a at its end (1.0), b between its
  // evaluations at 200 (3.0) and 400 (2.5)
  std::vector<LmResult> a = {curve({100, 200, 300}, {1, 2, 3}, {3.0, 2.0, 1.0})};
  std::vector<LmResult> b = {curve({200, 400, 600}, {1, 2, 3}, {3.0, 2.5, 2.0})};
  std::vector<double> a_loss, b_loss;
  losses_at_equal_budget(a, b, LossAxis::Flops, a_loss, b_loss);
  REQUIRE(a_loss.size() == 1);
  CHECK(a_loss[0] == doctest::Approx(1.0));
  CHECK(b_loss[0] == doctest::Approx(2.75));  // 3.0 at 200, 2.5 at 400: halfway between at 300
  // on wall time both end at 3 s: their final losses
  losses_at_equal_budget(a, b, LossAxis::Seconds, a_loss, b_loss);
  CHECK(a_loss[0] == doctest::Approx(1.0));
  CHECK(b_loss[0] == doctest::Approx(2.0));
}

TEST_CASE("loss_band gives the mean over seeds with a ± sd band, at the mean x") {
  LossArm arm{"two seeds",
              {curve({100, 200, 300}, {1, 2, 3}, {3.0, 2.0, 1.0}), curve({300, 400, 500}, {1, 2, 3}, {5.0, 2.0, 3.0})}};
  train::Series steps = loss_band(arm, LossAxis::Steps), flops = loss_band(arm, LossAxis::Flops);
  CHECK(steps.x == std::vector<double>{10, 20, 30});
  CHECK(flops.x == std::vector<double>{200, 300, 400});
  CHECK(steps.y[0] == doctest::Approx(4.0));
  // sd of {3, 5} with n − 1: √2
  CHECK(steps.high[0] == doctest::Approx(4.0 + std::sqrt(2.0)));
  CHECK(steps.low[1] == doctest::Approx(2.0));  // equal values: no band
  CHECK(steps.high[1] == doctest::Approx(2.0));
}
