"""moegrad against PyTorch on the performance issue's four configs, in lockstep (`make bench-compare`).

For each config: export moegrad's initial weights and inputs, start build/bench/train_step --serve and
bench/torch_step.py --serve (each a fresh process, so each peak RSS is that config's own), then run
rounds of one step each, alternating which side goes first, so a busy neighbour slows both alike.
Reports per config: the median s/step of each side, moegrad's speed vs PyTorch (median of the per-round
ratios torch/moegrad, with their min-max spread), each side's share of the GEMM roof (raw cblas_sgemm
time for the config's matmuls, measured by train_step --gemm-roof before and after the rounds, the
faster kept, over the median step time), the peak RSS side by side, and the first-step losses (same
weights, same inputs: they must agree to 1e-4 relative). Appends one JSON line per side per config to
build/bench.jsonl. With --check: only the first step, and exit 1 unless every loss agrees.

Each side's peak is VmHWM minus its VmRSS before any model or input exists: PyTorch's right after
`import torch`, moegrad's when train_step starts (its shared libraries, CUDA's cuBLAS among them,
loaded). The runtime's own code and data are netted out, what the config allocates stays in.
Runs under build/venv/bin/python (it needs no torch itself; torch_step.py runs under the same interpreter).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = ["moe_layer", "dense_ffn", "bert_moe", "bert_dense"]
ROOT = Path(__file__).resolve().parent.parent


class Server:
    """A --serve process: one command line in, one JSON line out."""

    def __init__(self, command, name):
        self.name = name
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self.read()

    def read(self):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"compare.py: {self.name} exited early (code {self.process.wait()})")
        return json.loads(line)

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def quit(self):
        answer = self.ask("quit")
        self.process.wait()
        return answer


def gemm_roof(args, config):
    out = subprocess.run([args.bin, "--config", config, "--gemm-roof", "--threads", str(args.threads),
                          "--batch", str(args.batch), "--seq", str(args.seq)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_config(args, config):
    weights = Path(args.out) / f"{config}.safetensors"
    shape = ["--batch", str(args.batch), "--seq", str(args.seq), "--threads", str(args.threads)]
    roof = [] if args.check else [gemm_roof(args, config)]
    ours = Server([args.bin, "--config", config, "--serve", "--export", str(weights)] + shape, "train_step")
    torch = Server([sys.executable, str(ROOT / "bench" / "torch_step.py"), "--config", config, "--serve",
                    "--weights", str(weights)] + shape, "torch_step.py")
    steps = {"moegrad": [], "torch": []}
    rounds = 1 if args.check else args.warmup + args.rounds
    for round_index in range(rounds):
        order = [("moegrad", ours), ("torch", torch)]
        if round_index % 2 == 1:
            order.reverse()
        for name, server in order:
            steps[name].append(server.ask("step"))
        if not args.check:
            m, t = steps["moegrad"][-1]["step_s"], steps["torch"][-1]["step_s"]
            print(f"  {config} round {round_index + 1}/{rounds}: moegrad {m:.3f} s, torch {t:.3f} s, "
                  f"ratio {t / m:.2f}{' (warm-up)' if round_index < args.warmup else ''}", flush=True)
    peak = {"moegrad": ours.quit(), "torch": torch.quit()}
    if not args.check:
        roof.append(gemm_roof(args, config))
    first = {name: steps[name][0]["loss"] for name in steps}
    result = {"config": config, "first_loss": first,
              "first_loss_rel_diff": abs(first["moegrad"] - first["torch"]) / max(abs(first["torch"]), 1e-30),
              "torch_version": torch.ready["torch_version"]}
    if args.check:
        return result
    timed = {name: steps[name][args.warmup:] for name in steps}
    ratios = [t["step_s"] / m["step_s"] for m, t in zip(timed["moegrad"], timed["torch"])]
    roof_s = min(r["roof_s"] for r in roof)
    result.update(ratios=ratios, roof_s=roof_s, sgemm_gflops=max(r["sgemm_gflops"] for r in roof),
                  gemm_flops=roof[0]["gemm_flops"])
    tokens = args.batch * args.seq
    for name in steps:
        med = lambda key: statistics.median(s[key] for s in timed[name])
        peak_mb = peak[name]["peak_rss_mb"]
        line = {"impl": name, "config": config, "device": "cpu", "threads": args.threads,
                "sec_per_step": med("step_s"), "tokens_per_s": tokens / med("step_s"),
                "peak_rss_mb": peak_mb - peak[name].get("baseline_rss_mb", 0.0),
                "forward_s": med("forward_s"), "backward_s": med("backward_s"), "optimizer_s": med("optimizer_s"),
                "steps": len(timed[name]), "batch": args.batch, "seq": args.seq, "first_loss": first[name],
                "gemm_roof_share": roof_s / med("step_s"), "mode": "lockstep", "commit": args.commit,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        line.update(peak_rss_raw_mb=peak_mb, baseline_rss_mb=peak[name].get("baseline_rss_mb", 0.0))
        if name == "torch":
            line.update(torch_version=result["torch_version"])
        else:
            line.update(speed_vs_torch=statistics.median(ratios), round_ratios=[round(r, 3) for r in ratios])
        result[name] = line
        with open(args.jsonl, "a") as out:
            out.write(json.dumps(line) + "\n")
    return result


def print_summary(results, args):
    print(f"\nlockstep, {args.threads} threads each, batch {args.batch} x {args.seq}, {args.rounds} rounds after "
          f"{args.warmup} warm-up, commit {args.commit}, torch {results[0]['torch_version']}")
    print(f"{'config':<11} {'moegrad s':>9} {'torch s':>8} {'speed vs torch':>15} {'round min-max':>14} "
          f"{'moegrad roof':>12} {'torch roof':>10} {'moegrad MB':>10} {'torch MB':>9} {'loss rel diff':>13}")
    for r in results:
        m, t = r["moegrad"], r["torch"]
        print(f"{r['config']:<11} {m['sec_per_step']:>9.3f} {t['sec_per_step']:>8.3f} "
              f"{statistics.median(r['ratios']):>14.2f}x {min(r['ratios']):>6.2f}-{max(r['ratios']):<7.2f} "
              f"{100 * m['gemm_roof_share']:>11.0f}% {100 * t['gemm_roof_share']:>9.0f}% "
              f"{m['peak_rss_mb']:>10.0f} {t['peak_rss_mb']:>9.0f} {r['first_loss_rel_diff']:>13.1e}")
    by_name = {r["config"]: r for r in results}
    if "moe_layer" in by_name and "dense_ffn" in by_name:
        for impl in ("moegrad", "torch"):
            ratio = by_name["moe_layer"][impl]["sec_per_step"] / by_name["dense_ffn"][impl]["sec_per_step"]
            print(f"moe_layer / dense_ffn time, {impl}: {ratio:.2f} (goal for moegrad: <= 1.25)")
    print(f"GEMM roof: each config's matmul FLOPs at raw cblas_sgemm speed ({args.threads} threads, the config's "
          f"shapes, measured in this run); lines appended to {args.jsonl}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (one step of each side per round)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--bin", default=str(ROOT / "build" / "bench" / "train_step"))
    parser.add_argument("--jsonl", default=str(ROOT / "build" / "bench.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "build" / "bench_compare"), help="where the exported weights go")
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--check", action="store_true", help="first step only: do both compute the same loss?")
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    results = []
    for config in args.configs:
        results.append(run_config(args, config))
        if args.check:
            r = results[-1]
            verdict = "same" if r["first_loss_rel_diff"] <= 1e-4 else "DIFFERENT"
            print(f"{config:<11} first-step loss moegrad {r['first_loss']['moegrad']:.8g} torch "
                  f"{r['first_loss']['torch']:.8g} rel diff {r['first_loss_rel_diff']:.1e}: {verdict}", flush=True)
    if args.check:
        same = all(r["first_loss_rel_diff"] <= 1e-4 for r in results)
        print(f"bench check: {'every config computes the same first-step loss' if same else 'losses differ'} "
              "(1e-4 relative)")
        sys.exit(0 if same else 1)
    print_summary(results, args)


if __name__ == "__main__":
    main()
