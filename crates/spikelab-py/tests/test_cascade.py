"""CASCADE model folders read with h5py: the golden outputs of the original `cascade2p` that the
Rust tests (crates/spikelab-calcium/tests/cascade_golden.rs) use, to the same 1e-5, and the
errors of unusable folders and rates."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
import numpy as np
import pytest

import spikelab
from spikelab.calcium import CascadeModel

pytest.importorskip("h5py")

GLOBAL = "models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel"
OGB = "models/cascade/OGB_zf_pDp_7.5Hz_smoothing200ms"
CASES = [
    # (case, model folder, (row, t) of the threshold-1 output allowed to differ)
    ("ds09_global_exc_30hz", GLOBAL, []),
    ("spikefinder_test5_global_exc_30hz", GLOBAL, []),
    # Row 7, t = 155 is 8.5e-7 from θ: that sample and its dilation neighbours may flip.
    ("ds09_ogb_7p5hz", OGB, [(7, 154), (7, 155), (7, 156)]),
    ("spikefinder_test4_ogb_7p5hz", OGB, []),
]


@pytest.fixture(scope="module")
def models(datasets: Path) -> dict[str, CascadeModel]:
    return {name: CascadeModel(datasets / name) for name in (GLOBAL, OGB)}


@pytest.mark.parametrize(("case", "model", "skip"), CASES)
def test_golden_cascade2p_outputs(
    datasets: Path,
    models: dict[str, CascadeModel],
    case: str,
    model: str,
    skip: list[tuple[int, int]],
) -> None:
    d = datasets / "cascade-golden" / case
    rate = json.loads((d / "meta.json").read_text())["sampling_rate_hz"]
    x = np.load(d / "input_dff.npy")  # [neuron, time]
    nu = np.load(d / "noise_levels.npy")
    level = np.load(d / "model_noise_level.npy")
    m = models[model]
    assert m.frame_rate_hz == rate
    for threshold, file in [
        ("clip", "spike_prob.npy"),
        ("none", "spike_prob_raw.npy"),
        ("single-spike", "spike_prob_thr1.npy"),
    ]:
        out, report = m.predict_with_report(x.T, rate, threshold=threshold)  # type: ignore[arg-type]
        gold = np.load(d / file)
        ours = out.T.copy()
        for i, t in skip if threshold == "single-spike" else []:
            ours[i, t] = gold[i, t]
        assert ours.shape == gold.shape
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(gold), err_msg=f"{case} {file}")
        finite = np.isfinite(gold)
        assert np.abs(ours[finite] - gold[finite]).max() <= 1e-5, f"{case} {file}"
        got_nu = np.array([np.nan if v is None else v for v in report["noise_levels"]])
        np.testing.assert_array_equal(np.isnan(got_nu), np.isnan(nu))
        np.testing.assert_allclose(got_nu[~np.isnan(nu)], nu[~np.isnan(nu)], rtol=1e-12)
        assert report["cascade"]["model_noise_level"] == level.tolist()
        assert report["family"] == "cascade"
    assert report["cascade"]["above_trained_range"] == (case == "spikefinder_test4_ogb_7p5hz")


def test_predict_model_string_equals_the_loaded_model(
    datasets: Path, models: dict[str, CascadeModel]
) -> None:
    x = np.load(datasets / "cascade-golden/ds09_global_exc_30hz/input_dff.npy")[:3].T
    ref = models[GLOBAL].predict(x, 30.0)
    out = spikelab.calcium.predict(x, 30.0, model=f"cascade:{datasets / GLOBAL}")
    np.testing.assert_array_equal(out, ref)
    d = spikelab.calcium.Deconvolver(f"cascade:{datasets / GLOBAL}", units="rates_hz")
    np.testing.assert_allclose(d.predict(x, 30.0), ref * 30.0, rtol=1e-15)
    # Fortran order and float32 input.
    np.testing.assert_array_equal(models[GLOBAL].predict(np.asfortranarray(x), 30.0), ref)
    f32 = models[GLOBAL].predict(x.astype(np.float32), 30.0)
    np.testing.assert_allclose(f32, ref, atol=1e-4, equal_nan=True)


def test_frame_rate_check_and_resampling(models: dict[str, CascadeModel]) -> None:
    m = models[GLOBAL]
    x = np.exp(np.sin(np.arange(600) / 10.0))[:, None] - 1.0
    # Within 5 % of 30 Hz: runs as it is.
    assert m.predict(x, 31.4).shape == (600, 1)
    with pytest.raises(spikelab.CalciumError, match="5 %"):
        m.predict(x, 32.0)
    out, report = m.predict_with_report(x, 60.0, resample=True)
    assert out.shape == (600, 1) and report["rate_handling"] == "resampled"
    with pytest.raises(spikelab.DataError):
        m.predict(x, -1.0)
    with pytest.raises(spikelab.CalciumError, match="threshold"):
        m.predict(x, 30.0, threshold="max")  # type: ignore[arg-type]


def test_a_missing_noise_level_is_a_calcium_error(models: dict[str, CascadeModel]) -> None:
    m = models[OGB]
    assert m.levels_present == [True, False, False, False, False, True]
    # ν ≈ 4: alternating steps of size a give median |Δx| = a; the folder lacks level 4.
    a = 4.0 / 100.0 * np.sqrt(7.5)
    x = np.where(np.arange(400) % 2 == 0, 0.0, a)[:, None]
    with pytest.raises(spikelab.CalciumError, match="lacks"):
        m.predict(x, 7.5)


def copy_model(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    shutil.copytree(src, dst, ignore=lambda _d, names: [n for n in names if n in skip])
    return dst


def test_unusable_folders_are_calcium_errors(datasets: Path, tmp_path: Path) -> None:
    with pytest.raises(spikelab.CalciumError, match="config.yaml"):
        CascadeModel(tmp_path / "absent")
    no_cfg = copy_model(datasets / OGB, tmp_path / "no_cfg", ("config.yaml",))
    with pytest.raises(spikelab.CalciumError, match="config.yaml"):
        CascadeModel(no_cfg)
    no_member = copy_model(
        datasets / OGB, tmp_path / "no_member", ("Model_NoiseLevel_7_Ensemble_3.h5",)
    )
    with pytest.raises(spikelab.CalciumError, match="Ensemble_3"):
        CascadeModel(no_member)
    with pytest.raises(spikelab.CalciumError, match="Ensemble_3"):
        spikelab.calcium.predict(np.zeros((100, 1)), 7.5, model=f"cascade:{no_member}")
    # A weight file that is not HDF5: h5py's error is the cause of the CalciumError.
    corrupt = copy_model(datasets / OGB, tmp_path / "corrupt")
    (corrupt / "Model_NoiseLevel_2_Ensemble_1.h5").write_bytes(b"not hdf5" * 100)
    with pytest.raises(spikelab.CalciumError, match="Ensemble_1") as info:
        CascadeModel(corrupt)
    assert isinstance(info.value.__cause__, OSError)
    # Weights of the Elephant architecture under a CASCADE name: the shapes are refused.
    other = copy_model(datasets / OGB, tmp_path / "other")
    shutil.copy(datasets / "models/spikefinder-elephant/model1.h5", other / "Model_NoiseLevel_2_Ensemble_0.h5")
    with pytest.raises(spikelab.CalciumError, match="shape"):
        CascadeModel(other)


def test_save_weights_layout_and_non_keras_hdf5(
    datasets: Path, models: dict[str, CascadeModel], tmp_path: Path
) -> None:
    import h5py

    # The bundled files are `model.save`'s layout (layers under `model_weights/`); every member
    # rewritten as `save_weights` writes it (the layers and `layer_names` at the root).
    moved = copy_model(datasets / OGB, tmp_path / "moved")
    for f in sorted(moved.glob("*.h5")):
        with h5py.File(f, "r") as src, h5py.File(tmp_path / "tmp.h5", "w") as dst:
            weights = src["model_weights"]
            for k, v in weights.attrs.items():
                dst.attrs[k] = v
            for k in weights:
                weights.copy(weights[k], dst, name=k)
        shutil.move(tmp_path / "tmp.h5", f)
    x = np.load(datasets / "cascade-golden/ds09_ogb_7p5hz/input_dff.npy")[:4].T
    np.testing.assert_array_equal(CascadeModel(moved).predict(x, 7.5), models[OGB].predict(x, 7.5))
    # An HDF5 file without Keras' attributes.
    with h5py.File(moved / "Model_NoiseLevel_2_Ensemble_4.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(spikelab.CalciumError, match="not a Keras HDF5 weight file"):
        CascadeModel(moved)


def test_without_h5py_the_error_says_what_to_install(
    datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        CascadeModel(datasets / OGB)
    with pytest.raises(ImportError, match="pip install h5py"):
        spikelab.calcium.predict(np.zeros((100, 1)), 7.5, model=f"cascade:{datasets / OGB}")


def test_repr_and_properties(models: dict[str, CascadeModel], datasets: Path) -> None:
    m = models[GLOBAL]
    assert m.name == "Global_EXC_30Hz_smoothing50ms_causalkernel"
    assert m.noise_levels == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert m.dir == datasets / GLOBAL
    assert "30" in repr(m)
