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

mod atomic;
pub mod csv;
pub mod kilosort;
pub mod mat;
pub mod npy;
#[cfg(feature = "hdf5")]
pub mod nwb;
mod open;

pub use atomic::write_atomic;
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
