//! CaImAn results saved with `cnm.save("file.hdf5")` (Giovannucci et al., *eLife* 8:e38173,
//! 2019). Reading needs the `hdf5` feature; [`CaimanSignal`] is always there for
//! [`ReadOptions`](super::ReadOptions).
//!
//! CaImAn writes the `CNMF` object's attributes as HDF5 groups and datasets
//! (`caiman.utils.utils.save_dict_to_hdf5`; `None` becomes the string `'NoneType'`):
//!
//! | path | content | used |
//! | --- | --- | --- |
//! | `estimates/C` | float `[component, frame]` denoised calcium | with `YrA` |
//! | `estimates/YrA` | float `[component, frame]` residual | with `C` |
//! | `estimates/F_dff` | float `[component, frame]` ΔF/F, or `'NoneType'` | when present |
//! | `params/data/fr` | scalar frame rate (Hz) | the frame rate |
//!
//! The traces are `estimates/F_dff` when the file has it (ΔF/F from
//! `cnm.estimates.detrend_df_f()`), otherwise `C + YrA`: the denoised trace **plus its
//! residual**, which keeps the noise. `C` alone is CaImAn's denoised estimate; a method that
//! estimates the noise level from the trace (CASCADE, the Elephant CNN) would see far too
//! little noise in it. Components × frames is transposed to [`CalciumTraces`]' `[time, ROI]`.
//!
//! # Example
//! ```
//! # #[cfg(feature = "hdf5")] {
//! use spikelab_data::io::caiman::{self, CaimanSignal};
//! let path = spikelab_datasets::path("readers/caiman/cnmf_results.hdf5")?;
//! let r = caiman::read_caiman(&path, CaimanSignal::Auto, None, false)?;
//! assert_eq!(r.signal, CaimanSignal::CPlusResidual);
//! assert_eq!((r.traces.n_neurons(), r.traces.frame_rate_hz()), (3, 15.0));
//! # }
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

#[cfg(feature = "hdf5")]
use std::path::Path;

#[cfg(feature = "hdf5")]
use hdf5::{File, Group};
#[cfg(feature = "hdf5")]
use ndarray::Array2;

#[cfg(feature = "hdf5")]
use super::resolve_rate;
#[cfg(feature = "hdf5")]
use crate::CalciumTraces;
#[cfg(feature = "hdf5")]
use crate::error::{DataError, Result};
#[cfg(feature = "hdf5")]
use crate::io::hdf5_guard::{check_dataset_size, error_text};

/// Which traces [`read_caiman`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CaimanSignal {
    /// `F_dff` when the file has it, else `C + YrA`. The default.
    #[default]
    Auto,
    /// `estimates/F_dff` (an error if the file has none).
    Dff,
    /// `estimates/C + estimates/YrA`.
    CPlusResidual,
}

#[cfg(feature = "hdf5")]
/// What [`read_caiman`] read.
#[derive(Debug, Clone)]
pub struct CaimanResult {
    /// `[time, component]` traces.
    pub traces: CalciumTraces,
    /// The signal read ([`CaimanSignal::Dff`] or [`CaimanSignal::CPlusResidual`]).
    pub signal: CaimanSignal,
    /// `params/data/fr`, if the file has it.
    pub file_frame_rate_hz: Option<f64>,
}

