//! Readers and writers. Every function takes the path it reads or writes and returns
//! [`DataError`]s that name that path.
//!
//! | format | module | types |
//! | --- | --- | --- |
//! | Spikefinder CSV (`.csv`, `.csv.gz`) | [`csv`] | [`CalciumTraces`](crate::CalciumTraces), spike-count [`BinnedRaster`](crate::BinnedRaster) |
//! | NumPy `.npy` | [`npy`] | rasters, traces, activity, any numeric array |
//! | MATLAB v5 `.mat` (`.mat.gz`) | [`mat`] | numeric matrices, structs, cells; c2s and CASCADE files |
//! | Kilosort/phy folder | [`kilosort`] | [`SpikeTrains`](crate::SpikeTrains) |
//! | NWB 2.x (HDF5, feature `hdf5`) | `nwb` | `/units` ↔ [`SpikeTrains`](crate::SpikeTrains), ophys ↔ [`CalciumTraces`](crate::CalciumTraces) |
//!
//! [`open`] reads any of them with the format and content detected in one place, and
//! [`read_traces`], [`read_raster`], [`read_spike_trains`], [`read_population_activity`]
//! read one type ([`ReadOptions`] says what the file does not).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

pub mod csv;
pub mod kilosort;
pub mod mat;
pub mod npy;
#[cfg(feature = "hdf5")]
pub mod nwb;
mod open;

pub use open::{
    Content, Loaded, ReadOptions, open, read_population_activity, read_raster, read_spike_trains,
    read_traces,
};

/// Reads a whole file, transparently decompressing gzip (recognised by its magic bytes, so
/// `.gz` with a wrong extension works too). A `.gz` file that is not gzip, or a truncated
/// gzip stream, is a [`DataError::Gzip`].
pub fn read_bytes_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let is_gz_name = path.extension().is_some_and(|e| e == "gz");
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Gzip {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(out)
    } else if is_gz_name {
        Err(DataError::Gzip {
            path: path.to_path_buf(),
            reason: "file ends in .gz but does not start with the gzip magic bytes 1f 8b".into(),
        })
    } else {
        Ok(raw)
    }
}

/// Refuses to write over an existing file unless `overwrite` is set.
pub fn check_writable(path: &Path, overwrite: bool) -> Result<()> {
    if !overwrite && path.exists() {
        return Err(DataError::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Writes `path` through `write`, which fills a temporary file in the same folder (its name
/// keeps the extension of `path` last, for writers that pick the format from it); the file is
/// then renamed over `path`, so readers never see a half-written file. Refuses an existing
/// `path` unless `overwrite`; on any error the temporary file is removed and `path` is untouched.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// spikelab_data::io::write_atomic(&path, false, |tmp| {
///     std::fs::write(tmp, "hello").map_err(|e| spikelab_data::DataError::io(tmp, e))
/// })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "hello");
/// assert!(spikelab_data::io::write_atomic(&path, false, |_| Ok::<(), spikelab_data::DataError>(())).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic<E: From<DataError>>(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    check_writable(path, overwrite)?;
    let name = path.file_name().ok_or_else(|| DataError::InvalidParameter {
        name: "path",
        reason: format!("{} has no file name", path.display()),
    })?;
    let tmp = path.with_file_name(format!(
        ".tmp-{}-{}",
        std::process::id(),
        name.to_string_lossy()
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| E::from(DataError::io(path, e)))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `value` as pretty-printed JSON through [`write_atomic`].
pub fn write_json<T: serde::Serialize + ?Sized>(
    path: &Path,
    value: &T,
    overwrite: bool,
) -> Result<()> {
    write_atomic(path, overwrite, |tmp| {
        let f = std::fs::File::create(tmp).map_err(|e| DataError::io(tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, value)
            .map_err(|e| DataError::io(path, std::io::Error::other(e)))?;
        std::io::Write::flush(&mut w).map_err(|e| DataError::io(tmp, e))
    })
}

/// The file formats spikelab reads, as recognised by [`Format::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Spikefinder-style CSV (header of column names, one row per frame).
    Csv,
    /// NumPy `.npy`.
    Npy,
    /// MATLAB v5 `.mat`.
    Mat,
    /// NWB 2.x / HDF5.
    Nwb,
    /// A Kilosort/phy output folder.
    Kilosort,
}

impl Format {
    /// Recognises a format from the path (folder → Kilosort; extensions `.csv[.gz]`,
    /// `.npy`, `.mat[.gz]`, `.nwb`/`.h5`/`.hdf5`).
    pub fn detect(path: &Path) -> Result<Format> {
        if path.is_dir() {
            return Ok(Format::Kilosort);
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let fmt = if name.ends_with(".csv") {
            Format::Csv
        } else if name.ends_with(".npy") {
            Format::Npy
        } else if name.ends_with(".mat") {
            Format::Mat
        } else if name.ends_with(".nwb") || name.ends_with(".h5") || name.ends_with(".hdf5") {
            Format::Nwb
        } else {
            return Err(DataError::UnknownFormat {
                path: PathBuf::from(path),
                reason: "expected a folder (Kilosort) or .csv[.gz], .npy, .mat[.gz], .nwb".into(),
            });
        };
        Ok(fmt)
    }
}
