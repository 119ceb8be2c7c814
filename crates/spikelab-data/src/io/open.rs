//! One entry point for reading a recording: [`open`] and the typed readers [`read_traces`],
//! [`read_raster`], [`read_spike_trains`], [`read_population_activity`]. The format comes
//! from [`ReadOptions::format`] or the path ([`Format::detect`]); what the file holds comes
//! from [`ReadOptions::content`] or, if unset, from the file's content (never from its name):
//!
//! | format | content decided by |
//! | --- | --- |
//! | CSV | all values non-negative whole numbers (or NaN) → spike-count raster, else calcium traces |
//! | NPY | integer dtype, 2-D → raster; otherwise a plain array |
//! | MAT | c2s `data` struct or CASCADE `CAttached` → traces; else the variable named by [`ReadOptions::variable`] (or the file's only variable, or its only 2-D matrix): whole numbers → raster, else a plain array |
//! | Kilosort/phy folder | spike trains |
//! | NWB | `/units` → spike trains, else the first `RoiResponseSeries` → traces |
//! | Suite2p plane folder | traces ([`ReadOptions::suite2p`]) |
//! | CaImAn HDF5 | traces ([`ReadOptions::caiman`]) |
//! | SpikeInterface sorting folder | spike trains (segment [`ReadOptions::segment`]) |
//!
//! Spike trains become a raster at [`ReadOptions::bin_s`] when a raster is asked for.
//!
//! **Frame rates.** A file that stores its rate (c2s/CASCADE MAT, NWB, Suite2p `ops.npy`,
//! CaImAn `params/data/fr`) is read at that rate; [`ReadOptions::frame_rate_hz`], when given,
//! must agree with it within 1 % unless [`ReadOptions::force_frame_rate`] is set (then the
//! given rate wins). A file that stores none (CSV, NPY, MAT matrices, a Suite2p folder without
//! `fs`) needs the rate given: otherwise [`DataError::MissingFrameRate`] names the option.
//!
//! ```
//! use spikelab_data::io::{self, Loaded, ReadOptions};
//! let p = spikelab_datasets::spikefinder_calcium(5, spikelab_datasets::Split::Test)?;
//! let at_100_hz = ReadOptions { frame_rate_hz: Some(100.0), ..Default::default() };
//! match io::open(&p, &at_100_hz)? {
//!     Loaded::Traces(t) => assert_eq!(t.n_neurons(), 8),
//!     other => panic!("expected traces, got {}", other.kind()),
//! }
//! let counts = spikelab_datasets::spikefinder_spikes(5, spikelab_datasets::Split::Test)?;
//! let r = io::read_raster(&counts, &ReadOptions { bin_s: Some(0.01), ..Default::default() })?;
//! assert_eq!(r.n_neurons(), 8);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::path::Path;

use ndarray::Array2;

use super::suite2p::Suite2pOptions;
use super::{Format, caiman::CaimanSignal, csv, kilosort, mat, npy, resolve_rate};
use crate::error::{DataError, Result};
use crate::{BinnedRaster, CalciumTraces, PopulationActivity, SpikeTrains};

/// What a file is to be read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Content {
    /// Calcium traces `[time, neuron]`.
    Traces,
    /// A `[neuron, bin]` spike-count raster.
    Raster,
    /// Spike trains (seconds).
    SpikeTrains,
    /// A plain numeric array (NPY, MAT matrix).
    Array,
}

