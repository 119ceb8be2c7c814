//! Results added to a user's NWB file: a copy of it with the new objects (or, asked for, the
//! file itself, replaced atomically). The source is only read.

use std::path::{Path, PathBuf};

use hdf5::{File, ObjectReference1};
use ndarray::ArrayView2;

use super::h5::*;
use super::intervals::write_table;
use super::metadata::{NwbMetadata, dandi_missing_in};
use super::ophys::OphysWriteOptions;
use super::ophys::find_series;
use super::{CORE, Ctx, HDMF, Msg, R, check_name, nwb_err, open};
use crate::CalciumTraces;
use crate::error::{DataError, Result};
use crate::intervals::TimeIntervals;

/// How results are added to a copy of a user's NWB file.
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::{NwbAddOptions, NwbMetadata, NwbSubject};
/// let opts = NwbAddOptions {
///     metadata: NwbMetadata {
///         subject: Some(NwbSubject::new("m3", "Mus musculus", "F", "P90D")),
///         dandi: true,
///         ..Default::default()
///     },
///     ..Default::default()
/// };
/// assert!(!opts.overwrite);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NwbAddOptions {
    /// Replace an existing destination (and allow `dst == src`, editing the file itself).
    pub overwrite: bool,
    /// Metadata written where the file has none (its own fields are kept); with `dandi`, the
    /// result must hold every DANDI-required field ([`DataError::DandiMetadata`] otherwise).
    pub metadata: NwbMetadata,
}

