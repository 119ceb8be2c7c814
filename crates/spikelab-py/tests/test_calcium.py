"""spikelab.calcium.predict against the golden Keras outputs the Rust tests use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikelab


def spikefinder_test5(datasets: Path) -> np.ndarray:
    # `[time, neuron]` at 100 Hz; empty cells are the NaN padding of shorter neurons.
    path = datasets / "spikefinder/test/5.test.calcium.csv.gz"
    return np.genfromtxt(path, delimiter=",", skip_header=1)


def test_golden_keras_values_test5(datasets: Path) -> None:
    traces = spikefinder_test5(datasets)
    golden = np.load(datasets / "spikefinder/predictions/model1_keras/5.test.npy")
    out = spikelab.calcium.predict(traces, 100.0, model="model1")
    assert out.shape == golden.shape == traces.shape
    assert out.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(out), np.isnan(golden))
    finite = np.isfinite(out)
    assert finite.sum() > 1000
    diff = np.abs(out[finite] - golden[finite].astype(np.float64)).max()
    assert diff < 1e-4, diff


def test_float32_and_fortran_order_give_the_same_values(datasets: Path) -> None:
    traces = spikefinder_test5(datasets)[:3000, :2]
    ref = spikelab.calcium.predict(traces, 100.0)
    np.testing.assert_array_equal(spikelab.calcium.predict(np.asfortranarray(traces), 100.0), ref)
    f32 = spikelab.calcium.predict(traces.astype(np.float32), 100.0)
    np.testing.assert_allclose(f32, ref, atol=1e-3, equal_nan=True)


def test_other_rate_comes_back_at_the_input_rate_with_a_report(datasets: Path) -> None:
    traces = spikefinder_test5(datasets)[:3000, :2]
    at_30 = traces[::3]  # 30 Hz-ish: resampled to the model's 100 Hz and back
    values, report = spikelab.calcium.predict_with_report(at_30, 100.0 / 3, units="rates_hz")
    assert values.shape == at_30.shape
    assert report["model_rate_hz"] == 100.0 and report["n_neurons"] == 2
    assert report["units"] == "rates_hz"
    assert np.nanmin(values) >= 0.0 and np.isfinite(values).sum() > 1000


def test_ensemble_differs_from_model1(datasets: Path) -> None:
    traces = spikefinder_test5(datasets)[:2000, :1]
    a = spikelab.calcium.predict(traces, 100.0)
    b = spikelab.calcium.predict(traces, 100.0, model="ensemble")
    finite = np.isfinite(a) & np.isfinite(b)
    assert finite.sum() > 1000
    assert not np.allclose(a[finite], b[finite])
    assert np.corrcoef(a[finite], b[finite])[0, 1] > 0.8


def test_unknown_model_is_a_calcium_error() -> None:
    with pytest.raises(spikelab.CalciumError):
        spikelab.calcium.predict(np.ones((500, 1)), 100.0, model="model9")


def test_a_reused_deconvolver_gives_the_same_values(datasets: Path) -> None:
    traces = spikefinder_test5(datasets)[:3000, :3]
    d = spikelab.calcium.Deconvolver("model2", units="rates_hz")
    a = d.predict(traces, 100.0)
    np.testing.assert_array_equal(a, d.predict(traces, 100.0))
    np.testing.assert_array_equal(a, spikelab.calcium.predict(traces, 100.0, model="model2", units="rates_hz"))
    with pytest.raises(spikelab.CalciumError):
        spikelab.calcium.Deconvolver("model1", units="spikes")  # type: ignore[arg-type]
