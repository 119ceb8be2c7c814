"""Reference values for spikelab-lds's parity tests (pykalman 0.11.2, dynamax 1.0.3, numpy).

    python make_fixtures.py --out DIR [--only pykalman]

Writes one JSON file per case into DIR (the checked-in copies live in
datasets/lds/reference/; see the README there). Matrices are nested lists, row-major; time
series are lists over time. Every case is seeded, so a re-run reproduces the files to
rounding. `--only pykalman` skips the JAX/dynamax cases (the CI venv has pykalman only).

Cases (names as in docs/lds.md):
  L1/L3  pykalman filter/smoother/log-likelihood, 3 states, 2 outputs, T = 200, fixed offsets;
         L3 masks 10% of the time steps (whole rows).
  L2/L3  pykalman EM, 20 iterations, every iterate, from A = 0.5 I, random C, Q = R = Σ0 = I.
  L4     dynamax LinearGaussianSSM with inputs (p = 2) and both biases, one trajectory,
         20 EM iterations, psd_solve's diagonal boost patched to 0.
  L5     dynamax, 8 trajectories, one E-step + M-step (Σ0 replaced by the correct formula).
  L6     partial masks: dense exact posterior (joint Gaussian over all states) in numpy.
"""
import argparse
import json
import os

import numpy as np


def lst(a):
    return np.asarray(a, dtype=float).tolist()


def system(rng, n=3, m=2):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.uniform(0.5, 0.95, n) * rng.choice([-1.0, 1.0], n)
    a = q @ np.diag(lam) @ q.T
    c = rng.standard_normal((m, n))
    lq = rng.standard_normal((n, n)) * 0.3
    lr = rng.standard_normal((m, m)) * 0.3
    return dict(
        A=a,
        C=c,
        Q=lq @ lq.T + 0.1 * np.eye(n),
        R=lr @ lr.T + 0.2 * np.eye(m),
        b=rng.standard_normal(n) * 0.1,
        d=rng.standard_normal(m),
        mu0=rng.standard_normal(n),
        Sigma0=np.eye(n) * 0.5,
    )


def sample(rng, p, T, U=None, B=None, D=None):
    n = p["A"].shape[0]
    m = p["C"].shape[0]
    x = rng.multivariate_normal(p["mu0"], p["Sigma0"])
    ys = np.zeros((T, m))
    for t in range(T):
        if t > 0:
            x = p["A"] @ x + p["b"] + rng.multivariate_normal(np.zeros(n), p["Q"])
            if U is not None:
                x = x + B @ U[t]
        y = p["C"] @ x + p["d"] + rng.multivariate_normal(np.zeros(m), p["R"])
        if U is not None:
            y = y + D @ U[t]
        ys[t] = y
    return ys


def model_json(p):
    return {k: lst(v) for k, v in p.items()}


