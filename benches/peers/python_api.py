"""spikelab from Python beside the Python peers a notebook user would call, in one run (issue #21).

    bash scripts/python_package.sh -k nothing          # builds the wheel into target/py-venv
    target/py-venv/bin/pip install oasis-deconv==0.3.2 pynwb==4.2.0 h5py
    target/py-venv/bin/python benches/peers/python_api.py [--quick]

Prints a markdown table (docs/python.md, "Speed against the peers"):
* calcium: `spikelab.calcium.predict` (Elephant model 1) vs OASIS (`oasis.functions.deconvolve`,
  AR(1), `penalty=1`, as `peers.py`) on the Spikefinder test sets 4 and 5: time, and the
  Spikefinder metric of `peers.py` (median over neurons of Pearson r of 40-ms sums);
* the smallest `predict` calls: 3 frames (no window fits: only the call's own cost) and 256
  frames (one network pass);
* units from an NWB file into spikelab from Python: through pynwb (`NWBHDF5IO` +
  `spike_trains(nwbfile.units)`) vs through h5py (the two `/units` datasets, split in numpy);
* Dask: `spikelab.batch.map(calcium)` over 40 recordings on a LocalCluster of 2 single-thread
  worker processes vs 1 (`RAYON_NUM_THREADS=1` in the workers).
Times are the median of repeats; ratios are the peer's time over spikelab's.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import spikelab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import load_csv, spikefinder_median_r  # noqa: E402  (the CLI peers' metric)

ROOT = Path(__file__).resolve().parents[2]
QUICK = "--quick" in sys.argv


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def oasis_all(traces: np.ndarray) -> np.ndarray:
    from oasis.functions import deconvolve

    out = np.full_like(traces, np.nan)
    for j in range(traces.shape[1]):
        y = traces[:, j]
        n = int(np.isfinite(y).sum())  # trailing NaNs pad shorter neurons
        out[:n, j] = deconvolve(np.ascontiguousarray(y[:n], dtype=np.float64), penalty=1)[1]
    return out


def calcium_rows() -> list[str]:
    rows = []
    for ds in ("4", "5"):
        x = load_csv(str(ROOT / f"datasets/spikefinder/test/{ds}.test.calcium.csv.gz"))
        s = load_csv(str(ROOT / f"datasets/spikefinder/test/{ds}.test.spikes.csv.gz"))
        if QUICK:
            x, s = x[:3000, :3], s[:3000, :3]
        ours = spikelab.calcium.predict(x, 100.0)
        peer = oasis_all(x)
        t_ours = median_s(lambda: spikelab.calcium.predict(x, 100.0), 3)
        t_peer = median_s(lambda: oasis_all(x), 3)
        rows.append(
            f"| deconvolution, Spikefinder test {ds} ({x.shape[1]} neurons × {x.shape[0]} frames) "
            f"| CNN {t_ours * 1e3:.0f} ms, r {spikefinder_median_r(s, ours)[0]:.3f} "
            f"| OASIS AR(1) {t_peer * 1e3:.0f} ms, r {spikefinder_median_r(s, peer)[0]:.3f} "
            f"| {t_peer / t_ours:.2f}× |"
        )
    return rows


def small_predict_rows() -> list[str]:
    rows = []
    for frames in (3, 256):
        x = np.exp(np.sin(np.arange(frames) / 10.0))[:, None]
        spikelab.calcium.predict(x, 100.0)  # builds and caches the embedded model
        n = 2000 if frames == 3 else 200
        per = median_s(lambda: [spikelab.calcium.predict(x, 100.0) for _ in range(n)], 5) / n
        rows.append(f"| `calcium.predict`, {frames} frames × 1 neuron (per call) | {per * 1e6:.1f} µs | — | — |")
    return rows


def units_rows(tmp: Path) -> list[str]:
    import h5py
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    pairs = np.load(ROOT / "datasets/convseq/synthetic_demo/spikes.npy")  # (neuron, bin) rows
    n_units, n_spikes = int(pairs[:, 0].max()) + 1, len(pairs)
    f = NWBFile(
        session_description="peer bench",
        identifier="python_api",
        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    for u in range(n_units):
        f.add_unit(spike_times=np.sort(pairs[pairs[:, 0] == u, 1]) * 0.01)
    path = tmp / "units.nwb"
    with NWBHDF5IO(str(path), "w") as io_:
        io_.write(f)

    def via_pynwb() -> spikelab.io.SpikeTrains:
        with NWBHDF5IO(str(path), "r") as io_:
            return spikelab.io.spike_trains(io_.read().units)

    def via_h5py() -> spikelab.io.SpikeTrains:
        with h5py.File(path, "r") as h:
            times = h["units/spike_times"][()]
            ends = h["units/spike_times_index"][()]
            ids = h["units/id"][()]
        return spikelab.io.spike_trains(dict(zip(ids.tolist(), np.split(times, ends[:-1]))))

    a, b = via_pynwb(), via_h5py()
    assert a.unit_ids.tolist() == b.unit_ids.tolist()
    assert all(np.array_equal(x, y) for x, y in zip(a.trains, b.trains))
    t_peer = median_s(via_pynwb, 5)
    t_ours = median_s(via_h5py, 5)
    return [
        f"| NWB units into `spikelab.io.SpikeTrains` ({n_units} units, {n_spikes} spikes) "
        f"| h5py + `spike_trains(mapping)` {t_ours * 1e3:.1f} ms "
        f"| pynwb + `spike_trains(nwbfile.units)` {t_peer * 1e3:.1f} ms | {t_peer / t_ours:.1f}× (same trains) |"
    ]


def dask_rows(tmp: Path) -> list[str]:
    import distributed

    folder = tmp / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(7)
    frames = 3000 if QUICK else 20000
    paths = []
    for i in range(40):
        t = np.arange(frames) / 100.0
        x = np.exp(np.sin(t * (1 + i % 5))[:, None] * rng.uniform(0.5, 2.0, 4)) + rng.normal(0, 0.05, (frames, 4))
        p = folder / f"rec{i:02}.npy"
        np.save(p, x)
        paths.append(p)
    task = spikelab.batch.calcium(100.0)
    times = {}
    for workers in (1, 2):
        with distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        ) as cluster, distributed.Client(cluster) as client:
            client.run(lambda: __import__("spikelab").calcium.predict(np.ones((300, 1)), 100.0))  # warm
            t0 = time.perf_counter()
            spikelab.batch.map(task, paths, client=client, overwrite=True)
            times[workers] = time.perf_counter() - t0
    return [
        f"| `batch.map(calcium)` over 40 recordings ({frames} frames × 4 neurons), Dask LocalCluster "
        f"| 2 workers {times[2]:.1f} s | 1 worker {times[1]:.1f} s | {times[1] / times[2]:.2f}× scaling |"
    ]


def main() -> None:
    print(f"spikelab {spikelab.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| task | spikelab | peer | peer time / spikelab time |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as d:
        tasks: list[Callable[[], list[str]]] = [
            calcium_rows,
            small_predict_rows,
            lambda: units_rows(Path(d)),
            lambda: dask_rows(Path(d)),
        ]
        for task in tasks:
            for r in task():
                print(r, flush=True)


if __name__ == "__main__":
    main()
