"""Writes the two small spike-sorting fixtures that examples/outside-user reads, from the
bundled synthetic convSeq raster (datasets/convseq/synthetic_demo: 452 neurons, 50-ms bins):
its first 40 neurons as

- datasets/readers/nwb/units_pynwb.nwb: an NWB Units table written by pynwb (not by spikelab);
- datasets/readers/kilosort/: a Kilosort 2.5 / phy folder, laid out as Kilosort writes it
  (spike_times.npy uint64 (n, 1) in samples at 30 kHz, spike_clusters.npy int32 (n,),
  spike_templates.npy uint32 (n, 1), params.py, cluster_KSLabel.tsv, cluster_group.tsv).

Run with the venv of scripts/setup_python.sh: .venv/bin/python scripts/outside_user_data.py
"""

import os
from datetime import datetime, timezone

import numpy as np
from pynwb import NWBFile, NWBHDF5IO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "datasets", "readers")
BIN_S, RATE = 0.05, 30000.0
N_UNITS = 40

ev = np.load(os.path.join(ROOT, "datasets", "convseq", "synthetic_demo", "spikes.npy"))
ev = ev[ev[:, 0] < N_UNITS]
rng = np.random.default_rng(0)
# Spike times inside their bin, so that no two spikes of a unit share a sample.
times = (ev[:, 1] + rng.uniform(0.05, 0.95, len(ev))) * BIN_S
order = np.argsort(times, kind="stable")
units, times = ev[order, 0], times[order]

nwb = NWBFile(session_description="outside-user fixture: 40 units of the synthetic convSeq raster",
              identifier="spikelab-outside-user", session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
for u in range(N_UNITS):
    nwb.add_unit(spike_times=np.sort(times[units == u]))
os.makedirs(os.path.join(OUT, "nwb"), exist_ok=True)
path = os.path.join(OUT, "nwb", "units_pynwb.nwb")
if os.path.exists(path):
    os.remove(path)
with NWBHDF5IO(path, "w") as io:
    io.write(nwb)

ks = os.path.join(OUT, "kilosort")
os.makedirs(ks, exist_ok=True)
clusters = (units * 3 + 1).astype(np.int32)  # cluster ids are not 0..n after phy merges
np.save(os.path.join(ks, "spike_times.npy"), np.round(times * RATE).astype(np.uint64)[:, None])
np.save(os.path.join(ks, "spike_clusters.npy"), clusters)
np.save(os.path.join(ks, "spike_templates.npy"), units.astype(np.uint32)[:, None])
with open(os.path.join(ks, "params.py"), "w") as f:
    f.write("dat_path = 'recording.bin'\nn_channels_dat = 64\ndtype = 'int16'\noffset = 0\n"
            f"sample_rate = {RATE}\nhp_filtered = False\n")
ids = np.unique(clusters)
with open(os.path.join(ks, "cluster_KSLabel.tsv"), "w") as f:
    f.write("cluster_id\tKSLabel\n" + "".join(f"{c}\t{'good' if c % 2 else 'mua'}\n" for c in ids))
with open(os.path.join(ks, "cluster_group.tsv"), "w") as f:
    f.write("cluster_id\tgroup\n" + "".join(f"{c}\tgood\n" for c in ids[:5]))
print(f"{len(times)} spikes of {N_UNITS} units → {path} and {ks}")
