//! Suite2p plane folders (`suite2p/plane0/`), as Suite2p's pipeline writes them
//! (Pachitariu et al., bioRxiv 061507, 2016).
//!
//! | file | content | used for |
//! | --- | --- | --- |
//! | `F.npy` | float32 `[ROI, frame]` ROI fluorescence | always |
//! | `Fneu.npy` | float32 `[ROI, frame]` neuropil fluorescence | [`Suite2pSignal::Corrected`], [`Suite2pSignal::DfOverF`] |
//! | `spks.npy` | float32 `[ROI, frame]` deconvolved activity | [`Suite2pSignal::Deconvolved`] |
//! | `iscell.npy` | float `[ROI, 2]`: column 0 is 0/1 (cell or not), column 1 the classifier's probability | [`CellFilter`] |
//! | `ops.npy` (≤ v0.14) or `settings.npy` (v1) | a dict pickled by `np.save`; key `fs` = frame rate per plane (Hz) | the frame rate |
//!
//! Note the axis order: Suite2p stores **ROIs × frames**; [`CalciumTraces`] is `[time, ROI]`,
//! so the arrays are transposed on reading. `ops.npy`/`settings.npy` are read by a symbolic
//! pickle interpreter that never imports or calls anything (only `fs` is used).
//!
//! # Signals
//!
//! * neuropil-corrected fluorescence `Fc = F − c·Fneu` with `c` =
//!   [`Suite2pOptions::neuropil_coefficient`] (0.7, Suite2p's default `neucoeff`);
//! * ΔF/F (the default) `(Fc − F0) / F0` with a constant baseline per ROI, `F0` = the
//!   [`Suite2pOptions::baseline_percentile`]-th percentile of that ROI's `Fc` over the whole
//!   recording (8, as Suite2p's `constant_percentile` baseline with `prctile_baseline = 8`;
//!   NumPy's linear interpolation). A ROI whose `F0 ≤ 0` (neuropil larger than the ROI) is an
//!   error that names it, never a division by ~0;
//! * raw `F`, or Suite2p's deconvolved `spks`.
//!
//! # Example
//! ```
//! use spikelab_data::io::suite2p::{self, Suite2pOptions};
//! let dir = spikelab_datasets::path("readers/suite2p/plane0")?;
//! let plane = suite2p::read_plane(&dir, &Suite2pOptions::default(), None, false)?;
//! assert_eq!(plane.traces.frame_rate_hz(), 30.0); // from ops.npy
//! assert_eq!(plane.rois, vec![0, 2, 3]);          // the ROIs with iscell[:, 0] == 1
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use spikelab_core::stats::{NanPolicy, percentile};

use super::{npy, pickle, resolve_rate};
use crate::CalciumTraces;
use crate::error::{DataError, Result};

/// Which ROIs to keep.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum CellFilter {
    /// ROIs that Suite2p's classifier (or the user, in the GUI) marked as cells:
    /// `iscell[:, 0] == 1`. The default.
    #[default]
    Classifier,
    /// ROIs whose cell probability `iscell[:, 1]` is at least this value (0…1).
    MinProbability(f64),
    /// Every ROI (`iscell.npy` is not needed).
    All,
}

/// What the traces hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Suite2pSignal {
    /// ΔF/F of the neuropil-corrected fluorescence (module docs). The default.
    #[default]
    DfOverF,
    /// Neuropil-corrected fluorescence `F − c·Fneu`.
    Corrected,
    /// Raw ROI fluorescence `F`.
    Raw,
    /// Suite2p's deconvolved activity `spks`.
    Deconvolved,
}

/// How [`read_plane`] turns a plane folder into traces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suite2pOptions {
    /// Neuropil coefficient `c` in `F − c·Fneu` (default 0.7; 0…1).
    pub neuropil_coefficient: f64,
    /// Which ROIs to keep (default: the classifier's cells).
    pub cells: CellFilter,
    /// Which signal to return (default ΔF/F).
    pub signal: Suite2pSignal,
    /// Percentile (0…100) of the corrected trace used as the ΔF/F baseline `F0` (default 8).
    pub baseline_percentile: f64,
}

impl Default for Suite2pOptions {
    fn default() -> Self {
        Suite2pOptions {
            neuropil_coefficient: 0.7,
            cells: CellFilter::Classifier,
            signal: Suite2pSignal::DfOverF,
            baseline_percentile: 8.0,
        }
    }
}

impl Suite2pOptions {
    fn validate(&self) -> Result<()> {
        let c = self.neuropil_coefficient;
        if !(c.is_finite() && (0.0..=1.0).contains(&c)) {
            return Err(DataError::param(
                "neuropil_coefficient",
                format!("must be in 0…1, got {c}"),
            ));
        }
        let p = self.baseline_percentile;
        if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
            return Err(DataError::param(
                "baseline_percentile",
                format!("must be in 0…100, got {p}"),
            ));
        }
        if let CellFilter::MinProbability(q) = self.cells
            && !(q.is_finite() && (0.0..=1.0).contains(&q))
        {
            return Err(DataError::param(
                "cells",
                format!("a minimum cell probability must be in 0…1, got {q}"),
            ));
        }
        Ok(())
    }
}

