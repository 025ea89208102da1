#!/usr/bin/env bash
# `make demo`: a tour of the papers. Runs each paper's example in --quick mode (seconds each), then
# prints one table, paper by paper, of what each run checked just now. Every example ends its output
# with a line "tour: <example> | <what it checked, with the numbers> | <check passed: yes/no>"; this
# script collects those lines and prints each beside the example's default-run verdict. A --quick run
# is a tiny model, a few dozen steps and few seeds, so its check is a smoke check of the mechanism
# (drops fall with capacity, the load collapses without the balancing losses, ...), not the paper's
# effect, which at that size is noise. Usage: tools/tour.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
papers=(
  "local_experts_1991|Jacobs et al. 1991, adaptive mixtures of local experts"
  "noisy_topk_2017|Shazeer et al. 2017, noisy top-k gating"
  "gshard_top2|Lepikhin et al. 2020, GShard top-2"
  "switch_top1|Fedus et al. 2021, Switch Transformer"
  "glam|Du et al. 2021, GLaM"
  "st_moe|Zoph et al. 2022, ST-MoE"
  "widenet|Xue et al. 2022, WideNet"
  "expert_specialisation|Zoph et al. 2022, ST-MoE: what experts specialise in, encoder vs decoder"
  "expert_count|Fedus et al. 2021 / Zoph et al. 2022: the number of experts at equal FLOPs per token"
  "hinton_kd|Hinton et al. 2015, knowledge distillation"
  "mobilebert|Sun et al. 2020, MobileBERT"
  "moebert|Zuo et al. 2022, MoEBERT"
  "tcd|Lu et al. 2024, Transfer Capability Distillation"
)
logs="$build/tour"
mkdir -p "$logs"
for entry in "${papers[@]}"; do
  example=${entry%%|*}
  echo
  echo "==== ${entry#*|}: $build/examples/$example --quick"
  if ! "$build/examples/$example" --quick --out "$logs/$example" 2>&1 | tee "$logs/$example.log"; then
    echo "tour: $example | the example FAILED (log: $logs/$example.log) | no" >>"$logs/$example.log"
  fi
done

echo
echo "The tour, paper by paper. 'just now' is the --quick run: a tiny model and few steps, so it checks"
echo "the mechanism (a smoke check: yes when it works as it should), not the paper's effect, which is"
echo "noise at that size. 'default run' is each example's verdict on the effect, as last measured at its"
echo "default size (tools/tour_defaults.tsv; README.md has the numbers)."
trim() { sed 's/^ *//; s/ *$//' <<<"$1"; }
defaults="$(dirname "$0")/tour_defaults.tsv"
for entry in "${papers[@]}"; do
  example=${entry%%|*}
  line=$(grep -a '^tour: ' "$logs/$example.log" 2>/dev/null | tail -n 1 || true)
  if [[ -z "$line" ]]; then line="tour: $example | (no tour line printed) | no"; fi
  IFS='|' read -r _ checked passed <<<"$line"
  default=$(awk -F'\t' -v e="$example" '$1 == e { print $2 " (" $3 ": " $4 ")" }' "$defaults")
  echo
  echo "$example — ${entry#*|}"
  echo "  just now (--quick): $(trim "$checked") [check passed: $(trim "$passed")]"
  echo "  default run:        ${default:-(not yet measured)}"
done