/// Copies the NWB file `src` to a temporary sibling of `dst`, lets `fill` add to it, and moves
/// it onto `dst` ([`write_atomic`](crate::io::write_atomic)). `dst == src` replaces the source
/// and needs `overwrite`. On any error `dst` (and `src`) are as they were.
fn edit_copy(
    src: &Path,
    dst: &Path,
    opts: &NwbAddOptions,
    fill: impl FnOnce(&File) -> R<()>,
) -> Result<()> {
    opts.metadata.validate_fields()?;
    let source = open(src)?;
    if neurodata_type(&source).as_deref() != Some("NWBFile") {
        return Err(nwb_err(
            src,
            "is HDF5 but not an NWB file (no NWBFile root)",
        ));
    }
    source.close().map_err(|e| nwb_err(src, e.to_string()))?;
    crate::io::write_atomic(dst, opts.overwrite, |tmp| {
        std::fs::copy(src, tmp).map_err(|e| DataError::io(tmp, e))?;
        let file = File::open_rw(tmp)
            .map_err(|e| nwb_err(dst, format!("opening {}: {e}", tmp.display())))?;
        (|| -> R<()> {
            fill(&file)?;
            opts.metadata.write(&file)
        })()
        .map_err(|Msg(m)| nwb_err(dst, m))?;
        if opts.metadata.dandi {
            let missing = dandi_missing_in(&file);
            if !missing.is_empty() {
                return Err(DataError::DandiMetadata {
                    missing: missing.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
        file.close()
            .map_err(|e| nwb_err(dst, format!("closing the file: {e}")))
    })
}

/// Adds `table` as `/intervals/<name>` to a copy of the NWB file `src` written to `dst`
/// (`dst == src` edits the file itself, atomically, and needs `opts.overwrite`).
///
/// Errors: [`DataError::AlreadyExists`] for an existing `dst` without `overwrite`,
/// [`DataError::Nwb`] if `src` is not NWB or already holds a table of that name.
///
/// # Example
/// ```
/// use spikelab_data::{SpikeTrains, TimeIntervals};
/// use spikelab_data::io::nwb::{self, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let (src, dst) = (dir.path().join("units.nwb"), dir.path().join("units_events.nwb"));
/// let st = SpikeTrains::new(vec![vec![0.1, 0.5], vec![0.3]], 0.0, 1.0)?;
/// nwb::write_units(&src, &st, &NwbWriteOptions::new("two units"))?;
/// # spikelab_datasets::collect_nwb(&src);
/// let events = TimeIntervals::new("events", "one event", vec![0.1], vec![0.5])?;
/// nwb::add_time_intervals(&src, &dst, &events, &Default::default())?;
/// # spikelab_datasets::collect_nwb(&dst);
/// assert_eq!(nwb::read_time_intervals(&dst, "events")?, events);
/// assert_eq!(nwb::read_units(&dst)?, st); // everything else is copied
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn add_time_intervals(
    src: &Path,
    dst: &Path,
    table: &TimeIntervals,
    opts: &NwbAddOptions,
) -> Result<()> {
    edit_copy(src, dst, opts, |file| write_table(file, table))
}

/// Writes a copy of the NWB file `src` to `dst` with the metadata of `opts` filled in where the
/// file has none: session and subject fields, the `location`/`indicator` of imaging planes
/// that say `unknown`, the units' spike time resolution (`dst == src` edits the file itself,
/// atomically, with `opts.overwrite`). With `opts.metadata.dandi`, a result still missing a
/// DANDI field (or the units' resolution) is refused. This makes any NWB
/// file spikelab (or another tool) wrote ready for DANDI without touching its data.
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// use spikelab_data::io::nwb::{self, NwbAddOptions, NwbMetadata, NwbSubject, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let (src, dst) = (dir.path().join("u.nwb"), dir.path().join("u_dandi.nwb"));
/// nwb::write_units(&src, &SpikeTrains::new(vec![vec![0.5]], 0.0, 1.0)?, &NwbWriteOptions::new("one unit"))?;
/// # spikelab_datasets::collect_nwb(&src);
/// let metadata = NwbMetadata {
///     subject: Some(NwbSubject::new("m3", "Mus musculus", "M", "P60D")),
///     spike_time_resolution_s: Some(1.0 / 30_000.0), // the units have none
///     dandi: true,
///     ..Default::default()
/// };
/// nwb::add_metadata(&src, &dst, &NwbAddOptions { metadata, ..Default::default() })?;
/// # spikelab_datasets::collect_nwb(&dst);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn add_metadata(src: &Path, dst: &Path, opts: &NwbAddOptions) -> Result<()> {
    edit_copy(src, dst, opts, |_| Ok(()))
}

/// Options of [`add_roi_response_series`].
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::RoiSeriesOptions;
/// let opts = RoiSeriesOptions::new("spike_rate", "Hz");
/// assert_eq!(opts.module, "ophys");
/// assert!(opts.rois_from.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RoiSeriesOptions {
    /// Name of the new `RoiResponseSeries` (default `spike_rate`).
    pub name: String,
    /// Its description.
    pub description: String,
    /// `data@unit` (default `Hz`).
    pub unit: String,
    /// The processing module that receives it (default `ophys`; created if missing).
    pub module: String,
    /// HDF5 path of the `RoiResponseSeries` whose ROIs the new one shares. `None`: the first
    /// series in [`read_ophys`](super::read_ophys)'s search order with as many ROIs as the
    /// new data has columns.
    pub rois_from: Option<String>,
    /// Time of the first row (s). `None`: that of the `rois_from` series.
    pub starting_time_s: Option<f64>,
}

impl RoiSeriesOptions {
    /// A series named `name` with this unit; defaults otherwise.
    pub fn new(name: impl Into<String>, unit: impl Into<String>) -> Self {
        RoiSeriesOptions {
            name: name.into(),
            unit: unit.into(),
            ..Default::default()
        }
    }
}

impl Default for RoiSeriesOptions {
    fn default() -> Self {
        RoiSeriesOptions {
            name: "spike_rate".into(),
            description: "spike rates inferred from the calcium traces by spikelab".into(),
            unit: "Hz".into(),
            module: "ophys".into(),
            rois_from: None,
            starting_time_s: None,
        }
    }
}

/// Adds `values` (`[time, ROI]` at `rate_hz`, NaN where undefined) as a `RoiResponseSeries`
/// `/processing/<module>/<name>` to a copy of the NWB file `src` written to `dst` (`dst ==
/// src` edits the file itself, atomically, and needs `add.overwrite`). Its `rois` region points at
/// the same `PlaneSegmentation` rows as an existing series (see
/// [`RoiSeriesOptions::rois_from`]), so each column stays linked to its ROI. Returns the new
/// series' HDF5 path.
///
/// Errors: [`DataError::AlreadyExists`], [`DataError::InvalidParameter`] for a bad rate, name
/// or infinite values, [`DataError::Nwb`] when no series has as many ROIs as `values` has
/// columns, or the name is taken.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions, RoiSeriesOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let (src, dst) = (dir.path().join("s.nwb"), dir.path().join("s_rates.nwb"));
/// let traces = CalciumTraces::new(array![[1.0, 2.0], [1.5, 2.5], [1.2, 2.2]], 30.0)?;
/// nwb::write_ophys(&src, &traces, &OphysWriteOptions::new("two ROIs"))?;
/// # spikelab_datasets::collect_nwb(&src);
/// let rates = array![[f64::NAN, 0.0], [2.0, 0.5], [f64::NAN, 1.0]];
/// let at = nwb::add_roi_response_series(&src, &dst, rates.view(), 30.0, &RoiSeriesOptions::default(), &Default::default())?;
/// # spikelab_datasets::collect_nwb(&dst);
/// assert_eq!(at, "/processing/ophys/spike_rate");
/// assert_eq!(nwb::read_ophys_series(&dst, &at)?.n_neurons(), 2);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn add_roi_response_series(
    src: &Path,
    dst: &Path,
    values: ArrayView2<'_, f64>,
    rate_hz: f64,
    opts: &RoiSeriesOptions,
    add: &NwbAddOptions,
) -> Result<String> {
    check_name("name", &opts.name)?;
    check_name("module", &opts.module)?;
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(DataError::param(
            "rate_hz",
            format!("must be > 0 Hz, got {rate_hz}"),
        ));
    }
    if let Some(t) = opts.starting_time_s
        && !t.is_finite()
    {
        return Err(DataError::param(
            "starting_time_s",
            format!("must be finite, got {t}"),
        ));
    }
    if values.iter().any(|v| v.is_infinite()) {
        return Err(DataError::param("values", "hold an infinite value"));
    }
    check_series(values, rate_hz, opts)?;
    edit_copy(src, dst, add, |file| {
        write_series(file, values, rate_hz, opts)
    })?;
    Ok(series_path(opts))
}

