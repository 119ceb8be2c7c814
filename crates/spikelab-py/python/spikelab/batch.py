"""Many recordings: one function over many files, in this process or on a Dask cluster.

Each result is written next to its input (``<input><suffix>``, an ``.npz``) through a
temporary file in the same folder and an atomic rename, so a run can be stopped and started
again: inputs whose result exists are skipped, and a crashed worker leaves no half-written
file (Dask reruns its task elsewhere). Dask is optional: ``pip install "dask[distributed]"``.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from spikelab import _native
from spikelab import calcium as _calcium
from spikelab import io as _io

__all__ = ["calcium", "map", "output_path"]

Result = Union[npt.NDArray[Any], Mapping[str, npt.ArrayLike]]
Task = Callable[[Path], Result]

SUFFIX = ".spikelab.npz"


def output_path(path: str | os.PathLike[str], suffix: str = SUFFIX) -> Path:
    """Where :func:`map` writes the result of ``path``."""
    p = Path(path)
    return p.with_name(p.name + suffix)


def _write_atomic(out: Path, result: Result) -> None:
    arrays = {"values": result} if isinstance(result, np.ndarray) else dict(result)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def _run_one(path: str, fn: Task, suffix: str, overwrite: bool) -> str:
    out = output_path(path, suffix)
    if overwrite or not out.exists():
        _write_atomic(out, fn(Path(path)))
    return str(out)


def map(
    fn: Task,
    paths: Iterable[str | os.PathLike[str]],
    *,
    client: Any = None,
    suffix: str = SUFFIX,
    overwrite: bool = False,
    retries: int = 2,
) -> list[Path]:
    """Runs ``fn(path)`` for every path and writes each result next to its input.

    Args:
        fn: a picklable function of a path returning an array (saved as ``values``) or a
            dict of arrays; e.g. :func:`calcium` for deconvolution.
        paths: the recordings.
        client: a ``dask.distributed.Client`` (a ``LocalCluster``, Slurm through
            ``dask-jobqueue``, one worker per GPU through ``dask-cuda``); ``None`` runs here,
            one file after another.
        suffix: appended to each input's name for its result.
        overwrite: recompute results that exist (default: skip them, so a run resumes).
        retries: Dask retries of a task that raised (a task on a worker that died is
            rescheduled by Dask itself).

    Returns:
        The result paths, in the order of ``paths``.
    """
    items = [os.fspath(p) for p in paths]
    if client is None:
        return [Path(_run_one(p, fn, suffix, overwrite)) for p in items]
    futures = client.map(
        _run_one, items, fn=fn, suffix=suffix, overwrite=overwrite, pure=False, retries=retries
    )
    return [Path(p) for p in client.gather(futures)]


def _calcium_file(
    path: Path, frame_rate_hz: float | None, model: str, units: _calcium.Units
) -> dict[str, npt.NDArray[Any]]:
    loaded = _io.read(path, content="traces", frame_rate_hz=frame_rate_hz)
    if not isinstance(loaded, _io.Traces):  # content="traces" makes this unreachable
        raise _native.DataError(f"{path}: not calcium traces")
    values = _calcium.predict(loaded.data, loaded.frame_rate_hz, model=model, units=units)
    return {"values": values, "frame_rate_hz": np.array(loaded.frame_rate_hz)}


def calcium(
    frame_rate_hz: float | None = None, *, model: str = "model1", units: _calcium.Units = "network"
) -> Task:
    """A task for :func:`map`: read traces (:func:`spikelab.io.read`; ``frame_rate_hz`` for
    files that store none) and deconvolve them (:func:`spikelab.calcium.predict`); saves
    ``values`` ``[time, neuron]`` and ``frame_rate_hz``."""
    return functools.partial(_calcium_file, frame_rate_hz=frame_rate_hz, model=model, units=units)
