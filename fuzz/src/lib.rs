//! The fuzz targets' bodies, one function per reader (each `fuzz_targets/NAME.rs` calls one;
//! `fuzz_targets/all.rs` picks one by the `SPIKELAB_FUZZ` environment variable, so a single
//! binary can be shipped to another machine). The readers take paths, so each input is
//! written to a scratch file (in `/dev/shm` when it exists) that the target then opens.

use std::path::PathBuf;
use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

/// Writes `bytes` to the scratch file `name` of this process and returns its path.
pub fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let b = tempfile::Builder::new()
            .prefix("spikelab-fuzz-")
            .tempdir_in(if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            });
        b.expect("scratch folder")
    });
    let p = dir.path().join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("scratch folder");
    }
    std::fs::write(&p, bytes).expect("scratch write");
    p
}

/// Gzip-compresses `bytes` (for targets that exercise the transparent `.gz` path with valid
/// streams, which byte mutations of a compressed seed rarely produce).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in-memory gzip");
    e.finish().expect("in-memory gzip")
}

use spikelab_data::io::{
    self, csv as csv_io, kilosort::PhyParams, mat::MatFile, mat::MatValue, npy as npy_io,
};

fn walk_mat(v: &MatValue) {
    match v {
        MatValue::Numeric(a) => {
            let _ = a.to_arrayd();
            let _ = a.to_array2();
        }
        MatValue::Struct(s) => {
            // A fieldless struct may declare ~10^18 elements: nothing to visit in any of them.
            let elements = if s.field_names().is_empty() {
                0
            } else {
                s.len()
            };
            for e in 0..elements {
                for (_, f) in s.fields(e) {
                    walk_mat(f);
                }
            }
        }
        MatValue::Cell(c) => c.items.iter().for_each(walk_mat),
        MatValue::Sparse(s) => {
            // Densifying is the caller's choice; only for sizes a user could mean.
            let r = s.dims.first().copied().unwrap_or(0);
            let c = s.dims.get(1).copied().unwrap_or(0);
            if r.saturating_mul(c) <= 1 << 20 {
                let _ = s.to_dense();
            }
        }
        _ => {}
    }
    let _ = v.describe();
}

/// MATLAB v5 (numeric, char, struct, cell, sparse, `miCOMPRESSED` elements): the parser on the
/// bytes, every value converted, then `io::open` (c2s / CASCADE / plain matrix detection),
/// `read_c2s` and `read_cascade` on the same bytes as a `.mat` file.
pub fn mat(data: &[u8]) {
    if let Ok(f) = MatFile::from_bytes(data, std::path::Path::new("fuzz.mat")) {
        for (_, v) in f.iter() {
            walk_mat(v);
        }
        let p = scratch("in.mat", data);
        let _ = io::open(&p, &io::ReadOptions::default());
        let _ = io::mat::read_c2s(&p);
        let _ = io::mat::read_cascade(&p);
    }
}

/// NumPy `.npy` header and payload: `read_any`, the typed readers and `io::open`.
pub fn npy(data: &[u8]) {
    let p = scratch("in.npy", data);
    if npy_io::read_any(&p).is_ok() {
        let _ = npy_io::read_raster(&p, 0.01);
        let _ = npy_io::read_traces(&p, 30.0);
        let _ = npy_io::read_activity(&p, 0.004);
        let _ = npy_io::read_typed::<f32, ndarray::Ix2>(&p);
        let _ = io::open(&p, &io::ReadOptions::default());
    }
}

/// Spikefinder CSV, plain and gzip: the first byte's low bit says whether the rest is written
/// gzip-compressed (valid streams around mutated text); raw `.gz` seeds also reach the
/// decompressor with mutated compressed bytes.
pub fn csv(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let p = if mode & 1 == 1 {
        scratch("in.csv.gz", &gzip(rest))
    } else {
        scratch("in.csv", rest)
    };
    if csv_io::read_table(&p).is_ok() {
        let _ = csv_io::read_calcium(&p, 100.0);
        let _ = csv_io::read_spike_counts(&p, 0.01);
        let _ = io::open(&p, &io::ReadOptions::default());
    }
}