/// The HDF5 path of the series [`RoiSeriesOptions`] names.
fn series_path(opts: &RoiSeriesOptions) -> String {
    format!("/processing/{}/{}", opts.module, opts.name)
}

/// Checks what [`add_roi_response_series`] and [`write_ophys_with_series`] take.
fn check_series(values: ArrayView2<'_, f64>, rate_hz: f64, opts: &RoiSeriesOptions) -> Result<()> {
    check_name("name", &opts.name)?;
    check_name("module", &opts.module)?;
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(DataError::param(
            "rate_hz",
            format!("must be > 0 Hz, got {rate_hz}"),
        ));
    }
    if let Some(t) = opts.starting_time_s
        && !t.is_finite()
    {
        return Err(DataError::param(
            "starting_time_s",
            format!("must be finite, got {t}"),
        ));
    }
    if values.iter().any(|v| v.is_infinite()) {
        return Err(DataError::param("values", "hold an infinite value"));
    }
    Ok(())
}

/// Writes the series into an open file whose `RoiResponseSeries` it links to.
fn write_series(
    file: &File,
    values: ArrayView2<'_, f64>,
    rate_hz: f64,
    opts: &RoiSeriesOptions,
) -> R<()> {
    let at = series_path(opts);
    let like = match &opts.rois_from {
        Some(p) => p.clone(),
        None => {
            let n = values.ncols();
            find_series(file)?
                .into_iter()
                .find(|s| series_rois(file, s).is_ok_and(|r| r.len() == n))
                .ok_or_else(|| {
                    Msg(format!(
                        "no RoiResponseSeries with {n} ROIs to link the new series to; name one with rois_from"
                    ))
                })?
        }
    };
    let rois = series_rois(file, &like)?;
    if rois.len() != values.ncols() {
        return Err(Msg(format!(
            "{like} has {} ROIs but the new data has {} columns",
            rois.len(),
            values.ncols()
        )));
    }
    let like_g = file.group(&like)?;
    let table: ObjectReference1 = like_g
        .dataset("rois")
        .and_then(|d| d.attr("table"))
        .and_then(|a| a.read_scalar())
        .ctx(|| format!("{like}/rois@table"))?;
    let t0 = match opts.starting_time_s {
        Some(t) => t,
        None => {
            let frames = like_g.dataset("data").map(|d| d.shape()[0]).unwrap_or(0);
            super::timeseries::time_base(&like_g, frames)?
                .1
                .unwrap_or(0.0)
        }
    };

    let processing = file
        .group("processing")
        .ctx(|| "group /processing".to_string())?;
    let module = match processing.group(&opts.module) {
        Ok(g) => g,
        Err(_) => {
            let g = group(&processing, &opts.module)?;
            typed(&g, "ProcessingModule", CORE)?;
            attr_str(&g, "description", "optical physiology processed data")?;
            g
        }
    };
    if module.link_exists(&opts.name) {
        return Err(Msg(format!("{at} exists already; choose another name")));
    }
    let rrs = group(&module, &opts.name)?;
    typed(&rrs, "RoiResponseSeries", CORE)?;
    attr_str(&rrs, "description", &opts.description)?;
    attr_str(&rrs, "comments", "NaN where undefined")?;
    let data = mat2(&rrs, "data", &values.to_owned(), true)?;
    attr_str(&data, "unit", &opts.unit)?;
    attr_f64(&data, "conversion", 1.0)?;
    attr_f64(&data, "offset", 0.0)?;
    attr_f64(&data, "resolution", -1.0)?;
    let st = scalar(&rrs, "starting_time", &t0)?;
    attr_f64(&st, "rate", rate_hz)?;
    attr_str(&st, "unit", "seconds")?;
    let r = vec1(&rrs, "rois", &rois, false)?;
    typed(&r, "DynamicTableRegion", HDMF)?;
    attr_str(
        &r,
        "description",
        "the ROIs of the columns, as in the series they come from",
    )?;
    r.new_attr::<ObjectReference1>()
        .create("table")
        .and_then(|a| a.write_scalar(&table))
        .ctx(|| format!("{at}/rois@table"))?;
    Ok(())
}

