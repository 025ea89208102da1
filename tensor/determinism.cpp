#include "tensor/determinism.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace moegrad {

namespace {
std::atomic<bool>& flag() {
  static std::atomic<bool> on{[] {
    const char* text = std::getenv("MOEGRAD_DETERMINISTIC");
    return text != nullptr && std::strcmp(text, "0") != 0 && text[0] != '\0';
  }()};
  return on;
}
}  // namespace

void set_deterministic(bool on) { flag().store(on); }
bool deterministic() { return flag().load(); }

}  // namespace moegrad
