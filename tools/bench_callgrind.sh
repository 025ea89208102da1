#!/usr/bin/env bash
# Instruction counts of one reduced training step per benchmark config (`make bench-callgrind`):
# wall-clock on a shared machine is noisy, instructions are not. Each config runs under
#   valgrind --tool=callgrind --instr-atstart=no
# with one thread (no spinning workers, so the count repeats run to run); train_step switches the
# instrumentation on after its warm-up step, so only the timed step is counted. Prints the total
# instructions (Ir) per config and the top functions (callgrind_annotate), writes the raw profiles
# to build/callgrind/<config>.out and one JSON line per config to build/callgrind/instructions.jsonl.
# Usage: tools/bench_callgrind.sh [BUILD_DIR] [CONFIG...]    (env: BATCH=4 SEQ=32 TOP=12)
set -euo pipefail
build="${1:-build}"
shift || true
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(moe_layer dense_ffn bert_moe bert_dense)
batch="${BATCH:-4}" seq="${SEQ:-32}" top="${TOP:-12}"
bin="$build/bench/train_step"
out="$build/callgrind"
command -v valgrind >/dev/null || { echo "bench_callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
mkdir -p "$out"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
declare -A totals
for config in "${configs[@]}"; do
  echo "== $config: one step of batch $batch x $seq under callgrind (1 thread)"
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out/$config.out" "$bin" --config "$config" --batch "$batch" --seq "$seq" \
    --steps 1 --warmup 1 --threads 1 --jsonl '' > "$out/$config.log" 2>&1 || { cat "$out/$config.log"; exit 1; }
  annotated="$(callgrind_annotate --inclusive=no "$out/$config.out" 2>/dev/null)"
  total="$(grep -m1 'PROGRAM TOTALS' <<<"$annotated" | awk '{gsub(",", "", $1); print $1}')"
  totals[$config]="$total"
  # the top functions by their own (exclusive) instructions; long C++ names cut at 110 characters
  awk -v top="$top" '/file:function/{found=1; next} found && NF && shown < top {print substr($0, 1, 110); shown++}' \
    <<<"$annotated"
  echo "{\"config\": \"$config\", \"batch\": $batch, \"seq\": $seq, \"instructions\": $total, \"commit\": \"$commit\"}" \
    >> "$out/instructions.jsonl"
done
echo
echo "instructions per step (batch $batch x $seq, 1 thread, commit $commit):"
for config in "${configs[@]}"; do printf '  %-11s %16s\n' "$config" "$(printf "%'d" "${totals[$config]}")"; done
