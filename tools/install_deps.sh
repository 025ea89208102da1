#!/usr/bin/env bash
# Installs the Debian packages moegrad builds against, if any are missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -euo pipefail
# build: compilers and libraries; then gnuplot for the examples' PNG plots; then the data sets
# of ../shared/DATA.md (Fashion-MNIST, the KJV bible, WordNet, fortunes).
packages=(build-essential pkg-config libopenblas-dev libfmt-dev doctest-dev nlohmann-json3-dev libcli11-dev
          zlib1g-dev libomp-dev libsentencepiece-dev python3 python3-venv
          gnuplot-nox
          dataset-fashion-mnist bible-kjv bible-kjv-text wordnet-base fortunes)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "moegrad needs these Debian packages: ${missing[*]}" >&2
  echo "run:  sudo apt-get update && sudo $command" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$command
