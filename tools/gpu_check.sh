#!/usr/bin/env bash
# The GPU run of issue 15 in one script: build with CUDA, run the GPU tests, run `bench-cuda` and
# the same training step in PyTorch eager, and write the results under $OUT.
#
#   tools/gpu_check.sh prepare   on a machine with Debian's registry (a developer's): downloads the
#                                build's .deb files into .gpu-carry/ (git-ignored, ~20 MB), for a
#                                GPU machine that reaches no registry
#   tools/gpu_check.sh [run]     on the GPU machine, from the repository root: build, test, bench
#   tools/gpu_check.sh build|test|bench   one phase (when one call cannot hold all three)
#   tools/gpu_check.sh sanitize  compute-sanitizer memcheck over the GPU tests (after build; slow)
#
# Results in $OUT (default build/gpu-check): gpu_check.log (everything), build.log, tests.log,
# bench_cuda.jsonl, bench_torch.jsonl, summary.json (moegrad's tokens/s over PyTorch eager's).
# Each phase has its own time limit, so a hang in one still leaves the others' files behind.
# Budget on an H200 with 16 cores: build ~3 min (sm_90 only, no -g), tests ~1 min, benches ~3 min.
set -uo pipefail

mode=${1:-run}
OUT=${OUT:-build/gpu-check}
CARRY=.gpu-carry
BUILD_DIR=${GPU_CHECK_BUILD:-build/gpu}  # another build folder, to check this script against an existing build
DEPS_ROOT=/tmp/moegrad-deps
# What `make` needs beyond a compiler and nvcc (tools/install_deps.sh's build group, with the
# libraries those packages load, which a bare image may lack too).
PACKAGES="libopenblas-dev libopenblas-pthread-dev libopenblas0 libopenblas0-pthread libgfortran5 libquadmath0
          libfmt-dev libfmt9 doctest-dev nlohmann-json3-dev libcli11-dev zlib1g-dev
          libsentencepiece-dev libsentencepiece0 libprotobuf-lite32 make"

prepare() {  # .gpu-carry/ is in .gitignore: it travels only when a device call names it in carry
  mkdir -p "$CARRY"
  apt-get update -qq
  (cd "$CARRY" && apt-get download $PACKAGES)
  du -sh "$CARRY"
}

log() { echo "== $(date -u +%H:%M:%S) $*"; }

# dpkg -x, or ar + tar where the image has no dpkg
unpack_deb() {
  if command -v dpkg >/dev/null; then dpkg -x "$1" "$2"; return; fi
  local member
  member=$(ar t "$1" | grep '^data\.tar')
  case "$member" in
    *.xz) ar p "$1" "$member" | tar -xJ -C "$2" ;;
    *.zst) ar p "$1" "$member" | tar --zstd -x -C "$2" ;;
    *.gz) ar p "$1" "$member" | tar -xz -C "$2" ;;
    *) ar p "$1" "$member" | tar -x -C "$2" ;;
  esac
}

