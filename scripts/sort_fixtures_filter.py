#!/usr/bin/env python3
"""Makes the fixtures of spikelab-sort's signal chain (datasets/sort/filter/): SciPy Butterworth
designs and zero-phase filter outputs, NumPy z-score / common-median / ZCA whitening, and a
reference implementation of SimSort's threshold detector written from the specification.

    /path/to/venv/bin/python scripts/sort_fixtures_filter.py datasets/sort/filter

Made with Python 3.11, numpy 2.x and scipy 1.17.1 (versions are recorded in designs.json).

Files (all float64 little-endian .npy unless said otherwise):
* signal.npy [800, 4]: correlated Gaussian noise (σ ≈ 10), per-channel offsets, a slow sine and
  ten injected biphasic spikes (seeded; see `make_signal`). Channel 2 is flat-ish (small noise).
* designs.json: for each design, `scipy.signal.butter(order, Wn, btype, fs=fs)` as `b`, `a`
  (output='ba') and `sos` (output='sos', rows of 6), and the padlen filtfilt/sosfiltfilt use.
* filtered.npy [n_designs, 4, 160]: on signal[:160, 0], per design, `filtfilt(b, a, x)`,
  `sosfiltfilt(sos, x)`, the causal `lfilter(b, a, x)` (zero initial state), and filtfilt's
  steps (odd extension, `lfilter` forward and backward) started from the *exact* steady state
  of `lfilter_zi`'s linear system (solved in rational arithmetic, rounded once): SciPy solves it
  with LAPACK, whose round-off grows with the system's conditioning (poles near z = 1), and
  `scipy_zi_error` in designs.json is how far SciPy's own filtfilt is from this row.
* chain_bandpass.npy [800, 4]: `filtfilt(b, a, signal, axis=0)` with butter(4, [300, 10000],
  'band', fs=30000) (SimSort's test chain, ba form).
* chain_cmr.npy [800, 4]: chain_bandpass minus its per-sample median across channels.
* chain_zscore.npy [800, 4]: (chain_bandpass − mean) / std per channel (population std).
* chain_whiten.npy [800, 4]: chain_zscore · Wᵀ with W = E Λ^{-1/2} Eᵀ of np.cov (ddof 1).
* detect.json: SimSort threshold-detector frames (reference below) on chain_whiten and on
  chain_zscore for several thresholds, with the merge on the last channel (SimSort's quirk) and
  on the per-sample maximum over channels (corrected variant).

The detector reference follows the specification's description of SimSort's
`utils/detect.py: detect_spikes` (the SimSort code itself has no licence and is not used here).
"""
import json
import os
import sys

from fractions import Fraction

import numpy as np
import scipy
import scipy.signal as ss
from scipy.signal._arraytools import odd_ext

DESIGNS = [
    # name, order, Wn, btype, fs
    ("band_300_10000_fs30k_o4", 4, [300.0, 10000.0], "bandpass", 30000.0),
    ("band_300_3000_fs10k_o4", 4, [300.0, 3000.0], "bandpass", 10000.0),
    ("band_300_6000_fs30k_o4", 4, [300.0, 6000.0], "bandpass", 30000.0),
    ("band_300_6000_fs30k_o5", 5, [300.0, 6000.0], "bandpass", 30000.0),
    ("band_300_2000_fs30k_o4", 4, [300.0, 2000.0], "bandpass", 30000.0),
    ("high_300_fs30k_o4", 4, 300.0, "highpass", 30000.0),
    ("high_150_fs30k_o5", 5, 150.0, "highpass", 30000.0),
    ("low_1000_fs10k_o1", 1, 1000.0, "lowpass", 10000.0),
    ("low_3000_fs30k_o3", 3, 3000.0, "lowpass", 30000.0),
    ("stop_1000_2000_fs30k_o2", 2, [1000.0, 2000.0], "bandstop", 30000.0),
]
N_SHORT = 160


def make_signal(rng, n=800, c=4):
    mix = np.array(
        [[1.0, 0.5, 0.0, 0.2], [0.3, 1.0, 0.0, 0.4], [0.0, 0.0, 0.05, 0.0], [0.1, 0.6, 0.0, 1.0]]
    )
    x = rng.normal(0.0, 10.0, (n, c)) @ mix.T
    x += np.array([50.0, -20.0, 3.0, 0.0])[None, :]
    t = np.arange(n) / 30000.0
    x += 30.0 * np.sin(2 * np.pi * 40.0 * t)[:, None]
    # Biphasic spike: sharp negative trough then a slow positive lobe.
    k = np.arange(-10, 30)
    wave = -np.exp(-0.5 * (k / 2.0) ** 2) + 0.3 * np.exp(-0.5 * ((k - 8) / 5.0) ** 2)
    times = [40, 120, 131, 250, 262, 400, 470, 480, 600, 745]
    gains = rng.uniform(0.2, 1.0, (len(times), c))
    gains[:, 2] = 0.0
    amps = rng.uniform(80.0, 200.0, len(times))
    for t0, g, a in zip(times, gains, amps):
        lo, hi = t0 - 10, t0 + 30
        kk = slice(max(0, -lo), 40 - max(0, hi - n))
        x[max(lo, 0) : min(hi, n)] += a * wave[kk, None] * g[None, :]
    return x


