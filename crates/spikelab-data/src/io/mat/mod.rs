//! MATLAB Level-5 MAT-files (`.mat`, also gzip'd as `.mat.gz`): a small reader of the subset
//! that neuroscience data files use, plus readers for the c2s/Spikefinder and CASCADE
//! ground-truth layouts built on it.
//!
//! # Why our own reader
//!
//! The c2s and CASCADE files are made of **structs and cell arrays**. Of the Rust options we
//! found, `matio-rs` binds the C library MATIO (a system library CI and Windows users would
//! have to install) and `matrw` is a young pure-Rust crate whose maturity we could not vouch
//! for; `matfile` reads numeric arrays only, and `matlab-mat` and `matreader` are early 0.1
//! releases. The format is small and documented by MathWorks (*MAT-File
//! Format*, chapter "Level 5 MAT-File Format"), so this module implements the subset we need
//! with no dependency beyond `flate2`, returns this crate's typed errors (path, variable, field
//! and byte offset) and is tested never to panic on truncated or corrupted input.
//!
//! # What is supported
//!
//! * The 128-byte header: descriptive text starting with `MATLAB 5.0`, version `0x0100` and
//!   the endianness indicator `IM` (little-endian) or `MI` (big-endian); both byte orders are
//!   read. MAT v7.3 files are HDF5 files and are rejected with a message saying so; MAT v4
//!   files (no header) are rejected too.
//! * Data elements in the normal and the *small data element* format, `miCOMPRESSED`
//!   (zlib) elements, and `miMATRIX` arrays of every numeric class (`double`, `single`,
//!   `int8` … `uint64`) with real and imaginary parts. Data stored with a smaller type than
//!   the class (MATLAB writes a `double` array of small integers as `miUINT8`) is converted.
//!   All numbers are returned as `f64`; `int64`/`uint64` values above 2^53 lose precision.
//! * `logical`, `char` (`miUTF8`, `miUINT16`/`miUTF16`, `miUTF32`, `miUINT8`), struct arrays,
//!   objects (read like structs, with their class name), cell arrays, empty arrays and sparse
//!   matrices ([`MatSparse`], with a dense conversion).
//! * Function handles and opaque (MCOS) objects are kept as [`MatValue::Unsupported`] so that
//!   the other variables of the file can still be read. Unnamed top-level arrays (MATLAB's
//!   subsystem data for such objects) are skipped.
//!
//! Every length and offset is checked: a truncated or corrupt file is a
//! [`DataError::Mat`] whose reason names the variable, the field and
//! the byte offset, never a panic. Nesting deeper than 64 levels is refused.
//!
//! # Layout conventions
//!
//! MATLAB stores arrays **column-major**. [`MatArray::data`] keeps that order;
//! [`MatArray::to_array2`] returns an `[row, column]` array indexed as in MATLAB (`A(i, j)` is
//! `a[[i-1, j-1]]`). Struct and cell arrays are likewise numbered column-major over their
//! elements.
//!
//! # Example
//! ```
//! use spikelab_data::io::mat;
//! use spikelab_datasets as datasets;
//! let f = mat::read_mat(&datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?)?;
//! assert_eq!(f.names(), vec!["neuronal_activity_mat"]);
//! let a = f.variable("neuronal_activity_mat")?.as_array().unwrap();
//! assert_eq!(a.dims, vec![452, 18137]);
//! // MATLAB saved this 0/1 matrix as class double with uint8 storage; it is read as double.
//! assert_eq!(a.class, mat::MatClass::Double);
//! assert_eq!(a.data.iter().sum::<f64>(), 16982.0);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

mod c2s;
mod cascade;
mod parse;
mod value;

pub use c2s::{C2sRecording, c2s_to_spike_trains, c2s_to_traces, read_c2s};
pub use cascade::{
    CASCADE_EPHYS_RATE_HZ, CascadeTrial, cascade_to_spike_trains, cascade_to_traces, read_cascade,
};
pub use value::{MatArray, MatCell, MatClass, MatFile, MatSparse, MatStruct, MatValue};

use std::path::Path;

use ndarray::Array2;

use crate::error::{DataError, Result};
use crate::{BinnedRaster, SpikeTrains};

