#!/usr/bin/env bash
# CASCADE predict speed: original cascade2p (tensorflow-cpu 2.15, PyPI) vs spikelab, same run.
#
#   CASCADE_SRC=/path/to/Cascade bash benches/peers/cascade_peer.sh
#   REPEATS=5 CASCADE_NEURONS=100 CASCADE_FRAMES=18000 ...     # defaults 3, 100, 18000
#
# The venv benches/peers/.venv-cascade (git-ignored) is made once: TensorFlow 2.15 is the last
# release whose tf.keras is Keras 2, which loads CASCADE's .h5 files; it needs Python ≤ 3.11.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=benches/peers/.venv-cascade
PY=${PYTHON:-python3}
if ! "$VENV/bin/python" -c "import tensorflow, scipy, h5py, ruamel.yaml, matplotlib" 2>/dev/null; then
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "tensorflow-cpu==2.15.1" "numpy==1.26.4" "scipy==1.13.1" \
        "h5py" "ruamel.yaml" "matplotlib"
fi
cargo build --release -q -p spikelab-calcium --example cascade_speed
"$VENV/bin/python" benches/peers/cascade_peer.py
