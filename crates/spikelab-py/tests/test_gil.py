"""The native calls release the GIL: Python threads run while they compute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import spikelab


def long_fit() -> None:
    raster, bin_s, _ = spikelab.synth.sequences(seed=0, neurons=100, bins=4000, seqlen=20, gap_bins=150)
    spikelab.convseq.fit(raster, bin_s, width_bins=60, tv_l=1.0, epochs=5000, alpha={"n_samples": 100})


def kalman_fit() -> Callable[[], object]:
    """A Kalman-decoder fit on 20 000 frames × 300 neurons (the data made before the thread)."""
    rng = np.random.default_rng(0)
    y = np.sin(np.arange(20000) * 0.01)
    counts = rng.poisson(np.exp(0.3 * np.outer(y, rng.normal(size=300))))
    return lambda: spikelab.decode.fit(counts, y, model="kalman")


def lds_em() -> Callable[[], object]:
    """100 EM iterations of a 4-state LDS on 3 000 × 10 outputs."""
    y = np.random.default_rng(0).normal(size=(3000, 10))
    return lambda: spikelab.lds.fit_em(y, 4, max_iter=100, tol=0.0)


@pytest.mark.parametrize(
    "make", [lambda: long_fit, kalman_fit, lds_em], ids=["convseq", "decode", "lds"]
)
def test_python_runs_during_a_native_call(make: Callable[[], Callable[[], object]]) -> None:
    """While one thread is in a long fit, the main thread keeps ticking: the longest pause
    between its ticks is far below the call's length (with the GIL held it would span it)."""
    worker = threading.Thread(target=make())
    ticks = [time.perf_counter()]
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    duration = ticks[-1] - ticks[0]
    gap = float(np.diff(ticks).max())
    assert duration > 0.5, duration  # long enough for the check to mean something
    assert gap < 0.25 * duration, (gap, duration)


SCRIPT = """
import json, subprocess, sys, threading, time
sys.path[:0] = json.loads(sys.argv[1])
from test_gil import long_fit
if sys.argv[2:] == ["once"]:
    long_fit(); sys.exit()
long_fit()  # warm-up: imports, allocator
t0 = time.perf_counter(); long_fit(); one = time.perf_counter() - t0
threads = [threading.Thread(target=long_fit) for _ in range(2)]
t0 = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
two_threads = time.perf_counter() - t0
# The same two fits in two processes (no shared GIL): what this machine's free cores allow.
cmd = [sys.executable, "-c", SCRIPT_SRC, sys.argv[1], "once"]
t0 = time.perf_counter(); subprocess.run(cmd, check=True); one_proc = time.perf_counter() - t0
t0 = time.perf_counter()
procs = [subprocess.Popen(cmd) for _ in range(2)]
assert all(p.wait() == 0 for p in procs)
two_procs = time.perf_counter() - t0
print(json.dumps({"one": one, "two_threads": two_threads, "one_proc": one_proc, "two_procs": two_procs}))
"""


def test_two_threads_take_about_one_threads_time() -> None:
    """Two fits in two threads take about as long as one, as far as the free cores allow:
    each fit runs on one rayon thread, and the ratio two/one of threads is compared with the
    same ratio of two processes (which share no GIL) measured right after. With the GIL held,
    the threads would take twice one fit's time even where the processes take one."""
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}
    here = os.path.dirname(os.path.abspath(__file__))
    src = "SCRIPT_SRC = " + repr(SCRIPT) + "\n" + SCRIPT
    out = subprocess.run(
        [sys.executable, "-c", src, json.dumps([here])],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    t = json.loads(out.strip().splitlines()[-1])
    threads = t["two_threads"] / t["one"]
    procs = t["two_procs"] / t["one_proc"]
    print(f"GIL: one fit {t['one']:.2f} s, two in two threads {t['two_threads']:.2f} s "
          f"(ratio {threads:.2f}); two processes ratio {procs:.2f}")
    assert threads < max(1.6, 1.25 * procs), t
