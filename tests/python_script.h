// Runs one of tests/python/*.py in the build's venv (tools/python_venv.sh: safetensors, numpy, torch
// from PyPI) and fails the test, with the script's output, unless it exits 0. Used by the interop
// tests that check moegrad's files against the reference Python packages.
#pragma once
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace moegrad::testing {

// The repository root: the nearest folder above the test binary (or the working directory) that
// holds tools/python_venv.sh.
inline std::filesystem::path repository_root() {
  namespace fs = std::filesystem;
  std::error_code error;
  for (fs::path start : {fs::read_symlink("/proc/self/exe", error).parent_path(), fs::current_path()}) {
    for (fs::path folder = start; !folder.empty(); folder = folder.parent_path()) {
      if (fs::exists(folder / "tools" / "python_venv.sh")) return folder;
      if (folder == folder.parent_path()) break;
    }
  }
  return {};
}

// python <root>/tests/python/<script> <arguments...>, its output in log_path.
inline void run_python_script(const std::string& script, const std::string& arguments, const std::string& log_path) {
  namespace fs = std::filesystem;
  const fs::path root = repository_root();
  REQUIRE_MESSAGE(!root.empty(), "cannot find the repository root (a folder holding tools/python_venv.sh)");
  const char* venv_variable = std::getenv("MOEGRAD_VENV");
  const fs::path venv = venv_variable ? fs::path(venv_variable) : root / "build" / "venv";
  const fs::path python = venv / "bin" / "python";
  REQUIRE_MESSAGE(fs::exists(python), "no Python venv at " << venv.string() << ": run tools/python_venv.sh (it "
                                      "creates build/venv with safetensors, numpy and torch from PyPI), then rerun");
  const std::string command = fmt::format("'{}' '{}' {} > '{}' 2>&1", python.string(),
                                          (root / "tests" / "python" / script).string(), arguments, log_path);
  const int status = std::system(command.c_str());
  std::ifstream log(log_path);
  std::stringstream output;
  output << log.rdbuf();
  INFO("command: " << command);
  INFO("output:\n" << output.str());
  REQUIRE(status == 0);
}

}  // namespace moegrad::testing
