#!/usr/bin/env python3
"""Makes the NWB and SpikeGLX fixtures of spikelab-data's raw-recording readers
(datasets/sort/readers/nwb/, datasets/sort/readers/spikeglx/).

    /path/to/venv/bin/python scripts/sort_fixtures_readers.py datasets/sort/readers

Needs pynwb (4.2.0, hdmf 6.2.0), numpy (2.4) and spikeinterface (0.105.3).

* ecephys_pynwb.nwb: written by pynwb. One ElectricalSeries in /acquisition, 300 samples × 4
  channels int16 at 10 kHz (starting_time + rate), conversion 1e-6, channel_conversion
  [0.195, 0.2, 0.25, 0.5], offset 1e-5 V; an electrodes table of 5 rows with rel_x/rel_y
  (µm), the series pointing at rows [4, 0, 2, 1]. Channel 3 holds a 1-kHz sine, the others
  seeded noise plus a ramp.
* expected_uv.npy: float32 [sample, channel], what spikeinterface's NWB reader returns in µV
  (get_traces(return_in_uV=True)).
* expected_locations.npy: float64 [channel, 2], spikeinterface's channel locations.

* spikeglx/run_g0_t0.imec0.ap.{bin,meta}: a Neuropixels 1.0 AP file laid out as the SpikeGLX
  metadata pages describe (384 AP + 1 sync int16 channels, 20 samples at 30 kHz), imroTbl with
  banks 0/1 alternating and AP gains 500, 250, 1000, 2000 in turn, a snsShankMap; no
  snsGeomMap. expected_gain_uv.npy (float64 [channel]) and expected_locations.npy (float64
  [channel, 2]) are spikeinterface's read_spikeglx gains and channel locations.

* openephys/Record_Node_101/experiment1/recording1/: an Open Ephys GUI 0.5 binary recording
  (no stream_name; the stream is known by its folder_name Rhythm_FPGA-100.0)
  (structure.oebin, continuous/<folder>/continuous.dat int16 30 samples × 4 channels,
  sample_numbers.npy, timestamps.npy): 3 neural channels (bit_volts 0.195, uV) and one ADC
  (bit_volts 0.00015258789, V). expected_uv.npy (float32 [sample, channel]) is spikeinterface's
  read_openephys µV traces, its neural stream (id 0) then its ADC stream (id 1) side by side.

crates/spikelab-data/tests/raw_readers.rs compares spikelab's readers with these (values only).
"""
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ecephys import ElectricalSeries


def spikeglx(out):
    out.mkdir(parents=True, exist_ok=True)
    n, ns = 384, 20
    rng = np.random.default_rng(7)
    d = rng.integers(-200, 200, size=(ns, n + 1)).astype(np.int16)
    d[:, -1] = np.arange(ns) % 2 * 64
    name = "run_g0_t0.imec0.ap"
    d.tofile(out / f"{name}.bin")
    gains = [500, 250, 1000, 2000]
    imro = "(0,384)" + "".join(f"({c} {c % 2} 0 {gains[c % 4]} 250 1)" for c in range(n))
    chan_map = "(384,384,1)" + "".join(f"(AP{c};{c}:{c})" for c in range(n)) + "(SY0;768:768)"
    shank_map = "(1,2,480)" + "".join(
        f"(0:{(c % 2 * 384 + c) % 2}:{(c % 2 * 384 + c) // 2}:1)" for c in range(n)
    )
    meta = "\n".join([
        "acqApLfSy=384,384,1",
        "appVersion=20231207",
        f"fileName=D:/SGL_DATA/run_g0/run_g0_imec0/{name}.bin",
        f"fileSizeBytes={d.nbytes}",
        f"fileTimeSecs={ns / 30000}",
        "firstSample=0",
        "imAiRangeMax=0.6",
        "imAiRangeMin=-0.6",
        "imDatPrb_pn=NP1000",
        "imDatPrb_type=0",
        "imMaxInt=512",
        "imSampRate=30000",
        "nSavedChans=385",
        "snsApLfSy=384,0,1",
        "snsSaveChanSubset=all",
        "typeThis=imec",
        f"~imroTbl={imro}",
        f"~snsChanMap={chan_map}",
        f"~snsShankMap={shank_map}",
    ]) + "\n"
    (out / f"{name}.meta").write_text(meta)

    import spikeinterface.extractors as se

    rec = se.read_spikeglx(str(out), stream_id="imec0.ap")
    np.save(out / "expected_gain_uv.npy", rec.get_channel_gains().astype(np.float64))
    np.save(out / "expected_locations.npy", rec.get_channel_locations().astype(np.float64))


