"""neuLVM (Wang et al., ICLR 2023): the mesoscopic latent-variable model of networks of
leaky integrate-and-fire populations, fitted by EM to a few recorded neurons per population,
and its free simulation (``spikelab neulvm fit`` / ``simulate``).

Spikes are ``[population, bin, neuron]`` arrays of 0/1; latents ``[population, bin]`` (the
first bins are the model's history window). A model is a dict (``ModelSpec``: ``model``,
``bounds``, optional ``params``); :func:`preset` gives the paper's winner-take-all network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["NeulvmFit", "Simulation", "fit", "options", "preset", "simulate"]


def preset() -> dict[str, Any]:
    """The paper's 3-population winner-take-all network: fixed settings (``model``), the box
    of the fitted parameters (``bounds``) and the ground truth (``params``)."""
    spec: dict[str, Any] = json.loads(_native.neulvm_preset())
    return spec


def options(model: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """The EM options :func:`fit` uses for ``model`` (default: :func:`preset`), with
    ``overrides`` applied: ``restarts``, ``seed``, ``max_em_iters``, ``threads``, …"""
    opts: dict[str, Any] = json.loads(
        _native.neulvm_options(_spec_json(model), json.dumps(overrides))
    )
    return opts


def _spec_json(model: dict[str, Any] | None) -> str | None:
    return None if model is None else json.dumps(model)


@dataclass(frozen=True)
class NeulvmFit:
    """The result of :func:`fit`.

    Attributes:
        params: the chosen restart's parameters (dict of per-population lists).
        loss: its final loss (negative log-likelihood per bin).
        z: its latent population activity ``[population, bin]`` (spikes per neuron per bin).
        best: index of the chosen restart.
        result: the whole ``FitResult`` (every restart, its EM iterations, the options).
    """

    params: dict[str, Any]
    loss: float
    z: npt.NDArray[np.float64]
    best: int
    result: dict[str, Any]


def fit(
    spikes: npt.ArrayLike,
    *,
    model: dict[str, Any] | None = None,
    progress: Callable[[int, int | None, float | None], object] | None = None,
    **overrides: Any,
) -> NeulvmFit:
    """Fits neuLVM by EM from seeded restarts and keeps the restart with the lowest loss.

    Args:
        spikes: recorded spikes ``[population, bin, neuron]``, 0/1 (any numeric dtype).
        model: a ``ModelSpec`` dict (default: :func:`preset`).
        progress: ``progress(step, total, metric)`` called per E-step/M-step/restart;
            raising stops the fit.
        **overrides: fit options (see :func:`options`), e.g. ``restarts=2, max_em_iters=5``.

    Raises:
        DataError / NeulvmError: spikes not 3-D or not 0/1, a population count that differs
            from the model's, invalid options or model.

    Example:
        >>> import spikelab
        >>> z, _, spikes, dt_s = spikelab.neulvm.simulate(2000, seed=1)
        >>> res = spikelab.neulvm.fit(spikes, restarts=1, max_em_iters=1, e_max_iters=5,
        ...                           m_max_iters=5)
        >>> res.z.shape == z.shape
        True
    """
    raw, z = _native.neulvm_fit(spikes, _spec_json(model), json.dumps(overrides), progress)
    result: dict[str, Any] = json.loads(raw)
    best = int(result["best"])
    chosen = result["restarts"][best]
    return NeulvmFit(
        params=chosen["state"]["params"],
        loss=float(chosen["loss"]),
        z=z,
        best=best,
        result=result,
    )


@dataclass(frozen=True)
class Simulation:
    """The result of :func:`simulate` (unpacks as ``z, z_mean, spikes, dt_s``).

    Attributes:
        z: sampled latent ``[population, bin]`` (history bins first).
        z_mean: its expectation ``[population, bin]``.
        spikes: recorded neurons' spikes ``[population, bin, neuron]`` (uint8).
        dt_s: the bin width in s.
    """

    z: npt.NDArray[np.float64]
    z_mean: npt.NDArray[np.float64]
    spikes: npt.NDArray[np.uint8]
    dt_s: float

    def __iter__(self) -> Any:
        return iter((self.z, self.z_mean, self.spikes, self.dt_s))


def simulate(
    n_bins: int,
    *,
    seed: int = 0,
    n_recorded: int = 3,
    model: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Simulation:
    """Free simulation of ``n_bins`` bins of ``model`` (default: :func:`preset`) with
    ``params`` (default: the model's ``params``, the preset's ground truth), recording
    ``n_recorded`` neurons per population. Seeded: the same seed gives the same output."""
    z, z_mean, spikes, dt_s = _native.neulvm_simulate(
        int(n_bins),
        int(seed),
        int(n_recorded),
        _spec_json(model),
        None if params is None else json.dumps(params),
    )
    return Simulation(z=z, z_mean=z_mean, spikes=spikes, dt_s=dt_s)