def exact_lfilter_zi(b, a):
    """The solution of lfilter_zi's system (I - companion(a).T) zi = b[1:] - a[1:] b[0], exact
    for the float coefficients (a[0] == 1), rounded to float64 once."""
    assert a[0] == 1.0 and len(a) == len(b)
    bf = [Fraction(float(v)) for v in b]
    af = [Fraction(float(v)) for v in a]
    m = len(a) - 1
    rhs = [bf[i] - af[i] * bf[0] for i in range(1, m + 1)]
    zi0 = sum(rhs) / sum(af)
    zi, asum, csum = [zi0], Fraction(1), Fraction(0)
    for k in range(1, m):
        asum += af[k]
        csum += rhs[k - 1]
        zi.append(asum * zi0 - csum)
    return np.array([float(v) for v in zi])


def filtfilt_exact_zi(b, a, x):
    edge = 3 * max(len(a), len(b))
    zi = exact_lfilter_zi(b, a)
    ext = odd_ext(x, edge)
    y, _ = ss.lfilter(b, a, ext, zi=zi * ext[0])
    y, _ = ss.lfilter(b, a, y[::-1], zi=zi * y[-1])
    return y[::-1][edge:-edge]


def zscore(x):
    m = x.mean(axis=0)
    s = x.std(axis=0)
    s = np.where(s == 0, 1.0, s)
    return (x - m) / s, m, s


def whiten(z):
    cov = np.cov(z.T)
    ev, evec = np.linalg.eigh(cov)
    w = evec @ np.diag(1.0 / np.sqrt(ev)) @ evec.T
    return z @ w.T, w, ev


def local_peaks(a, thr, loc_range, n):
    """Samples where |x| > thr and |x| is the maximum of the ±loc_range window (ties: every tied
    sample counts)."""
    out = []
    for t in range(n):
        if a[t] <= thr:
            continue
        lo, hi = max(0, t - loc_range), min(n, t + loc_range + 1)
        if a[t] >= a[lo:hi].max():
            out.append(t)
    return out


def simsort_detect(x, threshold, loc_range=5, long_range=10, edge=61, merge_window=15,
                   merge_on="last"):
    n, c = x.shape
    found = set()
    for ch in range(c):
        a = np.abs(x[:, ch])
        peaks = local_peaks(a, threshold, loc_range, n)
        for i, t in enumerate(peaks):
            isolated = all(abs(t - u) > long_range for j, u in enumerate(peaks) if j != i)
            if isolated and t >= edge and n - 1 - t >= edge:
                found.add(t)
    frames = sorted(found)
    if merge_on == "last":
        score = np.abs(x[:, c - 1])
    else:
        score = np.abs(x).max(axis=1)
    out = []
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] - frames[j] <= merge_window:
            j += 1
        group = frames[i : j + 1]
        best = group[0]
        for t in group[1:]:
            if score[t] > score[best]:
                best = t
        out.append(best)
        i = j + 1
    return out


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261204)
    x = make_signal(rng)
    np.save(os.path.join(out, "signal.npy"), x)

    designs = []
    filtered = np.zeros((len(DESIGNS), 4, N_SHORT))
    xs = x[:N_SHORT, 0].copy()
    for d, (name, order, wn, btype, fs) in enumerate(DESIGNS):
        b, a = ss.butter(order, wn, btype, fs=fs, output="ba")
        sos = ss.butter(order, wn, btype, fs=fs, output="sos")
        ntaps_sos = 2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
        designs.append(
            dict(name=name, order=order, wn=wn, btype=btype, fs=fs, b=b.tolist(), a=a.tolist(),
                 sos=sos.tolist(), padlen_ba=3 * max(len(a), len(b)),
                 padlen_sos=int(3 * ntaps_sos))
        )
        filtered[d, 0] = ss.filtfilt(b, a, xs)
        filtered[d, 1] = ss.sosfiltfilt(sos, xs)
        filtered[d, 2] = ss.lfilter(b, a, xs)
        filtered[d, 3] = filtfilt_exact_zi(b, a, xs)
        designs[-1]["scipy_zi_error"] = float(np.abs(filtered[d, 0] - filtered[d, 3]).max())
    np.save(os.path.join(out, "filtered.npy"), filtered)

    b, a = ss.butter(4, [300.0, 10000.0], "bandpass", fs=30000.0)
    bp = ss.filtfilt(b, a, x, axis=0)
    np.save(os.path.join(out, "chain_bandpass.npy"), bp)
    np.save(os.path.join(out, "chain_cmr.npy"), bp - np.median(bp, axis=1, keepdims=True))
    z, m, s = zscore(bp)
    np.save(os.path.join(out, "chain_zscore.npy"), z)
    wz, w, ev = whiten(z)
    np.save(os.path.join(out, "chain_whiten.npy"), wz)

    meta = dict(
        versions=dict(numpy=np.__version__, scipy=scipy.__version__, python=sys.version.split()[0]),
        designs=designs,
        chain=dict(zscore_mean=m.tolist(), zscore_std=s.tolist(), whitening=w.tolist(),
                   eigenvalues=ev.tolist()),
    )
    with open(os.path.join(out, "designs.json"), "w") as f:
        json.dump(meta, f, indent=1)

    cases = []
    for src, arr in (("chain_whiten", wz), ("chain_zscore", z)):
        for thr in (2.5, 3.0, 4.0, 6.0):
            for merge_on in ("last", "max"):
                cases.append(dict(input=src, threshold=thr, merge_on=merge_on,
                                  frames=simsort_detect(arr, thr, merge_on=merge_on)))
    with open(os.path.join(out, "detect.json"), "w") as f:
        json.dump(dict(loc_range=5, long_range=10, edge=61, merge_window=15, cases=cases), f,
                  indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "datasets/sort/filter")