/// How [`open`] reads a file. `Default`: format from the path, content from the file, the
/// frame rate from the file (an error for files that store none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadOptions {
    /// The format; `None` detects it from the path ([`Format::detect`]).
    pub format: Option<Format>,
    /// What the file holds; `None` lets the content decide (module docs).
    pub content: Option<Content>,
    /// Frame rate (Hz): needed for traces stored without one (CSV, NPY, MAT matrices); for
    /// files that store one it must agree within 1 % (module docs). `None`: the file's.
    pub frame_rate_hz: Option<f64>,
    /// Use [`ReadOptions::frame_rate_hz`] even where the file stores a different rate.
    pub force_frame_rate: bool,
    /// Bin width (s) of rasters stored without one, and for binning spike trains in
    /// [`read_raster`]; `None` is `1 / frame_rate_hz`.
    pub bin_s: Option<f64>,
    /// The MAT variable to read.
    pub variable: Option<String>,
    /// Matrix traces are stored `[neuron, time]` (transposed on reading).
    pub neurons_first: bool,
    /// How a Suite2p plane folder becomes traces (neuropil coefficient, cell filter, signal).
    pub suite2p: Suite2pOptions,
    /// Which CaImAn traces to read (`F_dff` when present, else `C + YrA`).
    pub caiman: CaimanSignal,
    /// Segment of a multi-segment SpikeInterface sorting (default 0).
    pub segment: usize,
}

impl ReadOptions {
    fn effective_bin_s(&self, path: &Path) -> Result<f64> {
        match (self.bin_s, self.frame_rate_hz) {
            (Some(b), _) => Ok(b),
            (None, Some(r)) => Ok(1.0 / r),
            (None, None) => Err(DataError::MissingFrameRate {
                path: path.to_path_buf(),
                option: "bin_s or frame_rate_hz (CLI: --bin-s or --fps)",
            }),
        }
    }

    /// The rate of traces stored without one.
    fn given_rate(&self, path: &Path) -> Result<f64> {
        resolve_rate(path, None, self.frame_rate_hz, self.force_frame_rate)
    }

    /// Traces that carry the file's rate, checked against (or, forced, replaced by) the given
    /// one.
    fn checked(&self, path: &Path, t: CalciumTraces) -> Result<CalciumTraces> {
        let file = t.frame_rate_hz();
        let rate = resolve_rate(path, Some(file), self.frame_rate_hz, self.force_frame_rate)?;
        if rate == file {
            Ok(t)
        } else {
            CalciumTraces::new(t.data().clone(), rate)
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, v: f64| DataError::InvalidParameter {
            name,
            reason: format!("must be finite and > 0, got {v}"),
        };
        if let Some(r) = self.frame_rate_hz
            && !(r.is_finite() && r > 0.0)
        {
            return Err(bad("frame_rate_hz", r));
        }
        if let Some(b) = self.bin_s
            && !(b.is_finite() && b > 0.0)
        {
            return Err(bad("bin_s", b));
        }
        Ok(())
    }
}

/// What a file holds, once read.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// Calcium traces `[time, neuron]`.
    Traces(CalciumTraces),
    /// Spike trains (seconds).
    SpikeTrains(SpikeTrains),
    /// A `[neuron, bin]` count raster.
    Raster(BinnedRaster),
    /// Any other numeric array.
    Array(npy::NpyArray),
}

impl Loaded {
    /// `"traces"`, `"spike trains"`, `"raster"` or `"array"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Loaded::Traces(_) => "traces",
            Loaded::SpikeTrains(_) => "spike trains",
            Loaded::Raster(_) => "raster",
            Loaded::Array(_) => "array",
        }
    }
}

fn all_whole(a: &Array2<f64>) -> bool {
    a.iter()
        .all(|v| v.is_nan() || (v.fract() == 0.0 && *v >= 0.0))
}

fn wrong(path: &Path, wanted: &str, found: &str) -> DataError {
    DataError::WrongContent {
        path: path.to_path_buf(),
        wanted: wanted.into(),
        found: found.into(),
    }
}

fn traces_of(path: &Path, m: Array2<f64>, o: &ReadOptions) -> Result<CalciumTraces> {
    let m = if o.neurons_first { m.t().to_owned() } else { m };
    CalciumTraces::new(m, o.given_rate(path)?)
}