fn mat_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Mat {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a MAT v5 file (gzip'd or not).
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let f = mat::read_mat(&datasets::elephant_stat_embedding("Parameters32py.mat")?)?;
/// let p = f.variable("Parameters32")?.as_array().unwrap();
/// assert_eq!(p.dims, vec![18, 32]);
/// assert!(f.variable("nope").is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_mat(path: &Path) -> Result<MatFile> {
    let bytes = super::read_bytes_maybe_gz(path)?;
    MatFile::from_bytes(&bytes, path)
}

fn numeric<'a>(f: &'a MatFile, name: &str) -> Result<&'a MatArray> {
    let v = f.variable(name)?;
    v.as_array().ok_or_else(|| {
        mat_err(
            f.path(),
            format!(
                "variable '{name}' is a {}, expected a numeric matrix",
                v.describe()
            ),
        )
    })
}

/// Reads the numeric (or logical) variable `name` as an `[row, column]` matrix, indexed as in
/// MATLAB. Errors if the variable is missing, not numeric, complex or has more than two
/// dimensions.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let p = datasets::elephant_stat_embedding("Parameters174py.mat")?;
/// let raw = mat::read_matrix(&p, "Parameters174temp")?;
/// assert_eq!(raw.dim(), (174, 18));
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_matrix(path: &Path, name: &str) -> Result<Array2<f64>> {
    read_mat(path)?.matrix(name)
}

/// Reads a `[neuron, bin]` spike-count matrix (`neurons × frames`, as stored in the file) as a
/// [`BinnedRaster`] with bin width `bin_s` seconds. Values must be non-negative integers.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let p = datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?;
/// let r = mat::read_raster(&p, "neuronal_activity_mat", 0.05)?; // 20 Hz imaging
/// assert_eq!((r.n_neurons(), r.n_bins()), (452, 18137));
/// assert_eq!(r.total_spikes(), 16982);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_raster(path: &Path, name: &str, bin_s: f64) -> Result<BinnedRaster> {
    let m = read_matrix(path, name)?;
    if let Some(bad) = m
        .iter()
        .find(|&&v| !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64))
    {
        return Err(mat_err(
            path,
            format!("variable '{name}' holds {bad}, not a non-negative integer spike count"),
        ));
    }
    BinnedRaster::new(m.mapv(|v| v as u32), bin_s)
}

// Helpers shared by the c2s and CASCADE layouts.

fn vector_field(
    path: &Path,
    s: &MatStruct,
    elem: usize,
    field: &str,
    what: &str,
) -> Result<Option<Vec<f64>>> {
    let Some(v) = s.field(elem, field) else {
        return Ok(None);
    };
    match v.as_array() {
        Some(a) if a.is_vector() && !a.is_complex() => Ok(Some(a.data.clone())),
        _ => Err(mat_err(
            path,
            format!(
                "{what}: field '{field}' is a {}, expected a real vector",
                v.describe()
            ),
        )),
    }
}

/// The struct elements of a variable that is a struct array or a cell array of 1×1 structs.
fn struct_elements<'a>(
    path: &Path,
    v: &'a MatValue,
    var: &str,
) -> Result<Vec<(&'a MatStruct, usize)>> {
    match v {
        MatValue::Struct(s) => Ok((0..s.len()).map(|i| (s, i)).collect()),
        MatValue::Cell(c) => c
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                MatValue::Struct(s) if s.len() == 1 => Ok((s, 0)),
                other => Err(mat_err(
                    path,
                    format!(
                        "'{var}'{{{}}} is a {}, expected a 1x1 struct",
                        i + 1,
                        other.describe()
                    ),
                )),
            })
            .collect(),
        other => Err(mat_err(
            path,
            format!(
                "variable '{var}' is a {}, expected a struct array or a cell array of structs",
                other.describe()
            ),
        )),
    }
}

fn common_rate(rates: &[f64], rel_tol: f64) -> Result<f64> {
    let Some(&r0) = rates.first() else {
        return Err(DataError::param("recordings", "no recording given"));
    };
    if let Some(bad) = rates.iter().find(|&&r| ((r - r0) / r0).abs() > rel_tol) {
        return Err(DataError::param(
            "frame_rate_hz",
            format!(
                "recordings have different frame rates ({r0} Hz and {bad} Hz); resample them first"
            ),
        ));
    }
    Ok(r0)
}

fn trains_on_interval(trains: Vec<Vec<f64>>, duration_s: f64) -> Result<SpikeTrains> {
    let lo = trains.iter().flatten().copied().fold(0.0f64, f64::min);
    let hi = trains.iter().flatten().copied().fold(duration_s, f64::max);
    let ids = (0..trains.len() as i64).collect();
    SpikeTrains::sorted_from(trains, ids, lo, hi)
}
