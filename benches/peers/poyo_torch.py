#!/usr/bin/env python3
"""torch-brain's POYO-1.3M training step on the bundled CA1 raster: the peer of
`spikelab-decode`'s `poyo_ca1` example (issue #17's speed row).

The model is torch-brain 0.2.1's `POYO` (PyPI wheel, unchanged), configured as POYO-1.3M
(dim 64, depth 6, 2 cross / 8 self heads of 64, 16 latents per 0.125 s) over the 452 units of
`datasets/convseq/ca1_rubin` (one spike token per event at its frame time, 0.05 s frames). Each
training step does what the reference's loop does per batch:

1. draw BATCH random frame-aligned windows of CONTEXT seconds inside the first 80 % of frames;
2. tokenize each window with `POYO.tokenize` (START/END tokens per unit, pad-to-8, latent grid)
   plus one output query per frame (z-scored position), and collate with torch-brain's
   `collate` (numpy on the CPU, as the reference's data loader does);
3. copy the batch to the device, forward, weighted MSE, backward, optimiser step.

The reference's own loader also slices `temporaldata.Data` objects per window; here the windows
are cut from numpy arrays directly, so this peer's tokenization is a lower bound on the
reference's. SparseLamb lives in torch-brain's `examples/`, not in the wheel: the step uses
`torch.optim.AdamW` (the same per-parameter moments; Lamb adds one norm ratio per tensor).

Prints JSON: seconds per step end to end (tokenization + collate + copy + step) and for the
step alone on one fixed batch, each the mean over STEPS timed steps after WARMUP.

    python3 benches/peers/poyo_torch.py --device cuda --steps 50 --warmup 10

torch_brain imports `ray.actor` for a type annotation only; the parity fixture script's
`ray_stub` (scripts/poyo_parity_fixture.py) puts a two-file stub on `sys.path` when ray is
missing.
"""

import argparse
import json
import os
import sys
import time
import types

import numpy as np

FRAME_S = 0.05


def load_ca1(repo):
    import scipy.io

    d = os.path.join(repo, "datasets", "convseq", "ca1_rubin")
    x = scipy.io.loadmat(os.path.join(d, "neuronal_activity_mat.mat"))["neuronal_activity_mat"]
    y = scipy.io.loadmat(os.path.join(d, "position_per_frame.mat"))["position_per_frame"]
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape[1] != y.shape[0]:
        x = x.T
    assert x.shape[1] == y.shape[0], (x.shape, y.shape)
    return x, y


class Ca1Windows:
    """Frame-aligned windows of the CA1 raster in torch-brain's tokenization."""

    def __init__(self, model, counts, position, context_s, rng):
        self.model = model
        self.context_frames = int(round(context_s / FRAME_S))
        n_units, n_frames = counts.shape
        self.train_frames = int(np.floor(0.8 * n_frames))
        mu = position[: self.train_frames].mean()
        sd = position[: self.train_frames].std()
        self.target = ((position - mu) / sd).astype(np.float32)
        unit, frame = np.nonzero(counts > 0)
        order = np.argsort(frame, kind="stable")
        self.spike_unit = unit[order].astype(np.int64)
        self.spike_frame = frame[order].astype(np.int64)
        self.unit_ids = np.array([str(u) for u in range(n_units)])
        self.rng = rng

    def sample(self, start):
        from torch_brain.batching import pad8, track_mask8

        stop = start + self.context_frames
        lo, hi = np.searchsorted(self.spike_frame, [start, stop])
        spikes = types.SimpleNamespace(
            unit_index=self.spike_unit[lo:hi],
            timestamps=(self.spike_frame[lo:hi] - start) * FRAME_S,
        )
        data = types.SimpleNamespace(
            units=types.SimpleNamespace(id=self.unit_ids),
            spikes=spikes,
            session=types.SimpleNamespace(id="ca1"),
        )
        out = self.model.tokenize(data)
        t_out = (np.arange(self.context_frames) * FRAME_S).astype(np.float64)
        out["output_timestamps"] = pad8(t_out)
        out["output_mask"] = track_mask8(t_out)
        out["target_values"] = pad8(self.target[start:stop, None])
        out["target_weights"] = pad8(np.ones(self.context_frames, np.float32))
        return out

    def batch(self, size):
        from torch_brain.batching import collate

        starts = self.rng.integers(0, self.train_frames - self.context_frames + 1, size=size)
        return collate([self.sample(int(s)) for s in starts])


def to_device(batch, device):
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def step(model, opt, batch):
    import torch

    target = batch.pop("target_values")
    weights = batch.pop("target_weights")
    pred = model(**batch)
    mask = batch["output_mask"]
    err = ((pred - target) ** 2).mean(-1) * weights
    loss = err[mask].sum() / weights[mask].sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    batch["target_values"], batch["target_weights"] = target, weights
    return loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--context", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(a.repo, "scripts"))
    from poyo_parity_fixture import poyo_1_3m_config, ray_stub

    ray_stub()
    import torch
    from torch_brain.models import POYO

    torch.manual_seed(0)
    dev = torch.device(a.device)
    counts, position = load_ca1(a.repo)
    latent_steps = a.context / 0.125
    model = POYO(**poyo_1_3m_config(sequence_length=a.context, dim_out=1))
    model.unit_emb.initialize_vocab([str(u) for u in range(counts.shape[0])])
    model.session_emb.initialize_vocab(["ca1"])
    model = model.to(dev).train()
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=0.004, weight_decay=1e-4)
    windows = Ca1Windows(model, counts, position, a.context, np.random.default_rng(0))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # End to end: tokenization + collate + copy + step, a fresh batch each step.
    losses = []
    tok_s = 0.0
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            sync()
            t0 = time.perf_counter()
            tok_s = 0.0
        tt = time.perf_counter()
        b = windows.batch(a.batch)
        tok_s += time.perf_counter() - tt
        losses.append(step(model, opt, to_device(b, dev)).detach())
    sync()
    e2e = (time.perf_counter() - t0) / a.steps
    tok = tok_s / a.steps
    n_tokens = int(b["input_mask"].sum())

    # The step alone on one fixed batch already on the device.
    fixed = to_device(windows.batch(a.batch), dev)
    for _ in range(3):
        step(model, opt, fixed)
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step(model, opt, fixed)
    sync()
    alone = (time.perf_counter() - t0) / a.steps

    print(
        json.dumps(
            {
                "peer": "torch-brain POYO",
                "torch": torch.__version__,
                "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                "context_s": a.context,
                "latents": int(latent_steps * 16),
                "batch": a.batch,
                "parameters": n_params,
                "input_tokens_last_batch": n_tokens,
                "s_per_step_end_to_end": e2e,
                "s_tokenize_collate_per_step": tok,
                "s_per_step_model_only": alone,
                "steps_per_s_end_to_end": 1.0 / e2e,
                "first_loss": float(losses[0]),
                "last_loss": float(losses[-1]),
            }
        )
    )


if __name__ == "__main__":
    main()
