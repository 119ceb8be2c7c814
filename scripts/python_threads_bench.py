"""Benchmark: two convSeq fits in two Python threads against one fit, and the same in two
processes (which share no GIL), with one rayon thread per fit.

    RAYON_NUM_THREADS=1 python scripts/python_threads_bench.py

needs the `spikelab` wheel installed (`scripts/python_package.sh` builds it). Prints one JSON
line: the times and the two ratios. With the GIL released both ratios are about 1 on a machine
with two free cores; with the GIL held the thread ratio would be 2. Speed depends on the other
load of the machine, so this is a benchmark, not a test (`tests/test_gil.py` checks the GIL
release itself).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import spikelab


def long_fit() -> None:
    raster, bin_s, _ = spikelab.synth.sequences(seed=0, neurons=100, bins=4000, seqlen=20, gap_bins=150)
    spikelab.convseq.fit(raster, bin_s, width_bins=60, tv_l=1.0, epochs=5000, alpha={"n_samples": 100})


def main() -> None:
    if sys.argv[1:] == ["once"]:
        long_fit()
        return
    long_fit()  # warm-up: imports, allocator
    t0 = time.perf_counter()
    long_fit()
    one = time.perf_counter() - t0
    threads = [threading.Thread(target=long_fit) for _ in range(2)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    two_threads = time.perf_counter() - t0
    cmd = [sys.executable, __file__, "once"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    one_proc = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd) for _ in range(2)]
    if not all(p.wait() == 0 for p in procs):
        sys.exit("a fit process failed")
    two_procs = time.perf_counter() - t0
    print(json.dumps({
        "one_s": one, "two_threads_s": two_threads, "thread_ratio": two_threads / one,
        "one_proc_s": one_proc, "two_procs_s": two_procs, "process_ratio": two_procs / one_proc,
    }))


if __name__ == "__main__":
    main()
