"""Reading recordings: spikelab-data's reader facade (``io::open``) for CSV, NPY, MATLAB v5,
Kilosort/phy, Suite2p and SpikeInterface folders. HDF5 formats (NWB, CaImAn) are not in the
wheel: read those with pynwb/h5py and pass the arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["Array", "Raster", "SpikeTrains", "Traces", "read"]


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
