"""spikelab.lds against pykalman 0.11.2's numbers (the fixtures the Rust parity tests use) and
a scalar random walk whose steady state has a closed form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import spikelab


def fixture(datasets: Path, name: str) -> dict[str, Any]:
    d: dict[str, Any] = json.loads((datasets / "lds/reference" / name).read_text())
    return d


def y_of(d: dict[str, Any]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in d["y"]], dtype=float)


@pytest.mark.parametrize("name", ["L1_pykalman_filter.json", "L3_pykalman_filter_masked.json"])
def test_filter_and_smoother_match_pykalman(datasets: Path, name: str) -> None:
    d = fixture(datasets, name)
    m = d["model"]
    y = y_of(d)
    args = (y, m["A"], m["Q"], m["C"], m["R"], m["mu0"], m["Sigma0"])
    f = spikelab.lds.filter(*args, b=m["b"], d=m["d"])
    s = spikelab.lds.smooth(*args, b=m["b"], d=m["d"])
    assert f.means.shape == (len(y), 3) and f.covariances.shape == (len(y), 3, 3)
    tol = dict(rtol=0, atol=1e-10)
    np.testing.assert_allclose(f.means, d["filtered_means"], **tol)
    np.testing.assert_allclose(f.covariances, d["filtered_covs"], **tol)
    np.testing.assert_allclose(s.means, d["smoothed_means"], **tol)
    np.testing.assert_allclose(s.covariances, d["smoothed_covs"], **tol)
    assert f.loglik == pytest.approx(d["loglik"], abs=1e-9) and s.loglik == f.loglik
    if "masked" in name:
        assert np.isnan(y).any()
    # Without the offsets the numbers change (the offsets are used).
    assert not np.allclose(spikelab.lds.filter(*args).means, f.means)


def test_scalar_random_walk_steady_state() -> None:
    """x_t = x_{t-1} + w, y_t = x_t + e: the filter variance P converges to the root of
    P² + qP − qr = 0, the gain K = P / r; the mean follows m_t = m_{t-1} + K'(y_t − m_{t-1})
    with K' = (P + q)/(P + q + r)."""
    q, r = 0.3, 1.7
    y = np.random.default_rng(4).normal(size=400).cumsum()
    post = spikelab.lds.filter(y, A=1.0, Q=q, C=1.0, R=r, mu0=0.0, Sigma0=10.0)
    p_inf = (-q + np.sqrt(q * q + 4 * q * r)) / 2
    assert post.covariances[-1, 0, 0] == pytest.approx(p_inf, abs=1e-12)
    # The recursion by hand, from the prior.
    m, p = 0.0, 10.0
    means, loglik = [], 0.0
    for t, yt in enumerate(y):
        mp, pp = (m, p) if t == 0 else (m, p + q)
        s = pp + r
        loglik += -0.5 * ((yt - mp) ** 2 / s + np.log(2 * np.pi * s))
        k = pp / s
        m, p = mp + k * (yt - mp), (1 - k) * pp
        means.append(m)
    np.testing.assert_allclose(post.means[:, 0], means, rtol=0, atol=1e-9)
    assert post.loglik == pytest.approx(loglik, rel=1e-12)


def simulate(t: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.array([[0.95, -0.2], [0.2, 0.95]])
    c = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    x = np.zeros((t, 2))
    for i in range(1, t):
        x[i] = a @ x[i - 1] + rng.normal(scale=np.sqrt(0.05), size=2)
    return x @ c.T + rng.normal(scale=np.sqrt(0.1), size=(t, 3))


def test_fit_em_recovers_a_rotation() -> None:
    ys = [simulate(150 + 10 * i, i) for i in range(5)]
    seen: list[tuple[int, float | None]] = []
    fit = spikelab.lds.fit_em(ys, 2, max_iter=60, progress=lambda k, n, ll: seen.append((k, ll)))
    assert fit.A.shape == (2, 2) and fit.C.shape == (3, 2) and fit.R.shape == (3, 3)
    assert np.all(np.diff(fit.loglik) >= -1e-9 * np.abs(fit.loglik[:-1]))
    assert [k for k, _ in seen] == list(range(len(fit.loglik)))
    assert [ll for _, ll in seen] == pytest.approx(fit.loglik.tolist(), rel=1e-15)
    ev = np.abs(np.linalg.eigvals(fit.A))
    assert np.all(np.abs(ev - np.hypot(0.95, 0.2)) < 0.05), ev
    # The fitted model's log-likelihood is the total of the filters' log-likelihoods.
    total = sum(fit.filter(y).loglik for y in ys)
    assert total == pytest.approx(fit.loglik[-1], rel=1e-9)
    one = spikelab.lds.fit_em(ys[0], 2, max_iter=5, tol=0.0)
    assert len(one.loglik) == 6 and not one.converged
    assert one.smooth(ys[0]).means.shape == (150, 2)


def test_bad_input_raises_typed_errors() -> None:
    y = simulate(50, 0)
    a, q, c, r = np.eye(2), np.eye(2), np.ones((3, 2)), np.eye(3)
    ok = (a, q, c, r, np.zeros(2), np.eye(2))
    spikelab.lds.filter(y, *ok)
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.filter(y, a, -q, c, r, np.zeros(2), np.eye(2))  # not a covariance
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.filter(y, a, q, np.ones((3, 3)), r, np.zeros(2), np.eye(2))  # C size
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.filter(y[:, :2], *ok)  # 2 outputs, C has 3
    inf = y.copy()
    inf[3, 1] = np.inf
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.smooth(inf, *ok)
    with pytest.raises(spikelab.DataError):
        spikelab.lds.filter(np.ones((4, 3, 1)), *ok)
    with pytest.raises(TypeError):
        spikelab.lds.filter(y.astype(str), *ok)
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.fit_em(y, 0)
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.fit_em(y, 2, tol=-1.0)
    with pytest.raises(spikelab.LdsError):
        spikelab.lds.fit_em([y, y[:, :2]], 2)  # outputs differ
