#!/usr/bin/env bash
# POYO on the bundled CA1 raster on an NVIDIA GPU (issue #17: test R² ≥ 0.90 at 1-s and ≥ 0.96
# at 4-s context; unit identification on the odd units ≥ 0.75, above POYO from scratch).
#
#   bash scripts/gpu_poyo.sh build            # where a CUDA toolkit is set up (docs/benchmarks.md)
#   bash scripts/gpu_poyo.sh start OUT [RUNS] # on the GPU host: runs in the background
#   bash scripts/gpu_poyo.sh status OUT       # last lines of every run
#   bash scripts/gpu_poyo.sh speed OUT        # alone on the GPU: our training step, then
#                                             # torch-brain's (benches/peers/poyo_torch.py)
#
# `build` makes target-cuda/release/examples/poyo_ca1; POYO_BIN points the other steps at it
# (a `.xz` is unpacked to /tmp first) and CUDA_RUN names a launcher that finds the CUDA
# libraries on a host without a toolkit. `start` launches each run of RUNS (default
# "full1 full4 transfer scratch") as its own process session sharing the GPU, logging to
# OUT/RUN.log:
#   full1     740 of 2 500 OneCycle steps, 1-s context, all 452 units
#   full4     the same with 4-s context (512 latents), in passes of 32 windows (one pass of
#             128 needs more than 80 GB)
#   transfer  POYO on the even units (376 of 2 500 steps), then unit identification on the
#             odd units with 20 % of the training frames (1 250 steps)
#   scratch   POYO from scratch on the odd units' 20 % (735 of 1 250 steps)
# `speed` runs 100 steps of `full 1`, SPEED_STEPS_4S (default 40) steps of the 4-s run in passes
# of 32 windows, and then the torch-brain peer (1-s and 4-s context, 50
# timed steps after 10 warm-up steps each), one after the other, each alone on the GPU; our
# example prints the mean seconds per step every 20 steps (tokenization included), so the
# steady rate is the difference between its step-20 and step-100 lines. The peer needs
# torch-brain 0.2.1 importable (`pip install --no-deps --target DIR torch_brain-0.2.1-*.whl`,
# DIR on PYTHONPATH; the script stubs the `ray` import it does not use).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="${POYO_BIN:-target-cuda/release/examples/poyo_ca1}"
if [[ "$bin" == *.xz ]]; then
    unpacked="/tmp/$(basename "$bin" .xz)"
    [ -x "$unpacked" ] || { xz -dc "$bin" > "$unpacked.tmp" && chmod +x "$unpacked.tmp" && mv "$unpacked.tmp" "$unpacked"; }
    bin="$unpacked"
fi
case "${1:-}" in
build)
    : "${CUDA_HOME:?set CUDA_HOME to a CUDA 13.0 toolkit}"
    cargo build --release --features cuda -p spikelab-decode --example poyo_ca1 \
        --target-dir target-cuda
    ;;
start)
    out="${2:?OUT}"
    mkdir -p "$out"
    for run in ${3:-full1 full4 transfer scratch}; do
        case "$run" in
        full1) args=(full 1 740 2500 cuda) ;;
        full4) args=(full 4 740 2500 cuda 128 32) ;;
        transfer) args=(transfer 376 1250 cuda) ;;
        scratch) args=(scratch 735 1250 cuda) ;;
        *) echo "unknown run $run" >&2; exit 2 ;;
        esac
        launcher=()
        [ -n "${CUDA_RUN:-}" ] && launcher=(bash "$CUDA_RUN")
        setsid nohup "${launcher[@]}" "$bin" "${args[@]}" > "$out/$run.log" 2>&1 < /dev/null &
    done
    ;;
speed)
    out="${2:?OUT}"
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
    launcher=()
    [ -n "${CUDA_RUN:-}" ] && launcher=(bash "$CUDA_RUN")
    "${launcher[@]}" "$bin" full 1 100 2500 cuda 2>&1 | tee "$out/speed_ours_1s.log"
    "${launcher[@]}" "$bin" full 4 "${SPEED_STEPS_4S:-40}" 2500 cuda 128 32 2>&1 | tee "$out/speed_ours_4s.log"
    for ctx in 1.0 4.0; do
        python3 benches/peers/poyo_torch.py --device cuda --context "$ctx" --steps 50 --warmup 10 \
            2>&1 | tee "$out/speed_torch_${ctx}s.json"
    done
    ;;
status)
    out="${2:?OUT}"
    for f in "$out"/*.log; do
        echo "== $f"
        tail -n 4 "$f"
    done
    ;;
*)
    echo "usage: $0 build | start OUT [RUNS] | status OUT | speed OUT" >&2
    exit 2
    ;;
esac