fn from_matrix(path: &Path, m: Array2<f64>, o: &ReadOptions) -> Result<Loaded> {
    Ok(match o.content {
        Some(Content::Traces) => Loaded::Traces(traces_of(path, m, o)?),
        Some(Content::Raster) => {
            Loaded::Raster(BinnedRaster::from_f64(m.view(), o.effective_bin_s(path)?)?)
        }
        Some(Content::Array) => Loaded::Array(npy::NpyArray {
            dtype: "float64",
            data: m.into_dyn(),
        }),
        Some(Content::SpikeTrains) => return Err(wrong(path, "spike trains", "a matrix")),
        None if all_whole(&m) => {
            Loaded::Raster(BinnedRaster::from_f64(m.view(), o.effective_bin_s(path)?)?)
        }
        None => Loaded::Array(npy::NpyArray {
            dtype: "float64",
            data: m.into_dyn(),
        }),
    })
}

/// Reads `path` into the type its content (or [`ReadOptions::content`]) says.
pub fn open(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    options.validate()?;
    let o = options;
    let format = match o.format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    match format {
        Format::Csv => {
            let t = csv::read_table(path)?;
            let raster = match o.content {
                Some(Content::Raster) => true,
                Some(Content::Traces) | Some(Content::Array) => false,
                Some(Content::SpikeTrains) => {
                    return Err(wrong(path, "spike trains", "a CSV table"));
                }
                None => all_whole(&t.values),
            };
            if raster {
                Ok(Loaded::Raster(
                    csv::read_spike_counts(path, o.effective_bin_s(path)?)?.0,
                ))
            } else if o.content == Some(Content::Array) {
                from_matrix(path, t.values, o)
            } else {
                Ok(Loaded::Traces(traces_of(path, t.values, o)?))
            }
        }
        Format::Npy => {
            let a = npy::read_any(path)?;
            let integer = a.dtype != "float64" && a.dtype != "float32";
            match o.content {
                Some(Content::Traces) => {
                    let t = npy::read_traces(path, o.given_rate(path)?)?;
                    Ok(Loaded::Traces(if o.neurons_first {
                        traces_of(path, t.data().clone(), o)?
                    } else {
                        t
                    }))
                }
                Some(Content::Raster) => Ok(Loaded::Raster(npy::read_raster(
                    path,
                    o.effective_bin_s(path)?,
                )?)),
                None if a.data.ndim() == 2 && integer => Ok(Loaded::Raster(npy::read_raster(
                    path,
                    o.effective_bin_s(path)?,
                )?)),
                Some(Content::SpikeTrains) => Err(wrong(path, "spike trains", "an array")),
                _ => Ok(Loaded::Array(a)),
            }
        }
        Format::Mat => open_mat(path, o),
        Format::Kilosort => {
            let st = kilosort::read_kilosort(path)?;
            match o.content {
                None | Some(Content::SpikeTrains) => Ok(Loaded::SpikeTrains(st)),
                Some(Content::Raster) => Ok(Loaded::Raster(st.bin(o.effective_bin_s(path)?)?)),
                Some(_) => Err(wrong(path, "traces or an array", "spike trains")),
            }
        }
        Format::Nwb => open_nwb(path, o),
        Format::Suite2p => match o.content {
            None | Some(Content::Traces) => Ok(Loaded::Traces(
                super::suite2p::read_plane(path, &o.suite2p, o.frame_rate_hz, o.force_frame_rate)?
                    .traces,
            )),
            Some(_) => Err(wrong(path, "not traces", "Suite2p calcium traces")),
        },
        Format::Caiman => open_caiman(path, o),
        Format::SpikeInterface => {
            let st = super::spikeinterface::read_sorting(path, o.segment)?.trains;
            match o.content {
                None | Some(Content::SpikeTrains) => Ok(Loaded::SpikeTrains(st)),
                Some(Content::Raster) => Ok(Loaded::Raster(st.bin(o.effective_bin_s(path)?)?)),
                Some(_) => Err(wrong(path, "traces or an array", "spike trains")),
            }
        }
    }
}

