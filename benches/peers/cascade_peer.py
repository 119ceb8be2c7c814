#!/usr/bin/env python3
"""CASCADE predict: the original cascade2p (TensorFlow) and spikelab side by side, same traces.

    bash benches/peers/cascade_peer.sh            # makes the venv, builds, runs

Traces: 100 neurons x 18 000 frames (10 min at 30 Hz) tiled from the golden DS09 case, whose
rows span all 7 noise levels of Global_EXC_30Hz_smoothing50ms_causalkernel, so both sides load
and run every ensemble. Both are timed on the whole predict call (noise levels, all members,
post-processing; the original also builds its window tensor), back to back, REPEATS times;
the medians and their ratio are printed, and the two outputs are compared.

The original code is GPL-3.0 and not part of spikelab: pass a checkout of
HelmchenLabSoftware/Cascade (commit 213fd12) with CASCADE_SRC=/path/to/Cascade.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = "Global_EXC_30Hz_smoothing50ms_causalkernel"
MODELS = os.path.join(REPO, "datasets", "models", "cascade")
GOLDEN = os.path.join(REPO, "datasets", "cascade-golden", "ds09_global_exc_30hz", "input_dff.npy")
NEURONS = int(os.environ.get("CASCADE_NEURONS", 100))
FRAMES = int(os.environ.get("CASCADE_FRAMES", 18000))
REPEATS = int(os.environ.get("REPEATS", 3))


def traces():
    base = np.load(GOLDEN)  # 24 x 3000
    reps = -(-FRAMES // base.shape[1])
    rows = [np.tile(base[i % base.shape[0]], reps)[:FRAMES] for i in range(NEURONS)]
    return np.ascontiguousarray(np.stack(rows))


def main():
    src = os.environ.get("CASCADE_SRC")
    if not src or not os.path.isdir(os.path.join(src, "cascade2p")):
        sys.exit("set CASCADE_SRC to a checkout of HelmchenLabSoftware/Cascade (with cascade2p/)")
    sys.path.insert(0, src)
    from cascade2p import cascade  # noqa: E402

    x = traces()
    import inspect
    quiet = {}
    models = MODELS
    if "verbosity" in inspect.signature(cascade.predict).parameters:
        quiet = {"verbosity": 0}
    ours_bin = os.path.join(REPO, "target", "release", "examples", "cascade_speed")
    samples = x.size
    with tempfile.TemporaryDirectory() as tmp:
        xin = os.path.join(tmp, "x.npy")
        yout = os.path.join(tmp, "y.npy")
        np.save(xin, x)
        if not quiet:
            # Older cascade2p reads `verbose` from config.yaml: a copy with 0 (no progress bars).
            import shutil
            models = os.path.join(tmp, "models")
            shutil.copytree(os.path.join(MODELS, MODEL), os.path.join(models, MODEL))
            cfg = os.path.join(models, MODEL, "config.yaml")
            with open(cfg) as f:
                lines = [("verbose: 0\n" if ln.startswith("verbose") else ln) for ln in f]
            with open(cfg, "w") as f:
                f.writelines(lines)
        theirs, ours, y_orig = [], [], None
        for r in range(REPEATS):
            t0 = time.perf_counter()
            y_orig = cascade.predict(MODEL, x, model_folder=models, **quiet)
            theirs.append(samples / (time.perf_counter() - t0))
            out = subprocess.run(
                [ours_bin, os.path.join(MODELS, MODEL), xin, "1", yout],
                check=True, capture_output=True, text=True,
            ).stdout
            rate = float([ln for ln in out.splitlines() if ln.startswith("median")][0].split()[1])
            ours.append(rate)
            print(f"repeat {r}: cascade2p {theirs[-1]:.0f} samples/s, spikelab {rate:.0f} samples/s",
                  file=sys.stderr)
        y_ours = np.load(yout)
    same_nan = bool(np.array_equal(np.isnan(y_ours), np.isnan(y_orig)))
    fin = np.isfinite(y_orig)
    max_diff = float(np.max(np.abs(y_ours[fin] - y_orig[fin])))
    med_t, med_o = float(np.median(theirs)), float(np.median(ours))
    res = {
        "traces": [NEURONS, FRAMES], "model": MODEL, "repeats": REPEATS,
        "cascade2p_samples_per_s": theirs, "spikelab_samples_per_s": ours,
        "median_ratio": med_o / med_t, "same_nan_mask": same_nan, "max_abs_diff": max_diff,
    }
    print(json.dumps(res, indent=1))
    print(f"| cascade2p predict (TF {tf_version()}) | {med_t:,.0f} samples/s |")
    print(f"| spikelab CascadeModel::predict_rows | {med_o:,.0f} samples/s |")
    print(f"| ratio (medians) | {med_o / med_t:.1f}x | max abs diff {max_diff:.1e}, same NaN mask {same_nan} |")


def tf_version():
    import tensorflow as tf
    return tf.__version__


if __name__ == "__main__":
    main()
