#!/usr/bin/env python3
"""pynwb side of the spikelab NWB interop tests (crates/spikelab-data/tests/nwb_pynwb.rs).

Subcommands (all print JSON on stdout, diagnostics on stderr):

  read FILE             open FILE with pynwb's NWBHDF5IO(...).read() and dump what it sees:
                        units (ids, spike times per unit, electrode rows per unit,
                        observation intervals) and every RoiResponseSeries (path, shape,
                        rate, starting_time, number of ROIs, data). Float arrays are given
                        as IEEE-754 float64 bit patterns (unsigned 64-bit integers) so they
                        compare exactly, NaN included.
  validate FILE         run pynwb's schema validator; exit status 1 if it reports errors.
  write FILE TRUTH      write a reference NWB file with pynwb (ragged units including an empty
                        one, electrodes, a Fluorescence series with rate and NaN padding, a
                        DfOverF series with timestamps) and the values it wrote to TRUTH (JSON).

Set up the interpreter with `bash scripts/setup_python.sh`.
"""

import json
import struct
import sys
import warnings


def _bits(values):
    """float64 values as their IEEE-754 bit patterns (u64): exact through any JSON parser,
    NaN included."""
    return [struct.unpack("<Q", struct.pack("<d", float(v)))[0] for v in values]


