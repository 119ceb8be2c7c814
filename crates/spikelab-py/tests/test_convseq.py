"""spikelab.convseq on a synthetic raster with a planted sequence."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import spikelab

# Small enough for CI: 80 neurons, one 30-member sequence every 150 bins.
SYNTH = dict(neurons=80, bins=6000, seqlen=30, gap_bins=150, jitter_bins=1.0, p_drop=0.1)
FIT = dict(width_bins=40, tv_l=1.0, epochs=300, seed=1, alpha={"n_samples": 300})


def recall(event_bins: np.ndarray, centres: np.ndarray, tol: float) -> float:
    """Fraction of planted occurrences with an event within `tol` bins."""
    if len(event_bins) == 0:
        return 0.0
    d = np.abs(centres[:, None] - event_bins[None, :].astype(np.int64)).min(axis=1)
    return float((d <= tol).mean())


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, float, dict]:
    return spikelab.synth.sequences(seed=3, **SYNTH)


@pytest.fixture(scope="module")
def fitted(planted: tuple[np.ndarray, float, dict]) -> spikelab.convseq.ConvSeqFit:
    raster, bin_s, _ = planted
    train = raster[:, :3000]
    return spikelab.convseq.fit(train, bin_s, **FIT)


def test_fit_recovers_the_planted_sequence(planted, fitted) -> None:
    raster, bin_s, truth = planted
    members = np.array(truth["types"][0]["members"])
    centres = np.array([o["centre_bin"] for o in truth["occurrences"]])
    train_centres = centres[centres < 3000 - 20]
    assert fitted.filters.shape == (1, 80, 40)
    np.testing.assert_allclose(fitted.filters.sum(axis=2), 1.0, atol=1e-9)
    assert len(fitted.loss) == 300 and fitted.loss[-1] < fitted.loss[0]
    ev = fitted.events
    assert set(ev) == {"filter", "bin", "time_s", "height"}
    np.testing.assert_allclose(ev["time_s"], ev["bin"] * bin_s)
    assert recall(ev["bin"], train_centres, tol=20) > 0.8
    # The learned order of the members follows their planted order (members fire in order).
    lags = fitted.lags[0, members]
    assert spearman(lags, np.arange(len(members))) > 0.8
    # Member read-out (called members by decreasing z): the planted members come first.
    called = fitted.detection.members[0]
    assert set(called[: len(members)].tolist()) == set(members.tolist())


def test_detect_on_held_out_half(planted, fitted) -> None:
    raster, bin_s, truth = planted
    centres = np.array([o["centre_bin"] for o in truth["occurrences"]])
    test_centres = centres[(centres >= 3000 + 20) & (centres < 6000 - 20)] - 3000
    det = spikelab.convseq.detect(fitted, raster[:, 3000:])
    assert det.projections.shape[0] == 1 and det.alpha.shape == (1,)
    assert recall(det.events["bin"], test_centres, tol=20) > 0.8
    # Precision: the events are planted occurrences.
    assert recall(test_centres, det.events["bin"].astype(np.int64), tol=20) > 0.8


def test_params_default_to_the_library_and_unknown_names_fail(fitted) -> None:
    d = spikelab.convseq.default_params()
    assert d["width_bins"] == 200 and d["epochs"] == 4000 and d["alpha"]["n_samples"] == 15000
    p = fitted.params
    assert p["width_bins"] == 40 and p["tv_l"] == 1.0 and p["alpha"]["n_samples"] == 300
    assert p["alpha"]["rule"] == d["alpha"]["rule"]  # the other alpha fields kept
    with pytest.raises(spikelab.ConvSeqError, match="widht_bins"):
        spikelab.convseq.fit(np.zeros((3, 100)), 0.05, widht_bins=10)
    with pytest.raises(spikelab.ConvSeqError, match="n_smaples"):
        spikelab.convseq.fit(np.zeros((3, 100)), 0.05, alpha={"n_smaples": 10})


def test_progress_callback_sees_every_epoch(planted) -> None:
    raster, bin_s, _ = planted
    seen: list[tuple[int, int | None, float | None]] = []
    spikelab.convseq.fit(
        raster[:, :1000], bin_s, progress=lambda *a: seen.append(a), **{**FIT, "epochs": 7}
    )
    assert [s[0] for s in seen] == list(range(7))
    assert all(s[1] == 7 and s[2] is not None for s in seen)


def test_ctrl_c_stops_a_long_fit(planted) -> None:
    raster, bin_s, _ = planted
    # A real SIGINT to this process once epoch 20 has run (sent from the progress callback, so
    # the test does not race a timer against the machine's load): the fit of 200 000 epochs
    # (about 15 s) must end with KeyboardInterrupt at the next epoch.
    steps: list[int] = []

    def progress(step: int, total: int | None, loss: float | None) -> None:
        steps.append(step)
        if step == 20:
            os.kill(os.getpid(), signal.SIGINT)

    # Python's own Ctrl-C handler: a process started in the background by a shell inherits
    # SIGINT ignored, and Python then installs none (the signal would never arrive).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            spikelab.convseq.fit(
                raster[:, :2000], bin_s, progress=progress, **{**FIT, "epochs": 200_000}
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert 20 <= max(steps) <= 21, steps[-3:]


def test_progress_true_draws_a_tqdm_bar(planted, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    raster, bin_s, _ = planted
    spikelab.convseq.fit(raster[:, :1000], bin_s, progress=True, **{**FIT, "epochs": 5})
    err = capsys.readouterr().err
    assert "convSeq epochs" in err and "5/5" in err
