"""The smallest `spikelab.calcium.predict` call (3 frames × 1 neuron, embedded model 1, cached
deconvolver) and its parts: the native `run` alone and the report's JSON. Run with the
package's venv: `target/py-venv/bin/python scripts/python_small_predict_bench.py`. Prints the
median over repeats of the mean time per call in µs."""

from __future__ import annotations

import json
import statistics
import timeit

import numpy as np

import spikelab
from spikelab.calcium import _deconvolver


def per_call_us(stmt: object, number: int = 2000, repeat: int = 15) -> float:
    times = timeit.repeat(stmt, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(times) / number * 1e6


x = np.exp(np.sin(np.arange(3.0)))[:, None]
spikelab.calcium.predict(x, 100.0)  # builds and caches the deconvolver
native = _deconvolver("model1", "network", False)._inner
_, report = native.run(x, 100.0)
print(f"calcium.predict, 3 frames x 1 neuron: {per_call_us(lambda: spikelab.calcium.predict(x, 100.0)):.1f} us")
print(f"  native Deconvolver.run alone: {per_call_us(lambda: native.run(x, 100.0)):.1f} us")
print(f"  json.loads of the report ({len(report)} chars): {per_call_us(lambda: json.loads(report)):.1f} us")
