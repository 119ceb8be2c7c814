#!/usr/bin/env python3
"""spikelab vs. its Python peers, side by side, on the same bundled data in the same run.

Run through `bash benches/peers/run.sh` (it makes the venv and builds the Rust side). Each
task alternates ours (the `peers_ours` example, which times itself in-process and prints
JSON) and the peer (timed here, in-process, after imports and a warm-up where one applies),
then prints a markdown table and writes the raw numbers to JSON.

Tasks
  nwb      convSeq demo spikes (452 units, 16 980 spikes, t = bin x 0.05 s) written to NWB and
           read back: spikelab-data vs pynwb. Quality: spike times bit-identical after the
           round trip; also each side reads the other's file.
  calcium  Spikefinder test 4 and 5 (CSV, 100 Hz), Elephant CNN model1.h5: spikelab-calcium
           (fully-convolutional; per-window on the first PW_FRAMES frames of each neuron) vs a
           Keras model built from the spec with the same weights (loaded with h5py), run
           fully-convolutionally (exact rewrite: pool -> dilation) and per window; and OASIS
           (`deconvolve(y, penalty=1)`, AR1 defaults) on the same CSV traces. Quality: the
           Spikefinder metric (median over neurons of Pearson r of 40-ms sums; frames
           without a prediction count as 0, as in the submission CSVs).
  convseq  convSeq demo raster (452 x 18 137, W = L = 200, K = 1): time per epoch / per
           iteration; F1 of detected occurrences against the 45 true centres (tolerance
           200 bins, greedy one-to-one by distance, as spikelab-convseq's `match_events`),
           Spearman rho of the 120 members' true order vs their learned lag. Peer: the
           `seqnmf` PyPI port, capped at SEQNMF_ITERS iterations (default 2; ~1.5 min each here).

Environment: PEERS_OURS (path of the peers_ours binary), PEERS_OUT (JSON path),
SEQNMF_ITERS, PW_FRAMES, PEERS_SKIP (comma list of tasks to skip). Threads are set to 2
everywhere (OMP/MKL/OpenBLAS/TF/rayon) by run.sh and again below.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_v, "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DS = os.path.join(ROOT, "datasets")
OURS = os.environ.get("PEERS_OURS", os.path.join(ROOT, "target", "release", "examples", "peers_ours"))
SEQNMF_ITERS = int(os.environ.get("SEQNMF_ITERS", "2"))
PW_FRAMES = int(os.environ.get("PW_FRAMES", "3000"))
SKIP = set(filter(None, os.environ.get("PEERS_SKIP", "").split(",")))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def ours(*args):
    out = subprocess.run([OURS, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def versions():
    import importlib.metadata as md

    v = {"python": platform.python_version(), "machine": platform.machine()}
    for p in ("numpy", "scipy", "h5py", "pynwb", "hdmf", "oasis-deconv", "tensorflow-cpu", "keras", "seqnmf"):
        try:
            v[p] = md.version(p)
        except md.PackageNotFoundError:
            v[p] = "not installed"
    return v


# ---------------------------------------------------------------- NWB


def demo_trains():
    meta = json.load(open(os.path.join(DS, "convseq", "synthetic_demo", "meta.json")))
    pairs = np.load(os.path.join(DS, "convseq", "synthetic_demo", "spikes.npy"))
    n, bin_s = meta["n_neurons"], meta["bin_s"]
    trains = [[] for _ in range(n)]
    for neuron, b in pairs.tolist():
        trains[int(neuron)].append(float(b) * bin_s)
    return [np.sort(np.asarray(t, dtype=np.float64)) for t in trains], meta["n_bins"] * bin_s


def same_bits(a, b):
    return len(a) == len(b) and all(
        len(x) == len(y) and np.array_equal(np.asarray(x, np.float64).view(np.uint64), np.asarray(y, np.float64).view(np.uint64))
        for x, y in zip(a, b)
    )


def pynwb_write(path, trains):
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(
        session_description="spikelab peers benchmark: convSeq demo spikes",
        identifier="peers-pynwb",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
    )
    for t in trains:
        nwb.add_unit(spike_times=t)
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)


def pynwb_read(path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        units = io.read().units
        st = units["spike_times"]
        # The ragged column as one flat array + index (the fast way), split per unit.
        flat = np.asarray(st.target.data[:], dtype=np.float64)
        ends = np.asarray(st.data[:], dtype=np.int64)
        return np.split(flat, ends[:-1])


def task_nwb(res, repeats=5):
    import warnings

    warnings.filterwarnings("ignore")
    trains, _ = demo_trains()
    tmp = tempfile.mkdtemp(prefix="peers_nwb_")
    ours_path, peer_path = os.path.join(tmp, "ours.nwb"), os.path.join(tmp, "pynwb.nwb")
    o = ours("nwb", ours_path, repeats)  # ours first
    tw, tr, ident = [], [], True
    pynwb_write(peer_path, trains)  # warm-up (lazy imports, schema loading)
    pynwb_read(peer_path)
    for _ in range(repeats):
        if os.path.exists(peer_path):
            os.remove(peer_path)
        t0 = time.perf_counter()
        pynwb_write(peer_path, trains)
        tw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        back = pynwb_read(peer_path)
        tr.append(time.perf_counter() - t0)
        ident &= same_bits(trains, back)
    o2 = ours("nwb", ours_path, repeats)  # ours again, after the peer
    cross_ours_by_pynwb = same_bits(trains, pynwb_read(ours_path))
    cross_pynwb_by_ours = ours("nwb-read", peer_path)
    res["nwb"] = {
        "ours": [o, o2],
        "peer": {"write_s": float(np.median(tw)), "read_s": float(np.median(tr)), "identical": bool(ident)},
        "pynwb_reads_ours_identical": bool(cross_ours_by_pynwb),
        "ours_reads_pynwb": cross_pynwb_by_ours,
        "reference_ok": bool(cross_pynwb_by_ours.get("identical_to_demo")),
    }


# ---------------------------------------------------------------- calcium


def load_csv(path):
    import gzip

    # header: column indices; empty fields are the NaN padding of shorter neurons
    with gzip.open(path, "rt") as f:
        return np.atleast_2d(np.genfromtxt(f, delimiter=",", skip_header=1, filling_values=np.nan))


def spikefinder_median_r(truth, pred):
    """Spikefinder metric: per column drop NaN rows (truth or pred), 40-ms sums
    (np.convolve(x, ones(4), 'valid')[::4]), Pearson r; nanmedian over neurons."""
    rs = []
    for j in range(truth.shape[1]):
        t, p = truth[:, j], pred[:, j]
        ok = ~np.isnan(t) & ~np.isnan(p)
        t4 = np.convolve(t[ok], np.ones(4), "valid")[::4]
        p4 = np.convolve(p[ok], np.ones(4), "valid")[::4]
        rs.append(np.corrcoef(t4, p4)[0, 1])
    return float(np.nanmedian(rs)), [float(r) for r in rs]


def zscore(x):
    return (x - x.mean()) / (x.std() + 1e-7)


def elephant_weights():
    import h5py

    w = {}
    with h5py.File(os.path.join(DS, "models", "spikefinder-elephant", "model1.h5"), "r") as f:
        for name, layer in (("c1", "conv1d_4"), ("c2", "conv1d_5"), ("c3", "conv1d_6"), ("d1", "dense_3"), ("d2", "dense_4")):
            g = f[layer][layer]
            w[name] = (np.asarray(g["kernel:0"], np.float32), np.asarray(g["bias:0"], np.float32))
    return w


def keras_models():
    """The Elephant CNN (spec §1.5) as a Keras model for 128-sample windows, and its exact
    fully-convolutional rewrite for whole traces: pool(2,2) -> max of u, u+1 then dilation 2
    in conv3; second pool -> max of u, u+2; Flatten+Dense(1) -> Conv1D(1, 14, dilation 4)."""
    import keras
    import tensorflow as tf
    from keras import layers

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    w = elephant_weights()
    x = keras.Input((128, 1))
    h = layers.Conv1D(50, 41, activation="relu", name="c1")(x)
    h = layers.Conv1D(60, 21, activation="relu", name="c2")(h)
    h = layers.MaxPooling1D(2)(h)
    h = layers.Conv1D(70, 7, activation="relu", name="c3")(h)
    h = layers.MaxPooling1D(2)(h)
    h = layers.Dense(300, activation="relu", name="d1")(h)
    h = layers.Flatten()(h)
    y = layers.Dense(1, name="d2")(h)
    win = keras.Model(x, y)
    for n in ("c1", "c2", "c3", "d1", "d2"):
        win.get_layer(n).set_weights(list(w[n]))

    x = keras.Input((None, 1))
    h = layers.Conv1D(50, 41, activation="relu", name="c1")(x)
    h = layers.Conv1D(60, 21, activation="relu", name="c2")(h)
    h = layers.MaxPooling1D(2, strides=1)(h)
    h = layers.Conv1D(70, 7, dilation_rate=2, activation="relu", name="c3")(h)
    h = layers.Lambda(lambda t: tf.maximum(t[:, :-2], t[:, 2:]))(h)
    h = layers.Dense(300, activation="relu", name="d1")(h)
    y = layers.Conv1D(1, 14, dilation_rate=4, name="d2")(h)
    fc = keras.Model(x, y)
    for n in ("c1", "c2", "c3", "d1"):
        fc.get_layer(n).set_weights(list(w[n]))
    k, b = w["d2"]
    fc.get_layer("d2").set_weights([k.reshape(14, 300, 1), b])
    return win, fc


def keras_fc_predict(fc, calcium):
    """Whole-trace prediction per neuron; window j -> frame j + 32, n - 128 windows
    (as the original), 0 elsewhere within the neuron's length, NaN beyond it."""
    pred = np.full(calcium.shape, np.nan)
    for j in range(calcium.shape[1]):
        y = calcium[:, j]
        y = y[~np.isnan(y)]
        n = len(y)
        z = zscore(y).astype(np.float32)
        out = fc(z[None, :, None], training=False).numpy()[0, : n - 128, 0]
        pred[:n, j] = 0.0
        pred[32 : 32 + n - 128, j] = out
    return pred


