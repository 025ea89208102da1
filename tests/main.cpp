// The test runner: doctest, plus the one summary line CI reads ("tests: N passed, M failed"),
// printed from doctest's own counts after the run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fmt/format.h>

namespace {

struct SummaryLine : doctest::IReporter {
  explicit SummaryLine(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    unsigned failed = stats.numTestCasesFailed;
    unsigned passed = stats.numTestCasesPassingFilters - failed;
    summary = fmt::format("tests: {} passed, {} failed", passed, failed);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
  static inline std::string summary;
};

}  // namespace

DOCTEST_REGISTER_REPORTER("summary_line", 1, SummaryLine);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  context.setOption("reporters", "console,summary_line");
  int status = context.run();
  if (context.shouldExit()) return status;
  fmt::print("{}\n", SummaryLine::summary);
  return status;
}
