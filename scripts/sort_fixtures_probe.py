#!/usr/bin/env python3
"""Makes the probeinterface JSON fixtures of spikelab-data's probe reader
(datasets/sort/probe/), for crates/spikelab-data/tests/probe_io.rs.

    /path/to/venv/bin/python scripts/sort_fixtures_probe.py datasets/sort/probe

Needs probeinterface (0.4.2), spikeinterface (0.105.3) and numpy (2.4).

Each probe file is written by probeinterface's write_probeinterface. expected.json holds, per
file, what spikeinterface makes of it: a NumpyRecording with as many channels as the file has
wired contacts gets the file's ProbeGroup (set_probegroup), and get_channel_locations() gives
the position of each recording channel (converted to µm by ×1000 for si_units "mm").
`contact_radius_um` is the first contact's radius (circle) or half width (square, rect), read
from the probeinterface object.

* tetrode.json: generate_tetrode(r=10), wired 0..3 in contact order.
* multi_columns.json: generate_multi_columns_probe (3 columns of 10, 12, 10 square 15-µm
  contacts, y shift −10 µm on the middle one), wired in reverse contact order.
* np1_slice.json: the first 48 contacts of build_neuropixels_probe("NP1000") (staggered
  columns, 12-µm squares), wired by a seeded permutation; 6 contacts unwired (-1).
* group.json: a ProbeGroup of a tetrode (r=7.5, wired to device channels 4..7) and an 8-contact
  linear probe 200 µm to the right (wired to 0..3 and 8..11, interleaved).
* mm_units.json: a 6-contact two-column probe in mm (si_units "mm"), wired 0..5.
* three_d.json: the tetrode moved to 3D (Probe.to_3d); spikelab rejects it.
"""
import json
import sys
from pathlib import Path

import numpy as np
import probeinterface as pi
import spikeinterface as si
from probeinterface import (
    Probe,
    ProbeGroup,
    generate_linear_probe,
    generate_multi_columns_probe,
    generate_tetrode,
    write_probeinterface,
)
from probeinterface.neuropixels_tools import build_neuropixels_probe


def radius(probe):
    shape = probe.contact_shapes[0]
    params = probe.contact_shape_params[0]
    return float(params["radius"]) if shape == "circle" else float(params["width"]) / 2.0


def expected(group, scale):
    n = sum(int((p.device_channel_indices >= 0).sum()) for p in group.probes)
    rec = si.NumpyRecording([np.zeros((10, n), dtype="float32")], sampling_frequency=1000.0)
    rec.set_probegroup(group)
    return {
        "n_channels": rec.get_num_channels(),
        "positions_um": (rec.get_channel_locations() * scale).tolist(),
        "contact_radius_um": radius(group.probes[0]) * scale,
    }


def group_of(*probes):
    g = ProbeGroup()
    for p in probes:
        g.add_probe(p)
    return g


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}

    tet = generate_tetrode(r=10.0)
    tet.set_device_channel_indices(np.arange(4))
    files["tetrode.json"] = (group_of(tet), 1.0)

    mc = generate_multi_columns_probe(
        num_columns=3,
        num_contact_per_column=[10, 12, 10],
        xpitch=20,
        ypitch=20,
        y_shift_per_column=[0, -10, 0],
        contact_shapes="square",
        contact_shape_params={"width": 15},
    )
    mc.set_device_channel_indices(np.arange(mc.get_contact_count())[::-1])
    files["multi_columns.json"] = (group_of(mc), 1.0)

    np1 = build_neuropixels_probe("NP1000").get_slice(np.arange(48))
    rng = np.random.default_rng(18)
    wiring = np.full(48, -1)
    wired = rng.choice(48, size=42, replace=False)
    wiring[wired] = rng.permutation(42)
    np1.set_device_channel_indices(wiring)
    files["np1_slice.json"] = (group_of(np1), 1.0)

    a = generate_tetrode(r=7.5)
    a.set_device_channel_indices([4, 5, 6, 7])
    b = generate_linear_probe(num_elec=8, ypitch=25, contact_shapes="circle",
                              contact_shape_params={"radius": 5})
    b.move([200.0, 0.0])
    b.set_device_channel_indices([0, 8, 1, 9, 2, 10, 3, 11])
    files["group.json"] = (group_of(a, b), 1.0)

    mm = Probe(ndim=2, si_units="mm")
    mm.set_contacts(
        positions=np.array([[0, 0], [0, 0.02], [0, 0.04], [0.03, 0.01], [0.03, 0.03], [0.03, 0.05]]),
        shapes="circle",
        shape_params={"radius": 0.0075},
    )
    mm.set_device_channel_indices(np.arange(6))
    files["mm_units.json"] = (group_of(mm), 1000.0)

    expect = {}
    for name, (group, scale) in files.items():
        write_probeinterface(out / name, group)
        back = pi.read_probeinterface(out / name)
        expect[name] = expected(back, scale)

    t3 = generate_tetrode(r=10.0).to_3d()
    t3.set_device_channel_indices(np.arange(4))
    write_probeinterface(out / "three_d.json", t3)

    with open(out / "expected.json", "w", encoding="utf8") as f:
        json.dump(
            {
                "probeinterface": pi.__version__,
                "spikeinterface": si.__version__,
                "files": expect,
            },
            f,
            indent=1,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "datasets/sort/probe")
