#!/usr/bin/env python3
"""Makes the small fixtures of spikelab-data's Suite2p, CaImAn and SpikeInterface readers
(datasets/readers/), laid out the way each tool writes them.

    python scripts/reader_fixtures.py OUT_DIR             # suite2p/ and caiman/ (numpy, h5py)
    python scripts/reader_fixtures.py OUT_DIR --spikeinterface   # + spikeinterface/ (needs spikeinterface)

* Suite2p plane folder (pipeline_s2p / run_s2p): F.npy, Fneu.npy, spks.npy float32
  [ROI, frame]; iscell.npy float64 [ROI, 2] (0/1, probability); stat.npy (object array of
  dicts); ops.npy = a dict saved with np.save (pickled, key 'fs' = frame rate). `plane_v1/`
  is the newer layout: settings.npy (with 'fs') and db.npy instead of ops.npy.
  expected_dff.npy is ΔF/F computed here with NumPy: F − 0.7·Fneu, baseline the 8th
  percentile per ROI, cells (iscell[:, 0] == 1) only, [frame, cell].
* CaImAn: cnmf_results.hdf5 as cnm.save() writes it (caiman.utils.utils.save_dict_to_hdf5:
  groups for dicts, 'NoneType' strings for None, sparse A as data/indices/indptr/shape), with
  estimates/C, estimates/YrA, estimates/F_dff = 'NoneType', params/data/fr = 15.
  cnmf_dff.hdf5 also has estimates/F_dff. expected_c_plus_yra.npy is (C + YrA).T.
* SpikeInterface: sorting/ written by spikeinterface's own NumpySorting.save(format=
  'numpy_folder') (0.105), three units with ids 3, 7, 12 at 30 kHz.

crates/spikelab-data/tests/readers.rs re-runs the numpy/h5py part into a temporary folder and
checks that the reader gives the same result on it as on the checked-in files.
"""
import os
import sys

import numpy as np


def suite2p(out):
    rng = np.random.default_rng(20261203)
    n_rois, n_frames = 4, 90
    t = np.arange(n_frames) / 30.0
    base = np.array([150.0, 120.0, 200.0, 170.0])[:, None]
    events = (rng.random((n_rois, n_frames)) < 0.05).astype(float)
    kernel = np.exp(-np.arange(30) / 15.0)
    ca = np.array([np.convolve(e, kernel)[:n_frames] for e in events])
    neu = 60.0 + 5.0 * np.sin(2 * np.pi * 0.5 * t)[None, :] + rng.normal(0, 1.0, (n_rois, n_frames))
    F = (base + 80.0 * ca + 0.7 * neu + rng.normal(0, 2.0, (n_rois, n_frames))).astype(np.float32)
    Fneu = neu.astype(np.float32)
    spks = np.maximum(0, 80.0 * events + rng.normal(0, 0.5, (n_rois, n_frames))).astype(np.float32)
    iscell = np.array([[1.0, 0.93], [0.0, 0.21], [1.0, 0.74], [1.0, 0.55]])
    stat = np.array([{"ypix": np.array([i, i + 1]), "xpix": np.array([2 * i, 2 * i]),
                      "lam": np.array([0.6, 0.4], np.float32), "med": [i, 2 * i],
                      "npix": 2, "radius": np.float64(1.5)} for i in range(n_rois)])
    ops = {
        "fs": 30.0, "tau": 1.0, "nplanes": 1, "nchannels": 1, "neucoeff": 0.7,
        "baseline": "maximin", "prctile_baseline": 8.0, "nframes": np.int64(n_frames),
        "Ly": 8, "Lx": 8, "meanImg": rng.random((8, 8)).astype(np.float32),
        "refImg": rng.integers(0, 255, (8, 8)).astype(np.int16),
        "xoff": np.zeros(n_frames, np.float32), "save_path": "/data/suite2p/plane0",
        "data_path": ["/data/tiffs"], "diameter": [12.0, 12.0], "do_registration": True,
        "reg_file": "/data/suite2p/plane0/data.bin", "badframes": np.zeros(n_frames, bool),
        "date_proc": None, "timing": {"registration": np.float64(1.25)},
    }
    plane = os.path.join(out, "suite2p", "plane0")
    os.makedirs(plane, exist_ok=True)
    for name, a in [("F", F), ("Fneu", Fneu), ("spks", spks), ("iscell", iscell), ("stat", stat),
                    ("ops", ops)]:
        np.save(os.path.join(plane, f"{name}.npy"), a)
    Fc = F.astype(np.float64) - 0.7 * Fneu.astype(np.float64)
    cells = np.flatnonzero(iscell[:, 0] == 1)
    f0 = np.percentile(Fc[cells], 8.0, axis=1)[:, None]
    np.save(os.path.join(out, "suite2p", "expected_dff.npy"), ((Fc[cells] - f0) / f0).T)

    v1 = os.path.join(out, "suite2p", "plane_v1")
    os.makedirs(v1, exist_ok=True)
    settings = {"fs": np.float64(7.5), "tau": 1.0,
                "extraction": {"neuropil_coefficient": 0.7, "batch_size": 500},
                "io": {"save_mat": False, "save_ops_orig": False}}
    db = {"data_path": ["/data/tiffs"], "save_path0": "/data", "nplanes": 1, "nchannels": 1}
    for name, a in [("F", F), ("Fneu", Fneu), ("spks", spks), ("iscell", iscell),
                    ("settings", settings), ("db", db)]:
        np.save(os.path.join(v1, f"{name}.npy"), a)


