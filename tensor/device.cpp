#include "tensor/device.h"

#include <fmt/format.h>

#include "tensor/errors.h"

namespace moegrad {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : fmt::format("cuda:{}", index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    try {
      std::size_t used = 0;
      int index = std::stoi(text.substr(5), &used);
      if (used == text.size() - 5 && index >= 0) return cuda(index);
    } catch (const std::exception&) {
    }
  }
  throw DeviceError(fmt::format("[device] cannot parse '{}': expected 'cpu', 'cuda' or 'cuda:N'", text));
}

}  // namespace moegrad
