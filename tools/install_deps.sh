#!/usr/bin/env bash
# Installs the Debian packages a make target needs, if any are missing, by group:
#   build          compilers and the libraries moegrad links (all `make` needs)
#   examples       gnuplot for the examples' PNG plots and the data sets of ../shared/DATA.md
#                  (Fashion-MNIST, the KJV bible, WordNet, fortunes)
#   python         python3 and venv, for the venv of the interop tests (tools/python_venv.sh)
#   install-check  cmake, to build the README's own program against an installed copy
#   profile        valgrind, for the instruction counts of `make bench-callgrind`
# Usage: tools/install_deps.sh GROUP...   (no group: build)
# As root it runs apt-get; otherwise it prints the exact command and exits 1 before any compile.
set -euo pipefail

packages_of() {
  case "$1" in
    build) echo build-essential pkg-config libopenblas-dev libopenblas0-openmp libfmt-dev doctest-dev \
                nlohmann-json3-dev libcli11-dev zlib1g-dev libomp-dev libsentencepiece-dev ;;
    examples) echo gnuplot-nox dataset-fashion-mnist bible-kjv bible-kjv-text wordnet-base fortunes ;;
    python) echo python3 python3-venv ;;
    install-check) echo cmake ;;
    profile) echo valgrind ;;
    *) echo "tools/install_deps.sh: unknown group '$1' (build, examples, python, install-check, profile)" >&2; exit 2 ;;
  esac
}

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)
missing=()
for group in "${groups[@]}"; do
  group_packages=$(packages_of "$group")
  for package in $group_packages; do
    # dpkg-query, not dpkg -s: a package removed but not purged still has a status entry.
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
  done
done
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "moegrad: missing Debian packages (${groups[*]}): ${missing[*]}" >&2
  echo "moegrad: install them, then run make again:" >&2
  echo "  sudo apt-get update && sudo $command" >&2
  exit 1
fi
echo "moegrad: installing Debian packages (${groups[*]}): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$command
