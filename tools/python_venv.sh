#!/usr/bin/env bash
# Creates the Python venv the interop tests run in (tests/python/safetensors_interop.py and
# tests/python/torch_interop.py): build/venv (or $MOEGRAD_VENV) with `safetensors`, `numpy` and
# `torch` from PyPI. PyPI's Linux torch wheel is the CUDA build and pulls the nvidia-* packages
# (about 5 GB installed; PyPI has no CPU-only wheel for Linux, and `pip install --no-deps torch`
# fails to import without them), so the first run takes a few minutes; pip's cache makes later
# venvs quick. Does nothing when the packages already import; prints one clear line and exits 1
# when PyPI is unreachable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MOEGRAD_VENV:-$root/build/venv}"
python="$venv/bin/python"
packages=(safetensors numpy torch)

if [ -x "$python" ] && "$python" -c "import safetensors, numpy, torch" >/dev/null 2>&1; then
  exit 0
fi
if [ ! -x "$python" ]; then
  if ! python3 -m venv "$venv" >/dev/null; then
    echo "tools/python_venv.sh: 'python3 -m venv $venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
echo "tools/python_venv.sh: installing ${packages[*]} from PyPI into $venv (torch: a few minutes the first time)"
# Short timeouts: without network this should say so in seconds, not minutes of retries.
if ! "$python" -m pip install --quiet --disable-pip-version-check --timeout 20 --retries 1 "${packages[@]}"; then
  echo "tools/python_venv.sh: could not install ${packages[*]} from PyPI into $venv." >&2
  echo "  Is PyPI reachable from here? (behind a proxy set HTTPS_PROXY; a mirror: PIP_INDEX_URL)" >&2
  exit 1
fi
