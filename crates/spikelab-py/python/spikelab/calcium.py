"""Calcium → spike rates: the Spikefinder-Elephant CNN (Rupprecht & Gerhard 2017) with its
embedded pretrained weights, as ``spikelab calcium deconvolve`` runs it."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["Deconvolver", "predict", "predict_with_report"]

Units = Literal["network", "rates_hz"]


class Deconvolver:
    """A deconvolver built once (model loaded, parameters validated) and run on any number
    of recordings: what :func:`predict` uses, cached per parameter set. Arguments as in
    :func:`predict`."""

    def __init__(
        self, model: str = "model1", *, units: Units = "network", preprocess: bool = False
    ) -> None:
        if units not in ("network", "rates_hz"):
            raise _native.CalciumError(f"units must be 'network' or 'rates_hz', got {units!r}")
        self._inner = _native.Deconvolver(model, units == "rates_hz", preprocess)

    def predict_with_report(
        self, traces: npt.ArrayLike, frame_rate_hz: float
    ) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """:meth:`predict` and the library's report as a dict."""
        values, report = self._inner.run(traces, float(frame_rate_hz))
        parsed: dict[str, Any] = json.loads(report)
        return values, parsed

    def predict(self, traces: npt.ArrayLike, frame_rate_hz: float) -> npt.NDArray[np.float64]:
        """``[time, neuron]`` traces → ``[time, neuron]`` values (see :func:`predict`)."""
        return self.predict_with_report(traces, frame_rate_hz)[0]

    def __repr__(self) -> str:
        return repr(self._inner)


_EMBEDDED = {"elephant", "ensemble"} | {f"model{i}" for i in range(1, 6)}


# The embedded models are built once per process (building is most of a small call's time).
@lru_cache(maxsize=8)
def _deconvolver(model: str, units: Units, preprocess: bool) -> Deconvolver:
    return Deconvolver(model, units=units, preprocess=preprocess)


def predict_with_report(
    traces: npt.ArrayLike,
    frame_rate_hz: float,
    *,
    model: str = "model1",
    units: Units = "network",
    preprocess: bool = False,
) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
    """:func:`predict`, plus the library's report (model, rates, noise level per neuron,
    skipped neurons) as a dict."""
    if model in _EMBEDDED:
        d = _deconvolver(model, units, preprocess)
    else:  # a weights file is read on every call (it may have changed)
        d = Deconvolver(model, units=units, preprocess=preprocess)
    return d.predict_with_report(traces, frame_rate_hz)


def predict(
    traces: npt.ArrayLike,
    frame_rate_hz: float,
    *,
    model: str = "model1",
    units: Units = "network",
    preprocess: bool = False,
) -> npt.NDArray[np.float64]:
    """Deconvolves calcium traces into spike rates.

    Args:
        traces: ``[time, neuron]`` ΔF/F, any numeric dtype (converted to float64; C or
            Fortran order). Trailing NaNs pad shorter neurons; one neuron is
            ``trace[:, None]``.
        frame_rate_hz: the recording's frame rate. Elephant runs at 100 Hz: other rates are
            c2s-preprocessed and resampled to 100 Hz and the result is brought back.
        model: ``"model1"`` … ``"model5"`` (``"elephant"`` = ``"model1"``), ``"ensemble"``
            (mean of the five) or a ``.safetensors`` weights file. CASCADE models
            (``"cascade:DIR"``) need HDF5 and are not in the wheel (use the CLI).
        units: ``"network"`` (the network's z-scored output) or ``"rates_hz"`` (calibrated
            spike rates in Hz).
        preprocess: also run the c2s preprocessing on 100 Hz input.

    Returns:
        ``[time, neuron]`` float64 at the input's rate and length, NaN where undefined (the
        first and last frames of the network's window).

    Raises:
        DataError: traces not 2-D, infinite values, a frame rate ≤ 0.
        CalciumError: an unknown model or a failed run.
        TypeError: a non-numeric dtype.

    Example:
        >>> import numpy as np, spikelab
        >>> t = np.arange(3000) / 100.0
        >>> dff = np.exp(np.sin(t)[:, None])
        >>> spikelab.calcium.predict(dff, 100.0).shape
        (3000, 1)
    """
    return predict_with_report(
        traces, frame_rate_hz, model=model, units=units, preprocess=preprocess
    )[0]