def keras_pw_predict(win, calcium, frames):
    outs = []
    for j in range(calcium.shape[1]):
        y = calcium[:, j]
        y = y[~np.isnan(y)]
        z = zscore(y)[:frames].astype(np.float32)
        xx = np.lib.stride_tricks.sliding_window_view(z, 128)[: len(z) - 128]
        outs.append(win.predict(xx[:, :, None], batch_size=4096, verbose=0)[:, 0])
    return outs


def keras_fc_head(fc, calcium, frames):
    outs = []
    for j in range(calcium.shape[1]):
        y = calcium[:, j]
        y = y[~np.isnan(y)]
        z = zscore(y)[:frames].astype(np.float32)
        outs.append(fc(z[None, :, None], training=False).numpy()[0, : len(z) - 128, 0])
    return outs


def oasis_predict(calcium):
    from oasis.functions import deconvolve

    pred = np.full(calcium.shape, np.nan)
    for j in range(calcium.shape[1]):
        y = calcium[:, j]
        n = int((~np.isnan(y)).sum())
        r = deconvolve(y[:n].astype(np.float64), penalty=1)
        pred[:n, j] = r[1]  # (c, s, b, g, lam): s = inferred spikes
    return pred


def task_calcium(res):
    win, fc = keras_models()
    from oasis.functions import deconvolve

    deconvolve(np.random.default_rng(0).standard_normal(500).cumsum() * 0.01 + 1, penalty=1)  # warm-up
    for n in (4, 5):
        cal = load_csv(os.path.join(DS, "spikefinder", "test", f"{n}.test.calcium.csv.gz"))
        spk = load_csv(os.path.join(DS, "spikefinder", "test", f"{n}.test.spikes.csv.gz"))
        samples = int((~np.isnan(cal)).sum())
        o = ours("calcium", n, PW_FRAMES)
        keras_fc_predict(fc, cal[:1000])  # warm-up
        kfc_s = []
        for _ in range(2):  # best of 2, as ours (called before and after the peers)
            t0 = time.perf_counter()
            pk = keras_fc_predict(fc, cal)
            kfc_s.append(time.perf_counter() - t0)
        kfc_s = min(kfc_s)
        k_r, k_corr = spikefinder_median_r(spk, pk)
        keras_pw_predict(win, cal[:300], 300)  # warm-up
        kpw_s = []
        for _ in range(2):
            t0 = time.perf_counter()
            pw = keras_pw_predict(win, cal, PW_FRAMES)
            kpw_s.append(time.perf_counter() - t0)
        kpw_s = min(kpw_s)
        fch = keras_fc_head(fc, cal, PW_FRAMES)
        pw_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(pw, fch))
        pw_samples = int(sum(min(PW_FRAMES, int((~np.isnan(cal[:, j])).sum())) for j in range(cal.shape[1])))
        o2 = ours("calcium", n, PW_FRAMES)
        oasis_s = []
        for _ in range(2):
            t0 = time.perf_counter()
            po = oasis_predict(cal)
            oasis_s.append(time.perf_counter() - t0)
        oasis_s = min(oasis_s)
        oasis_r, oasis_corr = spikefinder_median_r(spk, po)
        res[f"calcium{n}"] = {
            "samples": samples,
            "ours": [o, o2],
            "keras_fc": {"s": kfc_s, "median_r": k_r, "corr": k_corr},
            "keras_pw": {"s": kpw_s, "samples": pw_samples, "max_abs_diff_vs_keras_fc": pw_diff},
            "oasis": {"s": oasis_s, "median_r": oasis_r, "corr": oasis_corr},
            "max_abs_r_diff_ours_vs_keras": float(np.max(np.abs(np.asarray(o["corr"]) - np.asarray(k_corr)))),
        }
        log(f"calcium {n}: done")