def caiman(out):
    import h5py
    rng = np.random.default_rng(20261204)
    k, n_frames = 3, 45
    C = np.abs(rng.normal(1.0, 0.5, (k, n_frames)))
    YrA = rng.normal(0, 0.2, (k, n_frames))
    d = os.path.join(out, "caiman")
    os.makedirs(d, exist_ok=True)
    for name, dff in [("cnmf_results.hdf5", None), ("cnmf_dff.hdf5", (C + YrA) / 10.0)]:
        with h5py.File(os.path.join(d, name), "w") as f:
            est = f.create_group("estimates")
            est["C"] = C
            est["YrA"] = YrA
            est["S"] = np.maximum(0, C - 1.0)
            est["F_dff"] = "NoneType" if dff is None else dff
            est["idx_components"] = np.array([0, 2])
            est["dims"] = np.array([8, 8])
            a = est.create_group("A")
            a["data"] = np.ones(6)
            a["indices"] = np.array([0, 1, 9, 10, 20, 21])
            a["indptr"] = np.array([0, 2, 4, 6])
            a["shape"] = np.array([64, 3])
            est["b"] = rng.random((64, 1))
            est["f"] = rng.random((1, n_frames))
            params = f.create_group("params")
            data = params.create_group("data")
            data["fr"] = 15.0
            data["decay_time"] = 0.4
            data["dims"] = np.array([8, 8])
            data["fnames"] = np.bytes_(["movie.tif"])
            params.create_group("init")["K"] = 3
            f["dims"] = np.array([8, 8])
            f["dview"] = "NoneType"
            f["remove_very_bad_comps"] = False
    np.save(os.path.join(d, "expected_c_plus_yra.npy"), (C + YrA).T)


def spikeinterface(out):
    import spikeinterface as si
    from spikeinterface.core import NumpySorting
    rng = np.random.default_rng(7)
    samples, labels = [], []
    for uid, n in [(3, 5), (7, 4), (12, 0)]:
        samples.append(np.sort(rng.choice(90_000, n, replace=False)))
        labels.append(np.full(n, uid))
    samples, labels = np.concatenate(samples), np.concatenate(labels)
    order = np.argsort(samples, kind="stable")
    sorting = NumpySorting.from_samples_and_labels([samples[order]], [labels[order]], 30_000.0,
                                                   unit_ids=[3, 7, 12])
    sorting.save(folder=os.path.join(out, "spikeinterface", "sorting"), format="numpy_folder")
    print("spikeinterface", si.__version__)


if __name__ == "__main__":
    out = sys.argv[1]
    suite2p(out)
    caiman(out)
    if "--spikeinterface" in sys.argv[2:]:
        spikeinterface(out)
