// Weight initialisers. Each returns a fresh tensor drawn from the generator it is given.
#pragma once
#include "tensor/creation.h"

namespace moegrad::nn {

// U(-1/√fan_in, 1/√fan_in): PyTorch's default for Linear weights and biases.
Tensor fan_in_uniform(const Shape& shape, std::int64_t fan_in, Generator& generator, DType dtype = kFloat32);
// N(0, std²) cut at ±2 std and redrawn (the Switch Transformer initialises with std = √(0.1/fan_in)).
Tensor truncated_normal(const Shape& shape, double std, Generator& generator, DType dtype = kFloat32);

}  // namespace moegrad::nn
