// Readable printing: fmt::format("{}", t), std::cout << t, or t.str().
#pragma once
#include <fmt/format.h>

#include <ostream>

#include "tensor/tensor.h"

template <>
struct fmt::formatter<moegrad::Tensor> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const moegrad::Tensor& t, Context& context) const {
    return fmt::formatter<std::string_view>::format(t.str(), context);
  }
};

namespace moegrad {
inline std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }
}  // namespace moegrad
