#!/usr/bin/env bash
# spikelab sort vs MountainSort 5 and Tridesclous 2 on the acceptance recordings of
# docs/sort.md: generated tetrodes (seeds 1001-1005 by default), run side by side, scored with
# spikeinterface's ground-truth comparison (results: docs/sort.md).
#
#   bash benches/peers/sort.sh                      # 5 recordings of 600 s (~1 h on 2 cores)
#   SORT_SEEDS="1001" SORT_DURATION_S=60 bash benches/peers/sort.sh     # a quick look
#
# The venv at benches/peers/.venv-sort is made once (PyPI). Recordings are written under
# target/peers/sort_recordings (deterministic: the generator is seeded), outputs under
# target/peers/sort_work, numbers to target/peers/sort_peers.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=benches/peers/.venv-sort
PY=${PYTHON:-python3}
PKGS=("spikeinterface==0.105.3" "mountainsort5==0.5.9" "isosplit6" "hdbscan" "numba"
      "probeinterface" "scikit-learn" "scipy==1.17.1")
if ! "$VENV/bin/python" -c "import spikeinterface, mountainsort5, hdbscan, numba, sklearn" 2>/dev/null; then
    echo "== creating $VENV (PyPI)" >&2
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "${PKGS[@]}"
fi
cargo build --release -q -p spikelab
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2 NUMBA_NUM_THREADS=2
DUR=${SORT_DURATION_S:-600}
REC=target/peers/sort_recordings
mkdir -p "$REC"
folders=()
for seed in ${SORT_SEEDS:-1001 1002 1003 1004 1005}; do
    d="$REC/tetrode_seed${seed}_${DUR}s"
    [ -f "$d/recording.json" ] || target/release/spikelab synth recording --preset tetrode-benchmark \
        --seed "$seed" --duration-s "$DUR" --out "$d"
    folders+=("$d")
done
SPIKELAB=target/release/spikelab SORT_PEERS_OUT=target/peers/sort_peers.json \
    "$VENV/bin/python" benches/peers/sort_peers.py "${folders[@]}"
