"""spikelab.batch.map: 40 small recordings, one process vs a 2-worker Dask LocalCluster."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import spikelab


def recordings(folder: Path, n: int = 40) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        t = np.arange(600) / 100.0
        x = np.exp(np.sin(t * (1 + i % 5))[:, None] * rng.uniform(0.5, 2.0, 2)) + rng.normal(0, 0.05, (600, 2))
        p = folder / f"rec{i:02}.npy"
        np.save(p, x)
        paths.append(p)
    return paths


def test_single_process_results_and_resume(tmp_path: Path) -> None:
    paths = recordings(tmp_path / "a", 5)
    task = spikelab.batch.calcium(100.0)
    outs = spikelab.batch.map(task, paths)
    assert outs == [spikelab.batch.output_path(p) for p in paths]
    for p, o in zip(paths, outs):
        with np.load(o) as r:
            np.testing.assert_array_equal(r["values"], spikelab.calcium.predict(np.load(p), 100.0))
            assert float(r["frame_rate_hz"]) == 100.0
    # A second run skips finished files; a deleted result is redone.
    mtimes = [o.stat().st_mtime_ns for o in outs]
    outs[2].unlink()
    spikelab.batch.map(task, paths)
    assert [o.stat().st_mtime_ns for i, o in enumerate(outs) if i != 2] == mtimes[:2] + mtimes[3:]
    assert outs[2].exists()
    assert not [f for f in os.listdir(tmp_path / "a") if f.endswith(".tmp")]


def test_a_failing_file_leaves_nothing_half_written(tmp_path: Path) -> None:
    paths = recordings(tmp_path / "a", 2)
    paths[1].write_bytes(b"not npy")
    with pytest.raises(spikelab.DataError):
        spikelab.batch.map(spikelab.batch.calcium(100.0), paths)
    assert sorted(os.listdir(tmp_path / "a")) == ["rec00.npy", "rec00.npy.spikelab.npz", "rec01.npy"]


def test_dask_local_cluster_matches_one_process(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    a, b = recordings(tmp_path / "a"), recordings(tmp_path / "b")
    task = spikelab.batch.calcium(100.0)
    spikelab.batch.map(task, a)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        outs = spikelab.batch.map(task, b, client=client)
    assert len(outs) == 40
    for pa, ob in zip(a, outs):
        with np.load(spikelab.batch.output_path(pa)) as ra, np.load(ob) as rb:
            np.testing.assert_array_equal(ra["values"], rb["values"])


def crash_once(path: Path, marker: str, task: spikelab.batch.Task) -> spikelab.batch.Result:
    """The task, except that the first worker to reach rec05 dies there (the process exits)."""
    if path.name == "rec05.npy" and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return task(path)


def test_a_killed_worker_still_completes_every_file(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    import functools

    paths = recordings(tmp_path / "a")
    marker = str(tmp_path / "crashed")
    task = functools.partial(crash_once, marker=marker, task=spikelab.batch.calcium(100.0))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        outs = spikelab.batch.map(task, paths, client=client)
    assert os.path.exists(marker)  # a worker did die
    assert all(o.exists() for o in outs) and len(outs) == 40
    assert not [f for f in os.listdir(tmp_path / "a") if f.endswith(".tmp")]
