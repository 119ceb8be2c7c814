//! [`inspect`]: a summary of what an NWB file holds.

use std::fmt;
use std::path::{Path, PathBuf};

use hdf5::File;
use serde::Serialize;

use super::h5::{f64_attr, root_string, str_attr};
use super::ophys::find_series;
use super::timeseries::{find_time_series, time_base};
use super::units::read_units_in;
use super::{Msg, R, nwb_err, open};
use crate::error::Result;

/// What [`inspect`] found in an NWB file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NwbSummary {
    /// The file.
    pub path: PathBuf,
    /// Root attribute `nwb_version`, if present.
    pub nwb_version: Option<String>,
    /// `identifier`, if present.
    pub identifier: Option<String>,
    /// `session_description`, if present.
    pub session_description: Option<String>,
    /// `session_start_time`, if present.
    pub session_start_time: Option<String>,
    /// The `/units` table, if present.
    pub units: Option<UnitsSummary>,
    /// Every `RoiResponseSeries` under `/processing/*/{Fluorescence,DfOverF}` and
    /// `/acquisition`, in the order [`read_ophys`](super::read_ophys) searches them.
    pub series: Vec<SeriesSummary>,
    /// Every generic `TimeSeries` directly in a processing module (as
    /// [`write_population_activity`](super::write_population_activity) writes them; `n_rois` is the number of columns).
    pub time_series: Vec<SeriesSummary>,
}

/// Summary of a `/units` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitsSummary {
    /// Number of units.
    pub n_units: usize,
    /// Total number of spikes.
    pub n_spikes: usize,
    /// Recording interval as [`read_units`](super::read_units) reports it, start (s).
    pub t_start_s: f64,
    /// Recording interval as [`read_units`](super::read_units) reports it, end (s).
    pub t_stop_s: f64,
    /// Whether the table has an `electrodes` column.
    pub has_electrodes: bool,
    /// `spike_times@resolution` (s), when stored and positive.
    pub spike_time_resolution_s: Option<f64>,
}

/// Summary of one `RoiResponseSeries`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// HDF5 path of the series group (pass it to [`read_ophys_series`](super::read_ophys_series)).
    pub path: String,
    /// Frames (first axis of `data`).
    pub n_frames: usize,
    /// ROIs (second axis of `data`; 1 for 1-D data).
    pub n_rois: usize,
    /// Sampling rate in Hz (from `starting_time@rate`, or inferred from `timestamps`).
    pub rate_hz: Option<f64>,
    /// Time of the first frame in seconds.
    pub starting_time_s: Option<f64>,
    /// Stored element type, e.g. `float32`.
    pub dtype: String,
    /// `data@unit`.
    pub unit: Option<String>,
}

impl fmt::Display for NwbSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        writeln!(f, "{}", self.path.display())?;
        writeln!(f, "  nwb_version         {}", opt(&self.nwb_version))?;
        writeln!(f, "  identifier          {}", opt(&self.identifier))?;
        writeln!(
            f,
            "  session_description {}",
            opt(&self.session_description)
        )?;
        writeln!(f, "  session_start_time  {}", opt(&self.session_start_time))?;
        match &self.units {
            Some(u) => writeln!(
                f,
                "  units: {} units, {} spikes, [{}, {}] s ({} s){}",
                u.n_units,
                u.n_spikes,
                u.t_start_s,
                u.t_stop_s,
                u.t_stop_s - u.t_start_s,
                if u.has_electrodes {
                    ", with electrodes"
                } else {
                    ""
                }
            )?,
            None => writeln!(f, "  units: none")?,
        }
        if self.series.is_empty() {
            writeln!(f, "  RoiResponseSeries: none")?;
        }
        for (kind, cols, list) in [
            ("RoiResponseSeries", "ROIs", &self.series),
            ("TimeSeries", "columns", &self.time_series),
        ] {
            for s in list {
                let rate = s
                    .rate_hz
                    .map_or("unknown rate".to_string(), |r| format!("{r} Hz"));
                writeln!(
                    f,
                    "  {kind} {}: {} frames × {} {cols}, {}, {}{}",
                    s.path,
                    s.n_frames,
                    s.n_rois,
                    rate,
                    s.dtype,
                    s.unit
                        .as_ref()
                        .map(|u| format!(", unit {u}"))
                        .unwrap_or_default()
                )?;
            }
        }
        Ok(())
    }
}

/// Lists what an NWB file holds: session metadata, the `/units` table (units, spikes,
/// interval) and every `RoiResponseSeries` (shape, rate). `spikelab inspect` prints it.
///
/// Errors: [`DataError::Nwb`](crate::DataError::Nwb) if the file is not HDF5 or its units table is malformed.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("o.nwb");
/// nwb::write_ophys(&path, &CalciumTraces::new(array![[1.0, 2.0], [3.0, 4.0]], 30.0)?, &OphysWriteOptions::default())?;
/// # spikelab_datasets::collect_nwb(&path);
/// let s = nwb::inspect(&path)?;
/// assert!(s.units.is_none());
/// assert_eq!((s.series[0].n_frames, s.series[0].n_rois, s.series[0].rate_hz), (2, 2, Some(30.0)));
/// println!("{s}");
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn inspect(path: &Path) -> Result<NwbSummary> {
    let file = open(path)?;
    inspect_in(path, &file).map_err(|Msg(m)| nwb_err(path, m))
}

fn inspect_in(path: &Path, file: &File) -> R<NwbSummary> {
    let units = if file.link_exists("units") {
        let st = read_units_in(file)?;
        let has_electrodes = file
            .group("units")
            .map(|g| g.link_exists("electrodes"))
            .unwrap_or(false);
        let spike_time_resolution_s = file
            .dataset("units/spike_times")
            .ok()
            .and_then(|d| f64_attr(&d, "resolution"))
            .filter(|r| r.is_finite() && *r > 0.0);
        Some(UnitsSummary {
            n_units: st.n_units(),
            n_spikes: st.total_spikes(),
            t_start_s: st.t_start_s(),
            t_stop_s: st.t_stop_s(),
            has_electrodes,
            spike_time_resolution_s,
        })
    } else {
        None
    };
    let series = find_series(file)?
        .into_iter()
        .filter_map(|p| series_summary(file, p))
        .collect();
    let time_series = find_time_series(file)?
        .into_iter()
        .filter_map(|p| series_summary(file, p))
        .collect();
    Ok(NwbSummary {
        path: path.to_path_buf(),
        nwb_version: str_attr(file, "nwb_version"),
        identifier: root_string(file, "identifier"),
        session_description: root_string(file, "session_description"),
        session_start_time: root_string(file, "session_start_time"),
        units,
        series,
        time_series,
    })
}

/// Shape, time base, dtype and unit of the series group at `p` (`None` without `data`).
fn series_summary(file: &File, p: String) -> Option<SeriesSummary> {
    let rrs = file.group(&p).ok()?;
    let data = rrs.dataset("data").ok()?;
    let shape = data.shape();
    let n_frames = shape.first().copied().unwrap_or(0);
    let n_rois = if shape.len() >= 2 { shape[1] } else { 1 };
    let (rate_hz, starting_time_s) = time_base(&rrs, n_frames).unwrap_or((None, None));
    let dtype = data
        .dtype()
        .and_then(|d| d.to_descriptor())
        .map(|d| d.to_string())
        .unwrap_or_else(|_| "unknown".into());
    Some(SeriesSummary {
        path: p,
        n_frames,
        n_rois,
        rate_hz,
        starting_time_s,
        dtype,
        unit: str_attr(&data, "unit"),
    })
}
