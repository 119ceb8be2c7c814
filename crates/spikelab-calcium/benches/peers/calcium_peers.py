#!/usr/bin/env python3
"""Peers of spikelab-calcium's inference speed, on the same data and machine.

Prints samples/s of
  1. the original Keras network window by window (`model.predict`, batch 4096), as the
     original prediction script does;
  2. the same network in fully-convolutional form in TensorFlow (dilated Conv1D layers built
     from model1.h5's weights; the exact maths of spikelab's fast path, see
     crates/spikelab-calcium/src/fastconv.rs);
  3. OASIS (`oasis-deconv`, AR(1), one thread) on the same traces.
and, for the TF fully-convolutional path, the max |difference| to the per-window outputs.

The recording is built like examples/calcium_speed.rs: test-4 neuron 0 tiled, 100 Hz.

    pip install tensorflow-cpu h5py numpy oasis-deconv
    OMP_NUM_THREADS=2 TF_NUM_INTEROP_THREADS=1 TF_NUM_INTRAOP_THREADS=2 \
        python3 crates/spikelab-calcium/benches/peers/calcium_peers.py [neurons] [minutes]
    cargo run -p spikelab-calcium --release --example calcium_speed -- [neurons] [minutes]

Defaults: 10 neurons x 60 min (the per-window Keras path runs on 1 % of it).
"""
import gzip
import os
import sys
import time

import h5py
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
DATA = os.environ.get("SPIKELAB_DATASETS", os.path.join(ROOT, "datasets"))


def recording(neurons, frames):
    path = os.path.join(DATA, "spikefinder", "test", "4.test.calcium.csv.gz")
    with gzip.open(path, "rt") as f:
        rows = f.read().splitlines()[1:]
    base = np.array([float(r.split(",")[0]) for r in rows if r.split(",")[0] != ""])
    idx = (np.arange(frames)[None, :] + 997 * np.arange(neurons)[:, None]) % len(base)
    return base[idx]  # [neuron, time]


def zscore(x):
    return (x - x.mean()) / (x.std() + 1e-7)


def load_weights(path):
    with h5py.File(path, "r") as f:
        root = f if "layer_names" in f.attrs else f["model_weights"]
        out = []
        for name in root.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            g = root[name]
            wn = [w.decode() if isinstance(w, bytes) else w for w in g.attrs.get("weight_names", [])]
            if len(wn):
                out.append([np.array(g[w]) for w in wn])
    return out  # [[kernel, bias]] x 5


def keras_models(weights):
    import tensorflow as tf
    from tensorflow.keras import layers

    # Per-window network (the original architecture).
    inp = layers.Input((128, 1))
    h = layers.Conv1D(50, 41, activation="relu")(inp)
    h = layers.Conv1D(60, 21, activation="relu")(h)
    h = layers.MaxPooling1D(2)(h)
    h = layers.Conv1D(70, 7, activation="relu")(h)
    h = layers.MaxPooling1D(2)(h)
    h = layers.Dense(300, activation="relu")(h)
    h = layers.Flatten()(h)
    out = layers.Dense(1)(h)
    per_window = tf.keras.Model(inp, out)
    per_window.set_weights([a for pair in weights for a in pair])

    # Fully convolutional: the same weights on the whole trace.
    (k1, b1), (k2, b2), (k3, b3), (k4, b4), (k5, b5) = weights
    k1, k2, k3, k4 = (tf.constant(k) for k in (k1, k2, k3, k4))
    k5c = tf.constant(k5.reshape(14, 300)[:, :, None])  # (tap, in, out)

    @tf.function(jit_compile=False)
    def full(z):  # z: [batch, n, 1]
        h1 = tf.nn.relu(tf.nn.conv1d(z, k1, 1, "VALID") + b1)
        h2 = tf.nn.conv1d(h1, k2, 1, "VALID") + b2
        m1 = tf.nn.relu(tf.maximum(h2[:, :-1], h2[:, 1:]))
        c3 = tf.nn.conv1d(m1, k3, 1, "VALID", dilations=2) + b3
        m2 = tf.nn.relu(tf.maximum(c3[:, :-2], c3[:, 2:]))
        d = tf.nn.relu(tf.einsum("btc,cu->btu", m2, k4) + b4)
        y = tf.nn.conv1d(d, k5c, 1, "VALID", dilations=4) + b5
        return y[:, :, 0]

    return per_window, full


def main():
    neurons = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    frames = int(minutes * 60 * 100)
    x = recording(neurons, frames)
    z = np.stack([zscore(r) for r in x]).astype(np.float32)
    n_samples = neurons * frames
    print(f"recording: {neurons} neurons x {minutes} min at 100 Hz = {n_samples} samples")
    w = load_weights(os.path.join(DATA, "models", "spikefinder-elephant", "model1.h5"))
    per_window, full = keras_models(w)

    # 2. TF fully convolutional (warm-up, then timed on the whole recording).
    full(z[:1, :2000, None])
    t0 = time.perf_counter()
    y_full = np.concatenate([full(z[j:j + 1, :, None]).numpy() for j in range(neurons)])
    dt = time.perf_counter() - t0
    print(f"TensorFlow fully-convolutional          {n_samples / dt:12.0f} samples/s")

    # 1. Keras per-window on 1 % of the frames of the first neurons.
    small = z[: min(neurons, 4), : max(2000, frames // 100)]
    win = np.lib.stride_tricks.sliding_window_view(small, 128, axis=1)[:, :-1]
    per_window.predict(win[0, :100, :, None], batch_size=4096, verbose=0)
    t0 = time.perf_counter()
    y_pw = [per_window.predict(win[j][:, :, None], batch_size=4096, verbose=0)[:, 0] for j in range(len(small))]
    dt = time.perf_counter() - t0
    print(f"Keras per-window (model.predict)        {small.size / dt:12.0f} samples/s")
    diff = max(np.abs(y_pw[j] - y_full[j, : len(y_pw[j])]).max() for j in range(len(small)))
    print(f"max |TF fully-conv - Keras per-window| = {diff:.2e}")

    # 3. OASIS, AR(1), one thread, on the raw traces.
    try:
        from oasis.functions import deconvolve
    except ImportError:
        print("OASIS: not installed (pip install oasis-deconv)")
        return
    t0 = time.perf_counter()
    for r in x:
        deconvolve(r.astype(np.float64), penalty=1)
    dt = time.perf_counter() - t0
    print(f"OASIS deconvolve (AR1, L1, 1 thread)    {n_samples / dt:12.0f} samples/s")


if __name__ == "__main__":
    main()
