"""spikelab.decode on the bundled CA1 raster (the anchors of the Rust tests and docs/decode.md)
and on small synthetic populations; Python-side recomputations agree to 1e-12."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import spikelab


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's r2_score, uniform average over outputs."""
    ss_res = ((y - pred) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - ss_res / ss_tot))


@pytest.fixture(scope="module")
def ca1(datasets: Path) -> tuple[np.ndarray, np.ndarray]:
    """CA1 (Rubin et al.): counts [frame, neuron] (18 137 × 452, 50-ms frames), position [frame]."""
    folder = datasets / "convseq/ca1_rubin"
    raster = spikelab.io.read(folder / "neuronal_activity_mat.mat", bin_s=0.05)
    assert isinstance(raster, spikelab.io.Raster)
    pos = spikelab.io.read(
        folder / "position_per_frame.mat", content="array", variable="position_per_frame"
    )
    assert isinstance(pos, spikelab.io.Array)
    counts = raster.counts.T
    position = pos.data.reshape(-1)
    assert counts.shape == (18137, 452) and position.shape == (18137,)
    return counts, position


@pytest.fixture(scope="module")
def kalman_ca1(ca1: tuple[np.ndarray, np.ndarray]) -> spikelab.decode.KalmanFit:
    counts, pos = ca1
    return spikelab.decode.fit(counts, pos, model="kalman")


