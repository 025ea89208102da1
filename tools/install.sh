#!/usr/bin/env bash
# `make install`: copies the library and its headers under PREFIX and writes the files that tell
# compilers where they are:
#   PREFIX/lib/libmoegrad.a                        a regular static archive
#   PREFIX/include/moegrad/<folder>/<name>.h       tensor/, autograd/, nn/, data/, train/, moe/, (distill/, ...)
#   PREFIX/include/moegrad/moegrad.h               the umbrella: every header above
#   PREFIX/lib/pkgconfig/moegrad.pc                pkg-config --cflags --libs moegrad
#   PREFIX/lib/cmake/moegrad/moegrad{Config,ConfigVersion}.cmake   find_package(moegrad), moegrad::moegrad
# In the tree, headers include each other as "tensor/ops.h" (the repository root is on -I). Installed,
# those lines become "moegrad/tensor/ops.h", so users need only -IPREFIX/include and moegrad's folder
# names (data/, train/, ...) never shadow their own headers.
# Usage: tools/install.sh PREFIX LIBRARY VERSION "CUDA LINK FLAGS"   (honours DESTDIR, as make install does)
set -euo pipefail
prefix=$1 library=$2 version=$3 cuda_libs=${4:-}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
destination="${DESTDIR:-}$prefix"
# Every top-level folder with headers is public API except these, so a new one (distill/) joins alone.
not_public=" examples tests bench cuda build tools packaging "
folders=()
for folder in "$root"/*/; do
  folder=$(basename "$folder")
  if [[ "$not_public" != *" $folder "* ]] && compgen -G "$root/$folder/*.h" >/dev/null; then folders+=("$folder"); fi
done

install -d "$destination/lib/pkgconfig" "$destination/lib/cmake/moegrad" "$destination/include/moegrad"
install -m 644 "$library" "$destination/lib/libmoegrad.a"

# The headers, their includes of one another rewritten under moegrad/; the umbrella lists them all,
# so a folder added later (distill/) joins without an edit here.
rm -rf "${folders[@]/#/$destination/include/moegrad/}"
folder_pattern=$(IFS='|'; echo "${folders[*]}")
umbrella="$destination/include/moegrad/moegrad.h"
{
  echo "// moegrad $version: the whole public API (written by make install; the finer headers sit beside it)."
  echo "#pragma once"
} >"$umbrella"
for folder in "${folders[@]}"; do
  for header in "$root/$folder"/*.h; do
    [ -e "$header" ] || continue
    relative=${header#"$root/"}
    install -d "$destination/include/moegrad/$folder"
    sed -E "s@^#include \"(($folder_pattern)/)@#include \"moegrad/\\1@" "$header" >"$destination/include/moegrad/$relative"
    chmod 644 "$destination/include/moegrad/$relative"
    echo "#include \"moegrad/$relative\"" >>"$umbrella"
  done
done

# pkg-config and CMake files, from the templates in packaging/.
fill() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@CUDA_LIBS@|$cuda_libs|g" "$root/packaging/$1" >"$2"
}
fill moegrad.pc.in "$destination/lib/pkgconfig/moegrad.pc"
fill moegradConfig.cmake.in "$destination/lib/cmake/moegrad/moegradConfig.cmake"
fill moegradConfigVersion.cmake.in "$destination/lib/cmake/moegrad/moegradConfigVersion.cmake"
echo "moegrad $version installed under $destination (pkg-config: $destination/lib/pkgconfig, CMake: find_package(moegrad))"
