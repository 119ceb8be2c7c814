#!/usr/bin/env bash
# EIT two-body runs on an NVIDIA GPU (issue #16: 400 epochs, labels both / connection / type;
# test accuracy ≥ 0.95 / 0.94 / 0.99, EIT ≥ NDT + 0.04 on "both"; one epoch at least as fast
# as PyTorch on the same GPU).
#
#   bash scripts/gpu_decode.sh build          # where a CUDA toolkit is set up (CUDA_HOME,
#                                             # CUDA_COMPUTE_CAP=90; docs/benchmarks.md)
#   bash scripts/gpu_decode.sh speed OUT      # on the GPU host: one epoch, ours and PyTorch's
#   bash scripts/gpu_decode.sh start OUT [RUNS]   # 400-epoch runs in the background
#   bash scripts/gpu_decode.sh status OUT     # last lines of every run
#
# `build` makes target-cuda/release/examples/eit_twobody (its own target dir, so the CPU build
# is untouched); EIT_BIN points the other steps at it (a `.xz` is unpacked to /tmp first), and
# CUDA_RUN, when set, names a launcher script that finds the CUDA libraries on a host without a
# toolkit (the `cuda-run.sh` of the GPU build notes, docs/benchmarks.md).
# `speed` runs, one after the other and each alone on the GPU, 6 epochs of our EIT ("both"),
# the same with cudarc's event tracking kept on (CUDA_EVENTS=1), and
# `benches/peers/eit_torch.py` (one warm-up epoch + 5 timed). `start` launches each run
# of RUNS (default "eit:type eit:both ndt:both eit:connection ndt:connection ndt:type") as its
# own process session (setsid), sharing the GPU, logging to OUT/MODEL_LABEL.log; they print
# every epoch and test accuracy every 10 epochs. A run `ca1:EPOCHS` is the CA1 smoke at full
# size (`eit_twobody ca1 EPOCHS cuda`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="${EIT_BIN:-target-cuda/release/examples/eit_twobody}"
if [[ "$bin" == *.xz ]]; then
    unpacked="/tmp/$(basename "$bin" .xz)"
    [ -x "$unpacked" ] || { xz -dc "$bin" > "$unpacked.tmp" && chmod +x "$unpacked.tmp" && mv "$unpacked.tmp" "$unpacked"; }
    bin="$unpacked"
fi
run_bin() {
    if [ -n "${CUDA_RUN:-}" ]; then bash "$CUDA_RUN" "$bin" "$@"; else "$bin" "$@"; fi
}
case "${1:-}" in
build)
    : "${CUDA_HOME:?set CUDA_HOME to a CUDA 13.0 toolkit}"
    cargo build --release --features cuda -p spikelab-decode --example eit_twobody \
        --target-dir target-cuda
    ;;
speed)
    out="${2:?OUT}"
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
    run_bin both 6 cuda 500 eit 2>&1 | tee "$out/speed_ours.log"
    CUDA_EVENTS=1 run_bin both 6 cuda 500 eit 2>&1 | tee "$out/speed_ours_events.log"
    python3 benches/peers/eit_torch.py --device cuda --epochs 5 2>&1 | tee "$out/speed_torch.json"
    ;;
start)
    out="${2:?OUT}"
    mkdir -p "$out"
    for run in ${3:-eit:type eit:both ndt:both eit:connection ndt:connection ndt:type}; do
        model="${run%%:*}" label="${run##*:}"
        if [ "$model" = ca1 ]; then args=(ca1 "$label" cuda); else args=("$label" "${EPOCHS:-400}" cuda 500 "$model"); fi
        launcher=()
        [ -n "${CUDA_RUN:-}" ] && launcher=(bash "$CUDA_RUN")
        setsid nohup "${launcher[@]}" "$bin" "${args[@]}" \
            > "$out/${model}_$label.log" 2>&1 < /dev/null &
    done
    ;;
status)
    out="${2:?OUT}"
    for f in "$out"/*_*.log; do
        echo "== $f: $(grep -c '^epoch' "$f") epochs"
        grep 'test accuracy' "$f" | tail -n 3
    done
    ;;
*)
    echo "usage: $0 build | speed OUT | start OUT [RUNS] | status OUT" >&2
    exit 2
    ;;
esac