def test_ca1_kalman_anchor(ca1: tuple[np.ndarray, np.ndarray], kalman_ca1: spikelab.decode.KalmanFit) -> None:
    counts, pos = ca1
    k = kalman_ca1
    print(f"CA1 Kalman: train R² {k.train_r2:.4f}, test R² {k.test_r2:.4f}")
    assert abs(k.test_r2 - 0.882) < 0.005, k.test_r2
    start, stop = k.test_frames
    assert (start, stop) == (18137 * 8 // 10, 18137)
    assert k.test_prediction.shape == (stop - start, 1) and k.n_components == 12
    assert r2(pos[start:stop, None], k.test_prediction) == pytest.approx(k.test_r2, abs=1e-12)
    assert k.test_r2_per_output.tolist() == pytest.approx([k.test_r2], abs=1e-15)


def test_ca1_kalman_filter_is_spikelab_lds_filter(
    ca1: tuple[np.ndarray, np.ndarray], kalman_ca1: spikelab.decode.KalmanFit
) -> None:
    """The decoder's test predictions = spikelab.lds.filter of its features on the test
    frames, started from its prior (the same library filter reached through both bindings)."""
    counts, _ = ca1
    k = kalman_ca1
    m = k.lds()
    start, stop = k.test_frames
    f = k.features(counts)
    assert f.shape == (18137, 12)
    post = spikelab.lds.filter(
        f[start:stop], m["A"], m["Q"], m["C"], m["R"], m["mu0"], m["Sigma0"], b=m["b"], d=m["d"]
    )
    np.testing.assert_allclose(post.means[:, :1], k.test_prediction, rtol=0, atol=1e-12)
    # decode() of a new recording of the same neurons: here the test half alone.
    new = k.decode(counts[start:])
    assert new.shape == (stop - start, 1)
    assert np.corrcoef(new[50:-50, 0], k.test_prediction[50:-50, 0])[0, 1] > 0.99


def test_ca1_kalman_json_round_trip(
    ca1: tuple[np.ndarray, np.ndarray], kalman_ca1: spikelab.decode.KalmanFit
) -> None:
    counts, _ = ca1
    text = kalman_ca1.to_json()
    saved = json.loads(text)
    assert saved["test_r2"] == kalman_ca1.test_r2 and "lds" in saved["model"]
    back = spikelab.decode.load_kalman(text)
    assert back.test_r2 == kalman_ca1.test_r2 and back.test_prediction.shape[0] == 0
    np.testing.assert_array_equal(back.decode(counts[:500]), kalman_ca1.decode(counts[:500]))


def test_ca1_lag0_ridge_anchor(ca1: tuple[np.ndarray, np.ndarray]) -> None:
    counts, pos = ca1
    r = spikelab.decode.fit(counts, pos, model="ridge", lags="zero")
    print(f"CA1 ridge, lag 0: α {r.alpha}, test R² {r.test_r2:.4f}")
    assert abs(r.test_r2 - 0.2208) < 0.001, r.test_r2
    start, stop = r.test_frames
    y = pos[start:stop, None]
    assert r2(y, r.test_prediction) == pytest.approx(r.test_r2, abs=1e-12)
    # Weights [lag, neuron, output] reproduce the library's predictions.
    assert r.weights.shape == (1, 452, 1) and r.intercept.shape == (1,) and r.lags == [0]
    manual = counts[start:stop] @ r.weights[0] + r.intercept
    np.testing.assert_allclose(manual, r.test_prediction, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.predict(counts)[start:stop], r.test_prediction, rtol=0, atol=1e-12)
    saved = json.loads(r.to_json())
    assert saved["test_r2"] == r.test_r2 and saved["model"]["alpha"] == r.alpha
    assert [a for a, _ in r.validation] == [0.1, 1.0, 10.0, 100.0, 1e3, 1e4]


def population(t: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.stack([np.sin(np.arange(t) * 0.01), np.cos(np.arange(t) * 0.013)], axis=1)
    w = rng.normal(size=(2, 20))
    counts = rng.poisson(np.exp(0.5 + 0.6 * y @ w))
    return counts, y


def test_wiener_and_rrr_and_centred_lags() -> None:
    counts, y = population()
    wiener = spikelab.decode.fit(counts, y, model="wiener")
    assert wiener.lags == list(range(20)) and wiener.weights.shape == (20, 20, 2)
    centred = spikelab.decode.fit(counts, y, lags="centred:2,3")
    assert centred.lags == [-3, -2, -1, 0, 1, 2]
    custom = spikelab.decode.fit(counts, y, lags=[0, 1, -1])
    assert custom.lags == [0, 1, -1]
    # Lagged predictions: weights[k] act on counts at t - lags[k] (zeros outside).
    x = np.zeros((3000, 20))
    pred = np.tile(custom.intercept, (3000, 1))
    for k, l in enumerate(custom.lags):
        x[:] = 0
        if l >= 0:
            x[l:] = counts[: 3000 - l]
        else:
            x[:l] = counts[-l:]
        pred += x @ custom.weights[k]
    np.testing.assert_allclose(custom.predict(counts), pred, rtol=0, atol=1e-10)
    rrr = spikelab.decode.fit(counts, y, model="rrr", rank=1, lags="zero")
    full = spikelab.decode.fit(counts, y, lags="zero")
    assert rrr.rank == 1 and full.rank is None
    assert np.linalg.matrix_rank(rrr.weights[0]) == 1
    assert rrr.test_r2 < full.test_r2
    for f in (wiener, centred, custom, full):
        assert f.test_r2 > 0.75, f


def test_audit_curve() -> None:
    counts, y = population()
    a = spikelab.decode.audit(counts, y, bottlenecks=[1, 2], lags="zero", bootstrap=100)
    assert a.b.tolist() == [1, 2] and a.ci.shape == (2, 2)
    assert a.r2[0] < a.r2[1] <= a.ceiling + 1e-9
    assert np.all(a.ci[:, 0] <= a.r2) and np.all(a.r2 <= a.ci[:, 1])
    assert a.b90 == 2 and a.fidelity[1] >= 0.9
    assert a.report["shape"] == [2400, 600, 20, 2]
    np.testing.assert_allclose(
        a.fidelity, (a.r2 - a.random_ceiling) / (a.ceiling - a.random_ceiling), atol=1e-12
    )
    seen: list[int] = []
    spikelab.decode.audit(counts, y, bottlenecks=[1, 2, 3], lags="zero", bootstrap=0,
                          progress=lambda step, total, _: seen.append(step))
    assert seen == [0, 1, 2]
    classes = (np.arange(3000) // 100) % 3
    oh = spikelab.decode.audit(counts, classes, bottlenecks=[1], lags="zero", bootstrap=0, one_hot=True)
    assert oh.report["shape"][3] == 3


def test_bad_input_raises_typed_errors() -> None:
    counts, y = population(500)
    bad = y.copy()
    bad[10, 0] = np.nan
    with pytest.raises(spikelab.DecodeError, match="not finite"):
        spikelab.decode.fit(counts, bad, lags="zero")
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts, bad, model="kalman")
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts[:-1], y, lags="zero")  # frames differ
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts.T, y, model="kalman")  # [neuron, frame] by mistake
    with pytest.raises(spikelab.DataError):
        spikelab.decode.fit(counts[:, 0], y)  # 1-D counts
    with pytest.raises(TypeError):
        spikelab.decode.fit(counts.astype(str), y)
    with pytest.raises(TypeError):
        spikelab.decode.fit(counts, y.astype(str), model="kalman")
    with pytest.raises(TypeError):
        spikelab.decode.fit(counts, y, lags=1.5)  # type: ignore[arg-type]
    with pytest.raises(spikelab.DecodeError, match="lags"):
        spikelab.decode.fit(counts, y, lags="causal")
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts, y, model="lstm")  # type: ignore[call-overload]
    with pytest.raises(spikelab.DecodeError, match="rank"):
        spikelab.decode.fit(counts, y, model="rrr")
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts, y, train_fraction=1.5)
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts, y, model="kalman", n_components=0)
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts, y, model="kalman", n_components=50)
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.fit(counts * np.nan, y, lags="zero")
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.audit(counts, y, bottlenecks=[0])
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.audit(counts, bad, bottlenecks=[1], lags="zero", bootstrap=0)
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.audit(counts, y + 0.5, bottlenecks=[1], lags="zero", one_hot=True)
    with pytest.raises(spikelab.DecodeError):
        spikelab.decode.load_kalman("{}")
    k = spikelab.decode.fit(counts, y, model="kalman", n_components=None)
    with pytest.raises(spikelab.DecodeError):
        k.decode(counts[:, :5])
    r = spikelab.decode.fit(counts, y, lags="zero")
    with pytest.raises(spikelab.DecodeError):
        r.predict(counts[:, :5])
