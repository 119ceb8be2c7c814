#!/usr/bin/env bash
# spikelab vs. its Python peers, side by side on the same bundled data (results: docs/peers.md).
#
#   bash benches/peers/run.sh            # venv (once), build, run all tasks (~6-8 min on 2 cores)
#   PEERS_SKIP=convseq bash benches/peers/run.sh    # skip tasks (nwb, calcium, convseq, lds)
#   SEQNMF_ITERS=2 PW_FRAMES=3000 …      # seqNMF iteration cap, per-window frames per neuron
#
# Idempotent: the venv at benches/peers/.venv is created and filled only when missing or
# incomplete; the Rust side is rebuilt by cargo only when stale. Raw numbers go to
# target/peers/peers.json, the markdown table to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benches/peers
VENV=$HERE/.venv
PY=${PYTHON:-python3}

# Peers from PyPI, pinned to the versions measured in docs/peers.md. setuptools<81 keeps
# pkg_resources, which seqnmf 0.1.2 imports.
PKGS=("setuptools<81" "numpy==2.4.6" "scipy==1.17.1" "h5py==3.14.0" "pynwb==4.2.0"
      "oasis-deconv==0.3.2" "tensorflow-cpu==2.21.0" "seqnmf==0.1.2" "pykalman==0.11.2")

if ! "$VENV/bin/python" -c "import pynwb, oasis, tensorflow, h5py, seqnmf, scipy, pykalman" 2>/dev/null; then
    echo "== creating $VENV (PyPI)" >&2
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "${PKGS[@]}"
fi

echo "== building the Rust side (peers_ours example)" >&2
cargo build --release -q -p spikelab --example peers_ours
cargo build --release -q -p spikelab-lds --example lds_speed

# Same thread budget for everyone: 2 (the whole machine here; say so when comparing).
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p target/peers
export PEERS_OURS=target/release/examples/peers_ours PEERS_OUT=target/peers/peers.json
"$VENV/bin/python" "$HERE/peers.py"
case ",${PEERS_SKIP:-}," in
    *,lds,*) ;;
    *) "$VENV/bin/python" "$HERE/lds.py" target/release/examples/lds_speed ;;
esac
