//! spikelab's recording folder: a plain binary file described by a JSON sidecar, with an
//! optional ground-truth sorting beside it (what `spikelab synth recording` writes, and what
//! spikeinterface reads with `read_binary`).
//!
//! ```text
//! DIR/recording.json         {"format": "spikelab-recording", "version": 1, "data_file": "recording.dat",
//!                             "dtype": "float32", "n_channels": C, "n_samples": N,
//!                             "sampling_rate_hz": fs, "positions_um": [[x, y], …],
//!                             "contact_radius_um": r, "gain_to_uv": [...], "offset_to_uv": [...]}
//! DIR/recording.dat          [sample, channel] little-endian, interleaved
//! DIR/ground_truth/frames.npy   int64 spike frames, sorted by frame then unit
//! DIR/ground_truth/labels.npy   int64 unit id of each spike
//! ```
//!
//! # Example
//! ```
//! use ndarray::Array2;
//! use spikelab_data::io::raw::{RawOptions, RecordingSource, folder, open_recording};
//! use spikelab_data::{Probe, Recording, Sorting};
//! let base = tempfile::tempdir()?;
//! let dir = base.path().join("rec");
//! let rec = Recording::new(Array2::from_elem((300, 4), 1.5), 30_000.0, Probe::tetrode(20.0))?;
//! let gt = Sorting::new(vec![0], vec![vec![10, 200]], 30_000.0, 300)?;
//! folder::write(&dir, &rec, Some(&gt), false)?;
//! let back = open_recording(&dir, &RawOptions::default())?;
//! assert_eq!((back.n_samples(), back.n_channels()), (300, 4));
//! assert_eq!(back.probe(), rec.probe());
//! assert_eq!(folder::read_ground_truth(&dir)?, Some(gt));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array1;
use serde::{Deserialize, Serialize};

use super::{BinaryOptions, BinaryRecording, Dtype};
use crate::error::{DataError, Result};
use crate::io::npy;
use crate::{Probe, Recording, Sorting};

/// File name of the sidecar.
pub const SIDECAR: &str = "recording.json";

/// The sidecar's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderMeta {
    /// Always `"spikelab-recording"`.
    pub format: String,
    /// Layout version (1).
    pub version: u32,
    /// Data file name, relative to the folder.
    pub data_file: String,
    /// NumPy dtype name of the data file.
    pub dtype: String,
    /// Channels per sample row.
    pub n_channels: usize,
    /// Sample rows.
    pub n_samples: usize,
    /// Sampling rate in Hz.
    pub sampling_rate_hz: f64,
    /// Contact positions `[x, y]` in µm, one per channel.
    pub positions_um: Vec<[f64; 2]>,
    /// Contact radius in µm.
    pub contact_radius_um: f64,
    /// Gain to µV per channel.
    pub gain_to_uv: Vec<f32>,
    /// Offset in µV per channel.
    pub offset_to_uv: Vec<f32>,
}

/// The sidecar path of `path` when `path` is a recording folder or its `recording.json`.
pub fn sidecar_path(path: &Path) -> Option<PathBuf> {
    if path.file_name().is_some_and(|n| n == SIDECAR) {
        return Some(path.to_path_buf());
    }
    let p = path.join(SIDECAR);
    p.is_file().then_some(p)
}

fn folder_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::WrongContent {
        path: path.to_path_buf(),
        wanted: "a spikelab recording folder (recording.json + data file)".into(),
        found: reason.into(),
    }
}

/// Reads the sidecar of the folder (or `recording.json`) at `path`.
///
/// Errors: [`DataError::Io`]; [`DataError::WrongContent`] for another JSON or a bad layout.
pub fn read_meta(path: &Path) -> Result<(PathBuf, FolderMeta)> {
    let side = sidecar_path(path).ok_or_else(|| folder_err(path, "no recording.json"))?;
    let text = std::fs::read_to_string(&side).map_err(|e| DataError::io(&side, e))?;
    let meta: FolderMeta =
        serde_json::from_str(&text).map_err(|e| folder_err(&side, e.to_string()))?;
    if meta.format != "spikelab-recording" || meta.version != 1 {
        return Err(folder_err(
            &side,
            format!("format {:?} version {}", meta.format, meta.version),
        ));
    }
    let dir = side.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((dir, meta))
}

