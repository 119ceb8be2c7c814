"""Linear-Gaussian state-space models (pykalman's shapes): Kalman filter, RTS smoother and
EM, from spikelab-lds (checked there against pykalman 0.11.2 and dynamax to ≤ 1e-13).

The model, with states x (n) and outputs y (m)::

    x_0 ~ N(mu0, Sigma0)
    x_t = A x_{t-1} + b + w_t,   w_t ~ N(0, Q)
    y_t = C x_t + d + e_t,       e_t ~ N(0, R)

Arrays are time-major: ``y[time, output]`` (a 1-D ``y`` is one output); NaN entries of ``y``
are missing (a step with no observed output has no update). Scalars and 1-D arrays are
accepted for the matrices of 1-state / 1-output models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["EmResult", "Posterior", "filter", "fit_em", "smooth"]


class Posterior(NamedTuple):
    """State means ``[time, state]``, covariances ``[time, state, state]`` and the
    log-likelihood of ``y`` (the same for filter and smoother)."""

    means: npt.NDArray[np.float64]
    covariances: npt.NDArray[np.float64]
    loglik: float


def _y(y: npt.ArrayLike) -> npt.NDArray[Any]:
    a = np.asarray(y)
    return a[:, None] if a.ndim == 1 else a


def _mat(x: npt.ArrayLike) -> npt.NDArray[Any]:
    return np.atleast_2d(np.asarray(x))


def _vec(x: npt.ArrayLike | None) -> npt.NDArray[Any] | None:
    return None if x is None else np.atleast_1d(np.asarray(x))


def _posterior(
    smoothed: bool,
    y: npt.ArrayLike,
    A: npt.ArrayLike,
    Q: npt.ArrayLike,
    C: npt.ArrayLike,
    R: npt.ArrayLike,
    mu0: npt.ArrayLike,
    Sigma0: npt.ArrayLike,
    b: npt.ArrayLike | None,
    d: npt.ArrayLike | None,
) -> Posterior:
    means, covs, loglik = _native.lds_posterior(
        _y(y), _mat(A), _mat(Q), _mat(C), _mat(R), np.atleast_1d(np.asarray(mu0)), _mat(Sigma0),
        _vec(b), _vec(d),
        smoothed,
    )
    return Posterior(means, covs, loglik)


def filter(  # noqa: A001 (pykalman's name)
    y: npt.ArrayLike,
    A: npt.ArrayLike,
    Q: npt.ArrayLike,
    C: npt.ArrayLike,
    R: npt.ArrayLike,
    mu0: npt.ArrayLike,
    Sigma0: npt.ArrayLike,
    *,
    b: npt.ArrayLike | None = None,
    d: npt.ArrayLike | None = None,
) -> Posterior:
    """The Kalman filter: means and covariances of x_t given y_0 … y_t.

    Args:
        y: ``[time, output]`` observations; NaN = missing.
        A, Q: ``[state, state]`` transition and its noise covariance.
        C, R: ``[output, state]`` emission and ``[output, output]`` noise covariance.
        mu0, Sigma0: the prior of x_0 (``[state]``, ``[state, state]``).
        b, d: state and output offsets (default 0).

    Returns:
        :class:`Posterior` ``(means, covariances, loglik)``.

    Raises:
        LdsError: sizes that do not fit, covariances that are not PSD, ±inf in ``y``.
        DataError: arrays of the wrong number of dimensions.

    Example: a scalar random walk seen in noise. The filter's variance P converges to the
    fixed point of P = (P + q) r / (P + q + r), i.e. P = (−q + √(q² + 4qr)) / 2.

        >>> import numpy as np, spikelab
        >>> q, r = 0.5, 2.0
        >>> y = np.random.default_rng(0).normal(size=200)
        >>> post = spikelab.lds.filter(y, A=1.0, Q=q, C=1.0, R=r, mu0=0.0, Sigma0=1.0)
        >>> post.means.shape, post.covariances.shape
        ((200, 1), (200, 1, 1))
        >>> bool(abs(post.covariances[-1, 0, 0] - (-q + np.sqrt(q * q + 4 * q * r)) / 2) < 1e-12)
        True
    """
    return _posterior(False, y, A, Q, C, R, mu0, Sigma0, b, d)


def smooth(
    y: npt.ArrayLike,
    A: npt.ArrayLike,
    Q: npt.ArrayLike,
    C: npt.ArrayLike,
    R: npt.ArrayLike,
    mu0: npt.ArrayLike,
    Sigma0: npt.ArrayLike,
    *,
    b: npt.ArrayLike | None = None,
    d: npt.ArrayLike | None = None,
) -> Posterior:
    """The Rauch–Tung–Striebel smoother: means and covariances of x_t given all of ``y``.
    Arguments as in :func:`filter`.

    Example:
        >>> import numpy as np, spikelab
        >>> y = np.cumsum(np.random.default_rng(0).normal(size=100))
        >>> s = spikelab.lds.smooth(y, A=1.0, Q=1.0, C=1.0, R=0.5, mu0=0.0, Sigma0=1.0)
        >>> f = spikelab.lds.filter(y, A=1.0, Q=1.0, C=1.0, R=0.5, mu0=0.0, Sigma0=1.0)
        >>> bool(np.all(s.covariances <= f.covariances + 1e-12)), s.loglik == f.loglik
        (True, True)
    """
    return _posterior(True, y, A, Q, C, R, mu0, Sigma0, b, d)


@dataclass(frozen=True)
class EmResult:
    """An LDS fitted by EM: the parameters (names as in :func:`filter`), the total
    log-likelihood after each M-step (``loglik[0]`` is the starting model's), and whether the
    tolerance was met."""

    A: npt.NDArray[np.float64]
    Q: npt.NDArray[np.float64]
    C: npt.NDArray[np.float64]
    R: npt.NDArray[np.float64]
    mu0: npt.NDArray[np.float64]
    Sigma0: npt.NDArray[np.float64]
    b: npt.NDArray[np.float64]
    d: npt.NDArray[np.float64]
    loglik: npt.NDArray[np.float64]
    converged: bool

    def filter(self, y: npt.ArrayLike) -> Posterior:
        """:func:`filter` of ``y`` under the fitted model."""
        return filter(y, self.A, self.Q, self.C, self.R, self.mu0, self.Sigma0, b=self.b, d=self.d)

    def smooth(self, y: npt.ArrayLike) -> Posterior:
        """:func:`smooth` of ``y`` under the fitted model."""
        return smooth(y, self.A, self.Q, self.C, self.R, self.mu0, self.Sigma0, b=self.b, d=self.d)


def fit_em(
    y: npt.ArrayLike | Sequence[npt.ArrayLike],
    n_states: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    diagonal_r: bool = False,
    progress: Callable[[int, int | None, float | None], object] | None = None,
) -> EmResult:
    """Fits an LDS by EM (Shumway & Stoffer), started from a data-driven model (principal
    directions of ``y`` for C, least squares for A; seeded).

    Args:
        y: one ``[time, output]`` array, or a list of NumPy arrays (trajectories of any
            lengths); NaN = missing.
        n_states: the number of latent states.
        max_iter: maximum M-steps.
        tol: stop when the log-likelihood improves by less than ``tol`` × its magnitude
            (0 runs all ``max_iter``).
        seed: seed of the starting model.
        diagonal_r: learn a diagonal R (required when some steps are only partly observed).
        progress: a callable ``(iteration, max_iter, loglik)`` after every E-step.

    Ctrl-C stops the fit at the next iteration and raises ``KeyboardInterrupt``.

    Example:
        >>> import numpy as np, spikelab
        >>> rng = np.random.default_rng(0)
        >>> x = np.zeros(300)
        >>> for t in range(1, 300):
        ...     x[t] = 0.95 * x[t - 1] + rng.normal(scale=0.3)
        >>> y = np.outer(x, [1.0, -0.5]) + rng.normal(scale=0.2, size=(300, 2))
        >>> fit = spikelab.lds.fit_em(y, n_states=1, max_iter=50)
        >>> bool(np.all(np.diff(fit.loglik) > -1e-9)), fit.A.shape
        (True, (1, 1))
    """
    if isinstance(y, (list, tuple)) and y and all(isinstance(t, np.ndarray) for t in y):
        ys = [_y(t) for t in y]
    else:
        ys = [_y(cast(npt.ArrayLike, y))]
    d = _native.lds_fit_em(
        ys, int(n_states), int(max_iter), float(tol), int(seed), bool(diagonal_r), progress
    )
    return EmResult(
        A=d["A"], Q=d["Q"], C=d["C"], R=d["R"], mu0=d["mu0"], Sigma0=d["Sigma0"], b=d["b"],
        d=d["d"], loglik=d["loglik"], converged=bool(d["converged"]),
    )
