#!/usr/bin/env bash
# CASCADE training on an NVIDIA GPU (issue #19: "a full model for one frame rate in minutes").
#
#   bash scripts/gpu_cascade.sh build                # where a CUDA toolkit is set up
#   bash scripts/gpu_cascade.sh train OUT GROUND_TRUTH   # on the GPU host
#
# `build` makes a `cuda` build of the `spikelab` binary in target-cuda/; SPIKELAB_BIN points
# `train` at it (a `.xz` is unpacked by the CUDA_RUN launcher, which finds the CUDA libraries
# on a host without a toolkit). `train` fits the recipe of the bundled
# Global_EXC_30Hz_smoothing50ms_causalkernel model (30 Hz, noise levels 2–8, 5 members each,
# causal 50-ms target smoothing, CASCADE's batch 8192, 10 epochs, lr 0.05, up to 500 noise
# replicas per trial) on GROUND_TRUTH, once on the GPU, and logs the wall time to OUT/train.log.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="${SPIKELAB_BIN:-target-cuda/release/spikelab}"
case "${1:-}" in
build)
    : "${CUDA_HOME:?set CUDA_HOME to a CUDA 13.0 toolkit}"
    cargo build --release --features cuda --bin spikelab --target-dir target-cuda
    ;;
train)
    out="${2:?OUT}" gt="${3:?GROUND_TRUTH}"
    mkdir -p "$out"
    launcher=()
    [ -n "${CUDA_RUN:-}" ] && launcher=(bash "$CUDA_RUN")
    t0=$(date +%s)
    "${launcher[@]}" "$bin" calcium train-cascade --ground-truth "$gt" --frame-rate 30 \
        --noise-levels 2,3,4,5,6,7,8 --ensemble 5 --smoothing 0.05 --causal-kernel \
        --device cuda --out "$out/model" --force 2>&1 | tee "$out/train.log"
    echo "wall $(( $(date +%s) - t0 )) s" | tee -a "$out/train.log"
    ;;
*)
    echo "usage: $0 build | train OUT GROUND_TRUTH" >&2
    exit 2
    ;;
esac