# Headers and libraries from the carried .deb files, unpacked outside / (dpkg -x, no install
# scripts: so the alternatives links for OpenBLAS are made by pointing at its own folder).
use_carried_packages() {
  local missing=0
  command -v make >/dev/null || { echo "missing: make"; missing=1; }
  for header in cblas.h fmt/format.h doctest/doctest.h nlohmann/json.hpp CLI/CLI.hpp sentencepiece_processor.h zlib.h; do
    echo "#include <$header>" | g++ -std=c++20 -fsyntax-only -x c++ - 2>/dev/null || { echo "missing: $header"; missing=1; }
  done
  [ "$missing" = 0 ] && return 0
  if ! ls "$CARRY"/*.deb >/dev/null 2>&1; then
    echo "build dependencies are missing and no $CARRY/*.deb was carried (run tools/gpu_check.sh prepare first)"
    return 1
  fi
  mkdir -p "$DEPS_ROOT"
  for deb in "$CARRY"/*.deb; do unpack_deb "$deb" "$DEPS_ROOT"; done
  local lib=$DEPS_ROOT/usr/lib/x86_64-linux-gnu
  export PATH=$PATH:$DEPS_ROOT/usr/bin
  export CPATH=$DEPS_ROOT/usr/include:$DEPS_ROOT/usr/include/x86_64-linux-gnu/openblas-pthread${CPATH:+:$CPATH}
  export LIBRARY_PATH=$lib:$lib/openblas-pthread${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

environment() {
  log "environment"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
  command -v nvcc && nvcc --version | tail -2
  g++ --version | head -1
  nproc
}

build() {
  log "build (CUDA=1, sm_90 only, -O3 without -g to save time)"
  use_carried_packages || return 1
  timeout 420 make -j"$(nproc)" CUDA=1 BUILD="$BUILD_DIR" OPT=-O3 \
    NVCC_GENCODE="-gencode arch=compute_90,code=sm_90" \
    "$BUILD_DIR/tests/moegrad_tests" "$BUILD_DIR/bench/bench_cuda" >"$OUT/build.log" 2>&1
  local status=$?
  tail -5 "$OUT/build.log"
  return $status
}

run_tests() {
  use_carried_packages >/dev/null || true
  log "GPU tests (tests/cuda, every case named 'cuda: ...')"
  OMP_NUM_THREADS=8 timeout 240 "$BUILD_DIR/tests/moegrad_tests" -tc='cuda:*,*caching allocator*' >"$OUT/tests.log" 2>&1
  local status=$?
  tail -25 "$OUT/tests.log"
  if grep -q "no CUDA device visible" "$OUT/tests.log"; then
    echo "FAILED: the GPU test cases were skipped: moegrad sees no CUDA device on this machine"
    status=1
  fi
  log "the same cases with MOEGRAD_CUDA_SYNC=1 (a fault is named at its op)"
  MOEGRAD_CUDA_SYNC=1 OMP_NUM_THREADS=8 timeout 120 "$BUILD_DIR/tests/moegrad_tests" -tc='cuda:*' 2>&1 | tail -3
  return $status
}

# compute-sanitizer's memcheck over the GPU tests: out-of-bounds and misaligned accesses in the
# kernels (slow; a phase of its own, not part of `run`)
sanitize() {
  use_carried_packages >/dev/null || true
  log "compute-sanitizer memcheck over the GPU tests"
  timeout 540 compute-sanitizer --tool memcheck --print-limit 20 "$BUILD_DIR/tests/moegrad_tests" -tc='cuda:*' \
    >"$OUT/sanitize.log" 2>&1
  local status=$?
  tail -25 "$OUT/sanitize.log"
  return $status
}

bench() {
  use_carried_packages >/dev/null || true
  log "bench-cuda (moegrad)"
  MOEGRAD_BENCH_STEPS=5 OMP_NUM_THREADS=8 timeout 240 "$BUILD_DIR/bench/bench_cuda" | tee "$OUT/bench_cuda.jsonl"
  log "PyTorch eager, the same step"
  if [ -d .whl ] && ! python3 -c "import torch" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl &&
      export PYTHONPATH=/tmp/site
  fi
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    MOEGRAD_BENCH_STEPS=5 PYTHONUNBUFFERED=1 timeout 180 python3 bench/bert_moe_torch.py | tee "$OUT/bench_torch.jsonl"
  else
    echo "no PyTorch with CUDA here (carry a wheel folder .whl/, see README 'Devices and CUDA')"
  fi
  python3 - "$OUT" <<'PY' || true
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def lines(name):
    path = out / name
    return [json.loads(l) for l in path.read_text().splitlines() if l.startswith("{")] if path.exists() else []
ours = {r["tf32"]: r for r in lines("bench_cuda.jsonl") if r.get("bench") == "cuda_bert_moe"}
theirs = {r["tf32"]: r for r in lines("bench_torch.jsonl") if r.get("bench") == "torch_bert_moe_cuda"}
summary = {"gemm": [r for r in lines("bench_cuda.jsonl") if r.get("bench") == "cuda_gemm"], "bert_moe": []}
for tf32 in (False, True):
    row = {"tf32": tf32, "moegrad": ours.get(tf32), "torch_eager": theirs.get(tf32)}
    if ours.get(tf32) and theirs.get(tf32):
        row["moegrad_over_torch_tokens_per_s"] = round(ours[tf32]["tokens_per_s"] / theirs[tf32]["tokens_per_s"], 3)
    summary["bert_moe"].append(row)
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary, indent=1))
PY
}

case "$mode" in
  prepare) prepare; exit $? ;;
  run | build | test | bench | sanitize) ;;
  *) echo "usage: tools/gpu_check.sh [prepare|run|build|test|bench|sanitize]" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
{
  environment
  status=0
  case "$mode" in
    run) build && { run_tests || status=1; bench || status=1; } || status=1 ;;
    build) build || status=1 ;;
    test) run_tests || status=1 ;;
    bench) bench || status=1 ;;
    sanitize) sanitize || status=1 ;;
  esac
  log "done, status $status"
  exit $status
} 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
