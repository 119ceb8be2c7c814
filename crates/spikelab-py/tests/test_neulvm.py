"""spikelab.neulvm: simulation determinism, a fit on the bundled regenerated data (the Rust
recovery test's data), options and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikelab


def corr_after_history(z: np.ndarray, truth: np.ndarray, history: int) -> list[float]:
    return [float(np.corrcoef(z[p, history:], truth[p, history:])[0, 1]) for p in range(z.shape[0])]


def test_simulate_is_seeded() -> None:
    a = spikelab.neulvm.simulate(1000, seed=4, n_recorded=2)
    b = spikelab.neulvm.simulate(1000, seed=4, n_recorded=2)
    c = spikelab.neulvm.simulate(1000, seed=5, n_recorded=2)
    history = spikelab.neulvm.preset()["model"]["history_bins"]
    assert a.z.shape == a.z_mean.shape == (3, history + 1000)
    assert a.spikes.shape == (3, history + 1000, 2) and a.spikes.dtype == np.uint8
    assert a.dt_s == 0.004
    np.testing.assert_array_equal(a.z, b.z)
    np.testing.assert_array_equal(a.spikes, b.spikes)
    assert not np.array_equal(a.z, c.z)
    assert np.all(a.z >= 0) and set(np.unique(a.spikes)) <= {0, 1}


def test_fit_recovers_the_latent(datasets: Path) -> None:
    spikes = np.load(datasets / "neulvm/regenerated_seed20221011/spikes_4ms.npy")
    z_true = np.load(datasets / "neulvm/regenerated_seed20221011/Z_gt_4ms.npy")
    steps: list[int] = []
    res = spikelab.neulvm.fit(
        spikes,
        restarts=1,
        max_em_iters=2,
        threads=1,
        progress=lambda step, total, metric: steps.append(step),
    )
    assert steps
    assert res.z.shape == z_true.shape
    assert np.isfinite(res.loss) and res.best == 0
    bounds = spikelab.neulvm.options()["bounds"]
    flat = np.concatenate([res.params[k] for k in ("a_mem_hz", "j", "mu", "theta")])
    assert np.all(np.asarray(bounds["lower"]) <= flat) and np.all(flat <= np.asarray(bounds["upper"]))
    r = corr_after_history(res.z, z_true, 250)
    # Measured from the seeded prior's draw (seed 20221011): r(Z) 0.827 / 0.783 for E1 / E2
    # and loss −2.8719, below the original code's −2.8638 from its own start with the same
    # budget (the Rust recovery test's anchor).
    assert r[0] >= 0.75 and r[1] >= 0.7, r
    assert res.loss <= -2.8638


def test_options_and_bad_input() -> None:
    o = spikelab.neulvm.options(restarts=2, seed=9)
    assert o["restarts"] == 2 and o["seed"] == 9 and o["max_em_iters"] == 20
    with pytest.raises(spikelab.NeulvmError, match="unknown parameter"):
        spikelab.neulvm.options(restart=2)
    with pytest.raises(spikelab.NeulvmError):
        spikelab.neulvm.options(restarts=0)
    with pytest.raises(spikelab.DataError, match="3-D"):
        spikelab.neulvm.fit(np.zeros((3, 400)))
    with pytest.raises(spikelab.SpikelabError):
        spikelab.neulvm.fit(np.full((3, 400, 2), 2.0))
    with pytest.raises(spikelab.SpikelabError):
        spikelab.neulvm.fit(np.zeros((2, 400, 2)))
    model = spikelab.neulvm.preset()
    del model["params"]
    with pytest.raises(spikelab.NeulvmError, match="no params"):
        spikelab.neulvm.simulate(10, model=model)
    model["model"]["dt_s"] = -1.0
    with pytest.raises(spikelab.NeulvmError):
        spikelab.neulvm.simulate(10, model=model, params=spikelab.neulvm.preset()["params"])
