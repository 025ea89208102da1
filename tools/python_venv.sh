#!/usr/bin/env bash
# Creates the Python venv that the safetensors interop test runs in (tests/python/safetensors_interop.py):
# build/venv (or $MOEGRAD_VENV) with the `safetensors` and `numpy` packages from PyPI.
# Does nothing when they are already installed; prints one clear line and exits 1 when PyPI is unreachable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MOEGRAD_VENV:-$root/build/venv}"
python="$venv/bin/python"

if [ -x "$python" ] && "$python" -c "import safetensors, numpy" >/dev/null 2>&1; then
  exit 0
fi
if [ ! -x "$python" ]; then
  if ! python3 -m venv "$venv" >/dev/null; then
    echo "tools/python_venv.sh: 'python3 -m venv $venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
echo "tools/python_venv.sh: installing safetensors and numpy from PyPI into $venv"
# Short timeouts: without network this should say so in seconds, not minutes of retries.
if ! "$python" -m pip install --quiet --disable-pip-version-check --timeout 20 --retries 1 safetensors numpy; then
  echo "tools/python_venv.sh: could not install safetensors and numpy from PyPI into $venv." >&2
  echo "  Is PyPI reachable from here? (behind a proxy set HTTPS_PROXY; a mirror: PIP_INDEX_URL)" >&2
  exit 1
fi
