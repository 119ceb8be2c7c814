#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) on its seed corpus (libFuzzer seed 1, so a
# run is repeatable); new inputs go to a
# scratch folder, not fuzz/corpus. Any crash, out-of-memory or timeout (> 1 s per input) in
# spikelab's code fails. The two HDF5 targets run in fork mode with timeouts ignored:
# libhdf5 1.10.8 (Debian 12) loops on some corrupt files (docs/reliability.md).
# Usage: bash fuzz/smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz > /dev/null || cargo install -q --locked cargo-fuzz
cargo +nightly fuzz build --features calcium
bin=target/x86_64-unknown-linux-gnu/release
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
common=(-seed=1 -max_total_time="$secs" -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1)
for t in mat npy csv kilosort_params suite2p_ops nwb keras_h5; do
    mkdir -p "$scratch/$t"
    extra=()
    case $t in nwb | keras_h5) extra=(-fork=1 -ignore_timeouts=1) ;; esac
    echo "--- $t"
    if ! "$bin/$t" "${common[@]}" "${extra[@]}" -artifact_prefix="$scratch/$t-" \
        "$scratch/$t" "corpus/$t" > "$scratch/$t.log" 2>&1; then
        tail -60 "$scratch/$t.log"
        echo "fuzz target $t failed; its input is in the log above (artifact_prefix)"
        exit 1
    fi
    grep -E "stat::number_of_executed_units|cov: .*ft:" "$scratch/$t.log" | tail -2
done
