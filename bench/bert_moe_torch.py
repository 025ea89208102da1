"""The PyTorch-eager side of `make bench-cuda`: the same MoE BERT training step as
bench/bench_cuda.cpp (batch 64 x seq 256, d 512, d_ff 2048, 8 post-LN layers, an MoE FFN in layers
1, 3, 5, 7 with 16 experts of width 2048, GShard top-2 routing with capacity factor 1.25 and the
random second choice, load-balancing and z losses, a pooler + classifier head, AdamW), written
with plain tensor ops the way an eager PyTorch user would: attention as matmul + softmax (no fused
SDPA, as moegrad), experts as a loop over the tokens sorted by expert. `--cpu-check` runs one
step at batch 2 x seq 16 on the CPU.

Prints one JSON line per precision: {"bench":"torch_bert_moe_cuda","tf32":...,"s_per_step":...,
"tokens_per_s":...,"loss":...}. Run by tools/gpu_check.sh; needs torch with CUDA.
"""
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

BATCH, SEQ, DIM, HEADS, LAYERS, FFN = 64, 256, 512, 8, 8, 2048
EXPERTS, CAPACITY_FACTOR, AUX_WEIGHT, Z_WEIGHT = 16, 1.25, 1e-2, 1e-3
VOCAB, CLASSES, DROPOUT = 8000, 2, 0.1


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(DIM, EXPERTS, bias=False)
        self.w1 = nn.Parameter(torch.randn(EXPERTS, DIM, FFN) * math.sqrt(0.1 / DIM))
        self.b1 = nn.Parameter(torch.zeros(EXPERTS, FFN))
        self.w2 = nn.Parameter(torch.randn(EXPERTS, FFN, DIM) * math.sqrt(0.1 / FFN))
        self.b2 = nn.Parameter(torch.zeros(EXPERTS, DIM))

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, DIM)
        tokens = x.shape[0]
        logits = self.router(x)
        probs = logits.softmax(-1)
        gates, experts = probs.topk(2, dim=-1)
        gates = gates / gates.sum(-1, keepdim=True)
        keep_second = 2 * gates[:, 1] > torch.rand(tokens, device=x.device)
        # capacity: each expert takes its first C slots, first choices before second choices
        capacity = math.ceil(tokens / EXPERTS * CAPACITY_FACTOR)
        onehot = F.one_hot(experts.t().reshape(-1), EXPERTS)  # (2T, E), choice-major
        onehot[tokens:] *= keep_second.unsqueeze(1)
        position = (onehot.cumsum(0) - 1) * onehot
        kept = (position < capacity).all(-1) & (onehot.sum(-1) > 0)
        slot_expert = experts.t().reshape(-1)
        slot_token = torch.arange(tokens, device=x.device).repeat(2)
        slot_gate = gates.t().reshape(-1)
        index = kept.nonzero().squeeze(1)
        order = slot_expert[index].argsort(stable=True)
        index = index[order]
        counts = torch.bincount(slot_expert[index], minlength=EXPERTS).tolist()
        rows = x[slot_token[index]]
        out_rows = torch.empty_like(rows)
        start = 0
        for e, count in enumerate(counts):
            if count:
                h = F.gelu(rows[start:start + count] @ self.w1[e] + self.b1[e])
                out_rows[start:start + count] = h @ self.w2[e] + self.b2[e]
            start += count
        y = torch.zeros_like(x).index_add(0, slot_token[index], out_rows * slot_gate[index].unsqueeze(1))
        # GShard's aux loss (E^2 * mean(fraction * mean prob)) and ST-MoE's z-loss
        fraction = F.one_hot(experts[:, 0], EXPERTS).float().mean(0)
        aux = AUX_WEIGHT * EXPERTS * EXPERTS * (fraction * probs.mean(0)).mean()
        z = Z_WEIGHT * torch.logsumexp(logits, -1).square().mean()
        return y.reshape(shape), aux + z


class Layer(nn.Module):
    def __init__(self, moe):
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.out = nn.Linear(DIM, DIM)
        self.norm1, self.norm2 = nn.LayerNorm(DIM, eps=1e-12), nn.LayerNorm(DIM, eps=1e-12)
        self.moe = MoE() if moe else None
        if not moe:
            self.ff1, self.ff2 = nn.Linear(DIM, FFN), nn.Linear(FFN, DIM)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        attention = F.dropout((q @ k.transpose(-1, -2) / math.sqrt(DIM // HEADS)).softmax(-1), DROPOUT)
        a = (attention @ v).transpose(1, 2).reshape(b, s, DIM)
        x = self.norm1(x + F.dropout(self.out(a), DROPOUT))
        if self.moe is not None:
            f, aux = self.moe(x)
        else:
            f, aux = self.ff2(F.gelu(self.ff1(x))), x.new_zeros(())
        return self.norm2(x + F.dropout(f, DROPOUT)), aux


class BertMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.words, self.positions = nn.Embedding(VOCAB, DIM), nn.Embedding(SEQ, DIM)
        self.types = nn.Embedding(2, DIM)
        self.norm = nn.LayerNorm(DIM, eps=1e-12)
        self.layers = nn.ModuleList(Layer(moe=i % 2 == 1) for i in range(LAYERS))
        self.pooler, self.classifier = nn.Linear(DIM, DIM), nn.Linear(DIM, CLASSES)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.words(ids) + self.positions(positions) + self.types(torch.zeros_like(ids))
        x = F.dropout(self.norm(x), DROPOUT)
        aux = x.new_zeros(())
        for layer in self.layers:
            x, layer_aux = layer(x)
            aux = aux + layer_aux
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(F.dropout(pooled, DROPOUT)), aux


def run(tf32, steps, device="cuda", batch=BATCH, seq=SEQ):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    model = BertMoE().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, VOCAB, (batch, seq), device=device)
    labels = torch.randint(0, CLASSES, (batch,), device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times, loss = [], None
    for step in range(steps + 2):  # two warm-up steps, not timed
        sync()
        start = time.perf_counter()
        logits, aux = model(ids)
        loss = F.cross_entropy(logits, labels) + aux
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        if step >= 2:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    print(json.dumps({"bench": f"torch_bert_moe_{device}", "tf32": tf32, "batch": batch, "sequence": seq,
                      "s_per_step": round(seconds, 4), "tokens_per_s": round(batch * seq / seconds),
                      "loss": round(loss.item(), 4), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--cpu-check"]:  # the same model, tiny batch, on the CPU
        run(False, 1, device="cpu", batch=2, seq=16)
    elif not torch.cuda.is_available():
        print(json.dumps({"bench": "torch_bert_moe", "skipped": "torch sees no CUDA device"}))
    else:
        steps = int(os.environ.get("MOEGRAD_BENCH_STEPS", "5"))
        for tf32 in (False, True):
            run(tf32, steps)
