#!/usr/bin/env bash
# Long fuzzing run of every target at once (the runs recorded in docs/reliability.md).
# Usage: [TARGETS="mat npy ..."] bash longrun.sh SECONDS OUTDIR [WORKERS_PER_TARGET]
# Needs, next to this script: `all` (the `all` target, built with `cargo +nightly fuzz build
# --features calcium all`), `corpus/` (fuzz/corpus) and, where the machine lacks them, the
# shared libraries in `lib/`. Runs libFuzzer's fork mode with crashes, timeouts and OOMs
# recorded rather than stopping the run; writes each target's log and findings to OUTDIR.
set -u
here=$(cd "$(dirname "$0")" && pwd)
secs=$1 out=$2 workers=${3:-2}
targets=${TARGETS:-mat npy csv kilosort_params raw_meta probe suite2p_ops nwb keras_h5}
mkdir -p "$out"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd "$here/all" | grep "not found" && { echo "missing shared libraries"; exit 1; }
echo "cores: $(nproc); targets: $targets; $workers workers each; $secs s"
work=$(mktemp -d)
for t in $targets; do
    mkdir -p "$work/$t" "$out/$t-artifacts"
    cp "$here/corpus/$t/"* "$work/$t/"
    limits=(-malloc_limit_mb=1024)
    asan=${ASAN_OPTIONS:-}
    case $t in
        nwb | keras_h5)
            # libhdf5 1.10.8 leaks on some corrupt files, and asks for huge buffers on others
            # (it copes with NULL, as in normal builds): no leak check (neither libFuzzer's per
            # input nor LeakSanitizer's when a fork-mode job exits), and oversize mallocs
            # return NULL. -detect_leaks=0 also removes libFuzzer's malloc hook, so ASan's
            # max_allocation_size_mb is the limit; Rust's allocator aborts on NULL, so an
            # oversize allocation of spikelab's own stays a finding (a crash).
            limits=(-detect_leaks=0)
            asan="detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=1024${asan:+:$asan}"
            ;;
    esac
    ASAN_OPTIONS=$asan SPIKELAB_FUZZ=$t "$here/all" -fork="$workers" -ignore_crashes=1 \
        -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$secs" -timeout=1 \
        -rss_limit_mb=2048 "${limits[@]}" -artifact_prefix="$out/$t-artifacts/" \
        -print_final_stats=1 "$work/$t" > "$out/$t.log" 2>&1 &
done
wait
for t in $targets; do
    echo "== $t: corpus $(ls "$work/$t" | wc -l) files; findings $(ls "$out/$t-artifacts" | wc -l)"
    grep -E "^#[0-9]+: cov" "$out/$t.log" | tail -1
done
