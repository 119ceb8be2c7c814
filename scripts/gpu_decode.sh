#!/usr/bin/env bash
# EIT two-body run on an NVIDIA GPU (issue #16 acceptance: 400 epochs, labels both /
# connection / type; test accuracy ≥ 0.95 / 0.94 / 0.99).
#
#   bash scripts/gpu_decode.sh build        # where a CUDA toolkit is set up (CUDA_HOME,
#                                           # CUDA_COMPUTE_CAP=90; recipe in docs/benchmarks.md)
#   bash scripts/gpu_decode.sh run [OUT]    # on the GPU host; logs to OUT (default gpu-decode/)
#
# `build` makes target-cuda/release/examples/eit_twobody (its own target dir, so the CPU build
# is untouched). `run` trains the three label types one after the other (our GPU speed is not
# measured yet; the original PyTorch code took ≈ 1.1 s per epoch on an H200) and prints test
# accuracy every 10 epochs, seconds per epoch and the final accuracy.
# Each label trains EIT and its NDT peer (spec: EIT must beat NDT on "both" by ≥ 0.04).
# Not included yet: the PyTorch side-by-side of the original code (benches/peers/).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
case "${1:-}" in
build)
    : "${CUDA_HOME:?set CUDA_HOME to a CUDA 13.0 toolkit}"
    cargo build --release --features cuda -p spikelab-decode --example eit_twobody \
        --target-dir target-cuda
    ;;
run)
    out="${2:-gpu-decode}"
    mkdir -p "$out"
    bin="${EIT_BIN:-target-cuda/release/examples/eit_twobody}"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
    for label in type connection both; do
        for model in eit ndt; do
            "$bin" "$label" "${EPOCHS:-400}" cuda 500 "$model" 2>&1 | tee "$out/${model}_$label.log"
        done
    done
    grep -H "final test accuracy" "$out"/*_*.log
    ;;
*)
    echo "usage: $0 build | run [OUT]" >&2
    exit 2
    ;;
esac
