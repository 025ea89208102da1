"""Opens a moegrad checkpoint in PyTorch: the recipe the README's "PyTorch interop" section gives.

Usage: torch_interop.py CHECKPOINT_DIR EXPECTED_FILE
  CHECKPOINT_DIR  written by moegrad's nn::save_checkpoint: config.json (a moe::MoETransformerConfig with
                  architecture "bert_classifier", Switch router) and model.safetensors
  EXPECTED_FILE   a safetensors file with "ids" (B,T) int64 and "logits" (B,C), moegrad's eval-mode output

Builds the same BERT in plain torch.nn, loads the weights through moegrad_to_torch (the only place
layouts differ), and checks the logits to 1e-4. Exits 1 with the reason otherwise.
"""
import json
import math
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.output = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):  # (B,T,D), no padding mask
        batch, tokens, dim = x.shape
        split = lambda t: t.view(batch, tokens, self.heads, dim // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads), dim=-1)
        return self.output((probs @ v).transpose(1, 2).reshape(batch, tokens, dim))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden, gelu):
        super().__init__()
        self.w1, self.w2, self.gelu = nn.Linear(dim, hidden), nn.Linear(hidden, dim), gelu

    def forward(self, x):
        return self.w2(F.gelu(self.w1(x), approximate=self.gelu))


class SwitchMoE(nn.Module):
    """Switch top-1 in evaluation, dropless: y = p_i(x) E_i(x) with i = argmax softmax(router(x))."""

    def __init__(self, dim, hidden, experts, gelu):
        super().__init__()
        self.router = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(FeedForward(dim, hidden, gelu) for _ in range(experts))

    def forward(self, x):
        probs = torch.softmax(self.router(x), dim=-1)  # (B,T,E)
        gate, chosen = probs.max(dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows = chosen == e
            out[rows] = gate[rows].unsqueeze(-1) * expert(x[rows])
        return out


class Layer(nn.Module):  # post-LN, as BERT: h = LN1(x + attn(x)); out = LN2(h + ffn(h))
    def __init__(self, bert, ffn):
        super().__init__()
        self.attention = Attention(bert["dim"], bert["heads"])
        self.norm1 = nn.LayerNorm(bert["dim"], eps=bert["layer_norm_eps"])
        self.norm2 = nn.LayerNorm(bert["dim"], eps=bert["layer_norm_eps"])
        self.ffn = ffn

    def forward(self, x):
        h = self.norm1(x + self.attention(x))
        return self.norm2(h + self.ffn(h))


class BertClassifier(nn.Module):
    def __init__(self, config):
        super().__init__()
        bert, moe, router = config["model"], config["moe"], config["router"]
        assert router["kind"] == "switch", "this recipe covers the Switch router"
        gelu = "tanh" if moe["activation"] == "tanh" else "none"
        every, first = config["moe_layers"]["every"], config["moe_layers"]["first"]
        is_moe = lambda i: i >= first and (i - first) % every == 0
        self.token = nn.Embedding(bert["vocab_size"], bert["dim"])
        self.position = nn.Embedding(bert["max_positions"], bert["dim"])
        self.segment = nn.Embedding(bert["type_vocab_size"], bert["dim"])
        self.norm = nn.LayerNorm(bert["dim"], eps=bert["layer_norm_eps"])
        self.layers = nn.ModuleList(
            Layer(bert, SwitchMoE(bert["dim"], moe["expert_hidden"], router["experts"], gelu) if is_moe(i)
                  else FeedForward(bert["dim"], bert["ffn_hidden"], "none"))
            for i in range(bert["layers"]))
        self.pooler = nn.Linear(bert["dim"], bert["dim"])
        self.classifier = nn.Linear(bert["dim"], config["classes"])

    def forward(self, ids):
        positions = torch.arange(ids.shape[1])
        h = self.norm(self.token(ids) + self.position(positions) + self.segment.weight[0])
        for layer in self.layers:
            h = layer(h)
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))


def moegrad_to_torch(state):
    """moegrad names -> this module's names. Dense layers (Linear weight (out,in), Embedding, LayerNorm)
    match torch.nn as they are; MoE tensors are stacked over experts with x @ W layouts, so they are
    split per expert and transposed: w1 (E,D,H) -> experts.e.w1.weight (H,D), w2 (E,H,D) -> (D,H),
    b1 (E,H), b2 (E,D) -> per-expert biases, router.router_weight (D,E) -> router.weight (E,D)."""
    torch_state = {}
    for name, tensor in state.items():
        name = name.removeprefix("encoder.").removeprefix("embeddings.")
        prefix, _, leaf = name.rpartition(".")
        if leaf == "router_weight":  # "layers.1.ffn.router.router_weight"
            torch_state[f"{prefix}.weight"] = tensor.T
        elif leaf in ("w1", "b1", "w2", "b2"):  # an MoE layer's stacked experts: "layers.1.ffn.w1"
            linear = "w1" if leaf.endswith("1") else "w2"
            for e in range(tensor.shape[0]):
                if leaf.startswith("w"):
                    torch_state[f"{prefix}.experts.{e}.{linear}.weight"] = tensor[e].T
                else:
                    torch_state[f"{prefix}.experts.{e}.{linear}.bias"] = tensor[e]
        else:
            torch_state[name] = tensor
    return torch_state


def main(checkpoint, expected_file):
    checkpoint = Path(checkpoint)
    if (checkpoint / "latest").exists():  # the checkpoint folder names its current save
        checkpoint = checkpoint / (checkpoint / "latest").read_text().strip()
    config = json.loads((checkpoint / "config.json").read_text())
    with safe_open(checkpoint / "model.safetensors", framework="pt") as file:
        if file.metadata().get("format") != "pt":
            return f'model.safetensors __metadata__ lacks "format": "pt": {file.metadata()}'
    model = BertClassifier(config)
    model.load_state_dict(moegrad_to_torch(load_file(checkpoint / "model.safetensors")), strict=True)
    model.eval()
    expected = load_file(expected_file)
    with torch.no_grad():
        logits = model(expected["ids"])
    difference = (logits - expected["logits"]).abs().max().item()
    print(f"torch logits {tuple(logits.shape)}, largest difference from moegrad's: {difference:.3g}")
    if not difference <= 1e-4:
        return f"logits differ by {difference} (tolerance 1e-4)\ntorch:\n{logits}\nmoegrad:\n{expected['logits']}"
    return None


if __name__ == "__main__":
    problem = main(*sys.argv[1:])
    if problem:
        print(f"FAIL: {problem}")
        sys.exit(1)
    print("OK: PyTorch reproduces moegrad's logits")
