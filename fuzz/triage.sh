#!/usr/bin/env bash
# Classifies a fuzz run's findings: runs each crash-/oom-/timeout-/leak- input once and names
# the first frame below the allocator, sanitizer and Rust runtime frames, with its owner:
# libhdf5 (an H5* C function), hdf5-metno (the Rust binding) or spikelab.
# Usage: bash fuzz/triage.sh ARTIFACT_DIR TARGET [BINARY]
#   BINARY: the `all` target (default: next to this script, else the cargo-fuzz build).
# Prints one line per input (name, kind, owner, frame, frame with its address), then counts
# per (kind, owner, frame).
set -u
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 target=$2
bin=${3:-}
[ -z "$bin" ] && { [ -x "$here/all" ] && bin=$here/all || bin=$here/target/x86_64-unknown-linux-gnu/release/all; }
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The frames that say nothing about who is at fault.
skip='__memcpy|__memmove|/string/|__asan|__interceptor|___interceptor|__sanitizer|__lsan|fuzzer::|libfuzzer_sys|std::|core::|alloc::|__rust|__rdl|__rg_|_rust_|rust_begin_unwind|rust_oom|in (malloc|calloc|realloc|free|memcpy|memmove|memset|strdup|abort|raise|__pthread_kill_implementation|operator new)\b|/libc\.so|libc_start|_start\b|/rustc/|hdf5-metno.*/(container|dataset)\.rs|^ *$'
near() {
    nm -D --defined-only "$1" | python3 -c '
import bisect, sys
t = int(sys.argv[1], 16)
syms = sorted((int(a, 16), n.split("@")[0]) for a, k, n in (l.split() for l in sys.stdin) if k in "tTwW")
i = bisect.bisect_right(syms, (t, "~")) - 1
print(syms[i][1] if i >= 0 else "?")' "$2"
}
for f in "$dir"/crash-* "$dir"/oom-* "$dir"/timeout-* "$dir"/leak-*; do
    [ -e "$f" ] || continue
    kind=$(basename "$f" | cut -d- -f1)
    # libFuzzer's own limits (its malloc hook, which names the allocating stack, is only
    # installed while its leak check is on); LeakSanitizer at exit only for leak- inputs.
    leaks=0
    [ "$kind" = leak ] && leaks=1
    ASAN_OPTIONS=detect_leaks=$leaks RUST_BACKTRACE=1 SPIKELAB_FUZZ=$target timeout 60 "$bin" \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=5 "$f" > "$tmp/out" 2>&1
    out=$tmp/out
    if grep -q "panicked at" "$out"; then
        what="panic: $(grep -m1 -A1 'panicked at' "$out" | tail -1 | cut -c1-60)"
        frame=$(grep -m1 -E '^ +at .*(/crates/spikelab|hdf5-metno)' "$out" | sed -E 's/^ +at //; s|.*/(crates/)|\1|; s|.*/(hdf5-metno)|\1|')
    elif grep -q "out-of-memory (malloc" "$out"; then
        what="malloc over limit"
        frame=$(sed -n '/out-of-memory (malloc/,$p' "$out" | grep -E '^ +#[0-9]+ ' | grep -vE "$skip" | head -1)
    elif grep -q "memory allocation of .* failed" "$out"; then
        what="Rust allocation failure"
        frame=$(grep -m1 -E '^ +at .*(/crates/spikelab|hdf5-metno)' "$out" | sed -E 's/^ +at //')
    elif grep -q "ERROR: AddressSanitizer" "$out"; then
        what=$(grep -m1 -oE "SUMMARY: AddressSanitizer: [A-Za-z-]+" "$out" | cut -d' ' -f3)
        frame=$(sed -n '/ERROR: AddressSanitizer/,$p' "$out" | grep -E '^ +#[0-9]+ ' | grep -vE "$skip" | head -1)
    elif grep -q "ERROR: libFuzzer: timeout" "$out"; then
        what="timeout (> 5 s)"
        frame=$(sed -n '/ERROR: libFuzzer: timeout/,$p' "$out" | grep -E '^ +#[0-9]+ ' | grep -vE "$skip" | head -1)
    elif grep -q "ERROR: LeakSanitizer" "$out"; then
        what="leak"
        frame=$(sed -n '/ERROR: LeakSanitizer/,$p' "$out" | grep -E '^ +#[0-9]+ ' | grep -vE "$skip" | head -1)
    elif grep -q "ERROR: libFuzzer: out-of-memory" "$out"; then
        what="rss over limit"
        frame=""
    elif grep -q "Executed .* in" "$out"; then
        what="no longer reproduces"
        frame=""
    else
        what="other: $(grep -m1 -E 'ERROR|SUMMARY' "$out" | cut -c1-60)"
        frame=""
    fi
    # Function and source file:line (or shared library) of the frame.
    fn=$(sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ +(in )?//; s/ \(BuildId.*//; s| /[^ ]*/([^/ ]+)$| \1|; s|\(/[^)]*/|(|' <<< "$frame")
    # libhdf5's internal (static) functions have no symbol: name the exported one before them.
    if [[ $fn =~ ^\((libhdf5[^+]*)\+(0x[0-9a-f]+)\)$ ]]; then
        lib=$(grep -m1 -oE "/[^ ]*/${BASH_REMATCH[1]}" "$out")
        fn="$fn after $(near "$lib" "${BASH_REMATCH[2]}")"
    fi
    case "$frame" in
        *libhdf5* | *" H5"*) owner=libhdf5 ;;
        *hdf5-metno* | *hdf5_metno*) owner=hdf5-metno ;;
        *spikelab*) owner=spikelab ;;
        *) owner=unknown ;;
    esac
    [ -z "$frame" ] && owner=-
    short=$(sed -E 's/ ?\([^)]*\+0x[0-9a-f]+\) ?//' <<< "$fn")
    printf '%s\t%s\t%s\t%s\t%s\n' "$(basename "$f" | cut -c1-18)" "$what" "$owner" "${short:--}" "$fn" \
        | tee -a "$tmp/all"
done
echo "== $target: count, kind, owner, frame"
[ -s "$tmp/all" ] && cut -f2-4 "$tmp/all" | sort | uniq -c | sort -rn
