#!/usr/bin/env python3
"""PyTorch peer of spikelab-calcium's GPU inference (issue #19): the fully-convolutional form
of the Elephant and CASCADE networks with cuDNN, in f32, TF32 and bf16 autocast.

The network, for a batch of traces `x` `[B, 1, n]` (random weights of the right shapes; speed
does not depend on the values):

    relu(conv(k1)) -> relu(conv(k2)) -> max(h[t], h[t+1]) -> relu(conv(k3, dilation 2))
    -> max(h[t], h[t+2]) -> relu(1x1 conv to e) -> conv(S taps, dilation 4) -> [B, n - window + 1]

which is the per-window network evaluated at every window start (spikelab's fully-convolutional
rewrite, docs/calcium.md). Timed: the whole batch in one call after 2 warm-ups, mean of
`--repeats`, `torch.cuda.synchronize()` around each; rates in input samples per second (as
spikelab's `calcium_speed` counts them). With `--host` the timed call also copies the input
from a NumPy array to the GPU and the output back to NumPy, as spikelab's `forward_windows`
(host slices in, host vectors out) does; without it the input already lies on the GPU and the
output stays there, as in spikelab's `forward_windows_on_device`. The error of TF32 / bf16 is the largest |difference|
from the f32 output divided by the f32 output's standard deviation.

    python3 benches/peers/calcium_torch.py --traces 100 --samples 360000
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

ARCHS = {
    # window, filter sizes, filter numbers, dense expansion
    "elephant": (128, (41, 21, 7), (50, 60, 70), 300),
    "cascade": (64, (31, 19, 5), (30, 40, 50), 30),
}


def n_steps(window, sizes):
    k1, k2, k3 = sizes
    l2 = window - k1 + 1 - k2 + 1
    l3 = l2 // 2 - k3 + 1
    return l3 // 2


def make_weights(arch, device, gen):
    window, (k1, k2, k3), (f1, f2, f3), e = arch
    s = n_steps(window, (k1, k2, k3))
    shapes = [(f1, 1, k1), (f2, f1, k2), (f3, f2, k3), (e, f3, 1), (1, e, s)]
    ws = []
    for shape in shapes:
        fan = shape[1] * shape[2]
        w = (torch.rand(shape, generator=gen) * 2 - 1) * (3.0 / fan) ** 0.5
        b = (torch.rand(shape[0], generator=gen) - 0.5) * 0.1
        ws.append((w.to(device), b.to(device)))
    return ws


def forward(x, ws):
    (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = ws
    h = F.relu(F.conv1d(x, w1, b1))
    h = F.relu(F.conv1d(h, w2, b2))
    h = torch.maximum(h[..., :-1], h[..., 1:])
    h = F.relu(F.conv1d(h, w3, b3, dilation=2))
    h = torch.maximum(h[..., :-2], h[..., 2:])
    h = F.relu(F.conv1d(h, w4, b4))
    return F.conv1d(h, w5, b5, dilation=4).squeeze(1)


def timed(fn, repeats):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        y = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sum(times) / len(times), min(times), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=100)
    ap.add_argument("--samples", type=int, default=360_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--archs", default="elephant,cascade")
    ap.add_argument("--host", action="store_true", help="time host -> GPU -> host copies too")
    a = ap.parse_args()
    dev = torch.device("cuda")
    gen = torch.Generator().manual_seed(0)
    torch.backends.cudnn.benchmark = True
    x_host = torch.randn(a.traces, 1, a.samples, generator=gen)
    x = x_host.to(dev)
    x_numpy = x_host.numpy()
    samples = a.traces * a.samples
    rows = []
    for name in a.archs.split(","):
        ws = make_weights(ARCHS[name], dev, gen)
        out = {}
        for precision in ["f32", "tf32", "bf16"]:
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            torch.backends.cudnn.allow_tf32 = precision == "tf32"

            def run_on_device(x):
                with torch.no_grad():
                    if precision == "bf16":
                        with torch.autocast("cuda", dtype=torch.bfloat16):
                            return forward(x, ws).float()
                    return forward(x, ws)

            def run():
                if a.host:
                    y = run_on_device(torch.from_numpy(x_numpy).to(dev)).cpu().numpy()
                    return torch.from_numpy(y)
                return run_on_device(x)

            mean_s, min_s, y = timed(run, a.repeats)
            out[precision] = y
            err = None
            if precision != "f32":
                ref = out["f32"]
                err = float((y - ref).abs().max() / ref.std())
            rows.append(
                {
                    "arch": name,
                    "precision": precision,
                    "host_copies": a.host,
                    "mean_s": mean_s,
                    "min_s": min_s,
                    "samples_per_s": samples / mean_s,
                    "max_err_over_sd": err,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        del out
        torch.cuda.empty_cache()
    print(
        json.dumps(
            {
                "peer": "pytorch",
                "torch": torch.__version__,
                "cudnn": torch.backends.cudnn.version(),
                "device": torch.cuda.get_device_name(0),
                "traces": a.traces,
                "samples_per_trace": a.samples,
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            }
        )
    )


if __name__ == "__main__":
    main()
