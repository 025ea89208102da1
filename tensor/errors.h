// Typed errors. Every message starts with the op in brackets and prints the shapes, dtypes and
// devices involved, e.g. "[matmul] shapes [32,64] and [32,64] are not compatible: inner dimensions
// 64 and 32 differ". Catch moegrad::Error for all of them, or std::invalid_argument for bad input.
#pragma once
#include <stdexcept>
#include <string>

namespace moegrad {

// Bad arguments: wrong shapes, axes, indices, dtypes or devices.
struct Error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct ShapeError : Error {
  using Error::Error;
};
struct DTypeError : Error {
  using Error::Error;
};
struct DeviceError : Error {
  using Error::Error;
};
struct IndexError : Error {
  using Error::Error;
};
// Misuse of the graph: backward twice through a freed graph, backward on a tensor without grad, ...
struct AutogradError : std::logic_error {
  using std::logic_error::logic_error;
};

}  // namespace moegrad
