"""Reference values for the ridge / RRR / R² tests (tests/fixtures/linear.json).

NumPy implementation of the same equations as scikit-learn's Ridge(alpha, fit_intercept=True)
(centre X and Y on the training rows, solve (XᵀX + αI) W = XᵀY, intercept ȳ − x̄W), Izenman's
reduced-rank regression and sklearn's r2_score(multioutput="raw_values"). Run once:
    .venv/bin/python crates/spikelab-decode/scripts/make_linear_fixture.py
"""
import json
import pathlib

import numpy as np

rng = np.random.default_rng(20261203)
n_train, n_test, p, q = 60, 25, 5, 3
x = rng.normal(size=(n_train + n_test, p)) @ rng.normal(size=(p, p))
w_true = rng.normal(size=(p, q))
y = x @ w_true + 0.5 * rng.normal(size=(n_train + n_test, q)) + np.array([1.0, -2.0, 0.5])
xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def ridge(xtr, ytr, alpha):
    xm, ym = xtr.mean(0), ytr.mean(0)
    xc, yc = xtr - xm, ytr - ym
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(xtr.shape[1]), xc.T @ yc)
    return w, ym - xm @ w


def rrr(xtr, ytr, rank, alpha, c):
    w, b = ridge(xtr, ytr, alpha)
    xm = xtr.mean(0)
    s = np.sqrt(c)
    yhat = (xtr - xm) @ (w * s)
    _, _, vt = np.linalg.svd(yhat, full_matrices=False)
    v = vt[:rank].T
    wr = (w * s) @ v @ v.T / s
    ym = b + xm @ w
    return wr, ym - xm @ wr


def r2(yt, yp):
    return 1 - ((yt - yp) ** 2).sum(0) / ((yt - yt.mean(0)) ** 2).sum(0)


out = {"x_train": xtr.tolist(), "y_train": ytr.tolist(), "x_test": xte.tolist(),
       "y_test": yte.tolist(), "cases": []}
for alpha in [0.0, 0.1, 10.0]:
    w, b = ridge(xtr, ytr, alpha)
    out["cases"].append({"kind": "ridge", "alpha": alpha, "weights": w.tolist(),
                         "intercept": b.tolist(), "test_r2": r2(yte, xte @ w + b).tolist()})
for rank, c in [(1, [1.0, 1.0, 1.0]), (2, [1.0, 1.0, 1.0]), (1, [0.5, 2.0, 4.0])]:
    w, b = rrr(xtr, ytr, rank, 1.0, np.array(c))
    out["cases"].append({"kind": "rrr", "alpha": 1.0, "rank": rank, "column_weights": c,
                         "weights": w.tolist(), "intercept": b.tolist(),
                         "test_r2": r2(yte, xte @ w + b).tolist()})
# BrainDiffuser's objective: three heads weighted [1, 2, 4], each MSE a mean over its own
# columns (column weight w_h / d_h), then `scale_latents` on the test predictions.
heads = [2, 3, 4]
w3 = rng.normal(size=(p, sum(heads)))
y3 = x @ w3 + 0.5 * rng.normal(size=(n_train + n_test, sum(heads)))
c3 = np.concatenate([np.full(d, wh / d) for d, wh in zip(heads, [1.0, 2.0, 4.0])])
w, b = rrr(xtr, y3[:n_train], 2, 1.0, c3)
pred = xte @ w + b
scaled = (pred - pred.mean(0)) / pred.std(0) * y3[:n_train].std(0) + y3[:n_train].mean(0)
out["braindiffuser"] = {"heads": heads, "head_weights": [1.0, 2.0, 4.0], "rank": 2, "alpha": 1.0,
                        "y_train": y3[:n_train].tolist(), "y_test": y3[n_train:].tolist(),
                        "column_weights": c3.tolist(), "scaled_prediction": scaled.tolist()}
path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "linear.json"
path.write_text(json.dumps(out))
print("wrote", path)
