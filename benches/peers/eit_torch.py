#!/usr/bin/env python3
"""PyTorch timing peer of spikelab's EIT (written from specs/decode.md §5.1–5.2, not from the
original code): the synthetic two-body EIT (temporal module Linear(2, 16) → PreNorm layer
without attention residual, H 6 × 64, mlp 32; population module with a per-unit embedding,
PreNorm attention without residual, dropout 0.5, no feed-forward; Linear(16, 1) per unit,
LayerNorm(4) → Linear(4, 12)), Adam lr 1e-4, batch 64, cross-entropy on every step.

Times one training epoch (150 steps of batch 64 over 9 600 samples, the dataset resident on
the device, a fresh shuffle per epoch, `loss.item()` every step as a training loop that
checks its loss does) as the mean over --epochs after one warm-up epoch, CUDA-synchronised.
Prints one JSON line.

    python3 benches/peers/eit_torch.py [--device cuda] [--epochs 5]

Run it in the same call as `eit_twobody` (spikelab-decode example) so both timings come from
one GPU (scripts/gpu_decode.sh does).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads, dim_head, dropout):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (
            t.reshape(b, n, self.heads, -1).transpose(1, 2)
            for t in self.to_qkv(x).chunk(3, dim=-1)
        )
        att = (q @ k.transpose(-1, -2) * self.scale).softmax(dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, n, -1)
        return self.to_out(out)


class Layer(nn.Module):
    """PreNorm layer with `offset` (no residual around attention), optional feed-forward."""

    def __init__(self, dim, heads, dim_head, mlp, dropout, ff):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dim_head, dropout)
        self.ff = None
        if ff:
            self.norm2 = nn.LayerNorm(dim)
            self.ff = nn.Sequential(
                nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(dropout),
                nn.Linear(mlp, dim), nn.Dropout(dropout),
            )

    def forward(self, x):
        x = self.attn(self.norm1(x))
        if self.ff is not None:
            x = x + self.ff(self.norm2(x))
        return x


class Eit(nn.Module):
    def __init__(self, n_units=4, n_channels=2, dim=16, classes=12):
        super().__init__()
        self.embed = nn.Linear(n_channels, dim)
        self.temporal = Layer(dim, 6, 64, 32, 0.0, ff=True)
        self.neuron_embed = nn.Parameter(torch.randn(1, n_units, dim))
        self.population = Layer(dim, 6, 64, 16, 0.5, ff=False)
        self.bottleneck = nn.Linear(dim, 1)
        self.head = nn.Sequential(nn.LayerNorm(n_units), nn.Linear(n_units, classes))

    def forward(self, x):  # [B, N, C, T]
        b, n, c, t = x.shape
        h = x.permute(0, 1, 3, 2).reshape(b * n, t, c)
        h = self.temporal(self.embed(h))  # [(B N), T, d]
        d = h.shape[-1]
        h = h.reshape(b, n, t, d).permute(0, 2, 1, 3).reshape(b * t, n, d)
        h = self.population(h + self.neuron_embed)
        h = self.bottleneck(h).reshape(b * t, n)
        return self.head(h)  # [(B T), classes]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=9600)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    x = torch.randn(args.samples, 4, 2, 10, device=dev)
    y = torch.randint(0, 12, (args.samples,), device=dev)
    model = Eit().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def epoch():
        model.train()
        order = torch.randperm(args.samples, device=dev)
        for i in range(0, args.samples, args.batch):
            idx = order[i:i + args.batch]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx].repeat_interleave(10))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    epoch()
    sync()
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        epoch()
        sync()
        times.append(time.perf_counter() - t0)
    n_params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "device": str(dev),
        "parameters": n_params, "steps_per_epoch": -(-args.samples // args.batch),
        "s_per_epoch_mean": sum(times) / len(times), "s_per_epoch_min": min(times),
        "epochs_timed": len(times),
    }))


if __name__ == "__main__":
    main()
