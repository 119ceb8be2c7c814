//! Reading the rasters convSeq works on. convSeq takes a [`SparseRaster`]
//! (**axis order `[neuron, bin]`**) and counts a bin holding several spikes of one neuron
//! once, as the original's binary raster does; [`n_merged`] says how many spikes that drops.

use std::path::Path;

use spikelab_data::SparseRaster;
use spikelab_data::io::ReadOptions;

use crate::error::{ConvSeqError, Result};

/// Spikes that share a bin with an earlier spike of the same neuron (what convSeq's binary
/// view drops): total spikes − non-empty bins.
pub fn n_merged(raster: &SparseRaster) -> u64 {
    raster.total_spikes() - raster.nnz() as u64
}

/// Reads a raster from any file the spikelab reader facade knows (`.npy`/`.mat` `[neuron, bin]`
/// matrices, spike trains binned at `options.bin_s`), or a text file of `neuron_id time_s` rows
/// (`.txt`, `.tsv`, optionally `.gz`; see [`read_id_time_txt`]) binned at `options.bin_s`
/// (required for text files).
pub fn read_raster(path: &Path, options: &ReadOptions) -> Result<SparseRaster> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".txt") || name.ends_with(".tsv") {
        let bin_s = options.bin_s.ok_or_else(|| {
            ConvSeqError::param("bin_s", "a text file of spike times needs a bin width")
        })?;
        return read_id_time_txt(path, bin_s);
    }
    Ok(spikelab_data::io::read_raster(path, options)?.to_sparse())
}

/// Reads a 2-column text file of `neuron_id time_s` rows (whitespace separated, 1-based
/// neuron ids, as the PP-Seq songbird file) and bins it at `bin_s` seconds from time 0. The
/// number of neurons is the largest id; the number of bins covers the last spike.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("spikes.txt");
/// std::fs::write(&p, "# id time\n1 0.012\n3 0.5\n1 0.013\n").unwrap();
/// let r = spikelab_convseq::input::read_id_time_txt(&p, 0.01)?;
/// assert_eq!((r.n_neurons(), r.n_bins(), r.total_spikes(), r.nnz()), (3, 51, 3, 2));
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn read_id_time_txt(path: &Path, bin_s: f64) -> Result<SparseRaster> {
    if !(bin_s.is_finite() && bin_s > 0.0) {
        return Err(ConvSeqError::param(
            "bin_s",
            format!("must be > 0 s, got {bin_s}"),
        ));
    }
    let bytes = spikelab_data::io::read_bytes_maybe_gz(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let bad = |line: usize, why: &str| {
        ConvSeqError::InvalidRaster(format!("{}:{}: {why}", path.display(), line + 1))
    };
    let mut events = Vec::new();
    let (mut max_id, mut max_bin) = (0usize, 0u64);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(a), Some(b)) = (it.next(), it.next()) else {
            return Err(bad(i, "expected two columns: neuron id, time in s"));
        };
        let id: f64 = a.parse().map_err(|_| bad(i, "neuron id is not a number"))?;
        let t: f64 = b.parse().map_err(|_| bad(i, "time is not a number"))?;
        if !(id >= 1.0 && id.fract() == 0.0 && id < 1e9) {
            return Err(bad(i, "neuron ids must be whole numbers ≥ 1"));
        }
        if !(t.is_finite() && t >= 0.0 && t / bin_s < 1e15) {
            return Err(bad(i, "spike times must be finite and ≥ 0"));
        }
        let bin = (t / bin_s).floor() as u64;
        let n = id as usize - 1;
        max_id = max_id.max(n + 1);
        max_bin = max_bin.max(bin);
        events.push((n, bin));
    }
    if events.is_empty() {
        return Err(ConvSeqError::InvalidRaster(format!(
            "{}: no spikes",
            path.display()
        )));
    }
    Ok(SparseRaster::from_events(
        max_id,
        max_bin + 1,
        bin_s,
        &events,
    )?)
}

/// Reads an `int [nnz, 2]` NumPy file of `(neuron row, bin)` pairs (the bundled
/// `synthetic_demo/spikes.npy` format) into an `n_neurons × n_bins` raster.
pub fn read_pairs_npy(
    path: &Path,
    n_neurons: usize,
    n_bins: u64,
    bin_s: f64,
) -> Result<SparseRaster> {
    let arr = spikelab_data::io::npy::read_any(path)?.data;
    let shape = arr.shape().to_vec();
    if shape.len() != 2 || shape[1] != 2 {
        return Err(ConvSeqError::Shape {
            what: format!("{}", path.display()),
            expected: "[nnz, 2] (neuron, bin) pairs".into(),
            got: format!("{shape:?}"),
        });
    }
    let mut ev = Vec::with_capacity(shape[0]);
    for r in 0..shape[0] {
        let (n, b) = (arr[[r, 0]], arr[[r, 1]]);
        if !(n >= 0.0 && b >= 0.0 && n.fract() == 0.0 && b.fract() == 0.0) {
            return Err(ConvSeqError::InvalidRaster(format!(
                "{}: row {r} is not a pair of non-negative integers",
                path.display()
            )));
        }
        ev.push((n as usize, b as u64));
    }
    Ok(SparseRaster::from_events(n_neurons, n_bins, bin_s, &ev)?)
}

/// Checks that convSeq can analyse `raster`: at least one neuron, two bins and one spike.
pub(crate) fn check_raster(raster: &SparseRaster) -> Result<()> {
    if raster.n_neurons() == 0 {
        return Err(ConvSeqError::InvalidRaster(
            "the raster has no neurons".into(),
        ));
    }
    if raster.n_bins() < 2 {
        return Err(ConvSeqError::InvalidRaster(format!(
            "the raster needs at least 2 bins, got {}",
            raster.n_bins()
        )));
    }
    if raster.n_bins() > u32::MAX as u64 {
        return Err(ConvSeqError::InvalidRaster(format!(
            "{} bins exceed the supported 2^32",
            raster.n_bins()
        )));
    }
    if raster.nnz() == 0 {
        return Err(ConvSeqError::InvalidRaster(
            "the raster holds no spikes".into(),
        ));
    }
    Ok(())
}
