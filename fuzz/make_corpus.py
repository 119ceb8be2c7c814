"""Builds the small seed corpora in fuzz/corpus/ from the bundled real files in datasets/.

Run from the repository root with the Python venv of scripts/setup_python.sh (numpy, scipy,
h5py, pynwb) and a release build of the CLI (`cargo build --release`):

    .venv/bin/python fuzz/make_corpus.py

Seeds are cut down (a few rows, frames or elements of the real data, the real files' layouts
kept) so that libFuzzer mutates small inputs; the corpus stays well under 1 MB.
"""

import gzip
import io
import os
import shutil
import subprocess
import tempfile

import h5py
import numpy as np
import scipy.io
import scipy.sparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DS = os.path.join(ROOT, "datasets")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def mat_bytes(vars, compress):
    b = io.BytesIO()
    scipy.io.savemat(b, vars, do_compression=compress, oned_as="row")
    return b.getvalue()


def cut(v, n):
    """The first `n` values of a vector (orientation kept), the top-left 4×4 of a matrix."""
    if not isinstance(v, np.ndarray) or v.size <= n:
        return v
    if v.ndim == 2 and 1 in v.shape:
        return v[:n] if v.shape[1] == 1 else v[:, :n]
    return v[:4, :4]


def mat_corpus():
    for rel in ["convseq/ca1_rubin/position_per_frame.mat",
                "models/spikefinder-elephant/statEmbedding/Parameters32py.mat",
                "models/spikefinder-elephant/statEmbedding/embedding_spacesX.mat"]:
        with open(os.path.join(DS, rel), "rb") as f:
            out("mat", os.path.basename(rel), f.read())
    # c2s layout (Spikefinder test 4): cell `data` of structs, 40 frames of two recordings.
    c2s = scipy.io.loadmat(gzip.open(os.path.join(DS, "spikefinder/test/data.4.test.preprocessed.mat.gz")),
                           squeeze_me=False, struct_as_record=False)
    recs = c2s["data"]
    cell = np.empty((1, 2), dtype=object)
    for i in range(2):
        r = recs.flat[i].flat[0]
        cell[0, i] = {k: cut(getattr(r, k), 40) for k in r._fieldnames}
    out("mat", "c2s_test4_cut.mat", mat_bytes({"data": cell}, False))
    out("mat", "c2s_test4_cut_z.mat", mat_bytes({"data": cell}, True))
    # CASCADE ground truth layout: `CAttached` cell of structs (cut to 50 frames).
    ca = scipy.io.loadmat(gzip.open(os.path.join(
        DS, "cascade-sample/DS09-GCaMP6f-m-V1/CAttached_Chen2013_GC6f_cell1C_full_mini.mat.gz")),
        squeeze_me=False, struct_as_record=False)
    trials = ca["CAttached"]
    cell = np.empty((1, 1), dtype=object)
    t = trials.flat[0].flat[0]
    cell[0, 0] = {k: cut(getattr(t, k), 50) for k in t._fieldnames}
    out("mat", "cascade_cut.mat", mat_bytes({"CAttached": cell}, False))
    # Every class the reader knows: sparse (real, logical), cell, char, ints, complex, 3-D.
    raster = np.load(os.path.join(DS, "convseq/synthetic_demo/spikes.npy"))[:6, :12]
    v = {
        "sp": scipy.sparse.csc_matrix(raster.astype(float)),
        "spl": scipy.sparse.csc_matrix(raster > 0),
        "c": np.array([[np.arange(3.0), "ab"]], dtype=object),
        "s": "text",
        "i8": np.arange(4, dtype=np.int8), "u16": np.arange(4, dtype=np.uint16),
        "i64": np.arange(4, dtype=np.int64), "f32": np.ones((2, 2), np.float32),
        "z": np.array([1 + 2j, 3 - 1j]), "nd": np.arange(8.0).reshape(2, 2, 2),
        "e": np.zeros((0, 0)), "b": np.array([True, False]),
    }
    out("mat", "classes.mat", mat_bytes(v, False))
    out("mat", "classes_z.mat", mat_bytes(v, True))


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def npy_corpus():
    spikes = np.load(os.path.join(DS, "convseq/synthetic_demo/spikes.npy"))
    dff = np.load(os.path.join(DS, "cascade-golden/ds09_global_exc_30hz/input_dff.npy"))
    z = np.load(os.path.join(DS, "neulvm/regenerated_seed20221011/Z_gt_4ms.npy"))
    out("npy", "raster_cut.npy", npy_bytes(spikes[:5, :10]))
    out("npy", "raster_u8.npy", npy_bytes(spikes[:4, :8].astype(np.uint8)))
    out("npy", "raster_bool.npy", npy_bytes(spikes[:4, :8] > 0))
    out("npy", "dff_f64.npy", npy_bytes(dff.ravel()[:24].reshape(6, 4).astype(np.float64)))
    out("npy", "dff_f32_fortran.npy", npy_bytes(np.asfortranarray(dff.ravel()[:24].reshape(6, 4).astype(np.float32))))
    out("npy", "z_1d.npy", npy_bytes(z.ravel()[:16]))
    out("npy", "z_3d.npy", npy_bytes(z.ravel()[:24].reshape(2, 3, 4)))
    out("npy", "big_endian.npy", npy_bytes(z.ravel()[:6].astype(">f8")))
    out("npy", "f16.npy", npy_bytes(z.ravel()[:6].astype(np.float16)))
    out("npy", "empty.npy", npy_bytes(np.zeros((0, 3))))