def cmd_read(path):
    from pynwb import NWBHDF5IO

    out = {"units": None, "series": [], "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with NWBHDF5IO(path, "r") as io:
            nwb = io.read()
            out["identifier"] = nwb.identifier
            out["session_description"] = nwb.session_description
            out["session_start_time"] = nwb.session_start_time.isoformat()
            units = nwb.units
            if units is not None:
                n = len(units)
                u = {
                    "ids": [int(i) for i in units.id[:]],
                    "spike_times": [_bits(units["spike_times"][i]) for i in range(n)],
                    "electrodes": None,
                    "electrode_group": None,
                    "obs_intervals": None,
                }
                if "electrodes" in units.colnames:
                    # units["electrodes"] is the VectorIndex; its target is the
                    # DynamicTableRegion of row indices into the electrodes table.
                    index = units["electrodes"]
                    ends = [int(e) for e in index.data[:]]
                    region = [int(r) for r in index.target.data[:]]
                    u["electrodes"] = [region[s:e] for s, e in zip([0] + ends[:-1], ends)]
                    groups = units["electrodes"][0]["group"]
                    u["electrode_group"] = groups.iloc[0].name if len(groups) else None
                if "obs_intervals" in units.colnames:
                    u["obs_intervals"] = [
                        [_bits([a, b]) for a, b in units["obs_intervals"][i]] for i in range(n)
                    ]
                out["units"] = u
            for mod_name, module in sorted(nwb.processing.items()):
                for iface_name, iface in sorted(module.data_interfaces.items()):
                    if type(iface).__name__ not in ("Fluorescence", "DfOverF"):
                        continue
                    for s_name, s in sorted(iface.roi_response_series.items()):
                        data = s.data[:]
                        out["series"].append({
                            "path": f"/processing/{mod_name}/{iface_name}/{s_name}",
                            "shape": list(data.shape),
                            "dtype": str(data.dtype),
                            "rate": None if s.rate is None else float(s.rate),
                            "starting_time": None if s.starting_time is None else float(s.starting_time),
                            "n_rois": len(s.rois.data[:]),
                            "rois_table": s.rois.table.name,
                            "imaging_plane": s.rois.table.imaging_plane.name,
                            "device": s.rois.table.imaging_plane.device.name,
                            "unit": s.unit,
                            "data": _bits(data.reshape(-1)),
                        })
            out["time_series"] = []
            for mod_name, module in sorted(nwb.processing.items()):
                for s_name, s in sorted(module.data_interfaces.items()):
                    if type(s).__name__ != "TimeSeries":
                        continue
                    data = s.data[:]
                    out["time_series"].append({
                        "path": f"/processing/{mod_name}/{s_name}",
                        "module_description": module.description,
                        "description": s.description,
                        "shape": list(data.shape),
                        "dtype": str(data.dtype),
                        "rate": None if s.rate is None else float(s.rate),
                        "starting_time": None if s.starting_time is None else float(s.starting_time),
                        "unit": s.unit,
                        "data": _bits(data.reshape(-1)),
                    })
    out["warnings"] = [str(w.message) for w in caught]
    json.dump(out, sys.stdout)


def cmd_validate(path):
    from pynwb import validate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = validate(path=path)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    json.dump({"errors": [str(e) for e in errors]}, sys.stdout)
    return 1 if errors else 0


def cmd_write(path, truth_path):
    from datetime import datetime, timezone

    import numpy as np
    from pynwb import NWBFile, NWBHDF5IO
    from pynwb.ophys import (DfOverF, Fluorescence, ImageSegmentation, OpticalChannel,
                             RoiResponseSeries)

    rng = np.random.default_rng(20240301)
    nwb = NWBFile(
        session_description="pynwb reference file for spikelab",
        identifier="spikelab-pynwb-reference",
        session_start_time=datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc),
    )

    # Units: ragged trains (one empty), non-contiguous ids, electrodes.
    device = nwb.create_device(name="probe", description="a silicon probe")
    group = nwb.create_electrode_group(name="shank0", description="shank 0", location="CA1",
                                       device=device)
    for _ in range(4):
        nwb.add_electrode(location="CA1", group=group)
    counts = [5, 0, 1, 300]
    ids = [10, 11, 42, 7]
    rows = [[0], [1], [1, 2], [3]]
    trains = []
    for count, uid, el in zip(counts, ids, rows):
        t = np.sort(rng.uniform(0.0, 20.0, size=count))
        trains.append(_bits(t))
        nwb.add_unit(spike_times=t, id=uid, electrodes=el)

    # Ophys: Fluorescence with rate (float32, NaN padding) and DfOverF with timestamps.
    scope = nwb.create_device(name="scope", description="two-photon microscope")
    channel = OpticalChannel(name="OpticalChannel", description="green", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel, description="L2/3", device=scope,
        excitation_lambda=920.0, imaging_rate=30.0, indicator="GCaMP6s", location="V1",
    )
    seg = ImageSegmentation()
    ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="rois",
                                       imaging_plane=plane)
    n_frames, n_rois = 120, 3
    for j in range(n_rois):
        ps.add_roi(pixel_mask=[(j, 0, 1.0), (j, 1, 0.5)])
    module = nwb.create_processing_module(name="ophys", description="ophys")
    module.add(seg)
    region = ps.create_roi_table_region(region=list(range(n_rois)), description="all rois")
    f = rng.normal(1.0, 0.1, size=(n_frames, n_rois)).astype(np.float32)
    f[100:, 1] = np.nan  # ROI 1 is 100 frames long
    fl = RoiResponseSeries(name="RoiResponseSeries", data=f, rois=region, unit="lumens",
                           rate=30.0, starting_time=2.0)
    module.add(Fluorescence(roi_response_series=fl))
    region2 = ps.create_roi_table_region(region=list(range(n_rois)), description="all rois")
    dff = rng.normal(0.0, 0.2, size=(50, n_rois))
    ts = 5.0 + np.arange(50) / 7.5
    dff_series = RoiResponseSeries(name="dff", data=dff, rois=region2, unit="ratio",
                                   timestamps=ts)
    module.add(DfOverF(roi_response_series=dff_series))

    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)

    truth = {
        "ids": ids,
        "spike_times": trains,
        "electrodes": rows,
        "fluorescence": {
            "path": "/processing/ophys/Fluorescence/RoiResponseSeries",
            "shape": [n_frames, n_rois],
            "rate": 30.0,
            "data": _bits(f.reshape(-1)),
        },
        "dff": {
            "path": "/processing/ophys/DfOverF/dff",
            "shape": [50, n_rois],
            "rate": 7.5,
            "data": _bits(dff.reshape(-1)),
        },
    }
    with open(truth_path, "w") as fh:
        json.dump(truth, fh)
    json.dump({"written": path, "truth": truth_path}, sys.stdout)


def main(argv):
    if len(argv) >= 2 and argv[0] == "read":
        cmd_read(argv[1])
        return 0
    if len(argv) >= 2 and argv[0] == "validate":
        return cmd_validate(argv[1])
    if len(argv) >= 3 and argv[0] == "write":
        cmd_write(argv[1], argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
