"""The performance issue's four configs in PyTorch (eager, float32, CPU), the twin of bench/train_step.cpp.

Usage: torch_step.py --config NAME [--weights FILE] [--serve] [--threads 2] [--batch 32 --seq 128]
  --weights FILE  moegrad's initial weights and inputs (train_step --export FILE): "param.<name>" are
                  loaded into modules whose parameter names and shapes are moegrad's own, "input.<name>"
                  are the inputs, so both sides compute the same first loss. Without it: torch's init.
  --serve         lockstep mode for bench/compare.py: one step per "step" line on stdin, one JSON line
                  back per command ("quit" answers with the peak RSS).
Without --serve: --steps timed steps after --warmup, one JSON summary line on stdout.

The models mirror moegrad's: post-LN BERT (LN(tok + pos), no segment embedding), GELU tanh FFNs,
plain Linear MLM head over every position; the MoE layer is plain top-2 (softmax, top-2 renormalised
over the two, capacity C = ceil(1.25 · 2T/E), all first choices placed before any second choice, a
slot past C dropped), aux = E · Σ_e f_e · m_e (f_e: fraction of first choices, m_e: mean
probability). Loss: moe_layer mean(y²) + 0.01·aux, dense_ffn mean(y²), bert_* cross-entropy over
all positions + 0.01·Σ aux, then AdamW(lr 1e-4, weight decay 0.01).
"""
import argparse
import json
import math
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

VOCAB, DIM, HEADS, FFN, LAYERS, EXPERTS, EPS = 8192, 256, 4, 1024, 4, 8, 1e-12


def rss_mb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return -1.0


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1, self.w2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.w2(F.gelu(self.w1(x), approximate="tanh")), None


class Router(nn.Module):
    def __init__(self, dim, experts):
        super().__init__()
        self.gate_weight = nn.Parameter(torch.randn(dim, experts) * math.sqrt(0.1 / dim))