# ---------------------------------------------------------------- convSeq vs seqNMF


def match_f1(det, truth, tol):
    cand = sorted((abs(d - g), i, j) for i, d in enumerate(det) for j, g in enumerate(truth) if abs(d - g) <= tol)
    ud, ug, tp = set(), set(), 0
    for _, i, j in cand:
        if i not in ud and j not in ug:
            ud.add(i)
            ug.add(j)
            tp += 1
    prec = tp / len(det) if det else 1.0
    rec = tp / len(truth) if truth else 1.0
    return {"tp": tp, "fp": len(det) - tp, "fn": len(truth) - tp, "f1": 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0}


def task_convseq(res):
    from scipy.signal import find_peaks
    from scipy.stats import spearmanr

    try:
        import setuptools  # noqa: F401  (seqnmf imports pkg_resources)
        from seqnmf import seqnmf
    except Exception as e:  # noqa: BLE001
        res["convseq"] = {"peer_error": repr(e)}
        return
    d = os.path.join(DS, "convseq", "synthetic_demo")
    meta = json.load(open(os.path.join(d, "meta.json")))
    centres = np.load(os.path.join(d, "gt_centres.npy")).tolist()
    members = np.load(os.path.join(d, "members.npy")).astype(int)
    pairs = np.load(os.path.join(d, "spikes.npy"))
    X = np.zeros((meta["n_neurons"], meta["n_bins"]))
    X[pairs[:, 0], pairs[:, 1]] = 1.0
    L = 200
    o_ep = ours("convseq-epochs", 100)
    o_fit = ours("convseq-fit", 4000)
    # Per-iteration times: seqnmf calls `reconstruct` once at set-up and twice per iteration
    # (after the H update and at the end, before the cost); wrap it to timestamp the ends.
    sq = sys.modules["seqnmf.seqnmf"]  # the submodule (the package re-exports the function under its name)

    ends, orig = [], sq.reconstruct

    def timed_reconstruct(W_, H_):
        out = orig(W_, H_)
        ends.append(time.perf_counter())
        return out

    sq.reconstruct = timed_reconstruct
    np.random.seed(0)
    t0 = time.perf_counter()
    try:
        W, H, cost, loadings, power = seqnmf(X.copy(), K=1, L=L, Lambda=0.001, max_iter=SEQNMF_ITERS)
    finally:
        sq.reconstruct = orig
    s = time.perf_counter() - t0
    setup_s = ends[0] - t0
    it_ends = [ends[0]] + ends[2::2]
    per_it = [b - a for a, b in zip(it_ends, it_ends[1:])]
    o_ep2 = ours("convseq-epochs", 100)
    # Read-out (ours, seqNMF has none for events): peaks of H[0] above mean + 3 sd, at least L
    # bins apart; an occurrence's centre is the peak + L/2 (W's lags run 0..L-1 after the onset).
    h = H[0]
    peaks, _ = find_peaks(h, height=h.mean() + 3 * h.std(), distance=L)
    det = [float(p + L / 2) for p in peaks]
    m = match_f1(det, centres, L)
    lag = np.argmax(W[members, 0, :], axis=1)
    rho = float(spearmanr(np.arange(len(members)), lag).correlation)
    res["convseq"] = {
        "ours_epochs": [o_ep, o_ep2],
        "ours_fit": o_fit,
        "seqnmf": {
            "iterations": SEQNMF_ITERS,
            "total_s": s,
            "setup_s": setup_s,
            "iteration_s": per_it,
            "s_per_iteration": float(np.mean(per_it)),
            "cost": [float(c) for c in np.ravel(cost)],
            "events": len(det),
            **m,
            "rho": rho,
        },
    }


