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

/// Writes `path` atomically: `write` fills a temporary file (hidden, in the same folder, so the
/// rename cannot cross file systems), which is synced and then moved onto `path`. A reader, or a
/// user after a crash or a `kill -9`, sees either no file or the complete one, never a half
/// written one; a killed writer may leave its `.NAME.*.tmp` behind. An existing `path` is an
/// [`DataError::AlreadyExists`] unless `overwrite` (checked first, and again atomically at the
/// end: the file is linked into place, which fails if another writer got there first).
///
/// ```
/// use spikelab_data::io::write_atomic;
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("out.txt");
/// write_atomic(&p, false, |tmp| std::fs::write(tmp, "hello").map_err(|e| spikelab_data::DataError::io(tmp, e)))?;
/// assert_eq!(std::fs::read_to_string(&p)?, "hello");
/// assert!(write_atomic(&p, false, |_| Ok::<(), spikelab_data::DataError>(())).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic<E: From<DataError>>(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    check_writable(path, overwrite)?;
    let name = path.file_name().ok_or_else(|| DataError::InvalidParameter {
        name: "path",
        reason: format!("{}: has no file name", path.display()),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| DataError::io(&tmp, e))?;
        if overwrite {
            return std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e).into());
        }
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => std::fs::remove_file(&tmp).map_err(|e| DataError::io(&tmp, e).into()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(DataError::AlreadyExists {
                    path: path.to_path_buf(),
                }
                .into())
            }
            // File systems without hard links: the check at the start has to do.
            Err(_) => std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e).into()),
        }
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] of bytes already in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomic(path, overwrite, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| DataError::io(tmp, e))
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
