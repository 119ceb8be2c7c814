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
//! | Suite2p plane folder | [`suite2p`] | [`CalciumTraces`](crate::CalciumTraces) (ΔF/F, corrected, raw or deconvolved; cells only) |
//! | CaImAn `cnm.save` HDF5 (feature `hdf5`) | [`caiman`] | [`CalciumTraces`](crate::CalciumTraces) (`F_dff`, or `C + YrA`) |
//! | SpikeInterface sorting folder | [`spikeinterface`] | [`SpikeTrains`](crate::SpikeTrains) |
//! | probeinterface JSON (`.json[.gz]`) | [`probe`] | [`Probe`](crate::Probe) (read and write) |
//! | raw voltage: SpikeGLX, Open Ephys binary, plain binary, NWB `ElectricalSeries` | [`raw`] | lazy [`RecordingSource`](crate::RecordingSource), [`Recording`](crate::Recording) |
//!
//! [`open`] reads any of them with the format and content detected in one place, and
//! [`read_traces`], [`read_raster`], [`read_spike_trains`], [`read_population_activity`]
//! read one type ([`ReadOptions`] says what the file does not).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

mod atomic;
pub mod caiman;
pub mod csv;
#[cfg(feature = "hdf5")]
pub mod hdf5_guard;
pub mod kilosort;
pub mod mat;
pub mod npy;
#[cfg(feature = "hdf5")]
pub mod nwb;
mod open;
mod pickle;
pub mod probe;
pub mod raw;
pub mod spikeinterface;
pub mod suite2p;

pub use atomic::{write_atomic, write_bytes_atomic, write_dir_atomic, write_json};
pub use open::{
    Content, Loaded, ReadOptions, open, read_population_activity, read_raster, read_spike_trains,
    read_traces, spike_time_resolution_s,
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

/// The frame rate to use, given what the file stores and what the caller gave: the file's,
/// unless the caller's differs by more than 1 % (an error unless `force`, which takes the
/// caller's); the caller's when the file has none; an error naming the option when neither.
pub(crate) fn resolve_rate(
    path: &Path,
    file_hz: Option<f64>,
    given_hz: Option<f64>,
    force: bool,
) -> Result<f64> {
    match (file_hz, given_hz) {
        (Some(f), None) => Ok(f),
        (None, Some(g)) => Ok(g),
        (None, None) => Err(DataError::MissingFrameRate {
            path: path.to_path_buf(),
            option: "frame_rate_hz (CLI: --fps)",
        }),
        (Some(_), Some(g)) if force => Ok(g),
        (Some(f), Some(g)) if ((g - f) / f).abs() <= 0.01 => Ok(f),
        (Some(f), Some(g)) => Err(DataError::FrameRateMismatch {
            path: path.to_path_buf(),
            file_hz: f,
            given_hz: g,
        }),
    }
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
    /// A Suite2p plane folder (`F.npy`, `iscell.npy`, `ops.npy`, …).
    Suite2p,
    /// A CaImAn HDF5 file written by `cnm.save` (`estimates`, `params`).
    Caiman,
    /// A SpikeInterface `NumpyFolderSorting` folder (`numpysorting_info.json`, `spikes.npy`).
    SpikeInterface,
}

impl Format {
    /// Recognises a format. A folder is read by its content: `F.npy` plus `iscell.npy`,
    /// `ops.npy`, `settings.npy` or `stat.npy` → Suite2p; `numpysorting_info.json` and
    /// `spikes.npy` → SpikeInterface; anything else → Kilosort/phy (whose reader says what is
    /// missing). A file by its extension: `.csv[.gz]`, `.npy`, `.mat[.gz]`, `.nwb`; `.h5` and
    /// `.hdf5` are CaImAn when they hold a top-level `estimates` or `params` group (feature
    /// `hdf5`), NWB otherwise.
    pub fn detect(path: &Path) -> Result<Format> {
        if path.is_dir() {
            return Ok(if suite2p::is_plane_folder(path) {
                Format::Suite2p
            } else if spikeinterface::is_sorting_folder(path) {
                Format::SpikeInterface
            } else {
                Format::Kilosort
            });
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
        } else if name.ends_with(".nwb") {
            Format::Nwb
        } else if name.ends_with(".h5") || name.ends_with(".hdf5") {
            #[cfg(feature = "hdf5")]
            if caiman::is_caiman_file(path) {
                return Ok(Format::Caiman);
            }
            Format::Nwb
        } else {
            return Err(DataError::UnknownFormat {
                path: PathBuf::from(path),
                reason: "expected a folder (Suite2p plane, SpikeInterface sorting, Kilosort/phy) or .csv[.gz], .npy, .mat[.gz], .nwb, .h5/.hdf5 (NWB or CaImAn)".into(),
            });
        };
        Ok(fmt)
    }
}

/// A spike sorting in sample frames from any folder that holds one: a spikelab recording
/// folder's ground truth ([`raw::folder`]), a Kilosort/phy folder, or a spikeinterface
/// `NumpyFolderSorting` (first segment).
///
/// Errors: [`DataError::UnknownFormat`] for anything else; the readers' errors.
pub fn open_sorting(path: &Path) -> Result<crate::Sorting> {
    if raw::folder::sidecar_path(path).is_some() {
        return raw::folder::read_ground_truth(path)?.ok_or_else(|| DataError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "the recording folder has no ground_truth/".into(),
        });
    }
    if path.join("spike_times.npy").is_file() {
        return kilosort::read_phy_sorting(path);
    }
    if spikeinterface::is_sorting_folder(path) {
        let s = spikeinterface::read_sorting(path, 0)?;
        let fs = s.sampling_frequency_hz;
        let frames: Vec<Vec<i64>> = s
            .trains
            .trains()
            .iter()
            .map(|t| t.iter().map(|&x| (x * fs).round() as i64).collect())
            .collect();
        let n = (s.trains.t_stop_s() * fs).round() as i64;
        let last = frames.iter().flatten().copied().max().unwrap_or(-1);
        return crate::Sorting::new(s.trains.unit_ids().to_vec(), frames, fs, n.max(last + 1));
    }
    Err(DataError::UnknownFormat {
        path: path.to_path_buf(),
        reason: "not a spikelab recording folder with ground_truth/, a phy/Kilosort folder (spike_times.npy) or a spikeinterface sorting folder".into(),
    })
}
