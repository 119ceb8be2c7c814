#!/usr/bin/env python3
"""torch-brain's POYO on spikelab-synth's multi-session data: the reference's number for the
synthetic CI check of issue #17 (`tests/poyo.rs`), on the same sessions.

The sessions come from `poyo_synthetic export OUT.json …` (the example's generator, seed 7):
spike trains per unit (s), unit ids `"{session}/u{k}"`, targets (2-D velocity) every 10 ms.
The recipe is the CI test's: the first 80 % of every session trains, the last 20 % tests;
targets z-scored with the training part's mean and std (all sessions pooled); random 1-s
windows inside the training part, one output query per target sample; batch 16; OneCycle
(pct_start 0.5, div_factor 1, final_div_factor 1e4, cosine, β₁ 0.95 ↔ 0.85) with weight
decay 1e-4; no dropout. Evaluation: half-overlapping 1-s windows (the last one aligned to the
end of the part), predictions averaged where windows overlap, R² uniform over the two axes
per session, then the mean over sessions.

The model is torch-brain 0.2.1's `POYO` (PyPI wheel, unchanged) configured as spikelab's
`PoyoConfig::small`: dim 32, depth 1, dim_head 32, 1 cross / 2 self heads, 4 latents per
0.25 s. SparseLamb lives in torch-brain's `examples/`, not in the wheel, so the optimiser is
`torch.optim.AdamW` (this is the one difference from spikelab's recipe).

    cargo run --release -p spikelab-decode --example poyo_synthetic -- export s.json 3 60 100 80 4
    python3 benches/peers/poyo_torch_synthetic.py s.json --steps 1000 --lr 0.004

Prints one JSON object: R² per session, the mean, loss at the first and last step, seconds.
torch_brain imports `ray.actor` for a type annotation only; the stub of
`scripts/poyo_parity_fixture.py` is used when ray is missing.
"""

import argparse
import json
import os
import sys
import time
import types

import numpy as np

CONTEXT_S = 1.0


def load(path):
    with open(path) as f:
        raw = json.load(f)
    sessions = []
    for s in raw:
        v = s["velocity"]
        vel = np.asarray(v["data"], dtype=np.float64).reshape(v["dim"])
        trains = s["spikes"]["trains"]
        unit = np.concatenate([np.full(len(t), k, np.int64) for k, t in enumerate(trains)])
        times = np.concatenate([np.asarray(t, np.float64) for t in trains])
        order = np.argsort(times, kind="stable")
        sessions.append(
            dict(
                id=s["id"],
                unit_ids=np.array(s["unit_ids"]),
                spike_unit=unit[order],
                spike_t=times[order],
                target_t=np.asarray(s["target_times_s"], np.float64),
                velocity=vel,
                duration=float(s["spikes"]["t_stop_s"]),
            )
        )
    return sessions


def window(model, s, start, norm):
    from torch_brain.batching import pad8, track_mask8

    lo, hi = np.searchsorted(s["spike_t"], [start, start + CONTEXT_S])
    data = types.SimpleNamespace(
        units=types.SimpleNamespace(id=s["unit_ids"]),
        spikes=types.SimpleNamespace(
            unit_index=s["spike_unit"][lo:hi], timestamps=s["spike_t"][lo:hi] - start
        ),
        session=types.SimpleNamespace(id=s["id"]),
    )
    out = model.tokenize(data)
    a, b = np.searchsorted(s["target_t"], [start, start + CONTEXT_S - 1e-9])
    rows = np.arange(a, b)
    y = ((s["velocity"][rows] - norm[0]) / norm[1]).astype(np.float32)
    out["output_timestamps"] = pad8(s["target_t"][rows] - start)
    out["output_mask"] = track_mask8(rows)
    out["target_values"] = pad8(y)
    out["target_weights"] = pad8(np.ones(len(rows), np.float32))
    return out, rows


def eval_starts(a, b):
    starts = []
    k = 0
    while a + k * CONTEXT_S / 2 + CONTEXT_S <= b + 1e-9:
        starts.append(a + k * CONTEXT_S / 2)
        k += 1
    if starts and starts[-1] + CONTEXT_S < b - 1e-9:
        starts.append(b - CONTEXT_S)
    return starts


def r2_uniform(y, p):
    ss_res = ((y - p) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    return float(np.mean(1.0 - ss_res / ss_tot))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sessions")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.004)
    ap.add_argument("--train-frac", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(a.repo, "scripts"))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from poyo_parity_fixture import ray_stub
    from poyo_torch import step, to_device

    ray_stub()
    import torch
    from torch_brain.batching import collate
    from torch_brain.models import POYO

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    dev = torch.device(a.device)
    sessions = load(a.sessions)
    split = [a.train_frac * s["duration"] for s in sessions]
    train_y = np.concatenate(
        [s["velocity"][s["target_t"] < t] for s, t in zip(sessions, split)], axis=0
    )
    norm = (train_y.mean(0), train_y.std(0))

    model = POYO(
        sequence_length=CONTEXT_S,
        latent_step=0.25,
        num_latents_per_step=4,
        dim=32,
        depth=1,
        dim_head=32,
        cross_heads=1,
        self_heads=2,
        ffn_dropout=0.0,
        lin_dropout=0.0,
        atn_dropout=0.0,
        dim_out=2,
    )
    model.unit_emb.initialize_vocab([u for s in sessions for u in s["unit_ids"]])
    model.session_emb.initialize_vocab([s["id"] for s in sessions])
    model = model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=a.lr,
        total_steps=a.steps,
        pct_start=0.5,
        div_factor=1.0,
        final_div_factor=1e4,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    spans = np.array(split)
    t0 = time.perf_counter()
    losses = []
    for _ in range(a.steps):
        which = rng.choice(len(sessions), size=a.batch, p=spans / spans.sum())
        batch = collate(
            [
                window(model, sessions[i], rng.uniform(0.0, split[i] - CONTEXT_S), norm)[0]
                for i in which
            ]
        )
        loss = step(model, opt, to_device(batch, dev))
        sched.step()
        losses.append(float(loss.detach()))
    train_s = time.perf_counter() - t0

    model.eval()
    r2 = []
    with torch.no_grad():
        for s, t in zip(sessions, split):
            n = len(s["target_t"])
            acc = np.zeros((n, 2))
            cnt = np.zeros(n)
            for start in eval_starts(t, s["duration"]):
                sample, rows = window(model, s, start, norm)
                b = to_device(collate([sample]), dev)
                b.pop("target_values")
                b.pop("target_weights")
                p = model(**b)[b["output_mask"]].cpu().numpy().astype(np.float64)
                acc[rows] += p * norm[1] + norm[0]
                cnt[rows] += 1
            keep = cnt > 0
            r2.append(r2_uniform(s["velocity"][keep], acc[keep] / cnt[keep, None]))
    print(
        json.dumps(
            {
                "peer": "torch-brain POYO (small config, AdamW)",
                "torch": torch.__version__,
                "sessions": len(sessions),
                "units": [len(s["unit_ids"]) for s in sessions],
                "steps": a.steps,
                "batch": a.batch,
                "max_lr": a.lr,
                "parameters": sum(p.numel() for p in model.parameters()),
                "train_s": train_s,
                "first_loss": losses[0],
                "last_loss": float(np.mean(losses[-25:])),
                "test_r2_per_session": r2,
                "test_r2_mean": float(np.mean(r2)),
            }
        )
    )


if __name__ == "__main__":
    main()
