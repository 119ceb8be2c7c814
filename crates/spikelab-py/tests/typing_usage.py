"""Checked with `mypy --strict` (scripts/python_package.sh): the stubs and annotations of
the package as a user's code sees them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import spikelab
from spikelab.convseq import ConvSeqFit, Detection


def rates(dff: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = spikelab.calcium.predict(dff, 30.0, model="ensemble", units="rates_hz")
    return out


def sequences() -> tuple[ConvSeqFit, Detection, float]:
    raster, bin_s, truth = spikelab.synth.sequences(seed=1, neurons=40, bins=2000, seqlen=10)
    members: list[int] = truth["types"][0]["members"]
    fit = spikelab.convseq.fit(raster[:, :1000], bin_s, width_bins=20, epochs=10, progress=True)
    det = fit.detect(raster[:, 1000:])
    order: npt.NDArray[np.uint64] = fit.orders[0]
    bins: npt.NDArray[np.generic] = det.events["bin"]
    return fit, det, float(len(members) + len(order) + len(bins)) * fit.bin_s


def read(path: str) -> float:
    loaded = spikelab.io.read(path, frame_rate_hz=100.0)
    if isinstance(loaded, spikelab.io.Traces):
        return loaded.frame_rate_hz
    if isinstance(loaded, spikelab.io.SpikeTrains):
        return loaded.t_stop_s
    return 0.0


def errors() -> str:
    try:
        spikelab.calcium.predict(np.ones(3), 100.0)
    except spikelab.DataError as e:
        return str(e)
    except spikelab.SpikelabError:
        return "other"
    return ""


def batch(paths: list[str]) -> list[str]:
    outs = spikelab.batch.map(spikelab.batch.calcium(30.0, units="rates_hz"), paths, client=None)
    return [str(o) for o in outs]
