#!/usr/bin/env python3
"""spikelab-lds vs pykalman, side by side in one run: Kalman filter + RTS smoother over
600 trajectories x 200 steps (3 states, 2 outputs), the work of one LDS-EM E-step.

Run through `bash benches/peers/run.sh` (task `lds`) or directly:

    python benches/peers/lds.py [PATH_TO_lds_speed]   # default target/release/examples/lds_speed

Ours: the `lds_speed` example of spikelab-lds (times itself in-process, prints JSON; rayon
over trajectories). pykalman 0.11.2: `KalmanFilter.smooth` per trajectory (it runs the filter
too), timed here after a warm-up. Same model sizes and trajectory count; the values differ
(each side samples its own data), which does not change the work. Correctness is checked
separately (crates/spikelab-lds/tests/parity.rs, <= 1e-10 against pykalman).
"""
import json
import os
import subprocess
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_v, "2")

import numpy as np  # noqa: E402
import pykalman  # noqa: E402
from pykalman import KalmanFilter  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ours_bin = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/examples/lds_speed")
    out = subprocess.run([ours_bin, "--json"], check=True, capture_output=True, text=True)
    ours = json.loads(out.stdout.strip().splitlines()[-1])

    rng = np.random.RandomState(0)
    n, m, N, T = 3, 2, 600, 200
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = q @ np.diag([0.8, -0.5, 0.3]) @ q.T
    C = rng.standard_normal((m, n))
    kf = KalmanFilter(transition_matrices=A, observation_matrices=C,
                      transition_covariance=0.1 * np.eye(n), observation_covariance=0.5 * np.eye(m),
                      initial_state_mean=np.zeros(n), initial_state_covariance=np.eye(n))
    Y = [kf.sample(T, random_state=rng)[1] for _ in range(N)]
    kf.smooth(Y[0])  # warm-up
    t0 = time.perf_counter()
    for y in Y:
        kf.smooth(y)
    theirs = time.perf_counter() - t0

    ratio = theirs / ours["smooth_600x200_s"]
    print(f"pykalman {pykalman.__version__}, numpy {np.__version__}; spikelab rayon threads {ours['threads']}\n")
    print("| task | spikelab-lds s | pykalman s | ratio |\n| --- | ---: | ---: | ---: |")
    print(f"| filter + smoother, 600 x 200, n 3, m 2 | {ours['smooth_600x200_s']:.4f} | {theirs:.2f} | {ratio:.0f}x |")
    print(f"\none MoLDS EM iteration (600 x 200, K 3): {ours['molds_em_iter_s']:.3f} s")
    print(f"scaling exponents of ours: T {ours['exp_t']:.3f}, N {ours['exp_n']:.3f}")
    res = dict(ours=ours, pykalman_smooth_600x200_s=theirs, ratio=ratio, pykalman=pykalman.__version__)
    path = os.environ.get("PEERS_LDS_OUT", os.path.join(ROOT, "target/peers/lds.json"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