# ---------------------------------------------------------------- table


def fmt_s(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def table(res):
    rows = ["| task | ours: time | ours: quality | peer | peer: time | peer: quality | peer time / our time |", "|---|---|---|---|---|---|---|"]
    if "nwb" in res:
        r = res["nwb"]
        ow = min(x["write_s"] for x in r["ours"])
        orr = min(x["read_s"] for x in r["ours"])
        oid = all(x["identical"] for x in r["ours"])
        p = r["peer"]
        n = r["ours"][0]["n_spikes"]
        rows.append(f"| NWB write, {n} spikes / 452 units | {fmt_s(ow)} | identical: {oid} | pynwb | {fmt_s(p['write_s'])} | identical: {p['identical']} | {p['write_s'] / ow:.1f}× |")
        rows.append(f"| NWB read (same file layout) | {fmt_s(orr)} | identical: {oid}; pynwb reads ours: {r['pynwb_reads_ours_identical']} | pynwb | {fmt_s(p['read_s'])} | identical: {p['identical']}; ours reads pynwb's: {r['reference_ok']} | {p['read_s'] / orr:.1f}× |")
    for n in (4, 5):
        k = f"calcium{n}"
        if k not in res:
            continue
        r = res[k]
        o = r["ours"]
        ofc = min(x["fc_s"] for x in o)
        opw = min(x["pw_s"] for x in o)
        q = f"r = {o[0]['median_r']:.4f}"
        rows.append(f"| calcium test {n} ({r['samples']} samples), CNN fully-conv | {fmt_s(ofc)} | {q} | Keras (TF) fully-conv | {fmt_s(r['keras_fc']['s'])} | r = {r['keras_fc']['median_r']:.4f} (per-neuron r differ ≤ {r['max_abs_r_diff_ours_vs_keras']:.1e}) | {r['keras_fc']['s'] / ofc:.1f}× |")
        rows.append(f"| calcium test {n}, CNN per-window (first {PW_FRAMES} frames of each neuron) | {fmt_s(opw)} | max \\|pw − fc\\| {o[0]['pw_vs_fc_max_abs_diff']:.1e} | Keras (TF) per-window | {fmt_s(r['keras_pw']['s'])} | max \\|pw − fc\\| {r['keras_pw']['max_abs_diff_vs_keras_fc']:.1e} | {r['keras_pw']['s'] / opw:.1f}× |")
        rows.append(f"| calcium test {n}, deconvolution | {fmt_s(ofc)} (CNN fully-conv) | {q} | OASIS AR1, penalty=1 | {fmt_s(r['oasis']['s'])} | r = {r['oasis']['median_r']:.4f} | {r['oasis']['s'] / ofc:.1f}× |")
    if "convseq" in res:
        r = res["convseq"]
        if "peer_error" in r:
            rows.append(f"| convSeq vs seqNMF | | | seqnmf | – | failed: {r['peer_error']} | – |")
        else:
            ep = min(x["ms_per_epoch"] for x in r["ours_epochs"]) / 1e3
            f = r["ours_fit"]
            s = r["seqnmf"]
            rows.append(f"| convSeq demo 452×18137, one full-batch update (epoch / iteration) | {fmt_s(ep)} (sparse CPU engine) | – | seqnmf K=1 L=200 (multiplicative update) | {fmt_s(s['s_per_iteration'])} | – | {s['s_per_iteration'] / ep:.0f}× |")
            rows.append(f"| convSeq demo, whole method | {fmt_s(f['total_s'])} (α + {f['epochs']} epochs) | F1 {f['f1']:.3f} (TP {f['tp']}/45, FP {f['fp']}), ρ {f['rho']:.3f} | seqnmf, {s['iterations']} of its default 100 iterations (capped; not converged) | {fmt_s(s['total_s'])} | F1 {s['f1']:.3f} (TP {s['tp']}/45, FP {s['fp']}), ρ {s['rho']:.3f} | – |")
    return "\n".join(rows)


def main():
    res = {"versions": versions(), "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS")}}
    t0 = time.perf_counter()
    for name, fn in (("nwb", task_nwb), ("calcium", task_calcium), ("convseq", task_convseq)):
        if name in SKIP:
            continue
        log(f"== {name}")
        t = time.perf_counter()
        fn(res)
        log(f"== {name}: {time.perf_counter() - t:.1f} s")
    res["total_s"] = time.perf_counter() - t0
    res["table"] = table(res)
    out = os.environ.get("PEERS_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(res, f, indent=1)
    print(res["table"])
    print(f"\n(total {res['total_s']:.0f} s; versions: {json.dumps(res['versions'])})")


if __name__ == "__main__":
    main()
