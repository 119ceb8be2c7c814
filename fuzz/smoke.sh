#!/usr/bin/env bash
# Runs every fuzz target on its seed corpus; new inputs go to a scratch folder, not fuzz/corpus.
# The in-process targets run a fixed number of inputs from libFuzzer seed 1 (about 25 s each on
# one core here; the inputs explored still vary a little between runs).
# Any crash, out-of-memory or timeout (> 1 s per input) in spikelab's code fails. The two HDF5 targets run in fork mode with timeouts and leak checks
# off, and with oversize mallocs returning NULL: libhdf5 1.10.8 (Debian 12) loops on some
# corrupt files, leaks a few hundred bytes of its own allocations on others, and asks for
# huge buffers it then does without (docs/reliability.md).
# Usage: bash fuzz/smoke.sh [SECONDS]   (SECONDS: the two HDF5 targets' time, default 30)
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz > /dev/null || cargo install -q --locked cargo-fuzz
cargo +nightly fuzz build --features calcium
bin=target/x86_64-unknown-linux-gnu/release
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
common=(-seed=1 -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1)
for t in mat npy csv kilosort_params raw_meta probe suite2p_ops nwb keras_h5; do
    mkdir -p "$scratch/$t"
    extra=()
    case $t in
        mat) extra=(-runs=200000) ;;
        npy) extra=(-runs=180000) ;;
        csv) extra=(-runs=130000) ;;
        kilosort_params) extra=(-runs=1000000) ;;
        raw_meta) extra=(-runs=100000) ;;
        probe) extra=(-runs=15000) ;;
        suite2p_ops) extra=(-runs=350000) ;;
        nwb | keras_h5) extra=(-max_total_time="$secs" -fork=1 -ignore_timeouts=1 -detect_leaks=0) ;;
    esac
    # HDF5 targets: -detect_leaks=0 also removes libFuzzer's malloc hook (-malloc_limit_mb),
    # so ASan's max_allocation_size_mb is the limit, returning NULL as normal builds do;
    # libhdf5 copes, Rust's allocator aborts (spikelab's own oversize allocations still fail).
    asan=${ASAN_OPTIONS:-}
    [[ $t == nwb || $t == keras_h5 ]] && asan="detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=1024${asan:+:$asan}"
    echo "--- $t"
    status=0
    ASAN_OPTIONS=$asan "$bin/$t" "${common[@]}" "${extra[@]}" -artifact_prefix="$scratch/$t-" \
        "$scratch/$t" "corpus/$t" > "$scratch/$t.log" 2>&1 || status=$?
    if [[ " ${extra[*]} " == *" -fork=1 "* ]]; then
        # Fork mode ends with the timeout exit code when a job timed out (ignored here): judge
        # by the last status line's out-of-memory and crash counts instead.
        counts=$(grep -oE "oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+" "$scratch/$t.log" | tail -1 | cut -d' ' -f2)
        IFS=/ read -r ooms timeouts crashes <<< "${counts:-1/0/1}"
        echo "fork mode: $ooms out-of-memory, $timeouts timeouts (libhdf5, ignored), $crashes crashes"
        [ "$ooms" = 0 ] && [ "$crashes" = 0 ] && status=0 || status=1
    fi
    if [ "$status" != 0 ]; then
        tail -60 "$scratch/$t.log"
        echo "fuzz target $t failed; its input is in the log above (artifact_prefix)"
        exit 1
    fi
    grep -E "stat::number_of_executed_units|cov: .*ft:" "$scratch/$t.log" | tail -2
done
