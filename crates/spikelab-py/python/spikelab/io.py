"""Reading recordings: spikelab-data's reader facade (``io::open``) for CSV, NPY, MATLAB v5,
Kilosort/phy, Suite2p and SpikeInterface folders. HDF5 formats (NWB, CaImAn) are not in the
wheel: read those with pynwb/h5py and pass the arrays."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["Array", "Raster", "SpikeTrains", "Traces", "read", "spike_trains"]


@dataclass(frozen=True)
class Traces:
    """Calcium traces ``data[time, neuron]`` at ``frame_rate_hz``."""

    data: npt.NDArray[np.float64]
    frame_rate_hz: float


@dataclass(frozen=True)
class Raster:
    """Spike counts ``counts[neuron, bin]`` in bins of ``bin_s`` seconds."""

    counts: npt.NDArray[np.uint32]
    bin_s: float


@dataclass(frozen=True)
class SpikeTrains:
    """Spike times (s) per unit, with the units' ids and the recording's span."""

    trains: list[npt.NDArray[np.float64]]
    unit_ids: npt.NDArray[np.int64]
    t_start_s: float
    t_stop_s: float

    def bin(self, bin_s: float) -> Raster:
        """Counts ``[unit, bin]`` in bins of ``bin_s`` from ``t_start_s``: ⌈duration / bin_s⌉
        bins, bin b = [t_start + b·bin_s, t_start + (b+1)·bin_s), a spike at ``t_stop_s`` in
        the last bin (the library's ``SpikeTrains::bin``)."""
        counts = _native.io_bin_trains(
            [np.asarray(t, dtype=np.float64) for t in self.trains],
            [int(u) for u in self.unit_ids],
            float(self.t_start_s),
            float(self.t_stop_s),
            float(bin_s),
        )
        return Raster(counts, float(bin_s))


@dataclass(frozen=True)
class Array:
    """Any other numeric array (as float64), with the stored dtype's name."""

    data: npt.NDArray[np.float64]
    dtype: str


Content = Literal["traces", "raster", "spike_trains", "array"]


def read(
    path: str | os.PathLike[str],
    *,
    content: Content | None = None,
    frame_rate_hz: float | None = None,
    bin_s: float | None = None,
    variable: str | None = None,
    neurons_first: bool = False,
    force_frame_rate: bool = False,
) -> Traces | Raster | SpikeTrains | Array:
    """Reads a file or folder into the type its content says (or ``content``).

    Args:
        path: ``.csv[.gz]``, ``.npy``, ``.mat[.gz]``, a Kilosort/phy, Suite2p plane or
            SpikeInterface sorting folder.
        content: force ``"traces"``, ``"raster"``, ``"spike_trains"`` or ``"array"``.
        frame_rate_hz: the rate of traces stored without one (CSV, NPY, MAT matrices);
            must agree within 1 % with a stored rate unless ``force_frame_rate``.
        bin_s: bin width of rasters stored without one (default ``1 / frame_rate_hz``).
        variable: the MATLAB variable to read.
        neurons_first: matrix traces are stored ``[neuron, time]``.

    Raises:
        DataError: a missing or malformed file, a missing frame rate, an unknown format.
    """
    d = _native.io_read(
        os.fspath(path), content, frame_rate_hz, bin_s, variable, neurons_first, force_frame_rate
    )
    kind = d["kind"]
    if kind == "traces":
        return Traces(d["data"], d["frame_rate_hz"])
    if kind == "raster":
        return Raster(d["counts"], d["bin_s"])
    if kind == "spike trains":
        return SpikeTrains(d["trains"], d["unit_ids"], d["t_start_s"], d["t_stop_s"])
    return Array(d["data"], d["dtype"])


def _ids(ids: list[Any]) -> npt.NDArray[np.int64]:
    """Integer unit ids as they are; any other ids (strings) become their positions."""
    if all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) for u in ids):
        return np.asarray(ids, dtype=np.int64)
    return np.arange(len(ids), dtype=np.int64)


def is_spike_container(obj: object) -> bool:
    """Whether :func:`spike_trains` takes ``obj`` as another tool's spike container (not an
    array)."""
    return isinstance(obj, (SpikeTrains, Mapping)) or any(
        hasattr(obj, name) for name in ("get_unit_spike_train", "get_unit_spike_times", "time_support")
    )


def spike_trains(
    spikes: Any,
    *,
    t_start_s: float | None = None,
    t_stop_s: float | None = None,
    segment_index: int = 0,
) -> SpikeTrains:
    """Spike trains from the containers of other tools, in seconds.

    Accepted: a SpikeInterface ``BaseSorting`` (frames of ``segment_index`` divided by its
    sampling frequency), a pynapple ``TsGroup`` (its time support gives the span), a pynwb
    ``Units`` table (``get_unit_spike_times``), a mapping ``{unit_id: times}``, or a
    :class:`SpikeTrains` (returned as is). Integer unit ids are kept; other ids (strings)
    become their positions in the container's order. Without a time support the span is
    ``[min(0, first spike), last spike]`` unless ``t_start_s`` / ``t_stop_s`` are given.

    Raises:
        DataError: NaN spike times or times outside a given span (when binned).
        TypeError: any other object.

    Example:
        >>> import numpy as np, spikelab
        >>> st = spikelab.io.spike_trains({3: [0.5, 0.1], 7: np.array([1.2])})
        >>> st.unit_ids.tolist(), st.bin(0.5).counts.tolist()
        ([3, 7], [[1, 1, 0], [0, 0, 1]])
    """
    if isinstance(spikes, SpikeTrains):
        return spikes
    start: float | None = None
    stop: float | None = None
    if hasattr(spikes, "get_unit_spike_train") and hasattr(spikes, "get_sampling_frequency"):
        fs = float(spikes.get_sampling_frequency())
        ids = list(spikes.get_unit_ids())
        trains = [
            np.asarray(spikes.get_unit_spike_train(unit_id=u, segment_index=segment_index), dtype=np.float64) / fs
            for u in ids
        ]
    elif hasattr(spikes, "time_support") and hasattr(spikes, "keys"):
        ids = list(spikes.keys())
        trains = [np.asarray(spikes[k].t, dtype=np.float64) for k in ids]
        support = spikes.time_support
        start, stop = float(np.min(support.start)), float(np.max(support.end))
    elif hasattr(spikes, "get_unit_spike_times"):
        ids = list(spikes.id[:])
        trains = [np.asarray(spikes.get_unit_spike_times(i), dtype=np.float64) for i in range(len(ids))]
    elif isinstance(spikes, Mapping):
        ids = list(spikes.keys())
        trains = [np.asarray(spikes[k], dtype=np.float64).ravel() for k in ids]
    else:
        raise TypeError(
            "spikes must be a SpikeInterface sorting, a pynapple TsGroup, a pynwb Units table, "
            f"a mapping of unit id to times or SpikeTrains, got {type(spikes).__name__}"
        )
    trains = [np.sort(t) for t in trains]
    finite = [t[np.isfinite(t)] for t in trains if t.size]
    first = min((float(t[0]) for t in finite if t.size), default=0.0)
    last = max((float(t[-1]) for t in finite if t.size), default=0.0)
    t0 = t_start_s if t_start_s is not None else start if start is not None else min(0.0, first)
    t1 = t_stop_s if t_stop_s is not None else stop if stop is not None else last
    return SpikeTrains(trains, _ids(ids), float(t0), float(t1))
