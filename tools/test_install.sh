#!/usr/bin/env bash
# The install check `make test` runs before the unit tests: installs moegrad into a temporary prefix,
# then builds the README's own program (examples/own_program/main.cpp) against that copy the two ways
# the README shows, g++ with pkg-config and CMake's find_package, and runs each build. Nothing of the
# source tree is on the include or library path, so a header or flag missing from the install fails here.
# Usage: tools/test_install.sh LIBRARY ["CUDA LINK FLAGS"]   (make test passes the build's)
# Prints one PASS/FAIL line; exits 1 on failure.
set -uo pipefail
library=$1 cuda_libs=${2:-}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d "${TMPDIR:-/tmp}/moegrad-install-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/log"
prefix="$work/prefix"
version=$(cat "$root/VERSION")
: >"$log"

fail() {
  echo "install check: FAIL: $1" >&2
  tail -n 30 "$log" >&2
  exit 1
}

# The README shows the program verbatim; a change to one without the other fails here.
python3 - "$root/examples/own_program/main.cpp" "$root/README.md" <<'EOF' || fail "README.md does not show examples/own_program/main.cpp verbatim"
import sys
program, readme = (open(path).read() for path in sys.argv[1:])
sys.exit(0 if f"```cpp\n{program}```" in readme else 1)
EOF
"$root/tools/install.sh" "$prefix" "$library" "$version" "$cuda_libs" >"$log" 2>&1 || fail "tools/install.sh"
cp "$root/examples/own_program/main.cpp" "$root/examples/own_program/CMakeLists.txt" "$work/"
cd "$work" || exit 1

# 1. The README's one line (with the prefix's pkgconfig folder, as a non-default prefix needs).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion moegrad)" = "$version" ] || fail "pkg-config --modversion moegrad is not $version"
# shellcheck disable=SC2046
g++ main.cpp $(pkg-config --cflags --libs moegrad) -o own_program >>"$log" 2>&1 ||
  fail "g++ main.cpp \$(pkg-config --cflags --libs moegrad)"
(mkdir -p run_pkgconfig && cd run_pkgconfig && OMP_NUM_THREADS=2 ../own_program) >>"$log" 2>&1 ||
  fail "the program built with pkg-config did not run"
# a checkpoint is a folder whose 'latest' file names the current save (nn/checkpoint.h)
saved() { [ -f "$1/latest" ] && [ -f "$1/$(cat "$1/latest")/$2" ]; }
grep -q "tokens per expert" "$log" && saved run_pkgconfig/own_program_checkpoint config.json ||
  fail "the pkg-config program printed no routing or saved no checkpoint"

# 2. CMake: find_package(moegrad) through CMAKE_PREFIX_PATH.
command -v cmake >/dev/null || fail "cmake is not installed (tools/install_deps.sh install-check)"
cmake -S . -B cmake_build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 ||
  fail "cmake configure with find_package(moegrad)"
cmake --build cmake_build >>"$log" 2>&1 || fail "cmake --build"
(mkdir -p run_cmake && cd run_cmake && OMP_NUM_THREADS=2 ../cmake_build/own_program) >>"$log" 2>&1 ||
  fail "the program built with CMake did not run"
saved run_cmake/own_program_checkpoint model.safetensors || fail "the CMake program saved no checkpoint"

echo "install check: PASS (make install into a temporary prefix; the README's program built with g++ + pkg-config and with CMake, both ran)"
