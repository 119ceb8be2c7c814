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
targets=${TARGETS:-mat npy csv kilosort_params suite2p_ops nwb keras_h5}
mkdir -p "$out"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd "$here/all" | grep "not found" && { echo "missing shared libraries"; exit 1; }
echo "cores: $(nproc); targets: $targets; $workers workers each; $secs s"
work=$(mktemp -d)
for t in $targets; do
    mkdir -p "$work/$t" "$out/$t-artifacts"
    cp "$here/corpus/$t/"* "$work/$t/"
    SPIKELAB_FUZZ=$t "$here/all" -fork="$workers" -ignore_crashes=1 -ignore_timeouts=1 \
        -ignore_ooms=1 -max_total_time="$secs" -timeout=1 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -artifact_prefix="$out/$t-artifacts/" -print_final_stats=1 \
        "$work/$t" > "$out/$t.log" 2>&1 &
done
wait
for t in $targets; do
    echo "== $t: corpus $(ls "$work/$t" | wc -l) files; findings $(ls "$out/$t-artifacts" | wc -l)"
    grep -E "^#[0-9]+: cov" "$out/$t.log" | tail -1
done