class MoE(nn.Module):
    """Plain top-2 with capacity; weights laid out as moegrad's: w1 (E,D,H), b1 (E,H), w2 (E,H,D), b2 (E,D)."""

    def __init__(self, dim, hidden, experts):
        super().__init__()
        self.router = Router(dim, experts)
        self.w1 = nn.Parameter(torch.randn(experts, dim, hidden) * math.sqrt(0.1 / dim))
        self.b1 = nn.Parameter(torch.zeros(experts, hidden))
        self.w2 = nn.Parameter(torch.randn(experts, hidden, dim) * math.sqrt(0.1 / hidden))
        self.b2 = nn.Parameter(torch.zeros(experts, dim))

    def forward(self, x_in):
        x = x_in.reshape(-1, x_in.shape[-1])
        tokens, experts = x.shape[0], self.w1.shape[0]
        probs = torch.softmax(x @ self.router.gate_weight, dim=-1)  # (T,E)
        top_p, top_e = probs.topk(2, dim=-1)
        gates = top_p / top_p.sum(dim=-1, keepdim=True)
        capacity = math.ceil(1.25 * 2 * tokens / experts)
        # priority order: slot j·T + t, every first choice before any second choice
        slot_expert = top_e.t().reshape(-1)
        slot_token = torch.arange(tokens).repeat(2)
        slot_gate = gates.t().reshape(-1)
        one_hot = F.one_hot(slot_expert, experts)
        position = (one_hot.cumsum(0) * one_hot).sum(-1) - 1
        kept = position < capacity
        out = torch.zeros_like(x)
        for e in range(experts):
            rows = torch.nonzero(kept & (slot_expert == e)).squeeze(1)
            token = slot_token[rows]
            hidden = F.gelu(x[token] @ self.w1[e] + self.b1[e], approximate="tanh")
            out = out.index_add(0, token, (hidden @ self.w2[e] + self.b2[e]) * slot_gate[rows].unsqueeze(1))
        first_share = F.one_hot(top_e[:, 0], experts).float().mean(0)
        aux = experts * (first_share * probs.mean(0)).sum()
        return out.reshape(x_in.shape), aux


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.output = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        batch, tokens, dim = x.shape
        split = lambda t: t.view(batch, tokens, self.heads, dim // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads), dim=-1)
        return self.output((probs @ v).transpose(1, 2).reshape(batch, tokens, dim))


class Layer(nn.Module):  # post-LN: h = LN1(x + attn(x)); out = LN2(h + ffn(h))
    def __init__(self, ffn):
        super().__init__()
        self.attention = Attention(DIM, HEADS)
        self.norm1, self.norm2 = nn.LayerNorm(DIM, eps=EPS), nn.LayerNorm(DIM, eps=EPS)
        self.ffn = ffn

    def forward(self, x):
        h = self.norm1(x + self.attention(x))
        branch, aux = self.ffn(h)
        return self.norm2(h + branch), aux


class Embeddings(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.token, self.position = nn.Embedding(VOCAB, DIM), nn.Embedding(seq, DIM)
        self.norm = nn.LayerNorm(DIM, eps=EPS)

    def forward(self, ids):
        return self.norm(self.token(ids) + self.position(torch.arange(ids.shape[1])).unsqueeze(0))


class Encoder(nn.Module):
    def __init__(self, seq, moe):
        super().__init__()
        self.embeddings = Embeddings(seq)
        self.layers = nn.ModuleList(
            Layer(MoE(DIM, FFN, EXPERTS) if moe and i % 2 == 1 else FeedForward(DIM, FFN)) for i in range(LAYERS))


class BertMLM(nn.Module):
    def __init__(self, seq, moe):
        super().__init__()
        self.encoder = Encoder(seq, moe)
        self.decoder = nn.Linear(DIM, VOCAB)

    def forward(self, ids):
        h, aux = self.encoder.embeddings(ids), 0.0
        for layer in self.encoder.layers:
            h, layer_aux = layer(h)
            if layer_aux is not None:
                aux = aux + layer_aux
        return self.decoder(h), aux


class Workload:
    """One config: model, inputs, and step() -> (forward_s, backward_s, optimizer_s, loss)."""

    def __init__(self, config, batch, seq, weights):
        tensors = {}
        if weights:
            from safetensors.torch import load_file
            tensors = load_file(weights)
        inputs = {k[len("input."):]: v for k, v in tensors.items() if k.startswith("input.")}
        tokens = batch * seq
        self.optimizer = None
        if config in ("moe_layer", "dense_ffn"):
            self.model = MoE(DIM, FFN, EXPERTS) if config == "moe_layer" else FeedForward(DIM, 2 * FFN)
            x = inputs.get("x", torch.randn(tokens, DIM)).clone().requires_grad_(True)

            def loss_fn():
                y, aux = self.model(x)
                return (y * y).mean() + (0.01 * aux if aux is not None else 0.0)
        elif config in ("bert_moe", "bert_dense"):
            self.model = BertMLM(seq, config == "bert_moe")
            ids = inputs.get("ids", torch.randint(0, VOCAB, (batch, seq)))
            targets = inputs.get("targets", torch.randint(0, VOCAB, (batch, seq)))

            def loss_fn():
                logits, aux = self.model(ids)
                return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1)) + 0.01 * aux
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.01)
        else:
            raise SystemExit(f"torch_step.py: unknown config {config!r}")
        params = {k[len("param."):]: v for k, v in tensors.items() if k.startswith("param.")}
        if params:
            self.model.load_state_dict(params, strict=True)
        self.loss_fn = loss_fn

    def step(self):
        start = time.perf_counter()
        if self.optimizer:
            self.optimizer.zero_grad(set_to_none=True)
        else:
            self.model.zero_grad(set_to_none=True)
        zero = time.perf_counter() - start
        start = time.perf_counter()
        loss = self.loss_fn()
        forward = time.perf_counter() - start
        start = time.perf_counter()
        loss.backward()
        backward = time.perf_counter() - start
        start = time.perf_counter()
        if self.optimizer:
            self.optimizer.step()
        optimizer = zero + time.perf_counter() - start
        return {"forward_s": forward, "backward_s": backward, "optimizer_s": optimizer,
                "step_s": forward + backward + optimizer, "loss": loss.item()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # torch imported, nothing built: what libtorch itself holds, netted out of the peak below
    baseline_mb = rss_mb("VmRSS")
    work = Workload(args.config, args.batch, args.seq, args.weights)
    if args.serve:
        print(json.dumps({"ready": True, "baseline_rss_mb": baseline_mb, "torch_version": torch.__version__}), flush=True)
        for command in sys.stdin:
            command = command.strip()
            if command == "step":
                print(json.dumps(work.step()), flush=True)
            elif command == "quit":
                print(json.dumps({"peak_rss_mb": rss_mb("VmHWM"), "baseline_rss_mb": baseline_mb}), flush=True)
                return
            else:
                print(json.dumps({"error": f"unknown command {command}"}), flush=True)
        return
    steps = [work.step() for _ in range(args.warmup + args.steps)]
    timed = sorted(steps[args.warmup:], key=lambda s: s["step_s"])
    median = timed[len(timed) // 2]
    print(json.dumps({"impl": "torch", "config": args.config, "torch_version": torch.__version__,
                      "sec_per_step": median["step_s"], "first_loss": steps[0]["loss"],
                      "peak_rss_mb": rss_mb("VmHWM") - baseline_mb}))


if __name__ == "__main__":
    main()