#[cfg(feature = "hdf5")]
fn open_caiman(path: &Path, o: &ReadOptions) -> Result<Loaded> {
    match o.content {
        None | Some(Content::Traces) => Ok(Loaded::Traces(
            super::caiman::read_caiman(path, o.caiman, o.frame_rate_hz, o.force_frame_rate)?.traces,
        )),
        Some(_) => Err(wrong(path, "not traces", "CaImAn calcium traces")),
    }
}

#[cfg(not(feature = "hdf5"))]
fn open_caiman(path: &Path, _: &ReadOptions) -> Result<Loaded> {
    Err(DataError::UnknownFormat {
        path: path.to_path_buf(),
        reason: "CaImAn HDF5 needs spikelab-data's `hdf5` feature".into(),
    })
}

fn open_mat(path: &Path, o: &ReadOptions) -> Result<Loaded> {
    let file = mat::read_mat(path)?;
    let var = match &o.variable {
        Some(v) => v.clone(),
        None if file.get("data").is_some() => {
            let t = o.checked(path, mat::c2s_to_traces(&mat::read_c2s(path)?)?)?;
            return match o.content {
                None | Some(Content::Traces) => Ok(Loaded::Traces(t)),
                Some(_) => Err(wrong(path, "not traces", "c2s calcium traces")),
            };
        }
        None if file.get("CAttached").is_some() => {
            let trials = mat::read_cascade(path)?;
            let first = trials
                .first()
                .ok_or_else(|| wrong(path, "a CAttached trial", "no trial"))?;
            let t = o.checked(
                path,
                CalciumTraces::from_columns(std::slice::from_ref(&first.dff), first.frame_rate_hz)?,
            )?;
            return match o.content {
                None | Some(Content::Traces) => Ok(Loaded::Traces(t)),
                Some(_) => Err(wrong(path, "not traces", "CASCADE calcium traces")),
            };
        }
        None => {
            let names: Vec<String> = file.names().iter().map(|n| n.to_string()).collect();
            let matrices: Vec<String> = file
                .iter()
                .filter(|(_, v)| {
                    v.as_array()
                        .is_some_and(|m| m.dims.len() == 2 && m.dims[0] > 1 && m.dims[1] > 1)
                })
                .map(|(n, _)| n.to_string())
                .collect();
            match (names.as_slice(), matrices.as_slice()) {
                ([only], _) | (_, [only]) => only.clone(),
                _ => {
                    return Err(DataError::InvalidParameter {
                        name: "variable",
                        reason: format!(
                            "{}: several variables ({}); name one",
                            path.display(),
                            names.join(", ")
                        ),
                    });
                }
            }
        }
    };
    from_matrix(path, file.matrix(&var)?, o)
}

#[cfg(feature = "hdf5")]
fn open_nwb(path: &Path, o: &ReadOptions) -> Result<Loaded> {
    use super::nwb;
    let summary = nwb::inspect(path)?;
    let units = summary.units.is_some();
    match o.content {
        None | Some(Content::SpikeTrains) if units => {
            Ok(Loaded::SpikeTrains(nwb::read_units(path)?))
        }
        Some(Content::Raster) if units => Ok(Loaded::Raster(
            nwb::read_units(path)?.bin(o.effective_bin_s(path)?)?,
        )),
        None | Some(Content::Traces) if !summary.series.is_empty() => {
            Ok(Loaded::Traces(o.checked(path, nwb::read_ophys(path)?)?))
        }
        _ => Err(wrong(
            path,
            match o.content {
                Some(Content::Traces) => "a RoiResponseSeries",
                Some(Content::Array) => "an array",
                _ => "/units",
            },
            &format!(
                "{} /units, {} series",
                if units { "with" } else { "no" },
                summary.series.len()
            ),
        )),
    }
}

#[cfg(not(feature = "hdf5"))]
fn open_nwb(path: &Path, _: &ReadOptions) -> Result<Loaded> {
    Err(DataError::UnknownFormat {
        path: path.to_path_buf(),
        reason: "NWB needs spikelab-data's `hdf5` feature".into(),
    })
}

