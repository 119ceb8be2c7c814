"""Seeded synthetic data with ground truth (the recipes of ``spikelab synth``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["default_params", "poisson", "sequences"]


def default_params(recipe: str) -> dict[str, Any]:
    """The library's defaults of ``recipe`` (``"sequences"`` or ``"poisson"``)."""
    params: dict[str, Any] = json.loads(_native.synth_default_params(recipe))
    return params


def sequences(
    seed: int = 0, **params: Any
) -> tuple[npt.NDArray[np.uint32], float, dict[str, Any]]:
    """Spike sequences embedded in a Poisson background (convSeq's benchmark recipe).

    Args:
        seed: the seed (same seed, same data on every platform).
        **params: fields of ``default_params("sequences")``: ``neurons``, ``bins``,
            ``bin_s``, ``seqlen`` (members per sequence), ``gap_bins`` (onset spacing),
            ``jitter_bins``, ``p_drop``, ``types``, ``mean_rate_per_bin``, …

    Returns:
        ``(raster, bin_s, truth)``: ``[neuron, bin]`` binary counts (uint32), the bin width
        in s, and the ground truth (``truth["types"][k]["members"]``, the occurrences with
        their onsets, the row permutation, …).
    """
    raster, bin_s, truth = _native.synth_sequences(seed, json.dumps(params))
    parsed: dict[str, Any] = json.loads(truth)
    return raster, bin_s, parsed


def poisson(
    seed: int = 0, **params: Any
) -> tuple[list[npt.NDArray[np.float64]], float, dict[str, Any]]:
    """Poisson (or gamma) spike trains with a dead time.

    Args:
        seed: the seed.
        **params: fields of ``default_params("poisson")``: ``neurons``, ``rate_hz``,
            ``duration_s``, ``refractory_s``, ``gamma_shape``.

    Returns:
        ``(trains, duration_s, truth)``: spike times in s per neuron, the duration, and the
        truth (``rates_hz``, ``realised_rates_hz``, …).
    """
    trains, t_start, t_stop, truth = _native.synth_poisson(seed, json.dumps(params))
    parsed: dict[str, Any] = json.loads(truth)
    return trains, t_stop - t_start, parsed
