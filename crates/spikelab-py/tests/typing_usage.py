"""Checked with `mypy --strict` (scripts/python_package.sh): the stubs and annotations of
the package as a user's code sees them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import spikelab
from spikelab.convseq import ConvSeqFit, Detection
from spikelab.decode import AuditResult, KalmanFit, LinearFit
from spikelab.lds import EmResult, Posterior


def rates(dff: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = spikelab.calcium.predict(dff, 30.0, model="ensemble", units="rates_hz")
    return out


def cascade(dff: npt.NDArray[np.float64], folder: str) -> tuple[npt.NDArray[np.float64], float]:
    model = spikelab.calcium.CascadeModel(folder)
    spikes, report = model.predict_with_report(dff, model.frame_rate_hz, threshold="single-spike")
    levels: list[float] = report["cascade"]["model_noise_level"]
    return spikes, float(len(levels)) + model.noise_levels[0]


def sequences() -> tuple[ConvSeqFit, Detection, float]:
    raster, bin_s, truth = spikelab.synth.sequences(seed=1, neurons=40, bins=2000, seqlen=10)
    members: list[int] = truth["types"][0]["members"]
    fit = spikelab.convseq.fit(raster[:, :1000], bin_s, width_bins=20, epochs=10, progress=True)
    det = fit.detect(raster[:, 1000:])
    order: npt.NDArray[np.uint64] = fit.orders[0]
    bins: npt.NDArray[np.generic] = det.events["bin"]
    return fit, det, float(len(members) + len(order) + len(bins)) * fit.bin_s


def read(path: str) -> float:
    loaded = spikelab.io.read(path, frame_rate_hz=100.0)
    if isinstance(loaded, spikelab.io.Traces):
        return loaded.frame_rate_hz
    if isinstance(loaded, spikelab.io.SpikeTrains):
        return loaded.t_stop_s
    return 0.0


def errors() -> str:
    try:
        spikelab.calcium.predict(np.ones(3), 100.0)
    except spikelab.DataError as e:
        return str(e)
    except spikelab.SpikelabError:
        return "other"
    return ""


def batch(paths: list[str]) -> list[str]:
    outs = spikelab.batch.map(spikelab.batch.calcium(30.0, units="rates_hz"), paths, client=None)
    return [str(o) for o in outs]


def decoding(counts: npt.NDArray[np.int64], pos: npt.NDArray[np.float64]) -> float:
    ridge: LinearFit = spikelab.decode.fit(counts, pos, model="ridge", lags="centred:9,10")
    rrr: LinearFit = spikelab.decode.fit(counts, pos, model="rrr", rank=2, lags=[0, 1, 2])
    kf: KalmanFit = spikelab.decode.fit(counts, pos, model="kalman", n_components=None)
    w: npt.NDArray[np.float64] = ridge.weights
    pred: npt.NDArray[np.float64] = kf.decode(counts) + kf.predict(counts) + ridge.predict(counts)
    again: KalmanFit = spikelab.decode.load_kalman(kf.to_json())
    audit: AuditResult = spikelab.decode.audit(counts, pos, bottlenecks=[1, 2], one_hot=False)
    b90: int | None = audit.b90
    try:
        spikelab.decode.fit(counts, pos[:-1])
    except spikelab.DecodeError:
        pass
    return (
        ridge.test_r2 + ridge.alpha + rrr.train_r2 + float(w.sum() + pred.sum())
        + float(ridge.intercept.sum() + kf.test_r2_per_output.sum() + kf.test_prediction.sum())
        + again.test_r2 + audit.ceiling + float(audit.r2.sum()) + (b90 or 0)
    )


def state_space(y: npt.NDArray[np.float64]) -> float:
    a, q = np.eye(2) * 0.9, np.eye(2)
    c, r = np.ones((y.shape[1], 2)), np.eye(y.shape[1])
    f: Posterior = spikelab.lds.filter(y, a, q, c, r, np.zeros(2), np.eye(2))
    s: Posterior = spikelab.lds.smooth(y, a, q, c, r, np.zeros(2), np.eye(2), d=np.zeros(y.shape[1]))
    means, covs, loglik = s
    fit: EmResult = spikelab.lds.fit_em([y, y[:50]], 2, max_iter=10, seed=1)
    try:
        spikelab.lds.fit_em(y, 0)
    except spikelab.LdsError:
        pass
    return f.loglik + loglik + float(means.sum() + covs.sum() + fit.loglik[-1] + fit.A.sum())


def sort_tetrode() -> float:
    gt: spikelab.sort.GroundTruth = spikelab.sort.ground_truth(1001, duration_s=5.0)
    res: spikelab.sort.SortResult = spikelab.sort.sort(
        gt.traces, gt.sampling_rate_hz, positions_um=gt.positions_um, group_radius_um=None
    )
    frames: npt.NDArray[np.int64] = res.frames
    cmp = spikelab.sort.compare(gt.frames, gt.labels, frames, res.labels, gt.sampling_rate_hz, len(gt.traces))
    acc: float = cmp["mean_accuracy"]
    return acc