def csv_corpus():
    for name in ["4.test.calcium.csv.gz", "4.test.spikes.csv.gz"]:
        text = gzip.open(os.path.join(DS, "spikefinder/test", name)).read().decode()
        lines = text.splitlines()
        cut = ("\n".join(lines[:30]) + "\n").encode()
        base = name[: -len(".csv.gz")]
        out("csv", base + ".csv", b"\x00" + cut)       # plain
        out("csv", base + ".gzmode.csv", b"\x01" + cut)  # written gzip-compressed by the target
        out("csv", base + ".raw.gz", b"\x00" + gzip.compress(cut))  # compressed bytes mutated
    # Padded columns (shorter neurons end in empty cells), as in the real files.
    out("csv", "padded.csv", b"\x00" + b"0,1\n0.5,1.5\n0.25,\n,\n")


def params_corpus():
    out("kilosort_params", "params_ks2.py",
        b"dat_path = 'recording.bin'\nn_channels_dat = 385\ndtype = 'int16'\noffset = 0\n"
        b"sample_rate = 30000.\nhp_filtered = False\n")
    out("kilosort_params", "params_phy.py",
        b"dat_path = r'C:\\data\\rec.dat'  # raw data\nn_channels_dat = 64\ndtype = \"float32\"\n"
        b"offset = 1e3\nsample_rate = 2.5e4\nhp_filtered = True\nn_features_per_channel = 3\n")


def nwb_corpus():
    cli = os.path.join(ROOT, "target", "release", "spikelab")
    with tempfile.TemporaryDirectory() as tmp:
        # Traces (ophys) from 30 frames of Spikefinder test 4, written by spikelab's own writer.
        text = gzip.open(os.path.join(DS, "spikefinder/test/4.test.calcium.csv.gz")).read().decode()
        with open(os.path.join(tmp, "t.csv"), "w") as f:
            f.write("\n".join(text.splitlines()[:30]) + "\n")
        subprocess.run([cli, "convert", os.path.join(tmp, "t.csv"), os.path.join(tmp, "ophys.nwb")], check=True)
        shutil.copy(os.path.join(tmp, "ophys.nwb"), os.path.join(OUT, "nwb", "ophys_spikelab.nwb"))
        # Units from a 3-neuron slice of the synthetic raster, through pynwb (another writer).
        from datetime import datetime, timezone
        from pynwb import NWBFile, NWBHDF5IO
        f = NWBFile(session_description="fuzz seed", identifier="seed",
                    session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
        raster = np.load(os.path.join(DS, "convseq/synthetic_demo/spikes.npy"))[:3, :200]
        for row in raster:
            f.add_unit(spike_times=np.nonzero(row)[0] * 0.01)
        p = os.path.join(OUT, "nwb", "units_pynwb.nwb")
        with NWBHDF5IO(p, "w") as io_:
            io_.write(f, cache_spec=False)


def keras_corpus():
    # The real files' group/attribute layout with each weight cut to at most 2 per axis.
    for src, name in [("models/spikefinder-elephant/model1.h5", "elephant_layout.h5"),
                      ("models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel/Model_NoiseLevel_2_Ensemble_0.h5",
                       "cascade_layout.h5")]:
        dst = os.path.join(OUT, "keras_h5", name)
        with h5py.File(os.path.join(DS, src), "r") as a, h5py.File(dst, "w") as b:
            def copy_attrs(x, y):
                for k, v in x.attrs.items():
                    if k in ("model_config", "training_config"):
                        continue
                    y.attrs[k] = v

            def visit(g_src, g_dst):
                copy_attrs(g_src, g_dst)
                for k, v in g_src.items():
                    if isinstance(v, h5py.Group):
                        visit(v, g_dst.create_group(k))
                    else:
                        d = v[tuple(slice(0, 2) for _ in v.shape)] if v.shape else v[()]
                        ds = g_dst.create_dataset(k, data=d)
                        copy_attrs(v, ds)

            visit(a, b)


def probe_corpus():
    # The probeinterface files of the sorting fixtures (one to four probes, mm and µm units,
    # wired and unwired contacts, a 3-D probe that must be refused), as they are.
    d = os.path.join(DS, "sort", "probe")
    for name in sorted(os.listdir(d)):
        if name.endswith(".json") and name != "expected.json":
            with open(os.path.join(d, name), "rb") as f:
                out("probe", name, f.read())


if __name__ == "__main__":
    for t in ["mat", "npy", "csv", "kilosort_params", "probe", "nwb", "keras_h5"]:
        shutil.rmtree(os.path.join(OUT, t), ignore_errors=True)
        os.makedirs(os.path.join(OUT, t))
    mat_corpus()
    npy_corpus()
    csv_corpus()
    params_corpus()
    probe_corpus()
    nwb_corpus()
    keras_corpus()
