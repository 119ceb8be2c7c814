"""Fixtures for the ground-truth comparison of `spikelab_sort::compare` (issue #18, spec sort.md §1, §11.1).

Run from the repository root with a Python that has spikeinterface 0.105.3, mountainsort5 0.5.9,
scipy 1.17.1, numpy 2.4, numba and hdbscan:

    python scripts/sort_fixtures_metric.py [--work /tmp/sort_fixtures_work]

What it does:
1. Generates 2 recordings of 60 s (`spikeinterface.core.generate_ground_truth_recording`, 4 channels,
   5 units at 5 Hz, 30 kHz, seeds 42 and 43), runs MountainSort 5 and Tridesclous 2 (seed 0) on each
   (a crash is recorded, not hidden) and times them; the recordings stay in the work folder.
2. Adds a perturbed copy of each ground truth (jitter, dropped spikes, a split unit, a merged pair,
   a noise unit), hand-made cases (bursts within the tolerance for the "last match" rule and the
   column clip, ties in the Hungarian assignment, empty units, 25 kHz, other parameters) and small
   random dense cases.
3. For every case stores the spike vectors (frames, labels; int64 .npy) and, in `cases.json`,
   spikeinterface's `compare_sorter_to_ground_truth` outputs (match_event_count, agreement_scores,
   Hungarian match, raw counts, by_unit and pooled_with_average performance, unit classes with
   exhaustive_gt=True), plus the SimSort-variant and detection-level numbers from the small
   reference written below from the spec's description (not from SimSort's code).

Output: datasets/sort/parity/ (spike vectors + cases.json + peers.json). Values only.
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment

import spikeinterface
import spikeinterface.core as sc
from spikeinterface.comparison import compare_sorter_to_ground_truth
from spikeinterface.sorters import run_sorter

OUT = Path(__file__).resolve().parent.parent / "datasets" / "sort" / "parity"
FS = 30000.0
DURATION_S = 60.0
REC_SEEDS = [42, 43]


def spike_vector(sorting):
    """(frames, labels) sorted by frame then unit index, labels are the int64 unit ids."""
    ids = np.asarray(sorting.get_unit_ids())
    frames, labels = [], []
    for u in ids:
        st = np.asarray(sorting.get_unit_spike_train(u), dtype=np.int64)
        frames.append(st)
        labels.append(np.full(st.size, u))
    frames = np.concatenate(frames) if frames else np.zeros(0, np.int64)
    labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    try:
        labels = labels.astype(np.int64)
    except (TypeError, ValueError):
        lut = {u: i for i, u in enumerate(ids)}
        labels = np.array([lut[x] for x in labels], np.int64)
    order = np.lexsort((labels, frames))
    return frames[order].astype(np.int64), labels[order].astype(np.int64)


def make_sorting(frames, labels, fs, unit_ids=None):
    frames = np.asarray(frames, np.int64)
    labels = np.asarray(labels, np.int64)
    order = np.lexsort((labels, frames))
    if unit_ids is None:
        unit_ids = np.unique(labels)
    return sc.NumpySorting.from_samples_and_labels(
        [frames[order]], [labels[order]], fs, unit_ids=np.asarray(unit_ids, np.int64)
    )


# ---------------------------------------------------------------------------------------------
# Independent reference of SimSort's variant and of the detection scorer (spec §1, §11.3).
def greedy_count(gt, test, delta):
    """Test spikes in time order; each takes the earliest not-yet-matched GT spike within ±delta."""
    gt = np.sort(np.asarray(gt, np.int64))
    used = np.zeros(gt.size, bool)
    n = 0
    for t in np.sort(np.asarray(test, np.int64)):
        cand = np.nonzero((~used) & (np.abs(gt - t) <= delta))[0]
        if cand.size:
            used[cand[0]] = True
            n += 1
    return n


def simsort_reference(gf, gl, tf, tl, fs, n_samples, chunk_samples=3_000_000, delta_ms=1.0):
    delta = int(delta_ms / 1000 * fs)
    n_chunks = n_samples // chunk_samples
    chunk_acc = []
    for c in range(n_chunks):
        lo, hi = c * chunk_samples, (c + 1) * chunk_samples
        gm = (gf >= lo) & (gf < hi)
        tm = (tf >= lo) & (tf < hi)
        g_units = np.unique(gl[gm])
        t_units = np.unique(tl[tm])
        if g_units.size == 0:
            continue
        counts = np.zeros((g_units.size, t_units.size))
        for i, g in enumerate(g_units):
            for j, t in enumerate(t_units):
                counts[i, j] = greedy_count(gf[gm & (gl == g)], tf[tm & (tl == t)], delta)
        acc = np.zeros(g_units.size)
        if t_units.size:
            rows, cols = linear_sum_assignment(counts, maximize=True)
            for i, j in zip(rows, cols):
                g_train = gf[gm & (gl == g_units[i])]
                t_train = tf[tm & (tl == t_units[j])]
                m = greedy_count(g_train, t_train, delta)
                miss = g_train.size - m
                fp = t_train.size - m
                acc[i] = m / (m + miss + fp) if (m + miss + fp) > 0 else 0.0
        chunk_acc.append(dict(gt_units=g_units.tolist(), accuracy=acc.tolist(), mean=float(acc.mean())))
    mean = float(np.mean([c["mean"] for c in chunk_acc])) if chunk_acc else None
    return dict(chunk_samples=chunk_samples, delta_ms=delta_ms, chunks=chunk_acc, mean_accuracy=mean)


def detection_reference(gt_frames, det_frames, fs, delta_ms=1.0):
    delta = int(delta_ms / 1000 * fs)
    tp = greedy_count(gt_frames, det_frames, delta)
    fp = len(det_frames) - tp
    fn = len(gt_frames) - tp
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return dict(delta_ms=delta_ms, tp=tp, fp=fp, fn=fn, precision=precision, recall=recall, f1=f1)


# ---------------------------------------------------------------------------------------------
def si_outputs(gt, tested, params):
    cmp = compare_sorter_to_ground_truth(gt, tested, exhaustive_gt=True, **params)
    gt_ids = [int(u) for u in gt.get_unit_ids()]
    t_ids = [int(u) for u in tested.get_unit_ids()]
    raw = cmp.get_performance(method="raw_count")
    by_unit = cmp.get_performance(method="by_unit")
    pooled = cmp.get_performance(method="pooled_with_average")
    keys = ["accuracy", "recall", "precision", "false_discovery_rate", "miss_rate"]
    return dict(
        delta_frames=int(cmp.delta_frames),
        match_event_count=np.asarray(cmp.match_event_count.values, np.int64).tolist(),
        agreement_scores=np.asarray(cmp.agreement_scores.values, np.float64).tolist(),
        hungarian_match_12=[int(cmp.hungarian_match_12[u]) for u in gt.get_unit_ids()],
        best_match_12=[int(cmp.best_match_12[u]) for u in gt.get_unit_ids()],
        best_match_21=[int(cmp.best_match_21[u]) for u in tested.get_unit_ids()],
        raw_count={k: [int(raw.at[u, k]) for u in gt.get_unit_ids()] for k in ["tp", "fn", "fp", "num_gt", "num_tested"]},
        by_unit={k: [float(by_unit.at[u, k]) for u in gt.get_unit_ids()] for k in keys},
        pooled_with_average={k: float(pooled[k]) for k in keys},
        well_detected=[int(u) for u in cmp.get_well_detected_units()],
        false_positive=[int(u) for u in cmp.get_false_positive_units()],
        redundant=[int(u) for u in cmp.get_redundant_units()],
        overmerged=[int(u) for u in cmp.get_overmerged_units()],
        bad=[int(u) for u in cmp.get_bad_units()],
        gt_unit_ids=gt_ids,
        tested_unit_ids=t_ids,
    )


class Writer:
    def __init__(self, out):
        self.out = out
        self.cases = []
        self.vectors = {}

    def vector(self, name, frames, labels):
        if name not in self.vectors:
            np.save(self.out / f"{name}_frames.npy", np.asarray(frames, np.int64))
            np.save(self.out / f"{name}_labels.npy", np.asarray(labels, np.int64))
            self.vectors[name] = True
        return name

    def case(self, name, gt_name, tested_name, gt_vec, t_vec, fs, n_samples, params=None,
             gt_unit_ids=None, tested_unit_ids=None, simsort_chunk=None, note=""):
        params = dict(params or {})
        self.vector(gt_name, *gt_vec)
        self.vector(tested_name, *t_vec)
        gt = make_sorting(*gt_vec, fs, gt_unit_ids)
        tested = make_sorting(*t_vec, fs, tested_unit_ids)
        rec = dict(
            name=name, note=note, gt=gt_name, tested=tested_name, sampling_rate_hz=fs,
            n_samples=int(n_samples),
            gt_unit_ids=[int(u) for u in gt.get_unit_ids()],
            tested_unit_ids=[int(u) for u in tested.get_unit_ids()],
            params=params, spikeinterface=si_outputs(gt, tested, params),
        )
        gf, gl = (np.asarray(a, np.int64) for a in gt_vec)
        tf, tl = (np.asarray(a, np.int64) for a in t_vec)
        if simsort_chunk is not None:
            rec["simsort"] = simsort_reference(gf, gl, tf, tl, fs, n_samples, chunk_samples=simsort_chunk)
        rec["detection"] = detection_reference(gf, tf, fs)
        self.cases.append(rec)


def run_peers(work):
    """Generate both recordings and run the two peers on each (cached in `work`)."""
    peers = []
    recs = {}
    for seed in REC_SEEDS:
        folder = work / f"rec{seed}"
        rec, gt = sc.generate_ground_truth_recording(
            durations=[DURATION_S], sampling_frequency=FS, num_channels=4, num_units=5,
            generate_sorting_kwargs=dict(firing_rates=5.0, refractory_period_ms=4.0), seed=seed,
        )
        if not folder.exists():
            rec.save(folder=folder, n_jobs=1, chunk_duration="10s", progress_bar=False)
        rec = sc.load(folder)
        recs[seed] = (rec, gt)
        for sorter, kw in [("mountainsort5", {}), ("tridesclous2", dict(seed=0))]:
            res_file = work / f"rec{seed}_{sorter}.npz"
            info_file = work / f"rec{seed}_{sorter}.json"
            if not info_file.exists():
                t0 = time.perf_counter()
                info = dict(recording_seed=seed, sorter=sorter, params=kw)
                try:
                    s = run_sorter(sorter, rec, folder=str(work / f"out_{seed}_{sorter}"),
                                   remove_existing_folder=True, verbose=False, **kw)
                    f, l = spike_vector(s)
                    np.savez(res_file, frames=f, labels=l)
                    info["status"] = "ok"
                except Exception as e:  # a crash is a result
                    info["status"] = f"crashed: {type(e).__name__}: {str(e)[:300]}"
                info["wall_s"] = time.perf_counter() - t0
                info_file.write_text(json.dumps(info))
            peers.append(json.loads(info_file.read_text()))
    return recs, peers


def perturb(frames, labels, rng, n_samples):
    """First 20 s only; jitter, drop 15 %, split the first unit in two, merge units 2 and 3, add a
    noise unit."""
    first = frames < n_samples // 3
    frames, labels = frames[first], labels[first]
    f = frames + rng.integers(-15, 16, frames.size)
    keep = (rng.random(f.size) > 0.15) & (f >= 0) & (f < n_samples)
    f, l = f[keep], labels[keep].copy()
    ids = np.unique(labels)
    first = l == ids[0]
    l[first & (rng.random(l.size) < 0.5)] = 100
    l[l == ids[3]] = ids[2]
    noise = np.sort(rng.integers(0, n_samples // 3, 70))
    f = np.concatenate([f, noise])
    l = np.concatenate([l, np.full(noise.size, 200)])
    o = np.lexsort((l, f))
    return f[o], l[o]


def hand_cases(w):
    fs = FS
    n = 10_000
    # Bursts within delta (12 frames at 30 kHz): the "last match" rule and the column clip.
    g = ([100, 105, 110, 300, 500, 508, 516, 524, 2000, 2000, 3000], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    t = ([104, 107, 305, 512, 2001, 2001, 3012, 3013, 3100], [5, 5, 5, 5, 5, 6, 6, 7, 7])
    w.case("burst_last_match", "burst_gt", "burst_tested", g, t, fs, n,
           note="GT bursts within delta; a tested spike counted twice and clipped")
    g2 = ([10, 20, 30, 40, 50, 60, 70], [0] * 7)
    t2 = ([15, 45], [1, 1])
    w.case("burst_clip", "clip_gt", "clip_tested", g2, t2, fs, n, note="dense GT burst, 2 tested spikes: clip")
    # Ties in the assignment: two tested copies of one GT unit, and a square tie.
    a = np.arange(50, 9000, 173)
    b = np.arange(80, 9000, 211)
    gt = (np.concatenate([a, b]), np.concatenate([np.zeros(a.size, int), np.ones(b.size, int)]))
    tt = (np.concatenate([a, a, b]), np.concatenate([np.full(a.size, 3), np.full(a.size, 4), np.full(b.size, 9)]))
    w.case("tie_duplicate_tested", "tie_gt", "tie_tested", gt, tt, fs, n,
           note="tested 3 and 4 are identical copies of GT 0")
    tt2 = (np.concatenate([a, b, a, b]), np.concatenate([np.full(a.size, 1), np.full(b.size, 1),
                                                        np.full(a.size, 2), np.full(b.size, 2)]))
    w.case("tie_merged_copies", "tie_gt", "tie_merged", gt, tt2, fs, n,
           note="two identical merged units: equal agreements everywhere, overmerged")
    gt3 = (np.concatenate([a, a]), np.concatenate([np.zeros(a.size, int), np.ones(a.size, int)]))
    tt3 = (a, np.zeros(a.size, int))
    w.case("tie_duplicate_gt", "tie_dup_gt", "tie_single", gt3, tt3, fs, n,
           note="two identical GT units, one tested: a tall matrix")
    # Empty units via explicit unit ids; empty tested sorting.
    w.case("empty_units", "tie_gt", "tie_tested", gt, tt, fs, n, gt_unit_ids=[0, 1, 7],
           tested_unit_ids=[3, 4, 9, 11], note="GT unit 7 and tested unit 11 have no spikes")
    w.case("empty_tested", "tie_gt", "empty", gt, ([], []), fs, n, tested_unit_ids=[],
           note="tested sorting without units")
    # Other sampling rate and parameters.
    g25 = ([10, 400, 1000, 1011, 5000], [1, 1, 2, 2, 2])
    t25 = ([20, 405, 1009, 1010, 5010, 5011], [0, 0, 1, 1, 1, 0])
    w.case("fs25k", "fs25_gt", "fs25_tested", g25, t25, 25000.0, 6000, note="25 kHz: delta 10 frames")
    w.case("params_custom", "tie_gt", "tie_merged", gt, tt2, fs, n,
           params=dict(delta_time=0.8, match_score=0.3, well_detected_score=0.9, redundant_score=0.1,
                       overmerged_score=0.3, chance_score=0.05), note="non-default parameters")
    w.case("match_mode_best", "tie_gt", "tie_merged", gt, tt2, fs, n, params=dict(match_mode="best"),
           note="counts from the best match: both GT units take tested unit 1")


def random_cases(w, rng, n_cases=8):
    """GT spikes with bursts; tested = jittered copies relabelled (merges, splits, flips) + noise."""
    for k in range(n_cases):
        fs = FS
        n = 30_000
        ng = int(rng.integers(2, 6))
        nt = max(1, ng + int(rng.integers(-1, 3)))
        base = rng.integers(0, n - 20, rng.integers(60, 200))
        gl = rng.integers(0, ng, base.size)
        burst = rng.random(base.size) < 0.25  # a second spike of the same unit 3-10 frames later
        base = np.concatenate([base, base[burst] + rng.integers(3, 11, burst.sum())])
        gl = np.concatenate([gl, gl[burst]])
        o = np.lexsort((gl, base))
        base, gl = base[o], gl[o]
        keep = rng.random(base.size) < 0.85
        tf = base[keep] + rng.integers(-10, 11, keep.sum())
        far = rng.random(tf.size) < 0.1
        tf[far] += rng.integers(-40, 41, far.sum())
        lut = rng.permutation(max(ng, nt))[:ng] % nt
        tl = lut[gl[keep]]
        flip = rng.random(tl.size) < 0.08
        tl[flip] = rng.integers(0, nt, flip.sum())
        extra = rng.integers(0, n, rng.integers(0, 40))
        tf = np.concatenate([tf, extra])
        tl = np.concatenate([tl, rng.integers(0, nt, extra.size)])
        ok = (tf >= 0) & (tf < n)
        tf, tl = tf[ok], tl[ok]
        o = np.lexsort((tl, tf))
        w.case(f"random_{k}", f"random{k}_gt", f"random{k}_tested", (base, gl), (tf[o], tl[o]), fs, n,
               simsort_chunk=10_000, note="random spikes with bursts; SimSort variant with 10 000-sample chunks")


def lsap_cases(rng, n_cases=40):
    """scipy.optimize.linear_sum_assignment on small matrices with many ties (all shapes)."""
    out = []
    for k in range(n_cases):
        nr, nc = rng.integers(1, 7, 2)
        if k % 2:
            cost = rng.integers(0, 3, (nr, nc)).astype(float)
        else:
            cost = np.round(rng.random((nr, nc)), 1) * (rng.random((nr, nc)) < 0.6)
        rows, cols = linear_sum_assignment(cost)
        out.append(dict(cost=cost.tolist(), rows=rows.tolist(), cols=cols.tolist()))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/sort_fixtures_work")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if OUT.exists():
        for p in OUT.glob("*.npy"):
            p.unlink()
    OUT.mkdir(parents=True, exist_ok=True)

    recs, peers = run_peers(work)
    w = Writer(OUT)
    n_samples = int(DURATION_S * FS)
    rng = np.random.default_rng(2026)
    peer_table = []
    for seed in REC_SEEDS:
        rec, gt = recs[seed]
        gvec = spike_vector(gt)
        for p in peers:
            if p["recording_seed"] != seed:
                continue
            row = dict(p)
            if p["status"] == "ok":
                d = np.load(work / f"rec{seed}_{p['sorter']}.npz")
                tvec = (d["frames"], d["labels"])
                name = f"rec{seed}_{p['sorter']}"
                w.case(name, f"rec{seed}_gt", name, gvec, tvec, FS, n_samples, simsort_chunk=600_000,
                       note=f"{p['sorter']} on generated recording seed {seed}; SimSort variant with 20-s chunks")
                si = w.cases[-1]["spikeinterface"]
                row.update(
                    num_gt=len(si["gt_unit_ids"]), num_tested=len(si["tested_unit_ids"]),
                    accuracy_by_unit=si["by_unit"]["accuracy"],
                    pooled_with_average=si["pooled_with_average"],
                    num_well_detected=len(si["well_detected"]), num_false_positive=len(si["false_positive"]),
                    num_redundant=len(si["redundant"]), num_overmerged=len(si["overmerged"]),
                    simsort_mean_accuracy_20s_chunks=w.cases[-1]["simsort"]["mean_accuracy"],
                    detection_f1=w.cases[-1]["detection"]["f1"],
                )
            peer_table.append(row)
        if seed == REC_SEEDS[0]:
            pvec = perturb(gvec[0], gvec[1], rng, n_samples)
            first = gvec[0] < n_samples // 3
            g20 = (gvec[0][first], gvec[1][first])
            w.case(f"rec{seed}_perturbed", f"rec{seed}_gt_first20s", f"rec{seed}_perturbed", g20, pvec, FS,
                   n_samples,
                   simsort_chunk=600_000,
                   note="first 20 s of the GT jittered ±15 frames, 15 % dropped, a split, a merge, a noise unit")
    hand_cases(w)
    random_cases(w, rng)

    lsap = lsap_cases(rng)
    meta = dict(
        versions=dict(spikeinterface=spikeinterface.__version__, scipy=scipy.__version__, numpy=np.__version__,
                      mountainsort5=__import__("mountainsort5").__version__),
        recordings=dict(durations_s=DURATION_S, sampling_frequency=FS, num_channels=4, num_units=5,
                        firing_rates_hz=5.0, seeds=REC_SEEDS),
        exhaustive_gt=True,
        cases=w.cases,
        lsap=lsap,
    )
    (OUT / "cases.json").write_text(json.dumps(meta, separators=(",", ":")))
    (OUT / "peers.json").write_text(json.dumps(peer_table, indent=1))
    print(json.dumps(peer_table, indent=1))
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(w.cases)} cases, {total / 1024:.1f} KiB in {OUT}")


if __name__ == "__main__":
    main()