/// Calcium traces `[time, neuron]` (CSV/NPY/MAT matrices at [`ReadOptions::frame_rate_hz`],
/// c2s and CASCADE MAT files, NWB ophys, Suite2p plane folders, CaImAn HDF5).
pub fn read_traces(path: &Path, options: &ReadOptions) -> Result<CalciumTraces> {
    let o = ReadOptions {
        content: Some(Content::Traces),
        ..options.clone()
    };
    match open(path, &o)? {
        Loaded::Traces(t) => Ok(t),
        other => Err(wrong(path, "calcium traces", other.kind())),
    }
}

/// A `[neuron, bin]` spike-count raster; spike trains (Kilosort, NWB units) are binned at
/// [`ReadOptions::bin_s`] from their start time.
pub fn read_raster(path: &Path, options: &ReadOptions) -> Result<BinnedRaster> {
    let o = ReadOptions {
        content: Some(Content::Raster),
        ..options.clone()
    };
    match open(path, &o)? {
        Loaded::Raster(r) => Ok(r),
        other => Err(wrong(path, "a raster", other.kind())),
    }
}

/// Spike trains (Kilosort/phy folders, NWB `/units`, SpikeInterface sorting folders).
pub fn read_spike_trains(path: &Path, options: &ReadOptions) -> Result<SpikeTrains> {
    let o = ReadOptions {
        content: Some(Content::SpikeTrains),
        ..options.clone()
    };
    match open(path, &o)? {
        Loaded::SpikeTrains(s) => Ok(s),
        other => Err(wrong(path, "spike trains", other.kind())),
    }
}

/// Population activity `[population, bin]` from a 2-D numeric NPY file or MAT matrix, bins of
/// [`ReadOptions::bin_s`].
pub fn read_population_activity(path: &Path, options: &ReadOptions) -> Result<PopulationActivity> {
    options.validate()?;
    let format = match options.format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    if format == Format::Npy {
        return npy::read_activity(path, options.effective_bin_s(path)?);
    }
    let o = ReadOptions {
        content: Some(Content::Array),
        ..options.clone()
    };
    match open(path, &o)? {
        Loaded::Array(a) => {
            let m = a
                .data
                .into_dimensionality::<ndarray::Ix2>()
                .map_err(|e| wrong(path, "a 2-D [population, bin] array", &e.to_string()))?;
            PopulationActivity::new(m, o.effective_bin_s(path)?)
        }
        other => Err(wrong(path, "population activity", other.kind())),
    }
}

/// The time resolution of the spike times a file or folder holds (s), where it says: 1 /
/// `sample_rate` of a Kilosort/phy `params.py`, 1 / the sampling frequency of a SpikeInterface
/// sorting, `spike_times@resolution` of an NWB units table; `None` for formats that store none.
/// NWB writers take it as [`NwbWriteOptions::spike_time_resolution_s`](super::nwb::NwbWriteOptions).
///
/// # Example
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("params.py"), "sample_rate = 30000.0\n").unwrap();
/// assert_eq!(spikelab_data::io::spike_time_resolution_s(dir.path())?, Some(1.0 / 30000.0));
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn spike_time_resolution_s(path: &Path) -> Result<Option<f64>> {
    let hz = match Format::detect(path)? {
        Format::Kilosort => super::kilosort::read_params(path)?.sample_rate_hz(),
        Format::SpikeInterface => {
            Some(super::spikeinterface::read_sorting(path, 0)?.sampling_frequency_hz)
        }
        #[cfg(feature = "hdf5")]
        Format::Nwb => {
            return Ok(super::nwb::inspect(path)?
                .units
                .and_then(|u| u.spike_time_resolution_s));
        }
        _ => None,
    };
    Ok(hz.filter(|r| r.is_finite() && *r > 0.0).map(|r| 1.0 / r))
}