/// Writes a new NWB file holding `traces` (as [`write_ophys`](super::write_ophys)) and, in the
/// same atomic write, `values` as the `RoiResponseSeries` of `series` linked to the traces'
/// ROIs (as [`add_roi_response_series`]). Returns the new series' HDF5 path.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions, RoiSeriesOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("s.nwb");
/// let traces = CalciumTraces::new(array![[1.0, 2.0], [1.5, 2.5]], 30.0)?;
/// let rates = array![[f64::NAN, 0.0], [2.0, 0.5]];
/// let at = nwb::write_ophys_with_series(&path, &traces, rates.view(), 30.0,
///     &OphysWriteOptions::new("two ROIs"), &RoiSeriesOptions::default())?;
/// # spikelab_datasets::collect_nwb(&path);
/// assert_eq!(nwb::read_ophys_series(&path, &at)?.n_neurons(), 2);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_ophys_with_series(
    path: &Path,
    traces: &CalciumTraces,
    values: ArrayView2<'_, f64>,
    rate_hz: f64,
    ophys: &OphysWriteOptions,
    series: &RoiSeriesOptions,
) -> Result<String> {
    check_series(values, rate_hz, series)?;
    super::ophys::write_ophys_then(path, traces, ophys, |file| {
        write_series(file, values, rate_hz, series)
    })?;
    Ok(series_path(series))
}

/// Where results go by default when added to the user's file `nwb`: `<stem>_spikelab.nwb`
/// beside it.
///
/// ```
/// use std::path::Path;
/// let p = spikelab_data::io::nwb::default_copy_path(Path::new("data/session.nwb"));
/// assert_eq!(p, Path::new("data/session_spikelab.nwb"));
/// ```
pub fn default_copy_path(nwb: &Path) -> PathBuf {
    let stem = nwb.file_stem().unwrap_or_default().to_string_lossy();
    nwb.with_file_name(format!("{stem}_spikelab.nwb"))
}

/// The `rois` region (row indices) of a `RoiResponseSeries`.
fn series_rois(file: &File, series: &str) -> R<Vec<i64>> {
    let g = file
        .group(series)
        .map_err(|_| Msg(format!("no group {series}")))?;
    if neurodata_type(&g).as_deref() != Some("RoiResponseSeries") {
        return Err(Msg(format!("{series} is not a RoiResponseSeries")));
    }
    ds_1d_i64(&g, "rois")
}
