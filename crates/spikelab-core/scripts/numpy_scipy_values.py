"""Prints the NumPy/SciPy reference values of crates/spikelab-core/tests/numpy_scipy.rs.

Run with a Python that has numpy and scipy (e.g. `pip install numpy scipy` in a venv):
    python crates/spikelab-core/scripts/numpy_scipy_values.py > /tmp/values.rs
and paste the constants into the test. Inputs are fixed literals, so the output is stable.
"""
import numpy as np
import scipy
from scipy import ndimage, stats

DATA = [3.7, -1.25, 0.5, 9.0, 2.2, 2.2, -7.75, 4.125, 0.1, 6.3, 2.2, -0.4, 5.55]
X = [0.0, 1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 3.0, 0.5, 0.25, 0.0, 0.0, 1.0,
     0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 1.5]
Y = [0.1, 0.8, 0.2, 0.0, 1.5, 0.3, 0.2, 0.0, 0.1, 2.9, 0.9, 0.0, 0.0, 0.3, 0.7,
     0.0, 0.1, 0.0, 0.0, 0.2, 3.1, 0.0, 1.0]
QS = [0.0, 5.0, 12.5, 33.3, 50.0, 80.0, 98.0, 100.0]
SIGMAS = [0.7, 2.5, 10.0]


def arr(name, v):
    body = ", ".join(repr(float(x)) for x in v)
    print(f"const {name}: [f64; {len(v)}] = [{body}];")


print(f"// numpy {np.__version__}, scipy {scipy.__version__}")
arr("PERCENTILE_EVEN", [np.percentile(DATA[:12], q) for q in QS])
arr("PERCENTILE_ODD", [np.percentile(DATA, q) for q in QS])
with_nan = DATA[:5] + [float("nan")] + DATA[5:]
arr("NANPERCENTILE", [np.nanpercentile(with_nan, q) for q in QS])
arr("MEDIANS", [np.median(DATA[:12]), np.median(DATA), np.nanmedian(with_nan)])
arr("CORR", [stats.pearsonr(X, Y).statistic, stats.spearmanr(X, Y).statistic,
             stats.spearmanr(DATA[:12], DATA[1:]).statistic])
arr("RANKS", stats.rankdata(DATA, method="average"))
for s in SIGMAS:
    arr(f"GAUSS_{str(s).replace('.', '_')}", ndimage.gaussian_filter1d(np.array(X), s))
