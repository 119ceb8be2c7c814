"""Spike containers of other tools (SpikeInterface sorting, pynapple TsGroup, pynwb Units, a
mapping) binned by spikelab.io.spike_trains and taken by convSeq directly; events as a pandas
DataFrame. The containers are stand-ins with the same methods and attributes the converters
use (the real packages are not in the test venv); docs/python.md records the run against the
real SpikeInterface and pynwb."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import spikelab

TIMES = {4: [0.05, 0.31, 0.32], 9: [0.75], 12: []}


class FakeSorting:
    """SpikeInterface ``BaseSorting``: frames per unit and segment, a sampling frequency."""

    def __init__(self, fs: float) -> None:
        self.fs = fs

    def get_sampling_frequency(self) -> float:
        return self.fs

    def get_unit_ids(self) -> np.ndarray:
        return np.array(list(TIMES))

    def get_unit_spike_train(self, unit_id: Any, segment_index: int = 0) -> np.ndarray:
        assert segment_index == 0
        return np.round(np.asarray(TIMES[int(unit_id)]) * self.fs).astype(np.int64)


class FakeTs:
    def __init__(self, t: list[float]) -> None:
        self.t = np.asarray(t, dtype=float)


class FakeIntervals:
    start = np.array([0.0])
    end = np.array([1.0])


class FakeTsGroup(dict[int, FakeTs]):
    """pynapple ``TsGroup``: a dict of ``Ts`` (``.t`` in s) with a ``time_support``."""

    time_support = FakeIntervals()


class FakeIds:
    def __getitem__(self, s: slice) -> list[str]:
        return ["a", "b", "c"]


class FakeUnits:
    """pynwb ``Units``: ``id`` and ``get_unit_spike_times(index)``."""

    id = FakeIds()

    def __len__(self) -> int:
        return 3

    def get_unit_spike_times(self, index: int) -> np.ndarray:
        return np.asarray(list(TIMES.values())[index])


def test_every_container_gives_the_same_raster() -> None:
    want = [[1, 0, 0, 2, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0], [0] * 10]
    span = {"t_start_s": 0.0, "t_stop_s": 1.0}
    cases = [
        spikelab.io.spike_trains(TIMES, **span),
        spikelab.io.spike_trains(FakeSorting(30_000.0), **span),
        spikelab.io.spike_trains(FakeTsGroup({k: FakeTs(v) for k, v in TIMES.items()})),
        spikelab.io.spike_trains(FakeUnits(), **span),
    ]
    for st in cases:
        assert st.bin(0.1).counts.tolist() == want
        assert (st.t_start_s, st.t_stop_s) == (0.0, 1.0)
    assert cases[0].unit_ids.tolist() == [4, 9, 12]
    assert cases[3].unit_ids.tolist() == [0, 1, 2]  # string ids become positions
    # Without a span: [0, last spike].
    assert spikelab.io.spike_trains(TIMES).t_stop_s == 0.75


def test_bad_containers() -> None:
    with pytest.raises(TypeError, match="pynapple"):
        spikelab.io.spike_trains(np.zeros((3, 4)))
    with pytest.raises(spikelab.DataError):
        spikelab.io.spike_trains({0: [0.1, float("nan")]}).bin(0.1)
    with pytest.raises(spikelab.DataError):
        spikelab.io.spike_trains({0: [0.1, 2.0]}, t_stop_s=1.0).bin(0.1)
    with pytest.raises(spikelab.DataError):
        spikelab.io.spike_trains({0: [0.1]}).bin(0.0)


def test_convseq_takes_a_container_and_gives_a_dataframe() -> None:
    import pandas as pd  # installed by scripts/python_package.sh

    raster, bin_s, truth = spikelab.synth.sequences(
        seed=0, neurons=60, bins=3000, seqlen=20, gap_bins=150, jitter_bins=1.0
    )
    # The same raster as spike times (at bin centres), in a mapping.
    times = {n: np.repeat((np.arange(raster.shape[1]) + 0.5) * bin_s, raster[n]) for n in range(raster.shape[0])}
    kw: dict[str, Any] = {"width_bins": 40, "tv_l": 1.0, "epochs": 50, "alpha": {"n_samples": 100}}
    a = spikelab.convseq.fit(raster, bin_s, **kw)
    b = spikelab.convseq.fit(
        spikelab.io.spike_trains(times, t_stop_s=raster.shape[1] * bin_s - bin_s / 2), bin_s, **kw
    )
    np.testing.assert_array_equal(a.filters, b.filters)
    frame = spikelab.convseq.events_frame(a)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["filter", "bin", "time_s", "height"]
    assert len(frame) == len(a.events["bin"])
    det = spikelab.convseq.detect(a, times)
    assert len(spikelab.convseq.events_frame(det)) == len(det.events["bin"])
