// moegrad's version, from the file VERSION at the root of the repository (the Makefile passes it in;
// moegrad.pc and the CMake package config carry the same string).
#pragma once
#include <string>

namespace moegrad {

// "major.minor.patch", e.g. "0.1.0".
std::string version();

}  // namespace moegrad