/// Kilosort/phy `params.py` (`name = literal` lines).
pub fn kilosort_params(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(p) = PhyParams::parse(text)
    {
        let _ = p.sample_rate_hz();
        for v in p.values.values() {
            let _ = (v.as_f64(), v.as_str());
        }
    }
}

/// Probe geometry: the bytes as a probeinterface `probe.json` and, gzipped, as
/// `probe.json.gz`; a probe that reads is written back and read again.
pub fn probe(data: &[u8]) {
    use spikelab_data::io::probe::{read_probe, write_probe};
    for path in [
        scratch("probe.json", data),
        scratch("probe.json.gz", &gzip(data)),
    ] {
        if let Ok(p) = read_probe(&path) {
            let _ = (p.n_channels(), p.positions_um(), p.contact_radius_um());
            let out = scratch("probe-out.json", b"");
            if write_probe(&out, &p, true).is_ok() {
                assert_eq!(read_probe(&out).ok().as_ref(), Some(&p), "probe round trip");
            }
        }
    }
}

/// Raw-recording metadata: the bytes as a SpikeGLX `.meta` (beside a 4 KiB `.bin`), as an
/// Open Ephys `structure.oebin` (beside a 4 KiB `continuous.dat` in the folder its first stream
/// would name) and as a spikelab `recording.json` (beside a 4 KiB `recording.dat`); every
/// reader that opens reads its first and last chunk.
pub fn raw_meta(data: &[u8]) {
    use spikelab_data::io::raw::{self, RawOptions, RecordingSource};
    let body = [0u8; 4096];
    scratch("sglx/run.imec0.ap.meta", data);
    scratch("oe/continuous/Rhythm_FPGA-100.0/continuous.dat", &body);
    let mut paths = vec![
        scratch("sglx/run.imec0.ap.bin", &body),
        scratch("oe/structure.oebin", data),
    ];
    scratch("folder/recording.dat", &body);
    paths.push(scratch("folder/recording.json", data));
    for p in paths {
        if let Ok(rec) = raw::open_recording(&p, &RawOptions::default()) {
            let n = rec.n_samples();
            let _ = rec.read_chunk(0, n.min(16));
            let _ = rec.read_chunk(n.saturating_sub(4), n.min(4));
            let _ = raw::channel_health(rec.as_ref(), 1024);
        }
    }
}

/// NWB 2.x through libhdf5: `inspect`, `read_units`, `read_ophys` and `io::open` on the bytes
/// as a `.nwb` file.
#[cfg(feature = "hdf5")]
pub fn nwb(data: &[u8]) {
    let p = scratch("in.nwb", data);
    if io::nwb::inspect(&p).is_ok() {
        let _ = io::nwb::read_units(&p);
        let _ = io::nwb::read_ophys(&p);
        let _ = io::open(&p, &io::ReadOptions::default());
    }
}

/// Keras 2 HDF5 weight files (`layer_names` / `weight_names` attributes, `model_weights`
/// group) for both network layouts: the Elephant CNN's and CASCADE's.
#[cfg(feature = "calcium")]
pub fn keras_h5(data: &[u8]) {
    use spikelab_calcium::spikenet::{SpikeNetArch, SpikeNetWeights};
    let p = scratch("in.h5", data);
    let _ = SpikeNetWeights::from_keras_h5(&p, &SpikeNetArch::ELEPHANT);
    let _ = SpikeNetWeights::from_keras_h5(&p, &SpikeNetArch::CASCADE);
}

/// Suite2p's `ops.npy` (a pickled dict saved by `np.save`): the NPY object header and the
/// hand-written unpickler, through the plane folder's frame-rate lookup.
pub fn suite2p_ops(data: &[u8]) {
    let p = scratch("suite2p/ops.npy", data);
    if let Some(dir) = p.parent() {
        let _ = io::suite2p::file_frame_rate_hz(dir);
    }
}
