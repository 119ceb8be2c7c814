"""Decoding behaviour from neural populations: ridge, Wiener filter, reduced-rank regression
and the Kalman-filter decoder, scored on a time-ordered split, and the BrainBits bottleneck
audit (``spikelab decode fit|audit``).

Arrays are time-major, as in scikit-learn: ``counts[frame, neuron]`` (a raster read by
:func:`spikelab.io.read` is ``[neuron, bin]``: pass ``raster.counts.T``) and
``target[frame, output]`` (a 1-D target is one output). The first ``train_fraction`` of the
frames train, the rest test; frames are never shuffled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, overload

import numpy as np
import numpy.typing as npt

from spikelab import _native
from spikelab._native import KalmanFit, LinearFit

__all__ = ["AuditResult", "KalmanFit", "LinearFit", "audit", "fit", "load_kalman"]

Lags = Union[str, Sequence[int]]
Model = Literal["ridge", "wiener", "rrr", "kalman"]


def _target(target: npt.ArrayLike) -> npt.NDArray[Any]:
    y = np.asarray(target)
    return y[:, None] if y.ndim == 1 else y


@overload
def fit(
    counts: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    model: Literal["ridge", "wiener", "rrr"] = "ridge",
    lags: Lags | None = None,
    rank: int | None = None,
    alphas: Sequence[float] | None = None,
    n_components: int | None = 12,
    velocity: bool = True,
    train_fraction: float = 0.8,
    val_fraction: float = 0.125,
) -> LinearFit: ...


@overload
def fit(
    counts: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    model: Literal["kalman"],
    lags: Lags | None = None,
    rank: int | None = None,
    alphas: Sequence[float] | None = None,
    n_components: int | None = 12,
    velocity: bool = True,
    train_fraction: float = 0.8,
    val_fraction: float = 0.125,
) -> KalmanFit: ...


def fit(
    counts: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    model: Model = "ridge",
    lags: Lags | None = None,
    rank: int | None = None,
    alphas: Sequence[float] | None = None,
    n_components: int | None = 12,
    velocity: bool = True,
    train_fraction: float = 0.8,
    val_fraction: float = 0.125,
) -> LinearFit | KalmanFit:
    """Fits a decoder on the first ``train_fraction`` of the frames and scores it on the rest.

    Args:
        counts: ``[frame, neuron]`` spike counts (any numeric dtype, finite).
        target: ``[frame, output]`` (or ``[frame]``) behaviour, finite.
        model: ``"ridge"`` (ridge on the lagged counts, α chosen on the last
            ``val_fraction`` of the training frames), ``"wiener"`` (ridge on causal lags
            0 … 19, or on ``lags`` when given), ``"rrr"`` (reduced-rank ridge of rank ``rank``) or ``"kalman"`` (the
            Kalman-filter decoder, Wu et al. 2006).
        lags: linear models: the frames feeding frame t, ``"zero"``, ``"causal:N"``,
            ``"centred:PAST,FUTURE"`` (default ``"centred:9,10"``, frames t − 10 … t + 9) or a
            list of offsets ℓ (block ℓ = counts at t − ℓ). Kalman: the summation window of
            the counts (default ``"centred:10,9"``).
        rank: the rank of ``"rrr"`` (required there).
        alphas: the ridge α grid (default 0.1, 1, …, 10⁴).
        n_components: Kalman: principal components kept as observations (``None``: every
            neuron that fires in the training frames).
        velocity: Kalman: add the target's first differences to the state.
        train_fraction: fraction of frames, from the start, that train.
        val_fraction: linear models: fraction of the training frames, from their end, that
            choose α (the model is then refitted on all training frames).

    Returns:
        A :class:`LinearFit` (``.test_r2``, ``.test_r2_per_output``, ``.train_r2``,
        ``.test_prediction``, ``.alpha``, ``.weights`` ``[lag, neuron, output]``,
        ``.intercept``, ``.predict(counts)``, ``.to_json()``) or, for ``"kalman"``, a
        :class:`KalmanFit` (the same scores, ``.decode(counts)`` = ``.predict(counts)``).

    Raises:
        DecodeError: bad parameters, mismatched frame counts, non-finite targets or counts.
        DataError: arrays that are not 2-D.
        TypeError: a non-numeric dtype.

    Example:
        >>> import numpy as np, spikelab
        >>> pos = np.sin(np.arange(2000) * 0.05)  # position per frame
        >>> rng = np.random.default_rng(0)
        >>> counts = rng.poisson(np.exp(np.outer(pos, [1.0, -1.0, 0.5, 0.0])))  # [frame, neuron]
        >>> r = spikelab.decode.fit(counts, pos, model="ridge", lags="zero")
        >>> round(r.test_r2, 2), r.test_prediction.shape, r.weights.shape
        (0.56, (400, 1), (1, 4, 1))
        >>> k = spikelab.decode.fit(counts, pos, model="kalman", n_components=None)
        >>> round(k.test_r2, 2)
        0.97
        >>> k.decode(counts).shape
        (2000, 1)
    """
    if model not in ("ridge", "wiener", "rrr", "kalman"):
        raise _native.DecodeError(f"model must be ridge, wiener, rrr or kalman, got {model!r}")
    if model == "rrr" and rank is None:
        raise _native.DecodeError("model='rrr' needs rank")
    if model != "rrr" and rank is not None:
        raise _native.DecodeError(f"rank is for model='rrr', not {model!r}")
    y = _target(target)
    if model == "kalman":
        return _native.decode_fit_kalman(
            counts, y, lags, n_components, bool(velocity), float(train_fraction)
        )
    if lags is None:
        lags = "causal:20" if model == "wiener" else "centred:9,10"
    grid = None if alphas is None else [float(a) for a in alphas]
    return _native.decode_fit_linear(
        counts, y, lags, grid, float(train_fraction), float(val_fraction), rank
    )


def load_kalman(json_text: str) -> KalmanFit:
    """A Kalman-filter decoder from its JSON (:meth:`KalmanFit.to_json`, or the ``fit.json``
    that ``spikelab decode fit --model kalman`` writes), to decode new recordings; its
    ``test_prediction`` is not stored and comes back empty."""
    return _native.decode_kalman_from_json(json_text)


@dataclass(frozen=True)
class AuditResult:
    """The BrainBits audit: test R² of a decoder squeezed through a rank-``b`` bottleneck.

    The curve (one entry per bottleneck): ``b``, ``r2``, ``ci`` ``[b, 2]`` (95 % bootstrap
    interval), ``random`` (the same pipeline on random inputs) and ``fidelity``
    ((r2 − random_ceiling)/(ceiling − random_ceiling)). ``ceiling`` is the full-rank ridge R²,
    ``random_ceiling`` its value on random inputs, ``b90`` the smallest b with fidelity ≥ 0.9
    (``None`` if none), ``report`` the library's report as a dict (``audit.json``).
    """

    b: npt.NDArray[np.int64]
    r2: npt.NDArray[np.float64]
    ci: npt.NDArray[np.float64]
    random: npt.NDArray[np.float64]
    fidelity: npt.NDArray[np.float64]
    ceiling: float
    ceiling_ci: tuple[float, float]
    random_ceiling: float
    b90: int | None
    alpha: float
    report: dict[str, Any]


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def audit(
    counts: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    bottlenecks: Sequence[int] = (1, 2, 5, 10, 20, 50, 100),
    lags: Lags = "centred:9,10",
    one_hot: bool = False,
    bootstrap: int = 1000,
    block_len: int = 1,
    seed: int = 0,
    progress: Callable[[int, int | None, float | None], object] | None = None,
) -> AuditResult:
    """The BrainBits bottleneck audit (closed form: reduced-rank ridge) of a recording.

    Args:
        counts: ``[frame, neuron]`` spike counts.
        target: ``[frame, output]`` (or ``[frame]``); with ``one_hot`` a single
            integer-valued column coded one-hot.
        bottlenecks: the widths b (each ≤ the number of lagged features).
        lags: as in :func:`fit`.
        bootstrap: bootstrap resamples of the test frames for the intervals (0: none).
        block_len: frames per resampled block.
        seed: seed of the random baseline and the bootstrap.
        progress: a callable ``(step, total, None)`` after each bottleneck.

    Frames: the first 80 % train (their last 1/8 chooses α), the rest test.

    Example:
        >>> import numpy as np, spikelab
        >>> rng = np.random.default_rng(1)
        >>> t = np.arange(1500)
        >>> y = np.stack([np.sin(t * 0.05), np.cos(t * 0.07)], axis=1)  # two outputs
        >>> counts = rng.poisson(np.exp(y @ rng.normal(size=(2, 8))))  # eight neurons
        >>> a = spikelab.decode.audit(counts, y, bottlenecks=[1, 2], lags="zero", bootstrap=50)
        >>> a.b.tolist(), bool(a.r2[0] < a.r2[1]), a.b90
        ([1, 2], True, 2)
    """
    report: dict[str, Any] = json.loads(
        _native.decode_audit(
            counts,
            _target(target),
            lags,
            [int(b) for b in bottlenecks],
            int(bootstrap),
            int(block_len),
            int(seed),
            bool(one_hot),
            progress,
        )
    )
    points = report["points"]
    return AuditResult(
        b=np.array([p["b"] for p in points], dtype=np.int64),
        r2=np.array([_f(p["r2"]) for p in points]),
        ci=np.array([[_f(p["ci"][0]), _f(p["ci"][1])] for p in points]).reshape(-1, 2),
        random=np.array([_f(p["r2_random"]) for p in points]),
        fidelity=np.array([_f(p["fidelity"]) for p in points]),
        ceiling=_f(report["ceiling"]),
        ceiling_ci=(_f(report["ceiling_ci"][0]), _f(report["ceiling_ci"][1])),
        random_ceiling=_f(report["random"]),
        b90=report["b90"],
        alpha=_f(report["alpha"]),
        report=report,
    )