def openephys(out):
    import json

    rec = out / "Record_Node_101" / "experiment1" / "recording1"
    folder = "Rhythm_FPGA-100.0"
    (rec / "continuous" / folder).mkdir(parents=True, exist_ok=True)
    ns, nc = 30, 4
    rng = np.random.default_rng(3)
    d = rng.integers(-300, 300, size=(ns, nc)).astype(np.int16)
    d.tofile(rec / "continuous" / folder / "continuous.dat")
    samples = np.arange(1000, 1000 + ns, dtype=np.int64)
    np.save(rec / "continuous" / folder / "sample_numbers.npy", samples)
    np.save(rec / "continuous" / folder / "timestamps.npy", samples / 30000.0)

    def channel(i, name, bit_volts, units):
        return {"channel_name": name, "description": "", "identifier": "", "history": "",
                "bit_volts": bit_volts, "units": units, "source_processor_index": i,
                "recorded_processor_index": i}

    chans = [channel(i, f"CH{i + 1}", 0.195, "uV") for i in range(3)]
    chans.append(channel(3, "ADC1", 0.00015258789, "V"))
    oebin = {"GUI version": "0.5.5", "continuous": [{
        "folder_name": folder + "/", "sample_rate": 30000.0,
        "source_processor_name": "Rhythm FPGA", "source_processor_id": 100,
        "source_processor_sub_idx": 0, "recorded_processor": "Record Node",
        "recorded_processor_id": 101, "num_channels": nc, "channels": chans}],
        "events": [], "spikes": []}
    (rec / "structure.oebin").write_text(json.dumps(oebin, indent=2))

    from spikeinterface.extractors import read_openephys

    neural = read_openephys(str(out), stream_id="0").get_traces(return_in_uV=True)
    adc = read_openephys(str(out), stream_id="1").get_traces(return_in_uV=True)
    np.save(out / "expected_uv.npy", np.hstack([neural, adc]).astype(np.float32))


def nwb(out):
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ecephys_pynwb.nwb"
    rng = np.random.default_rng(18)
    n, c, fs = 300, 4, 10_000.0
    t = np.arange(n) / fs
    data = rng.normal(0, 300, size=(n, c)) + np.arange(n)[:, None] * np.array([1, -2, 3, 0])
    data[:, 3] = 2000 * np.sin(2 * np.pi * 1000 * t)
    data = np.round(data).astype(np.int16)

    nwb = NWBFile(
        session_description="raw-reader fixture",
        identifier="spikelab-sort-readers",
        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    dev = nwb.create_device(name="probe")
    grp = nwb.create_electrode_group(name="shank0", description="one shank", location="CA1", device=dev)
    nwb.add_electrode_column(name="rel_x", description="x in the group (um)")
    nwb.add_electrode_column(name="rel_y", description="y in the group (um)")
    for i, (x, y) in enumerate([(0, 0), (16, 20), (0, 40), (16, 60), (32, 80)]):
        nwb.add_electrode(group=grp, location="CA1", rel_x=float(x), rel_y=float(y))
    region = nwb.create_electrode_table_region([4, 0, 2, 1], "the four recorded contacts")
    es = ElectricalSeries(
        name="ElectricalSeries",
        data=data,
        electrodes=region,
        starting_time=0.0,
        rate=fs,
        conversion=1e-6,
        offset=1e-5,
        channel_conversion=np.array([0.195, 0.2, 0.25, 0.5]),
    )
    nwb.add_acquisition(es)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb, cache_spec=False)  # the cached schema would be ~200 KB

    import spikeinterface.extractors as se

    rec = se.read_nwb_recording(str(path))
    np.save(out / "expected_uv.npy", rec.get_traces(return_in_uV=True).astype(np.float32))
    np.save(out / "expected_locations.npy", rec.get_channel_locations().astype(np.float64))
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "datasets/sort/readers")
    nwb(root / "nwb")
    spikeglx(root / "spikeglx")
    openephys(root / "openephys")
