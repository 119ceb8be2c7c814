# Baseline for the LIF speed comparison in docs/synth.md: an independent NumPy implementation
# of the per-step update of neuLVM's microscopic simulator (LIFmicroPop), written from
# specs/neulvm.md ("Microscopic ground-truth simulator"), not from the original code.
# Usage: python3 lif_numpy_baseline.py [STEPS]   (prints the time per step for 1000 neurons)
import sys
import time

import numpy as np

def run(steps, seed=0):
    rng = np.random.default_rng(seed)
    dt = 2e-4
    N = np.array([400, 400, 200]); M = 3
    pop = np.repeat(np.arange(M), N); n = N.sum()
    amem = np.full(M, 50.0); asyn = np.array([1000/3, 1000/3, 500/3])
    J = np.array([9.984, 9.984, 19.968])
    conmat = np.array([[1, 0, 1], [0, 1, 1], [-1, -1, -1]], float)
    W = np.diag(J) @ conmat
    mu = np.full(M, 14.4); theta = np.full(M, 15/2.5 - np.log(10)); tref = 0.004
    A0 = np.array([5.0, 20.0, 25.0])
    e_s = np.exp(-dt * asyn); e_m = np.exp(-dt * amem)[pop]
    mu_n = mu[pop]; th_n = theta[pop]
    u = rng.uniform(0, 14, n); age = rng.uniform(0, 0.5, n)
    Isyn = A0.copy(); A = np.zeros((steps, M)); A[0] = A0
    Iext = np.zeros((steps, M))
    K = 3
    rec = [np.sort(rng.permutation(N[a])[:K]) + N[:a].sum() for a in range(M)]
    rec = np.concatenate(rec)
    spikes_rec = np.zeros((steps, M * K), bool)
    t0 = time.perf_counter()
    for s in range(1, steps):
        Isyn = e_s * Isyn + (1 - e_s) * A[s - 1]
        inp = Isyn @ W + 1.0 * Iext[s - 1]
        u = (1 - e_m) * mu_n + e_m * u + dt * inp[pop]
        u[age < tref] = 0.0
        f = np.exp(u - th_n)
        f[u == 0] = 0.0
        p = 1 - np.exp(-f * dt)
        spk = rng.random(n) < p
        u[spk] = 0.0
        age += dt
        age[spk] = 0.0
        A[s] = np.bincount(pop, weights=spk, minlength=M) / N / dt
        spikes_rec[s] = spk[rec]
    el = time.perf_counter() - t0
    return el, A

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
el, A = run(steps)
print(f"numpy: {steps} steps x 1000 neurons: {el:.3f} s = {el/steps*1e6:.2f} us/step = {el/steps/1000*1e9:.2f} ns/neuron-step; rates {A[steps//2:].mean(0)}")