/// A plane folder read by [`read_plane`].
#[derive(Debug, Clone)]
pub struct Suite2pPlane {
    /// `[time, ROI]` traces of the kept ROIs at the frame rate.
    pub traces: CalciumTraces,
    /// For each column of `traces`, the ROI's row in Suite2p's arrays (and `stat.npy`).
    pub rois: Vec<usize>,
    /// Number of ROIs in the folder before filtering.
    pub n_rois_total: usize,
    /// The frame rate stored in `ops.npy`/`settings.npy`, if any.
    pub file_frame_rate_hz: Option<f64>,
}

fn err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Suite2p {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `true` if `dir` looks like a Suite2p plane folder: it holds `F.npy` and one of
/// `iscell.npy`, `ops.npy`, `settings.npy`, `stat.npy`.
pub fn is_plane_folder(dir: &Path) -> bool {
    dir.join("F.npy").is_file()
        && ["iscell.npy", "ops.npy", "settings.npy", "stat.npy"]
            .iter()
            .any(|f| dir.join(f).is_file())
}

/// The frame rate `fs` of a plane folder: from `ops.npy` if present, else `settings.npy`;
/// `Ok(None)` if neither file exists or neither has `fs`. A file that exists but is not a
/// pickled dict, or whose `fs` is not a positive number, is a [`DataError::Suite2p`].
pub fn file_frame_rate_hz(dir: &Path) -> Result<Option<f64>> {
    for name in ["ops.npy", "settings.npy"] {
        let p = dir.join(name);
        if !p.is_file() {
            continue;
        }
        let bytes = std::fs::read(&p).map_err(|e| DataError::io(&p, e))?;
        let (pk, d) = pickle::read_saved_dict(&bytes).map_err(|m| {
            err(
                &p,
                format!("{m}; expected the dict Suite2p saves with np.save"),
            )
        })?;
        let Some(v) = pk.dict_get(d, "fs") else {
            continue;
        };
        let fs = pk
            .as_f64(v)
            .ok_or_else(|| err(&p, format!("'fs' is not a number ({:?})", pk.get(v))))?;
        if !(fs.is_finite() && fs > 0.0) {
            return Err(err(&p, format!("'fs' = {fs}, must be > 0 Hz")));
        }
        return Ok(Some(fs));
    }
    Ok(None)
}

/// Reads `[ROI, frame]` from `name`, as f64.
fn roi_by_frame(dir: &Path, name: &str, what: &str) -> Result<Array2<f64>> {
    let p = dir.join(name);
    if !p.is_file() {
        return Err(err(
            &p,
            format!(
                "missing: {what} is needed; point at a Suite2p plane folder (e.g. suite2p/plane0) that holds it"
            ),
        ));
    }
    let a = npy::read_any(&p)?;
    let shape = a.data.shape().to_vec();
    a.data.into_dimensionality::<ndarray::Ix2>().map_err(|_| {
        err(
            &p,
            format!("expected 2-D [ROI, frame], got shape {shape:?}"),
        )
    })
}

fn check_same_shape(dir: &Path, name: &str, a: &Array2<f64>, f: &Array2<f64>) -> Result<()> {
    if a.dim() != f.dim() {
        return Err(err(
            &dir.join(name),
            format!(
                "shape {:?} does not match F.npy {:?} ([ROI, frame]); both must come from the same Suite2p run",
                a.dim(),
                f.dim()
            ),
        ));
    }
    Ok(())
}

fn check_finite(dir: &Path, name: &str, a: &Array2<f64>) -> Result<()> {
    if let Some(((roi, frame), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(err(
            &dir.join(name),
            format!(
                "ROI {roi} frame {frame} is {v}; Suite2p writes finite values, so this file is damaged or was edited: re-run extraction or remove the bad frames"
            ),
        ));
    }
    Ok(())
}

fn kept_rois(dir: &Path, n_rois: usize, cells: CellFilter) -> Result<Vec<usize>> {
    if cells == CellFilter::All {
        return Ok((0..n_rois).collect());
    }
    let p = dir.join("iscell.npy");
    if !p.is_file() {
        return Err(err(
            &p,
            "missing: it says which ROIs are cells; add it, or keep every ROI (CellFilter::All, --all-rois)",
        ));
    }
    let a = npy::read_any(&p)?.data;
    let shape = a.shape().to_vec();
    let (is_cell, prob): (Vec<f64>, Option<Vec<f64>>) = match shape.as_slice() {
        [n, 2] if *n == n_rois => (
            a.index_axis(Axis(1), 0).iter().copied().collect(),
            Some(a.index_axis(Axis(1), 1).iter().copied().collect()),
        ),
        [n] if *n == n_rois => (a.iter().copied().collect(), None),
        _ => {
            return Err(err(
                &p,
                format!(
                    "shape {shape:?} does not match the {n_rois} ROIs of F.npy (expected [{n_rois}, 2]); both must come from the same Suite2p run"
                ),
            ));
        }
    };
    Ok(match cells {
        CellFilter::MinProbability(q) => {
            let prob = prob
                .ok_or_else(|| err(&p, "has no probability column; use CellFilter::Classifier"))?;
            (0..n_rois).filter(|&i| prob[i] >= q).collect()
        }
        _ => (0..n_rois).filter(|&i| is_cell[i] == 1.0).collect(),
    })
}

/// Reads a Suite2p plane folder (module docs). `frame_rate_hz` overrides nothing unless
/// `force`: when the folder stores `fs`, a given rate must agree with it within 1 %
/// ([`DataError::FrameRateMismatch`]); when it does not, the given rate is used and its
/// absence is a [`DataError::MissingFrameRate`].
///
/// Errors ([`DataError::Suite2p`], naming the file and the fix): a missing `F.npy`,
/// `Fneu.npy` (for corrected/ΔF/F), `spks.npy` (for deconvolved) or `iscell.npy` (unless
/// [`CellFilter::All`]); arrays whose shapes differ; non-finite values; an unreadable
/// `ops.npy`; a ROI whose ΔF/F baseline is not positive; no ROI left after filtering.
pub fn read_plane(
    dir: &Path,
    opts: &Suite2pOptions,
    frame_rate_hz: Option<f64>,
    force_frame_rate: bool,
) -> Result<Suite2pPlane> {
    opts.validate()?;
    if !dir.is_dir() {
        return Err(err(dir, "not a folder; expected a Suite2p plane folder"));
    }
    let f = roi_by_frame(dir, "F.npy", "the ROI fluorescence F.npy")?;
    let (n_rois, _) = f.dim();
    let file_hz = file_frame_rate_hz(dir)?;
    let rate_path: PathBuf = if dir.join("ops.npy").is_file() {
        dir.join("ops.npy")
    } else if dir.join("settings.npy").is_file() {
        dir.join("settings.npy")
    } else {
        dir.to_path_buf()
    };
    let rate = resolve_rate(&rate_path, file_hz, frame_rate_hz, force_frame_rate)?;
    let rois = kept_rois(dir, n_rois, opts.cells)?;
    if rois.is_empty() {
        return Err(err(
            &dir.join("iscell.npy"),
            format!(
                "none of the {n_rois} ROIs passes the cell filter {:?}; lower the threshold or keep every ROI",
                opts.cells
            ),
        ));
    }
    let values = match opts.signal {
        Suite2pSignal::Raw => {
            check_finite(dir, "F.npy", &f)?;
            f
        }
        Suite2pSignal::Deconvolved => {
            let s = roi_by_frame(dir, "spks.npy", "the deconvolved activity spks.npy")?;
            check_same_shape(dir, "spks.npy", &s, &f)?;
            check_finite(dir, "spks.npy", &s)?;
            s
        }
        Suite2pSignal::Corrected | Suite2pSignal::DfOverF => {
            check_finite(dir, "F.npy", &f)?;
            let c = opts.neuropil_coefficient;
            if c == 0.0 {
                f
            } else {
                let neu = roi_by_frame(dir, "Fneu.npy", "the neuropil fluorescence Fneu.npy")?;
                check_same_shape(dir, "Fneu.npy", &neu, &f)?;
                check_finite(dir, "Fneu.npy", &neu)?;
                f - neu * c
            }
        }
    };
    let mut kept = values.select(Axis(0), &rois);
    if opts.signal == Suite2pSignal::DfOverF {
        for (k, mut row) in kept.rows_mut().into_iter().enumerate() {
            let trace: Vec<f64> = row.to_vec();
            let f0 = percentile(&trace, opts.baseline_percentile, NanPolicy::Raise)
                .map_err(|e| err(&dir.join("F.npy"), format!("ROI {}: {e}", rois[k])))?;
            if !(f0.is_finite() && f0 > 0.0) {
                return Err(err(
                    &dir.join("F.npy"),
                    format!(
                        "ROI {}: ΔF/F baseline F0 = {f0} (the {}th percentile of F − {}·Fneu) is not positive; lower neuropil_coefficient, or read the corrected fluorescence (Suite2pSignal::Corrected) instead of ΔF/F",
                        rois[k], opts.baseline_percentile, opts.neuropil_coefficient
                    ),
                ));
            }
            row.mapv_inplace(|v| (v - f0) / f0);
        }
    }
    let traces = CalciumTraces::new(kept.t().as_standard_layout().into_owned(), rate)?;
    Ok(Suite2pPlane {
        traces,
        rois,
        n_rois_total: n_rois,
        file_frame_rate_hz: file_hz,
    })
}
