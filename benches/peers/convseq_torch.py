#!/usr/bin/env python3
"""PyTorch baseline for the convSeq epoch step (written from specs/convseq.md, not from
the original code): softmax filters, conv1d with neurons as channels (padding W/2),
loss = -var + TV_l*TV + filt_TV_l*fTV, backward, Adam(lr 0.1). Times ms/epoch (mean after
warm-up, CUDA-synchronised) on the bundled demo raster, plus the random-filter null
(alpha = mean + 5 sigma over 15 000 filters, 300 per batch).

    python3 benches/peers/convseq_torch.py [--device cuda] [--epochs 200] [--no-tf32]

Run it in the same call as `convseq_speed --cuda` so both timings come from one GPU.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "datasets", "convseq", "synthetic_demo")


def load_demo(device):
    meta = json.load(open(os.path.join(DEMO, "meta.json")))
    pairs = np.load(os.path.join(DEMO, "spikes.npy"))
    n, t = meta["n_neurons"], meta["n_bins"]
    x = torch.zeros((1, n, t), dtype=torch.float32)
    x[0, torch.from_numpy(pairs[:, 0]).long(), torch.from_numpy(pairs[:, 1]).long()] = 1.0
    return x.to(device), n, t


def loss_fn(theta, x, pad, tv_l, ftv_l):
    s = theta.softmax(dim=-1)  # [K, N, W]
    proj = F.conv1d(x, s, padding=pad)[0]  # [K, L]
    var = proj.var(dim=1)  # unbiased
    tv = proj.diff(dim=1).pow(2).mean(dim=1)
    ftv = s.diff(dim=-1).pow(2).mean(dim=(1, 2))
    return (-var + tv_l * tv + ftv_l * ftv).sum()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--filters", type=int, default=1)
    ap.add_argument("--null-samples", type=int, default=15000)
    ap.add_argument("--no-tf32", action="store_true", help="disable TF32 in cuDNN/cuBLAS")
    a = ap.parse_args()
    if a.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    dev = a.device
    x, n, t = load_demo(dev)
    w, k, pad = a.width, a.filters, a.width // 2
    torch.manual_seed(0)
    theta = torch.randn((k, n, w), device=dev, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.1)

    def step(log):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(theta, x, pad, 200.0, 0.0)
        loss.backward()
        opt.step()
        return loss.item() if log else None

    for _ in range(20):
        step(False)
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        step(False)
    sync(dev)
    ms = 1e3 * (time.perf_counter() - t0) / a.epochs
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        step(True)
    ms_logged = 1e3 * (time.perf_counter() - t0) / a.epochs
    tf32 = "off" if a.no_tf32 else f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}"
    print(f"torch {torch.__version__} on {dev} ({torch.cuda.get_device_name() if dev.startswith('cuda') else 'cpu'}), TF32 {tf32}")
    print(f"| torch conv1d step | {dev} | f32 | {ms:.3f} ms/epoch (no sync) | {ms_logged:.3f} ms/epoch (loss.item() each epoch) | {a.epochs} epochs |")

    # Random-filter null: mean + 5 sigma over null-samples filters, 300 per batch.
    with torch.no_grad():
        def null(samples):
            means, stds = [], []
            done = 0
            while done < samples:
                b = min(300, samples - done)
                s = torch.randn((b, n, w), device=dev).softmax(dim=-1)
                p = F.conv1d(x, s, padding=pad)[0]
                means.append(p.mean(dim=1))
                stds.append(p.std(dim=1))
                done += b
            m = torch.cat(means).mean().item()
            sd = torch.cat(stds).mean().item()
            return m, sd, m + 5 * sd

        null(600)
        sync(dev)
        t0 = time.perf_counter()
        m, sd, alpha = null(a.null_samples)
        sync(dev)
        print(f"| torch null ({a.null_samples} filters) | {dev} | {time.perf_counter() - t0:.3f} s | alpha {alpha:.4f} (mean {m:.4f}, std {sd:.4f}) |")


if __name__ == "__main__":
    main()
