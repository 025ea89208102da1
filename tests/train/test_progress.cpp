// The progress bar, driven by a fake clock so the throttling is checked without sleeping.
#include <algorithm>
#include <sstream>

#include "tests/helpers.h"
#include "train/progress.h"

using namespace moegrad;
using namespace moegrad::train;

namespace {

// A bar writing to `out` whose clock reads `now`, which the test moves by hand.
ProgressOptions fake_options(std::ostringstream& out, double& now, ProgressMode mode = ProgressMode::Plain) {
  ProgressOptions options;
  options.out = &out;
  options.mode = mode;
  options.clock = [&now] { return now; };
  return options;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("a plain progress line shows step, bar, percent, metrics, rate, elapsed and time left") {
  std::ostringstream out;
  double now = 0.0;
  ProgressOptions options = fake_options(out, now);
  options.item_unit = "tok";
  ProgressBar bar(100, "train", options);
  // 25 steps of 64 tokens in 5 s: 320 tok/s; 75 steps left at 0.2 s each: 15 s.
  now = 5.0;
  bar.add_items(25 * 64);
  bar.update(25, {{"loss", 0.53}, {"acc", 0.875}});
  CHECK(out.str() ==
        "train  25/100 [#####...............]  25% loss 0.53 acc 0.875 | 320.0 tok/s | 00:05 elapsed, 00:15 left\n");
}

TEST_CASE("plain mode prints one line per 10% of the steps, the last one at the final step") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(100, "train", fake_options(out, now));
  for (int step = 1; step <= 100; ++step) {
    now += 0.01;
    bar.update(step, {{"loss", 1.0 / step}});
  }
  bar.finish();  // the final step was already printed: finish adds nothing
  std::vector<std::string> lines = lines_of(out.str());
  REQUIRE(lines.size() == 10);
  CHECK(lines[0].rfind("train  10/100 [##..................]  10% loss 0.1 |", 0) == 0);
  CHECK(lines[9].rfind("train 100/100 [####################] 100% loss 0.01 |", 0) == 0);
  CHECK(out.str().find('\r') == std::string::npos);
}

TEST_CASE("plain mode prints a heartbeat line when a slow loop crosses no 10% mark for 30 s") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(1000, "", fake_options(out, now));
  now = 10.0;
  bar.update(1);  // 10 s after the start: too soon
  CHECK(out.str().empty());
  now = 31.0;
  bar.update(2);  // 31 s after the start: a heartbeat
  now = 40.0;
  bar.update(3);  // 9 s after the heartbeat: too soon again
  std::vector<std::string> lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("   2/1000 [", 0) == 0);  // no label: the line starts with the step
}

TEST_CASE("terminal mode redraws one line with carriage returns at most ten times a second") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(100, "train", fake_options(out, now, ProgressMode::Terminal));
  // 100 steps of 1/32 s: a redraw every 4th step (0.125 s >= 0.1 s), i.e. at steps 4, 8, ..., 100.
  for (int step = 1; step <= 100; ++step) {
    now += 1.0 / 32.0;
    bar.update(step);
  }
  bar.finish();
  std::string text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\r') == 25);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);  // only finish() ends the line
  CHECK(text.back() == '\n');
  CHECK(text.find("\rtrain 100/100 [####################] 100% | 00:03 elapsed, 00:00 left\n") != std::string::npos);
}

TEST_CASE("terminal mode blanks the leftovers of a longer previous line") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(10, "t", fake_options(out, now, ProgressMode::Terminal));
  now = 1.0;
  bar.update(1, {{"a_long_metric_name", 1.0}});
  std::size_t long_length = bar.render().size();
  out.str("");
  now = 2.0;
  bar.update(2);
  std::string redraw = out.str();
  CHECK(redraw.size() == 1 + long_length);  // '\r', the shorter line, then spaces over the old tail
  CHECK(redraw.back() == ' ');
}

TEST_CASE("a message in terminal mode goes above the bar, which is drawn again below it") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(10, "t", fake_options(out, now, ProgressMode::Terminal));
  now = 1.0;
  bar.update(5);
  std::string line = bar.render();
  out.str("");
  bar.message("eval: accuracy 0.9");
  CHECK(out.str() == "\r" + std::string(line.size(), ' ') + "\reval: accuracy 0.9\n\r" + line);
}

TEST_CASE("a message in plain mode is just a line") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(10, "t", fake_options(out, now));
  bar.message("eval: accuracy 0.9");
  CHECK(out.str() == "eval: accuracy 0.9\n");
}

TEST_CASE("auto mode writes plain lines to a stream that is not the terminal") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(2, "t", fake_options(out, now, ProgressMode::Auto));
  bar.update(1);
  bar.update(2);
  CHECK(lines_of(out.str()).size() == 2);
  CHECK(out.str().find('\r') == std::string::npos);
}

TEST_CASE("finish prints the latest state once; the destructor finishes an unfinished bar") {
  std::ostringstream out;
  double now = 0.0;
  {
    ProgressBar bar(40, "t", fake_options(out, now));
    bar.finish();
    bar.finish();
    CHECK(out.str() == "t  0/40 [....................]   0% | 00:00 elapsed, --:-- left\n");
    out.str("");
  }
  CHECK(out.str().empty());
  {
    ProgressBar bar(40, "t", fake_options(out, now));
    now = 3.0;
    bar.update(2);  // 5%: not printed yet
    CHECK(out.str().empty());
  }
  CHECK(out.str() == "t  2/40 [#...................]   5% | 00:03 elapsed, 00:57 left\n");
}

TEST_CASE("a step past the total fills the bar without overflowing it") {
  std::ostringstream out;
  double now = 0.0;
  ProgressBar bar(4, "t", fake_options(out, now));
  now = 1.0;
  bar.update(6);
  CHECK(out.str() == "t 6/4 [####################] 100% | 00:01 elapsed, 00:00 left\n");
}

TEST_CASE("a progress bar needs a positive number of steps") {
  CHECK_THROWS_WITH_AS(ProgressBar(0, "train"), doctest::Contains("[ProgressBar] total_steps must be positive, got 0"),
                       Error);
}

TEST_CASE("durations read as minutes:seconds, with hours when needed; rates get k and M") {
  CHECK(format_duration(0) == "00:00");
  CHECK(format_duration(65.9) == "01:05");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-4) == "00:00");
  CHECK(format_rate(950) == "950.0");
  CHECK(format_rate(5100) == "5.1k");
  CHECK(format_rate(2.5e6) == "2.50M");
}
