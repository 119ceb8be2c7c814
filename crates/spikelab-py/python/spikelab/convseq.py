"""convSeq sequence detection (Koshkin & Fukai, ICML 2024): learn soft-latency filters on
one ``[neuron, bin]`` raster, read out events, apply them to another."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy.typing as npt

from spikelab import _native
from spikelab._native import ConvSeqFit, Detection
from spikelab.io import is_spike_container, spike_trains

__all__ = ["ConvSeqFit", "Detection", "default_params", "detect", "events_frame", "fit"]

Progress = Callable[[int, "int | None", "float | None"], object]


def default_params() -> dict[str, Any]:
    """Every parameter of :func:`fit` with the library's default (the original's demo
    config: 1 filter, width 200 bins, ``tv_l`` 200, 4000 epochs, α from 15 000 random
    filters)."""
    params: dict[str, Any] = json.loads(_native.convseq_default_params())
    return params


def _tqdm_progress() -> Progress | None:
    try:
        from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    bar: Any = None

    def update(step: int, total: int | None, loss: float | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="convSeq epochs")
        bar.update(1)
        if loss is not None:
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if total is not None and step + 1 >= total:
            bar.close()

    return update


def _raster(raster: Any, bin_s: float) -> npt.ArrayLike:
    """Another tool's spike container binned at ``bin_s``; arrays pass through."""
    if is_spike_container(raster):
        counts: npt.ArrayLike = spike_trains(raster).bin(bin_s).counts
        return counts
    arr: npt.ArrayLike = raster
    return arr


def fit(
    raster: Any,
    bin_s: float,
    *,
    progress: bool | Progress = False,
    **params: Any,
) -> ConvSeqFit:
    """Learns convSeq filters on a raster and detects their occurrences in it.

    Args:
        raster: ``[neuron, bin]`` spike counts (any numeric dtype, whole non-negative
            values; a bin with several spikes of a neuron counts once), or spikes in a
            SpikeInterface sorting, pynapple ``TsGroup``, pynwb ``Units`` table or a mapping
            ``{unit: times_s}`` (binned at ``bin_s`` by :func:`spikelab.io.spike_trains`; rows
            in the container's unit order).
        bin_s: bin width in seconds.
        progress: ``True`` shows a tqdm bar (if tqdm is installed); a callable gets
            ``(epoch, total, loss)`` after each epoch.
        **params: any field of :func:`default_params`, e.g. ``n_filters``, ``width_bins``,
            ``tv_l``, ``epochs``, ``seed``; the struct fields ``alpha`` and ``members`` take
            dicts of their fields (``alpha={"n_samples": 500}``).

    Returns:
        A :class:`ConvSeqFit`: ``.filters`` ``[filter, neuron, tap]``, ``.orders``,
        ``.lags``, ``.loss``, ``.events`` (dict of columns ``filter``, ``bin``, ``time_s``,
        ``height``), ``.detection`` and ``.detect(other_raster)``.

    Ctrl-C stops the training at the next epoch and raises ``KeyboardInterrupt``.

    Raises:
        DataError: a raster that is not 2-D or holds negative, fractional or NaN counts.
        ConvSeqError: an unknown or invalid parameter.

    Example:
        >>> import spikelab
        >>> raster, bin_s, truth = spikelab.synth.sequences(seed=0, neurons=60, bins=3000,
        ...     seqlen=20, gap_bins=150, jitter_bins=1.0)
        >>> f = spikelab.convseq.fit(raster, bin_s, width_bins=40, tv_l=1.0, epochs=200,
        ...     alpha={"n_samples": 200})
        >>> f.filters.shape
        (1, 60, 40)
    """
    callback: Progress | None
    if progress is True:
        callback = _tqdm_progress()
    elif progress is False:
        callback = None
    else:
        callback = progress
    return _native.convseq_fit(_raster(raster, bin_s), float(bin_s), json.dumps(params), callback)


def detect(model: ConvSeqFit, raster: Any, bin_s: float | None = None) -> Detection:
    """``model.detect(raster, bin_s)``: the learned filters on another ``[neuron, bin]``
    raster of the same neurons (α re-estimated there; ``bin_s`` defaults to the training
    raster's), or on spikes in any container :func:`fit` takes."""
    b = model.bin_s if bin_s is None else bin_s
    return model.detect(_raster(raster, b), bin_s)


def events_frame(result: ConvSeqFit | Detection) -> Any:
    """The events of a fit (on its training raster) or of a detection as a pandas
    ``DataFrame`` (columns ``filter``, ``bin``, ``time_s``, ``height``, one row per event).
    Needs pandas."""
    try:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    except ImportError as e:
        raise ImportError("events_frame needs pandas (pip install pandas)") from e
    return pd.DataFrame(result.events)