#[cfg(feature = "hdf5")]
fn err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Caiman {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

#[cfg(feature = "hdf5")]
/// `true` if the HDF5 file at `path` has CaImAn's top-level `estimates` or `params` group.
pub fn is_caiman_file(path: &Path) -> bool {
    File::open(path)
        .map(|f| f.link_exists("estimates") || f.link_exists("params"))
        .unwrap_or(false)
}

#[cfg(feature = "hdf5")]
/// A `[component, frame]` numeric dataset of `g`, or `None` if absent or `'NoneType'`.
fn matrix(path: &Path, g: &Group, name: &str) -> Result<Option<Array2<f64>>> {
    if !g.link_exists(name) {
        return Ok(None);
    }
    let ds = g
        .dataset(name)
        .map_err(|e| err(path, format!("estimates/{name}: {}", error_text(&e))))?;
    if ds.ndim() == 0 {
        // CaImAn stores None as the string 'NoneType'.
        return Ok(None);
    }
    check_dataset_size(&ds).map_err(|e| err(path, format!("estimates/{name} {e}")))?;
    let a = ds.read_2d::<f64>().map_err(|e| {
        err(
            path,
            format!(
                "estimates/{name}: expected a 2-D [component, frame] float array ({})",
                error_text(&e)
            ),
        )
    })?;
    if let Some(((k, t), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(err(
            path,
            format!(
                "estimates/{name}[{k}, {t}] is {v}: component {k} has a non-finite frame; re-run CaImAn on the movie, or drop that component before saving"
            ),
        ));
    }
    Ok(Some(a))
}

#[cfg(feature = "hdf5")]
/// `params/data/fr`, if present.
pub fn file_frame_rate_hz(path: &Path) -> Result<Option<f64>> {
    let f = File::open(path)
        .map_err(|e| err(path, format!("cannot open as HDF5 ({})", error_text(&e))))?;
    frame_rate_in(path, &f)
}

#[cfg(feature = "hdf5")]
fn frame_rate_in(path: &Path, f: &File) -> Result<Option<f64>> {
    let Ok(ds) = f.dataset("params/data/fr") else {
        return Ok(None);
    };
    if ds.ndim() != 0 {
        return Err(err(path, "params/data/fr is not a scalar"));
    }
    match ds.read_scalar::<f64>() {
        Ok(fr) if fr.is_finite() && fr > 0.0 => Ok(Some(fr)),
        Ok(fr) => Err(err(
            path,
            format!("params/data/fr = {fr}; it must be the frame rate in Hz (> 0)"),
        )),
        // 'NoneType': not set.
        Err(_) => Ok(None),
    }
}

#[cfg(feature = "hdf5")]
/// Reads CaImAn's traces (module docs) at the file's frame rate `params/data/fr`. A given
/// `frame_rate_hz` must agree with it within 1 % unless `force_frame_rate`; without either the
/// result is a [`DataError::MissingFrameRate`].
///
/// Errors ([`DataError::Caiman`], naming the file and the fix): no `estimates` group, neither
/// `F_dff` nor both `C` and `YrA`, `C` and `YrA` of different shapes, non-finite values.
pub fn read_caiman(
    path: &Path,
    signal: CaimanSignal,
    frame_rate_hz: Option<f64>,
    force_frame_rate: bool,
) -> Result<CaimanResult> {
    if !path.is_file() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let f = File::open(path)
        .map_err(|e| err(path, format!("cannot open as HDF5 ({})", error_text(&e))))?;
    let est = f.group("estimates").map_err(|_| {
        err(
            path,
            "no 'estimates' group: this is not a file written by CaImAn's cnm.save(); save the fitted CNMF object (after fit/refit) and read that file",
        )
    })?;
    let file_hz = frame_rate_in(path, &f)?;
    let rate = resolve_rate(path, file_hz, frame_rate_hz, force_frame_rate)?;
    let dff = if signal == CaimanSignal::CPlusResidual {
        None
    } else {
        matrix(path, &est, "F_dff")?
    };
    let (values, used) = match (dff, signal) {
        (Some(d), _) => (d, CaimanSignal::Dff),
        (None, CaimanSignal::Dff) => {
            return Err(err(
                path,
                "estimates/F_dff is missing or None; run cnm.estimates.detrend_df_f() before cnm.save(), or read C + YrA (CaimanSignal::CPlusResidual)",
            ));
        }
        (None, _) => {
            let c = matrix(path, &est, "C")?;
            let yra = matrix(path, &est, "YrA")?;
            match (c, yra) {
                (Some(c), Some(y)) if c.dim() == y.dim() => (c + y, CaimanSignal::CPlusResidual),
                (Some(c), Some(y)) => {
                    return Err(err(
                        path,
                        format!(
                            "estimates/C is {:?} but estimates/YrA is {:?} ([component, frame]); they must come from the same fit",
                            c.dim(),
                            y.dim()
                        ),
                    ));
                }
                (Some(_), None) => {
                    return Err(err(
                        path,
                        "estimates/YrA is missing: C alone is the denoised trace and would understate the noise; save the CNMF object with its residuals",
                    ));
                }
                _ => {
                    return Err(err(
                        path,
                        "estimates has neither F_dff nor C and YrA: the CNMF object was saved before fitting",
                    ));
                }
            }
        }
    };
    let traces = CalciumTraces::new(values.t().as_standard_layout().into_owned(), rate)?;
    Ok(CaimanResult {
        traces,
        signal: used,
        file_frame_rate_hz: file_hz,
    })
}
