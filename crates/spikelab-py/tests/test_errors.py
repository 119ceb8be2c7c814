"""Bad input raises the typed exceptions (never a PanicException)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikelab


def test_hierarchy() -> None:
    for cls in (
        spikelab.DataError, spikelab.CalciumError, spikelab.ConvSeqError, spikelab.SynthError,
        spikelab.DecodeError, spikelab.LdsError,
    ):
        assert issubclass(cls, spikelab.SpikelabError)
    assert issubclass(spikelab.SpikelabError, Exception)


@pytest.mark.parametrize(
    "traces, rate",
    [
        (np.ones(500), 100.0),  # 1-D
        (np.ones((5, 100, 2)), 100.0),  # 3-D
        (np.ones((500, 2)), -30.0),  # negative rate
        (np.ones((500, 2)), 0.0),
        (np.ones((500, 2)), float("nan")),
        (np.full((500, 2), np.inf), 100.0),  # infinite values
    ],
)
def test_calcium_bad_input_is_a_data_error(traces: np.ndarray, rate: float) -> None:
    with pytest.raises(spikelab.DataError):
        spikelab.calcium.predict(traces, rate)


@pytest.mark.parametrize("shape", [(0, 2), (500, 0), (0, 0), (3, 2)])
def test_calcium_empty_or_tiny_input_is_typed(shape: tuple[int, int]) -> None:
    try:
        out = spikelab.calcium.predict(np.ones(shape), 100.0)
    except spikelab.SpikelabError:
        return
    assert out.shape == shape


def test_non_numeric_dtype_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        spikelab.calcium.predict(np.array([["a", "b"]] * 10), 100.0)
    with pytest.raises(TypeError):
        spikelab.convseq.fit(np.array([["a"] * 100]), 0.05)


@pytest.mark.parametrize(
    "raster",
    [
        np.ones(100),  # 1-D
        np.full((3, 100), np.nan),
        -np.ones((3, 100)),
        np.full((3, 100), 0.5),
    ],
)
def test_convseq_bad_raster_is_a_data_error(raster: np.ndarray) -> None:
    with pytest.raises(spikelab.DataError):
        spikelab.convseq.fit(raster, 0.05, epochs=2)


@pytest.mark.parametrize("shape", [(0, 300), (3, 0), (3, 10)])
def test_convseq_empty_or_short_raster_is_typed(shape: tuple[int, int]) -> None:
    with pytest.raises(spikelab.SpikelabError):
        spikelab.convseq.fit(np.zeros(shape), 0.05, epochs=2, width_bins=20)


def test_convseq_bad_params_are_convseq_errors() -> None:
    r = np.zeros((3, 400))
    r[:, ::7] = 1
    with pytest.raises(spikelab.ConvSeqError):
        spikelab.convseq.fit(r, 0.05, n_filters=0)
    with pytest.raises(spikelab.ConvSeqError):
        spikelab.convseq.fit(r, 0.05, width_bins="wide")
    with pytest.raises(spikelab.DataError):
        spikelab.convseq.fit(r, -0.05, epochs=2, width_bins=20)


def test_synth_bad_params_are_synth_errors() -> None:
    with pytest.raises(spikelab.SynthError):
        spikelab.synth.poisson(rate_hz=-1.0)
    with pytest.raises(spikelab.SynthError):
        spikelab.synth.sequences(neurons=10, seqlen=50)
    with pytest.raises(spikelab.SynthError):
        spikelab.synth.sequences(nurons=10)
    with pytest.raises(spikelab.SynthError):
        spikelab.synth.default_params("lif")


def test_io_errors_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(spikelab.DataError):
        spikelab.io.read(tmp_path / "missing.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an npy file")
    with pytest.raises(spikelab.DataError):
        spikelab.io.read(bad)
    csv = tmp_path / "traces.csv"
    csv.write_text("0,1\n1.0,2.0\n3.0,4.0\n")
    with pytest.raises(spikelab.DataError, match="frame"):
        spikelab.io.read(csv, content="traces")  # a CSV stores no frame rate
    with pytest.raises(spikelab.DataError):
        spikelab.io.read(csv, content="nonsense")  # type: ignore[arg-type]


EMPTY_OR_TINY = {
    "decode, no frames": lambda: spikelab.decode.fit(np.zeros((0, 3)), np.zeros(0), lags="zero"),
    "decode, no neurons": lambda: spikelab.decode.fit(np.zeros((100, 0)), np.zeros(100), lags="zero"),
    "decode, 2 frames": lambda: spikelab.decode.fit(np.ones((2, 3)), np.ones(2), lags="zero"),
    "decode, no outputs": lambda: spikelab.decode.fit(np.ones((100, 3)), np.zeros((100, 0)), lags="zero"),
    "decode, lags longer than the recording": lambda: spikelab.decode.fit(
        np.ones((10, 3)), np.ones(10), lags="causal:100"
    ),
    "kalman, 5 frames": lambda: spikelab.decode.fit(np.ones((5, 3)), np.arange(5.0), model="kalman"),
    "kalman, silent": lambda: spikelab.decode.fit(np.zeros((100, 3)), np.arange(100.0), model="kalman"),
    "audit, no frames": lambda: spikelab.decode.audit(np.zeros((0, 3)), np.zeros(0), bottlenecks=[1]),
    "audit, 3 frames": lambda: spikelab.decode.audit(np.ones((3, 3)), np.ones(3), bottlenecks=[1], lags="zero"),
    "lds, no steps": lambda: spikelab.lds.filter(np.zeros((0, 1)), 1.0, 1.0, 1.0, 1.0, 0.0, 1.0),
    "lds, NaN parameter": lambda: spikelab.lds.filter(np.ones((5, 1)), np.nan, 1.0, 1.0, 1.0, 0.0, 1.0),
    "lds, zero noise and prior": lambda: spikelab.lds.filter(np.ones((5, 1)), 1.0, 1.0, 1.0, 0.0, 0.0, 0.0),
    "em, no trajectories": lambda: spikelab.lds.fit_em([], 1),
    "em, one step": lambda: spikelab.lds.fit_em(np.ones((1, 2)), 1),
    "em, all missing": lambda: spikelab.lds.fit_em(np.full((10, 2), np.nan), 1),
}


@pytest.mark.parametrize("name", sorted(EMPTY_OR_TINY))
def test_decode_and_lds_empty_or_tiny_input_is_typed(name: str) -> None:
    with pytest.raises(spikelab.SpikelabError):
        EMPTY_OR_TINY[name]()


def test_a_raising_em_callback_stops_the_fit() -> None:
    y = np.random.default_rng(0).normal(size=(200, 2))
    seen: list[int] = []

    def stop_at_two(k: int, total: int | None, loglik: float | None) -> None:
        seen.append(k)
        if k == 2:
            raise ValueError("enough")

    with pytest.raises(ValueError, match="enough"):
        spikelab.lds.fit_em(y, 2, max_iter=1000, tol=0.0, progress=stop_at_two)
    assert seen == [0, 1, 2]
