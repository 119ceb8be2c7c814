"""Mean-shift fixtures for crates/spikelab-sort/tests/cluster_parity.rs.

Runs scikit-learn's `estimate_bandwidth` (all points, so no random subset) and
`MeanShift(bandwidth=...)` on seeded 2-D and 4-D point sets and stores inputs and outputs under
datasets/sort/cluster/. Made with scikit-learn 1.9.1, NumPy 2.x, Python 3.11:

    python scripts/sort_fixtures_cluster.py datasets/sort/cluster
"""

import json
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.cluster import MeanShift, estimate_bandwidth

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261204)
cases = {}
for name, dim, centres, sd, n_per in [
    ("blobs2d", 2, [[0, 0], [4, 0], [0, 4], [3, 3]], 0.6, 80),
    ("blobs4d", 4, [[0, 0, 0, 0], [3, 3, 0, 0], [0, 3, 3, 3]], 0.8, 70),
]:
    x = np.concatenate([np.asarray(c, float) + sd * rng.standard_normal((n_per, dim)) for c in centres])
    x = x[rng.permutation(len(x))]
    np.save(out / f"{name}_x.npy", x)
    bw = {}
    for q in (0.04, 0.1, 0.3):
        bw[str(q)] = float(estimate_bandwidth(x, quantile=q))
    runs = {}
    for q in ("0.1", "0.3"):
        ms = MeanShift(bandwidth=bw[q]).fit(x)
        np.save(out / f"{name}_q{q}_centers.npy", ms.cluster_centers_)
        np.save(out / f"{name}_q{q}_labels.npy", ms.labels_.astype(np.int64))
        runs[q] = {"n_clusters": len(ms.cluster_centers_), "n_iter": int(ms.n_iter_)}
    cases[name] = {"bandwidth": bw, "mean_shift": runs}
(out / "expected.json").write_text(json.dumps({"sklearn": sklearn.__version__, "cases": cases}, indent=1))
