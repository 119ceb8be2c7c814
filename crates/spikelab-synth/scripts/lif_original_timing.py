# Times the ORIGINAL neuLVM microscopic simulator (`LIFmicroPop` in src/LIFmicroPop.py of
# github.com/realwsq/neuLVM, last present at commit 1d58edfbdb5c3e386705cd3070f07e91d7d71bee,
# deleted in b6eac77) per 0.2-ms step on the 3-population winner-take-all network of 1000
# neurons (400/400/200, parameters of simulate_with_gtparams.py = specs/neulvm.md).
#
# The upstream code is NOT part of this repository: pass the path of a checkout of that commit.
#
#   git -C <mirror> archive 1d58edf | tar -x -C /tmp/neulvm-orig
#   python3 lif_original_timing.py /tmp/neulvm-orig [SECONDS_SHORT SECONDS_LONG REPEATS]
#
# Needs numpy only. src/LIFmesoCell.py imports TensorFlow at module level but LIFmicroPop uses
# nothing of it (its static helpers f, S0, V_lastfire_rbefore are plain NumPy for ndarray
# arguments). When TensorFlow is not installed, a stub module providing the three names that are
# evaluated at import time (tf.keras.layers.Layer as a base class, the tf.function decorator,
# tf.python.framework.ops.EagerTensor) is registered first; no upstream line is changed.
#
# The per-step cost excludes the stationary initialisation (age distribution, ≈ 1 s of setup):
# the simulator is run for a short and a long duration with the same setup and the per-step time
# is (t_long - t_short) / (steps_long - steps_short); the best of REPEATS pairs is reported.
import sys
import time
import types

import numpy as np


def stub_tensorflow():
    try:
        import tensorflow  # noqa: F401

        return "real tensorflow"
    except ImportError:
        pass
    tf = types.ModuleType("tensorflow")
    tf.keras = types.SimpleNamespace(layers=types.SimpleNamespace(Layer=object))
    tf.function = lambda fn=None, **kw: fn if fn is not None else (lambda g: g)

    class _NeverEager:  # no ndarray is ever of this type
        pass

    tf.python = types.SimpleNamespace(
        framework=types.SimpleNamespace(ops=types.SimpleNamespace(EagerTensor=_NeverEager))
    )
    sys.modules["tensorflow"] = tf
    return "tensorflow stub (module-level names only)"


def params(time_end):
    # simulate_with_gtparams.py of the same commit, with 3 recorded neurons per population.
    return dict(
        dt=0.2 * 1e-3,
        time_end=time_end,
        N=[400, 400, 200],
        SAMPLED_NEURON_NUM=3,
        M=3,
        resting_potential=[36.0 / 2.5] * 3,
        firing_thres=[15.0 / 2.5 - np.log(10)] * 3,
        J=[9.984, 9.984, 19.968],
        conmat=[[1, 0.0, 1], [0.0, 1, 1], [-1, -1, -1]],
        A0=[5, 20, 25],
        alpha_mem=[50] * 3,
        alpha_syn=[1000 / 3.0, 1000 / 3.0, 500 / 3.0],
        refractory_t=0.004,
        eps=1.0,
        initialize="stationary",
    )


def run_once(LIFmicroPop, time_end, seed):
    np.random.seed(seed)
    p = params(time_end)
    steps = int(p["time_end"] / p["dt"])
    iext = np.zeros((steps, p["M"]))
    t0, c0 = time.perf_counter(), time.process_time()
    ts, A, spikes, probs = LIFmicroPop(**p, I_ext_vec=iext)
    return time.perf_counter() - t0, time.process_time() - c0, steps, A


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__ or "usage: lif_original_timing.py UPSTREAM_DIR [T_SHORT T_LONG REPEATS]")
    upstream = sys.argv[1]
    t_short = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
    t_long = float(sys.argv[3]) if len(sys.argv) > 3 else 1.2
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    how = stub_tensorflow()
    sys.path.insert(0, upstream)
    from src.LIFmicroPop import LIFmicroPop

    wall, cpu = [], []
    for r in range(repeats):
        e_short, c_short, n_short, _ = run_once(LIFmicroPop, t_short, 1 + r)
        e_long, c_long, n_long, A = run_once(LIFmicroPop, t_long, 1 + r)
        wall.append((e_long - e_short) / (n_long - n_short) * 1e6)
        cpu.append((c_long - c_short) / (n_long - n_short) * 1e6)
        rates = A[len(A) // 4 :].mean(0)
        print(
            f"repeat {r}: {t_short} s in {e_short:.3f} s, {t_long} s in {e_long:.3f} s -> "
            f"{wall[-1]:.1f} us/step (CPU {cpu[-1]:.1f}); rates (Hz) {np.round(rates, 1)}"
        )
    print(
        f"original LIFmicroPop (numpy {np.__version__}, {how}), 1000 neurons: "
        f"min {min(wall):.1f} / median {np.median(wall):.1f} us/step wall, "
        f"min {min(cpu):.1f} us/step CPU"
    )


if __name__ == "__main__":
    main()
