// The built-in profiler (tensor/profiler.h): rows per op and phase with the right call counts and
// allocated bytes on a tiny graph whose ops we know, backward rows named "<op> backward", regions
// that swallow the ops inside them, and no counting at all while it is off.
#include <chrono>
#include <thread>

#include "nn/optim.h"
#include "tensor/profiler.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

// Switches the profiler off again when a test ends, whatever happens in it.
struct ProfilerOn {
  ProfilerOn() { profiler::enable(); }
  ~ProfilerOn() {
    profiler::disable();
    profiler::reset();
  }
};

const profiler::Row* find_row(const std::vector<profiler::Row>& rows, const std::string& name, profiler::Phase phase) {
  for (const auto& row : rows) {
    if (row.name == name && row.phase == phase) return &row;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("profiler: a tiny graph gives one row per op and phase with the right calls and bytes") {
  Generator generator(0);
  Tensor x = randn({8, 4}, generator).requires_grad_();
  Tensor w = randn({4, 3}, generator).requires_grad_();
  ProfilerOn on;
  for (int step = 0; step < 2; ++step) {
    Tensor h = matmul(x, w);  // (8,3) float32: 8·3·4 = 96 bytes
    Tensor s = sum(h);        // 0-d float32: 4 bytes
    s.backward();
  }
  auto rows = profiler::rows();
  using profiler::Phase;
  const profiler::Row* matmul_row = find_row(rows, "matmul", Phase::Forward);
  const profiler::Row* sum_row = find_row(rows, "sum", Phase::Forward);
  REQUIRE(matmul_row != nullptr);
  REQUIRE(sum_row != nullptr);
  CHECK(matmul_row->calls == 2);
  CHECK(matmul_row->bytes == 2 * 96);
  CHECK(sum_row->calls == 2);
  CHECK(sum_row->bytes == 2 * 4);

  const profiler::Row* matmul_backward = find_row(rows, "matmul backward", Phase::Backward);
  const profiler::Row* sum_backward = find_row(rows, "sum backward", Phase::Backward);
  REQUIRE(matmul_backward != nullptr);
  REQUIRE(sum_backward != nullptr);
  CHECK(matmul_backward->calls == 2);
  CHECK(sum_backward->calls == 2);
  // matmul's backward makes at least dx (8,4) = 128 bytes and dw (4,3) = 48 bytes per call
  CHECK(matmul_backward->bytes >= 2 * (128 + 48));
  // the ops a backward rule runs inside are charged to the rule, never to rows of their own
  CHECK(find_row(rows, "matmul", Phase::Backward) == nullptr);

  // rows come longest first, and the table lists each of them
  for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].seconds >= rows[i].seconds);
  std::string table = profiler::report();
  CHECK(table.find("matmul backward") != std::string::npos);
  CHECK(table.find("% ") != std::string::npos);
}

TEST_CASE("profiler: the optimizer's step is its own phase; off means nothing is counted") {
  Tensor p = ones({5}).requires_grad_();
  nn::SGD sgd({p}, nn::SGDOptions{0.1});
  {
    ProfilerOn on;
    sum(p * 2.0).backward();
    sgd.step();
    bool optimizer_row = false;
    for (const auto& row : profiler::rows()) optimizer_row |= row.phase == profiler::Phase::Optimizer;
    CHECK(optimizer_row);
  }
  CHECK_FALSE(profiler::enabled());
  sum(p * 2.0).backward();
  CHECK(profiler::rows().empty());
  CHECK(profiler::report().empty());
}

TEST_CASE("profiler: a region takes the time and allocations of everything inside it") {
  ProfilerOn on;
  {
    profiler::RegionScope region("my block");
    Tensor a = zeros({16});  // 64 bytes
    Tensor b = a * a;        // 64 bytes
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto rows = profiler::rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].name == "my block");
  CHECK(rows[0].calls == 1);
  CHECK(rows[0].bytes == 128);
  CHECK(rows[0].seconds >= 0.02);
}
