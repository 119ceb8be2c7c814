"""Spike sorting (``spikelab sort run``): band-pass, whitening, threshold detection, PCA and
mean shift per channel group, template merging; SpikeInterface's ground-truth comparison;
and generated ground-truth recordings to test a sorter on.

Traces are ``[sample, channel]``; spike frames are sample indices of the peak.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = [
    "GroundTruth",
    "SortResult",
    "compare",
    "default_params",
    "ground_truth",
    "ground_truth_params",
    "sort",
]


def default_params() -> dict[str, Any]:
    """The library's defaults of every sorting parameter (``SortParams``)."""
    params: dict[str, Any] = json.loads(_native.sort_default_params())
    return params


@dataclass(frozen=True)
class SortResult:
    """The result of :func:`sort`.

    Attributes:
        frames: peak sample of every sorted spike, in time order (int64).
        labels: unit id (``0 … n_units − 1``) of every spike, aligned with ``frames``.
        amplitudes: preprocessed trace value at each spike's peak (float32).
        templates: mean preprocessed waveform per unit, ``[unit, sample, channel]``.
        peak_channels: channel of each unit's largest |template| value.
        summary: the run summary (parameters, detected peaks, clusters before merging,
            spikes per unit, flat channels), as ``spikelab sort run`` writes ``sort.json``.
    """

    frames: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    amplitudes: npt.NDArray[np.float32]
    templates: npt.NDArray[np.float32]
    peak_channels: npt.NDArray[np.uint64]
    summary: dict[str, Any]

    @property
    def n_units(self) -> int:
        """Number of sorted units."""
        return int(self.templates.shape[0])


def sort(
    traces: npt.ArrayLike,
    sampling_rate_hz: float,
    *,
    positions_um: npt.ArrayLike | None = None,
    probe: str | PathLike[str] | None = None,
    contact_radius_um: float = 6.0,
    progress: Callable[[int, int | None, float | None], object] | None = None,
    **params: Any,
) -> SortResult:
    """Sorts a recording.

    Args:
        traces: ``[sample, channel]`` voltages (any numeric dtype; converted to float32).
        sampling_rate_hz: the sampling rate.
        positions_um: contact positions ``[channel, 2]`` (x, y in µm); or give ``probe``.
        probe: a probeinterface JSON file (one probe, its contacts in channel order).
        contact_radius_um: contact radius used with ``positions_um``.
        progress: ``progress(step, total, metric)`` called per stage (``preprocess``,
            ``detect``, each batch of channel groups, ``merge``); raising stops the sort.
        **params: fields of :func:`default_params`, e.g. ``group_radius_um=40.0`` on dense
            probes, ``detector={"threshold_sigma": 5.0}``, ``seed``.

    Returns:
        A :class:`SortResult`.

    Raises:
        DataError: traces not 2-D, a probe whose channel count differs, NaN samples.
        SortError: bad parameters, a recording shorter than one snippet, no spike detected.
        TypeError: a non-numeric dtype.

    Example:
        >>> import spikelab
        >>> gt = spikelab.sort.ground_truth(7, duration_s=20.0)
        >>> res = spikelab.sort.sort(gt.traces, gt.sampling_rate_hz, positions_um=gt.positions_um)
        >>> cmp = spikelab.sort.compare(gt.frames, gt.labels, res.frames, res.labels,
        ...                             gt.sampling_rate_hz, gt.traces.shape[0])
        >>> 0.0 <= cmp["mean_accuracy"] <= 1.0
        True
    """
    if (positions_um is None) == (probe is None):
        raise _native.SortError("give exactly one of positions_um and probe")
    out = _native.sort_run(
        traces,
        float(sampling_rate_hz),
        positions_um,
        None if probe is None else str(probe),
        float(contact_radius_um),
        json.dumps(params),
        progress,
    )
    return SortResult(
        frames=out.frames,
        labels=out.labels,
        amplitudes=out.amplitudes,
        templates=out.templates,
        peak_channels=out.peak_channels,
        summary=json.loads(out.summary_json),
    )


def compare(
    gt_frames: npt.ArrayLike,
    gt_labels: npt.ArrayLike,
    frames: npt.ArrayLike,
    labels: npt.ArrayLike,
    sampling_rate_hz: float,
    n_samples: int,
    **params: Any,
) -> dict[str, Any]:
    """SpikeInterface's ``compare_sorter_to_ground_truth`` (Hungarian match, ±0.4 ms).

    Args:
        gt_frames, gt_labels: the ground-truth spikes (sample, unit id).
        frames, labels: the tested sorting's spikes.
        sampling_rate_hz: the sampling rate of both.
        n_samples: the recording's length in samples.
        **params: ``delta_time_ms``, ``match_score``, ``well_detected_score``,
            ``exhaustive_gt``, …

    Returns:
        The comparison as a dict, plus ``accuracy`` (per ground-truth unit, in unit order) and
        ``mean_accuracy``.
    """
    raw = _native.sort_compare(
        gt_frames, gt_labels, frames, labels, float(sampling_rate_hz), int(n_samples),
        json.dumps(params),
    )
    cmp: dict[str, Any] = json.loads(raw)
    acc = [p["accuracy"] for p in cmp["performance"]]
    cmp["accuracy"] = acc
    cmp["mean_accuracy"] = float(np.mean(acc)) if acc else 0.0
    return cmp


@dataclass(frozen=True)
class GroundTruth:
    """A generated recording and its ground truth (see :func:`ground_truth`).

    Attributes:
        traces: ``[sample, channel]`` float32 voltages (µV).
        sampling_rate_hz: the sampling rate.
        positions_um: contact positions ``[channel, 2]``.
        frames: ground-truth spike frames (trough), in time order.
        labels: ground-truth unit ids aligned with ``frames``.
        truth: templates, unit locations, rates, SNRs, … (``RecordingTruth``).
    """

    traces: npt.NDArray[np.float32]
    sampling_rate_hz: float
    positions_um: npt.NDArray[np.float64]
    frames: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    truth: dict[str, Any]


def ground_truth_params(
    preset: str = "tetrode_benchmark", *, probe_units: int | None = None
) -> dict[str, Any]:
    """The parameters of a generator preset: ``"default"`` (spikeinterface's
    ``generate_ground_truth_recording``), ``"tetrode_benchmark"`` (the sorting acceptance
    protocol: 30 kHz, 600 s, 5–8 units, SNR 3–15) or ``"probe_benchmark"`` (384 contacts;
    ``probe_units`` units, required)."""
    params: dict[str, Any] = json.loads(_native.synth_ground_truth_params(preset, probe_units))
    return params


def ground_truth(
    seed: int = 0,
    preset: str = "tetrode_benchmark",
    *,
    probe_units: int | None = None,
    **params: Any,
) -> GroundTruth:
    """A seeded ground-truth recording (spikeinterface's generator, ported): ``preset`` and
    ``probe_units`` as in :func:`ground_truth_params`, with any of its fields replaced by
    ``params`` (e.g. ``duration_s=20.0``; enum fields as the Rust variant in a one-key dict,
    ``n_units={"Fixed": 3}``)."""
    traces, pos, frames, labels, truth = _native.synth_ground_truth(
        seed, preset, probe_units, json.dumps(params)
    )
    parsed: dict[str, Any] = json.loads(truth)
    return GroundTruth(
        traces=traces,
        sampling_rate_hz=float(parsed["sampling_rate_hz"]),
        positions_um=pos,
        frames=frames,
        labels=labels,
        truth=parsed,
    )
