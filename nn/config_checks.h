// Checks for the fields of module configs, each throwing moegrad::Error "[Owner] field must ...,
// got value", so a bad config fails where it is built and names the field, not three calls later
// inside an op ("[topk] k = ...") or as a SIGFPE.
#pragma once
#include <fmt/format.h>

#include <cmath>
#include <cstdint>

#include "tensor/errors.h"

namespace moegrad::nn::config_checks {

inline void positive(const char* owner, const char* field, std::int64_t value) {
  if (value <= 0) throw Error(fmt::format("[{}] {} must be > 0, got {}", owner, field, value));
}

inline void non_negative(const char* owner, const char* field, std::int64_t value) {
  if (value < 0) throw Error(fmt::format("[{}] {} must be >= 0, got {}", owner, field, value));
}

// A dropout probability: in [0, 1] (NaN fails too).
inline void probability(const char* owner, const char* field, double value) {
  if (!(value >= 0.0 && value <= 1.0)) throw Error(fmt::format("[{}] {} must be in [0, 1], got {}", owner, field, value));
}

// eps and the like: finite and > 0.
inline void positive_finite(const char* owner, const char* field, double value) {
  if (!(value > 0.0) || !std::isfinite(value)) {
    throw Error(fmt::format("[{}] {} must be a finite number > 0, got {}", owner, field, value));
  }
}

// A standard deviation: finite and >= 0.
inline void non_negative_finite(const char* owner, const char* field, double value) {
  if (!(value >= 0.0) || !std::isfinite(value)) {
    throw Error(fmt::format("[{}] {} must be a finite number >= 0, got {}", owner, field, value));
  }
}

// Attention: the width splits evenly into heads.
inline void heads_divide(const char* owner, const char* dim_field, std::int64_t dim, const char* heads_field,
                         std::int64_t heads) {
  positive(owner, dim_field, dim);
  positive(owner, heads_field, heads);
  if (dim % heads != 0) {
    throw Error(fmt::format("[{}] {} = {} must split evenly into {} = {} heads", owner, dim_field, dim, heads_field,
                            heads));
  }
}

}  // namespace moegrad::nn::config_checks
