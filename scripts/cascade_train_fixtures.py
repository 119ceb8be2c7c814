"""Fixtures for CASCADE training (crates/spikelab-calcium/tests/cascade_train.rs).

Run from the repository root:

    python scripts/cascade_train_fixtures.py

Versions used: Python 3.12, numpy 2.4, scipy 1.17.1. Writes `datasets/cascade-train/`:

* `resampled_cell1C_30hz.npy`: trial 0 of `cascade-sample/DS09-GCaMP6f-m-V1/
  CAttached_Chen2013_GC6f_cell1C_full_mini.mat.gz` (≈60 Hz) Fourier-resampled to 30 Hz with
  `scipy.signal.resample(x, round(n * 30 / f0))` (f0 = 1 / median frame interval), float64;
* `spikes_cell1C_30hz.npy`: its spikes counted with `numpy.histogram` in bins of one frame
  centred on the resampled frame times `t0 + k / f` (f = num * f0 / n);
* `causal_kernel_30hz_50ms.npy`, `causal_kernel_7p5hz_200ms.npy`: CASCADE's causal target
  kernel built with `scipy.stats.invgauss.pdf(t, 2 * smoothing, loc=101 / rate, scale=1)` on
  `t = arange(199) / rate`, rolled by `int((99 - argmax) / 1.5)` and normalised (the recipe of
  causal option of CASCADE (`causal_kernel: 1`), written from its description).
"""
import gzip
import io
import os

import numpy as np
import scipy.io as sio
from scipy.signal import resample
from scipy.stats import invgauss

ROOT = os.path.join(os.path.dirname(__file__), "..", "datasets")
OUT = os.path.join(ROOT, "cascade-train")


def causal(smoothing_s, rate):
    t = np.arange(199) / rate
    y = invgauss.pdf(t, 2.0 * smoothing_s, 101 / rate, 1)
    y = np.roll(y, int((99 - np.argmax(y)) / 1.5))
    return y / np.nansum(y)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = os.path.join(ROOT, "cascade-sample", "DS09-GCaMP6f-m-V1",
                     "CAttached_Chen2013_GC6f_cell1C_full_mini.mat.gz")
    trial = sio.loadmat(io.BytesIO(gzip.open(p).read()))["CAttached"][0][0][0][0]
    t = np.squeeze(trial["fluo_time"]).astype(float)
    x = np.squeeze(trial["fluo_mean"]).astype(float)
    ev = np.squeeze(trial["events_AP"]).astype(float) / 1e4
    f0 = 1.0 / np.median(np.diff(t))
    n = len(x)
    num = int(round(n * 30.0 / f0))
    y = resample(x, num)
    f = num * f0 / n
    centres = t[0] + np.arange(num) / f
    edges = np.append(centres - 0.5 / f, centres[-1] + 0.5 / f)
    counts, _ = np.histogram(ev, bins=edges)
    np.save(os.path.join(OUT, "resampled_cell1C_30hz.npy"), y)
    np.save(os.path.join(OUT, "spikes_cell1C_30hz.npy"), counts.astype(float))
    np.save(os.path.join(OUT, "causal_kernel_30hz_50ms.npy"), causal(0.05, 30.0))
    np.save(os.path.join(OUT, "causal_kernel_7p5hz_200ms.npy"), causal(0.2, 7.5))
    print(n, num, f0, f, counts.sum(), len(ev))


if __name__ == "__main__":
    main()
