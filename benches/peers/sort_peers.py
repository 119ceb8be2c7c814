"""spikelab sort vs MountainSort 5 and Tridesclous 2 on the same generated tetrode recordings.

Called by benches/peers/sort.sh (which makes the venv, builds spikelab and generates the
recordings with `spikelab synth recording`). For every recording folder given on the command
line (recording.dat float32 [sample, channel] + recording.json + ground_truth/), it runs:

* `spikelab sort` (the binary in $SPIKELAB, threads $RAYON_NUM_THREADS),
* MountainSort 5 and Tridesclous 2 through spikeinterface's `run_sorter` with their defaults
  (Tridesclous 2 with seed 0),

each timed as wall-clock seconds, and scores every output with spikeinterface's
`compare_sorter_to_ground_truth(exhaustive_gt=True)`: mean accuracy over ground-truth units
(unmatched units count 0), recall, precision, well-detected units (accuracy >= 0.8), false
positive and redundant units. A peer that crashes scores 0 for its units; the error is recorded.

Writes the per-recording, per-sorter numbers as JSON to $SORT_PEERS_OUT and a markdown table
to stdout.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import probeinterface
import spikeinterface
import spikeinterface.core as sc
from spikeinterface.comparison import compare_sorter_to_ground_truth
from spikeinterface.sorters import run_sorter

SPIKELAB = os.environ.get("SPIKELAB", "target/release/spikelab")
OUT = Path(os.environ.get("SORT_PEERS_OUT", "target/peers/sort_peers.json"))
WORK = Path(os.environ.get("SORT_PEERS_WORK", "target/peers/sort_work"))
SORTERS = os.environ.get("SORT_PEERS_SORTERS", "spikelab,mountainsort5,tridesclous2").split(",")


def load(folder: Path):
    meta = json.loads((folder / "recording.json").read_text())
    fs = float(meta["sampling_rate_hz"])
    rec = sc.read_binary(
        folder / meta["data_file"],
        sampling_frequency=fs,
        dtype=meta["dtype"],
        num_channels=int(meta["n_channels"]),
    )
    probe = probeinterface.Probe(ndim=2, si_units="um")
    probe.set_contacts(
        positions=np.asarray(meta["positions_um"], dtype=float),
        shapes="circle",
        shape_params={"radius": float(meta.get("contact_radius_um", 6.0))},
    )
    probe.set_device_channel_indices(np.arange(int(meta["n_channels"])))
    rec.set_probe(probe)  # in place since spikeinterface 0.105
    rec.annotate(is_filtered=False)
    gt_frames = np.load(folder / "ground_truth" / "frames.npy")
    gt_labels = np.load(folder / "ground_truth" / "labels.npy")
    gt = sc.NumpySorting.from_samples_and_labels([gt_frames], [gt_labels], fs)
    return rec, gt, fs


def phy_sorting(folder: Path, fs: float):
    frames = np.load(folder / "spike_times.npy").astype(np.int64).ravel()
    labels = np.load(folder / "spike_clusters.npy").astype(np.int64).ravel()
    return sc.NumpySorting.from_samples_and_labels([frames], [labels], fs)


def score(gt, tested):
    cmp = compare_sorter_to_ground_truth(gt, tested, exhaustive_gt=True)
    perf = cmp.get_performance(method="by_unit")
    return {
        "mean_accuracy": float(perf["accuracy"].mean()),
        "mean_recall": float(perf["recall"].mean()),
        "mean_precision": float(perf["precision"].mean()),
        "accuracy_by_unit": [float(a) for a in perf["accuracy"]],
        "n_units_found": int(len(tested.get_unit_ids())),
        "well_detected": int(len(cmp.get_well_detected_units(well_detected_score=0.8))),
        "false_positive": int(len(cmp.get_false_positive_units())),
        "redundant": int(len(cmp.get_redundant_units())),
    }


def run_one(name: str, folder: Path, rec, gt, fs: float):
    out = WORK / folder.name / name
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if name == "spikelab":
        subprocess.run(
            [SPIKELAB, "sort", "run", str(folder), "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tested = phy_sorting(out, fs)
    elif name == "tridesclous2":
        tested = run_sorter(name, rec, folder=out, remove_existing_folder=True, verbose=False, seed=0)
    else:
        tested = run_sorter(name, rec, folder=out, remove_existing_folder=True, verbose=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, **score(gt, tested)}


def main():
    folders = [Path(p) for p in sys.argv[1:]]
    results = {
        "versions": {
            "spikeinterface": spikeinterface.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "threads": os.environ.get("RAYON_NUM_THREADS"),
        "recordings": {},
    }
    for folder in folders:
        rec, gt, fs = load(folder)
        row = {"duration_s": rec.get_total_duration(), "n_gt_units": len(gt.get_unit_ids())}
        for name in SORTERS:
            try:
                # Peers print progress to stdout; keep stdout for the table.
                with contextlib.redirect_stdout(sys.stderr):
                    row[name] = run_one(name, folder, rec, gt, fs)
            except Exception as e:  # a crash is a result: its units score 0
                row[name] = {
                    "crashed": f"{type(e).__name__}: {e}"[:500],
                    "traceback": traceback.format_exc()[-2000:],
                    "mean_accuracy": 0.0,
                }
            print(f"{folder.name} {name}: {row[name].get('mean_accuracy'):.3f} "
                  f"({row[name].get('seconds', float('nan')):.1f} s)", file=sys.stderr)
        results["recordings"][folder.name] = row
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    print("| recording | " + " | ".join(f"{s} accuracy | {s} s" for s in SORTERS) + " |")
    print("| --- |" + " --- | --- |" * len(SORTERS))
    means = {s: [] for s in SORTERS}
    for rname, row in results["recordings"].items():
        cells = []
        for s in SORTERS:
            r = row[s]
            means[s].append(r["mean_accuracy"])
            cells.append(f"{r['mean_accuracy']:.3f}" + (" (crashed)" if "crashed" in r else ""))
            cells.append(f"{r.get('seconds', float('nan')):.1f}")
        print(f"| {rname} | " + " | ".join(cells) + " |")
    print("| mean | " + " | ".join(f"{np.mean(means[s]):.3f} | " for s in SORTERS) + "|")


if __name__ == "__main__":
    main()
