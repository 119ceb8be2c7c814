"""spikelab.synth (seeded, with truth) and spikelab.io.read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import spikelab


def test_sequences_are_seeded_and_match_their_truth() -> None:
    a, bin_s, truth = spikelab.synth.sequences(seed=5, neurons=50, bins=2000, seqlen=10, gap_bins=100)
    b, _, _ = spikelab.synth.sequences(seed=5, neurons=50, bins=2000, seqlen=10, gap_bins=100)
    c, _, _ = spikelab.synth.sequences(seed=6, neurons=50, bins=2000, seqlen=10, gap_bins=100)
    assert a.shape == (50, 2000) and a.dtype == np.uint32 and bin_s == 0.05
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.max() == 1  # binary, as convSeq expects
    members = truth["types"][0]["members"]
    assert len(members) == 10 and len(truth["occurrences"]) >= 15
    # Members fire far more often than the background rows.
    others = np.setdiff1d(np.arange(50), members)
    assert a[members].mean() > 5 * a[others].mean()
    assert spikelab.synth.default_params("sequences")["neurons"] == 452


def test_poisson_rates() -> None:
    trains, duration, truth = spikelab.synth.poisson(seed=1, neurons=20, rate_hz=8.0, duration_s=50.0)
    assert len(trains) == 20 and duration == 50.0
    rates = np.array([len(t) for t in trains]) / duration
    assert abs(rates.mean() - 8.0) < 0.5
    np.testing.assert_allclose(rates, truth["realised_rates_hz"])
    assert all(np.all(np.diff(t) >= 0.002) for t in trains)  # the dead time


def test_io_reads_npy_csv_and_bundled_folders(tmp_path: Path, datasets: Path) -> None:
    x = np.arange(12.0).reshape(6, 2) / 7
    np.save(tmp_path / "t.npy", x)
    t = spikelab.io.read(tmp_path / "t.npy", content="traces", frame_rate_hz=30.0)
    assert isinstance(t, spikelab.io.Traces) and t.frame_rate_hz == 30.0
    np.testing.assert_array_equal(t.data, x)
    counts = np.array([[0, 1, 2], [3, 0, 1]], dtype=np.int64)
    np.save(tmp_path / "r.npy", counts)
    r = spikelab.io.read(tmp_path / "r.npy", bin_s=0.01)
    assert isinstance(r, spikelab.io.Raster) and r.bin_s == 0.01
    np.testing.assert_array_equal(r.counts, counts)
    ks = spikelab.io.read(datasets / "readers/kilosort")
    assert isinstance(ks, spikelab.io.SpikeTrains) and len(ks.trains) == len(ks.unit_ids) > 0
    calcium = spikelab.io.read(datasets / "spikefinder/test/5.test.calcium.csv.gz", frame_rate_hz=100.0)
    assert isinstance(calcium, spikelab.io.Traces) and calcium.data.shape[1] == 8


def test_io_reads_suite2p_and_mat(datasets: Path) -> None:
    s2p = spikelab.io.read(datasets / "readers/suite2p/plane0")
    assert isinstance(s2p, spikelab.io.Traces)
    assert s2p.frame_rate_hz == 30.0 and s2p.data.shape == (90, 3)  # fs from ops.npy; cells only
    mat = spikelab.io.read(datasets / "convseq/ca1_rubin/neuronal_activity_mat.mat", bin_s=0.05)
    assert isinstance(mat, spikelab.io.Raster) and mat.counts.shape == (452, 18137)
    si = spikelab.io.read(datasets / "readers/spikeinterface/sorting")
    assert isinstance(si, spikelab.io.SpikeTrains) and len(si.trains) > 0
