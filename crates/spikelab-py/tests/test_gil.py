"""The native calls release the GIL: Python threads run while they compute."""

from __future__ import annotations

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
