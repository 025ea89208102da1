#include "tensor/version.h"

// Set by the Makefile from the file VERSION; the fallback only serves builds that bypass it.
#ifndef MOEGRAD_VERSION
#define MOEGRAD_VERSION "unknown"
#endif

namespace moegrad {

std::string version() { return MOEGRAD_VERSION; }

}  // namespace moegrad
