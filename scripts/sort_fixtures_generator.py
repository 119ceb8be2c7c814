#!/usr/bin/env python3
"""Parity fixtures of spikeinterface's ground-truth recording generator for spikelab-synth.

Versions: spikeinterface 0.105.3, probeinterface 0.4.2, numpy 2.4.6 (Python 3.11).

Usage: ``python scripts/sort_fixtures_generator.py OUT_DIR`` (the repository stores the output
under ``datasets/sort/generator/``). It writes:

* ``injection/``: ``generate_ground_truth_recording`` (0.3 s, 25 kHz, 4 channels in the default
  2 x 2 probe, 3 units at 40 Hz, refractory 4 ms, seed 42) with ``noise_levels=0``, so the traces
  are the injected templates alone:
  ``traces.npy`` (float32, [sample, channel]), ``templates.npy`` (float32, [unit, sample,
  channel]), ``spike_frames.npy`` (int64), ``spike_units.npy`` (int64), ``unit_locations.npy``
  (float32, [unit, xyz] µm), ``channel_locations.npy`` (float64) and ``meta.json`` (nbefore,
  sampling rate, main channels).
* ``templates_<name>/``: ``generate_templates`` alone with the per-unit parameters drawn by
  spikeinterface (``params.json``, one list per parameter) and the unit locations
  (``unit_locations.npy``) and channel locations (``channel_locations.npy``): ``templates.npy``.
  Cases: ``fs30k`` (8 units, 30 kHz, 1 + 3 ms, even width) and ``fs10k_odd`` (5 units, 10 kHz,
  1 + 2.5 ms, odd width 35, which takes the other branch of the sub-sample shift).
"""

import json
import os
import sys

import numpy as np

import spikeinterface
from spikeinterface.core.generate import (
    _ensure_unit_params,
    generate_ground_truth_recording,
    generate_templates,
    generate_unit_locations,
)
from probeinterface import generate_multi_columns_probe


def injection(out):
    os.makedirs(out, exist_ok=True)
    seed = 42
    fs = 25000.0
    rec, sorting = generate_ground_truth_recording(
        durations=[0.3],
        sampling_frequency=fs,
        num_channels=4,
        num_units=3,
        generate_sorting_kwargs=dict(firing_rates=40.0, refractory_period_ms=4.0),
        noise_kwargs=dict(noise_levels=0.0, strategy="on_the_fly"),
        seed=seed,
    )
    traces = rec.get_traces()
    assert traces.dtype == np.float32
    # The recording's internal injection object holds the exact templates it used.
    templates = np.asarray(rec.templates, dtype=np.float32)
    sv = sorting.to_spike_vector()
    np.save(os.path.join(out, "traces.npy"), traces)
    np.save(os.path.join(out, "templates.npy"), templates)
    np.save(os.path.join(out, "spike_frames.npy"), sv["sample_index"].astype(np.int64))
    np.save(os.path.join(out, "spike_units.npy"), sv["unit_index"].astype(np.int64))
    np.save(
        os.path.join(out, "unit_locations.npy"),
        np.asarray(sorting.get_property("gt_unit_locations"), dtype=np.float32),
    )
    np.save(os.path.join(out, "channel_locations.npy"), rec.get_channel_locations().astype(np.float64))
    meta = dict(
        spikeinterface=spikeinterface.__version__,
        numpy=np.__version__,
        seed=seed,
        sampling_rate_hz=fs,
        duration_s=0.3,
        n_samples=int(rec.get_num_samples()),
        nbefore=int(rec._recording_segments[0].nbefore),
        ms_before=1.0,
        ms_after=3.0,
        firing_rate_hz=40.0,
        refractory_ms=4.0,
        main_channel=[int(c) for c in sorting.get_property("main_channel_id")],
    )
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def templates_case(out, n_units, fs, ms_before, ms_after, seed):
    os.makedirs(out, exist_ok=True)
    probe = generate_multi_columns_probe(
        num_columns=2, num_contact_per_column=[2, 2], xpitch=20, ypitch=20,
        contact_shapes="circle", contact_shape_params={"radius": 6},
    )
    ch = probe.contact_positions.astype(np.float64)
    locs = generate_unit_locations(
        n_units, ch, margin_um=10.0, minimum_z=5.0, maximum_z=50.0, minimum_distance=20, seed=seed
    )
    templates = generate_templates(ch, locs, fs, ms_before, ms_after, seed=seed, dtype="float32")
    params = _ensure_unit_params(dict(), n_units, seed)
    np.save(os.path.join(out, "templates.npy"), templates.astype(np.float32))
    np.save(os.path.join(out, "unit_locations.npy"), locs.astype(np.float32))
    np.save(os.path.join(out, "channel_locations.npy"), ch)
    meta = dict(
        spikeinterface=spikeinterface.__version__,
        seed=seed,
        sampling_rate_hz=fs,
        ms_before=ms_before,
        ms_after=ms_after,
        params={k: [float(x) for x in v] for k, v in params.items()},
    )
    with open(os.path.join(out, "params.json"), "w") as f:
        json.dump(meta, f, indent=1)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    injection(os.path.join(out, "injection"))
    templates_case(os.path.join(out, "templates_fs30k"), 8, 30000.0, 1.0, 3.0, 7)
    templates_case(os.path.join(out, "templates_fs10k_odd"), 5, 10000.0, 1.0, 2.5, 11)


if __name__ == "__main__":
    main()