/// Opens the folder (or its `recording.json`) as a lazy [`BinaryRecording`]; the data file's
/// size must match `n_samples` rows.
///
/// Errors: as [`read_meta`] and [`BinaryRecording::open`]; [`DataError::WrongContent`] if the
/// file holds a different number of samples than the sidecar says.
pub fn open(path: &Path) -> Result<BinaryRecording> {
    let (dir, meta) = read_meta(path)?;
    let probe = Probe::new(meta.positions_um.clone(), meta.contact_radius_um)?;
    let opts = BinaryOptions {
        gain_to_uv: Some(meta.gain_to_uv.clone()),
        offset_to_uv: Some(meta.offset_to_uv.clone()),
        probe: Some(probe),
        ..BinaryOptions::new(
            Dtype::parse(&meta.dtype)?,
            meta.n_channels,
            meta.sampling_rate_hz,
        )
    };
    let data = dir.join(&meta.data_file);
    let rec = BinaryRecording::open(&data, &opts)?;
    if super::RecordingSource::n_samples(&rec) != meta.n_samples {
        return Err(folder_err(
            &data,
            format!(
                "{} samples where recording.json says {}; the data file was cut or replaced",
                super::RecordingSource::n_samples(&rec),
                meta.n_samples
            ),
        ));
    }
    Ok(rec)
}

/// Writes `rec` (float32) and, if given, the ground truth into the existing folder `dir`
/// (each file refuses to replace an existing one). Use [`write()`] for a whole new folder.
///
/// Errors: [`DataError::Io`]; [`DataError::AlreadyExists`]; [`DataError::Shape`] if the ground
/// truth's sampling rate or length differs from the recording's.
pub fn write_files(dir: &Path, rec: &Recording, ground_truth: Option<&Sorting>) -> Result<()> {
    if let Some(gt) = ground_truth
        && (gt.sampling_rate_hz() != rec.sampling_rate_hz()
            || gt.n_samples() != rec.n_samples() as i64)
    {
        return Err(DataError::Shape {
            what: "ground truth".into(),
            expected: format!(
                "{} samples at {} Hz",
                rec.n_samples(),
                rec.sampling_rate_hz()
            ),
            got: format!("{} samples at {} Hz", gt.n_samples(), gt.sampling_rate_hz()),
        });
    }
    let data = dir.join("recording.dat");
    crate::io::write_atomic(&data, false, |tmp| {
        let f = std::fs::File::create(tmp).map_err(|e| DataError::io(tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        for row in rec.traces().rows() {
            for v in row {
                w.write_all(&v.to_le_bytes())
                    .map_err(|e| DataError::io(tmp, e))?;
            }
        }
        w.flush().map_err(|e| DataError::io(tmp, e))
    })?;
    let meta = FolderMeta {
        format: "spikelab-recording".into(),
        version: 1,
        data_file: "recording.dat".into(),
        dtype: "float32".into(),
        n_channels: rec.n_channels(),
        n_samples: rec.n_samples(),
        sampling_rate_hz: rec.sampling_rate_hz(),
        positions_um: rec.probe().positions_um().to_vec(),
        contact_radius_um: rec.probe().contact_radius_um(),
        gain_to_uv: rec.gain_to_uv().to_vec(),
        offset_to_uv: rec.offset_to_uv().to_vec(),
    };
    crate::io::write_json(&dir.join(SIDECAR), &meta, false)?;
    if let Some(gt) = ground_truth {
        let gdir = dir.join("ground_truth");
        std::fs::create_dir_all(&gdir).map_err(|e| DataError::io(&gdir, e))?;
        let spikes = gt.spike_vector();
        let frames: Array1<i64> = spikes.iter().map(|s| s.0).collect();
        let labels: Array1<i64> = spikes.iter().map(|s| gt.unit_ids()[s.1]).collect();
        npy::write(&gdir.join("frames.npy"), &frames, false)?;
        npy::write(&gdir.join("labels.npy"), &labels, false)?;
    }
    Ok(())
}

/// Writes a new recording folder atomically ([`crate::io::write_dir_atomic`]); an existing
/// `dir` is an error unless `overwrite`.
///
/// Errors: as [`write_files`].
pub fn write(
    dir: &Path,
    rec: &Recording,
    ground_truth: Option<&Sorting>,
    overwrite: bool,
) -> Result<()> {
    crate::io::write_dir_atomic(dir, overwrite, |tmp| write_files(tmp, rec, ground_truth))
}

/// The ground truth stored in the folder, if any.
///
/// Errors: [`DataError::Io`], [`DataError::Npy`] and the checks of
/// [`Sorting::from_samples_and_labels`].
pub fn read_ground_truth(path: &Path) -> Result<Option<Sorting>> {
    let (dir, meta) = read_meta(path)?;
    let gdir = dir.join("ground_truth");
    if !gdir.join("frames.npy").is_file() {
        return Ok(None);
    }
    let frames: Array1<i64> = npy::read_typed(&gdir.join("frames.npy"))?;
    let labels: Array1<i64> = npy::read_typed(&gdir.join("labels.npy"))?;
    Sorting::from_samples_and_labels(
        frames.as_slice().unwrap_or(&frames.to_vec()),
        labels.as_slice().unwrap_or(&labels.to_vec()),
        meta.sampling_rate_hz,
        meta.n_samples as i64,
    )
    .map(Some)
}