def pykalman_cases(out):
    from pykalman import KalmanFilter
    import pykalman

    rng = np.random.RandomState(1)
    p = system(rng)
    T = 200
    Y = sample(rng, p, T)
    mask_steps = np.sort(rng.choice(T, T // 10, replace=False))
    init_c = rng.standard_normal((2, 3))

    def kf_of(q):
        return KalmanFilter(
            transition_matrices=q["A"], observation_matrices=q["C"],
            transition_covariance=q["Q"], observation_covariance=q["R"],
            transition_offsets=q["b"], observation_offsets=q["d"],
            initial_state_mean=q["mu0"], initial_state_covariance=q["Sigma0"])

    for name, masked in (("L1_pykalman_filter", False), ("L3_pykalman_filter_masked", True)):
        Ym = np.ma.masked_array(Y.copy(), mask=np.zeros_like(Y, dtype=bool))
        if masked:
            Ym[mask_steps] = np.ma.masked
        kf = kf_of(p)
        fm, fc = kf.filter(Ym)
        sm, sc = kf.smooth(Ym)
        ll = kf.loglikelihood(Ym)
        y_out = np.where(np.ma.getmaskarray(Ym), np.nan, Y)
        write(out, name, dict(
            package="pykalman " + pykalman.__version__, model=model_json(p),
            y=[[None if np.isnan(v) else v for v in row] for row in y_out],
            loglik=float(ll), filtered_means=lst(fm), filtered_covs=lst(fc),
            smoothed_means=lst(sm), smoothed_covs=lst(sc)))

        start = dict(p)
        start.update(A=0.5 * np.eye(3), C=init_c, Q=np.eye(3), R=np.eye(2),
                     mu0=np.zeros(3), Sigma0=np.eye(3))
        em_vars = ["transition_matrices", "observation_matrices", "transition_covariance",
                   "observation_covariance", "initial_state_mean", "initial_state_covariance"]
        kf = kf_of(start)
        iterates = []
        for _ in range(20):
            kf = kf.em(Ym, n_iter=1, em_vars=em_vars)
            iterates.append(dict(
                A=lst(kf.transition_matrices), C=lst(kf.observation_matrices),
                Q=lst(kf.transition_covariance), R=lst(kf.observation_covariance),
                mu0=lst(kf.initial_state_mean), Sigma0=lst(kf.initial_state_covariance),
                loglik=float(kf.loglikelihood(Ym))))
        write(out, name.replace("filter", "em").replace("L1", "L2"), dict(
            package="pykalman " + pykalman.__version__, start=model_json(start),
            y=[[None if np.isnan(v) else v for v in row] for row in y_out],
            em_vars=em_vars, iterates=iterates))


def dynamax_cases(out):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import dynamax
    import dynamax.linear_gaussian_ssm.inference as inf
    import dynamax.linear_gaussian_ssm.models as mod
    from dynamax.linear_gaussian_ssm import LinearGaussianSSM

    orig = inf.psd_solve

    def no_boost(a, b, diagonal_boost=1e-9):
        return orig(a, b, diagonal_boost=0.0)

    inf.psd_solve = no_boost
    mod.psd_solve = no_boost
    version = "dynamax " + dynamax.__version__ + " (psd_solve diagonal_boost = 0)"

    rng = np.random.RandomState(2)
    n, m, pin = 3, 2, 2
    p = system(rng, n, m)
    Bt = rng.standard_normal((n, pin)) * 0.5
    Dt = rng.standard_normal((m, pin)) * 0.5

    model = LinearGaussianSSM(state_dim=n, emission_dim=m, input_dim=pin,
                              has_dynamics_bias=True, has_emissions_bias=True)
    start = dict(A=0.5 * np.eye(n), B=np.zeros((n, pin)), b=np.zeros(n), Q=np.eye(n),
                 C=rng.standard_normal((m, n)), D=np.zeros((m, pin)), d=np.zeros(m),
                 R=np.eye(m), mu0=np.zeros(n), Sigma0=np.eye(n))

    def params_of(q):
        params, props = model.initialize(
            initial_mean=jnp.array(q["mu0"]), initial_covariance=jnp.array(q["Sigma0"]),
            dynamics_weights=jnp.array(q["A"]), dynamics_bias=jnp.array(q["b"]),
            dynamics_input_weights=jnp.array(q["B"]), dynamics_covariance=jnp.array(q["Q"]),
            emission_weights=jnp.array(q["C"]), emission_bias=jnp.array(q["d"]),
            emission_input_weights=jnp.array(q["D"]), emission_covariance=jnp.array(q["R"]))
        return params, props

    def dump(pr):
        return dict(A=lst(pr.dynamics.weights), B=lst(pr.dynamics.input_weights),
                    b=lst(pr.dynamics.bias), Q=lst(pr.dynamics.cov),
                    C=lst(pr.emissions.weights), D=lst(pr.emissions.input_weights),
                    d=lst(pr.emissions.bias), R=lst(pr.emissions.cov),
                    mu0=lst(pr.initial.mean), Sigma0=lst(pr.initial.cov))

    # L4: one trajectory, filter/smoother under the truth, 20 EM iterations from `start`.
    T = 200
    U = rng.standard_normal((T, pin))
    Y = sample(rng, p, T, U, Bt, Dt)
    truth = dict(p, B=Bt, D=Dt)
    params, props = params_of(truth)
    post = inf.lgssm_smoother(params, jnp.array(Y), jnp.array(U))
    params, props = params_of(start)
    fitted, log_probs = model.fit_em(params, props, jnp.array(Y), jnp.array(U), num_iters=20,
                                     verbose=False)
    write(out, "L4_dynamax_inputs", dict(
        package=version, truth=model_json(truth), start=model_json(start), y=lst(Y), u=lst(U),
        loglik=float(post.marginal_loglik), filtered_means=lst(post.filtered_means),
        smoothed_means=lst(post.smoothed_means), smoothed_covs=lst(post.smoothed_covariances),
        smoothed_second_cross=lst(post.smoothed_cross_covariances),
        em_log_probs=lst(log_probs), em_final=dump(fitted)))

    # L5: 8 trajectories, one E-step + M-step by hand, Σ0 by the correct formula.
    N = 8
    Us = rng.standard_normal((N, T, pin))
    Ys = np.stack([sample(rng, p, T, Us[i], Bt, Dt) for i in range(N)])
    params, props = params_of(start)
    stats, lls = jax.vmap(lambda y, u: model.e_step(params, y, u))(jnp.array(Ys), jnp.array(Us))
    new, _ = model.m_step(params, props, stats, None)
    sum_x0, sum_x0x0, cnt = [np.asarray(s).sum(0) for s in stats[0]]
    mu0 = sum_x0 / cnt
    new = new._replace(initial=new.initial._replace(cov=jnp.array(sum_x0x0 / cnt - np.outer(mu0, mu0))))
    write(out, "L5_dynamax_batch", dict(
        package=version, start=model_json(start), y=lst(Ys), u=lst(Us),
        loglik=float(np.sum(np.asarray(lls))), after_one_step=dump(new)))


def dense_posterior_case(out):
    """L6: exact posterior of a short LDS with partial masks, from the joint Gaussian."""
    rng = np.random.RandomState(3)
    n, m, T = 3, 2, 30
    p = system(rng, n, m)
    p["R"] = np.diag(np.diag(p["R"]))
    Y = sample(rng, p, T)
    obs = rng.uniform(size=(T, m)) > 0.25
    obs[5] = False  # one fully missing step
    # Joint mean and covariance of x_{0:T-1} (block lower-triangular recursion).
    A, Q = p["A"], p["Q"]
    mean = np.zeros(T * n)
    cov = np.zeros((T * n, T * n))
    mean[:n] = p["mu0"]
    cov[:n, :n] = p["Sigma0"]
    for t in range(1, T):
        mean[t * n:(t + 1) * n] = A @ mean[(t - 1) * n:t * n] + p["b"]
        # Cov(x_t, x_s) = A Cov(x_{t-1}, x_s) for s < t
        for s in range(t):
            blk = A @ cov[(t - 1) * n:t * n, s * n:(s + 1) * n]
            cov[t * n:(t + 1) * n, s * n:(s + 1) * n] = blk
            cov[s * n:(s + 1) * n, t * n:(t + 1) * n] = blk.T
        cov[t * n:(t + 1) * n, t * n:(t + 1) * n] = A @ cov[(t - 1) * n:t * n, (t - 1) * n:t * n] @ A.T + Q
    rows, vals, dvals = [], [], []
    H = np.zeros((int(obs.sum()), T * n))
    k = 0
    rvar = []
    for t in range(T):
        for j in range(m):
            if obs[t, j]:
                H[k, t * n:(t + 1) * n] = p["C"][j]
                vals.append(Y[t, j])
                dvals.append(p["d"][j])
                rvar.append(p["R"][j, j])
                k += 1
    yv = np.array(vals)
    my = H @ mean + np.array(dvals)
    S = H @ cov @ H.T + np.diag(rvar)
    L = np.linalg.cholesky(S)
    e = yv - my
    z = np.linalg.solve(L, e)
    ll = -0.5 * (z @ z + 2 * np.log(np.diag(L)).sum() + len(yv) * np.log(2 * np.pi))
    K = cov @ H.T @ np.linalg.inv(S)
    pm = mean + K @ e
    pc = cov - K @ H @ cov
    y_out = np.where(obs, Y, np.nan)
    write(out, "L6_dense_partial_mask", dict(
        package="numpy " + np.__version__ + " (dense joint Gaussian)", model=model_json(p),
        y=[[None if np.isnan(v) else v for v in row] for row in y_out], loglik=float(ll),
        smoothed_means=lst(pm.reshape(T, n)),
        smoothed_covs=lst([pc[t * n:(t + 1) * n, t * n:(t + 1) * n] for t in range(T)]),
        cross_covs=lst([pc[(t + 1) * n:(t + 2) * n, t * n:(t + 1) * n] for t in range(T - 1)])))


def write(out, name, obj):
    path = os.path.join(out, name + ".json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", choices=["pykalman", "all"], default="all")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    pykalman_cases(a.out)
    dense_posterior_case(a.out)
    if a.only == "all":
        dynamax_cases(a.out)
