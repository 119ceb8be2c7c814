//! NWB 2.x files (HDF5): spike times in `/units` and calcium traces in
//! `/processing/ophys`, readable by pynwb and clean under `pynwb-validate`.
//!
//! [Neurodata Without Borders](https://nwb-schema.readthedocs.io) (Rübel et al., *eLife*
//! 11:e78362, 2022) stores a recording session as one HDF5 file whose groups and datasets
//! carry typed attributes (`neurodata_type`, `namespace`, `object_id`). This module writes the
//! subset spikelab needs by hand on top of `hdf5-metno`, following core schema
//! [`NWB_VERSION`] (the one bundled with pynwb 4.2 / hdmf 6.2):
//!
//! * [`write_units`] / [`read_units`]: [`SpikeTrains`] ↔ the `Units` table. Spike times are
//!   seconds (float64, chunked and gzip-compressed), concatenated over units with a
//!   `spike_times_index` of **exclusive end offsets**; unit ids go to `id`. The recording
//!   interval `[t_start_s, t_stop_s]` is stored in the standard `obs_intervals` column (one
//!   interval per unit), so it survives a round trip. Optional electrodes
//!   ([`NwbElectrodes`]) add the `electrodes` table, one `ElectrodeGroup` and its `Device`.
//! * [`write_ophys`] / [`read_ophys`]: [`CalciumTraces`] ↔ a `RoiResponseSeries` in
//!   `/processing/ophys/Fluorescence` (or `DfOverF`), data **time × ROIs** with
//!   `starting_time` + `rate`; a `PlaneSegmentation` with a `pixel_mask` column (one
//!   placeholder pixel per ROI unless given), `ImagingPlane`, `OpticalChannel` and `Device`.
//!   NaN padding is stored as NaN.
//! * [`write_population_activity`] / [`read_population_activity`]: [`PopulationActivity`] ↔
//!   generic `TimeSeries` in a processing module (e.g. neuLVM's inferred latent activity),
//!   data **time × populations** with `starting_time` + `rate` = 1 / bin width.
//! * [`inspect`]: an [`NwbSummary`] of what a file holds (units, every `RoiResponseSeries`,
//!   every generic `TimeSeries` of the processing modules).
//!
//! Writers refuse to replace an existing file unless `overwrite` is set, and they write to a
//! temporary file in the same folder that is renamed over the target only once it is
//! complete, so a failed write never destroys the previous file. Readers accept what pynwb
//! writes: any integer width for indices (pynwb picks `uint8` when it fits), int64 ids,
//! float32 or float64 data, `starting_time`+`rate` or `timestamps`, vlen or fixed strings.
//! `docs/formats.md` lists the exact layout and the pitfalls met on the way.
//!
//! # Example
//! ```
//! use spikelab_data::SpikeTrains;
//! use spikelab_data::io::nwb::{self, NwbWriteOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("session.nwb");
//! let st = SpikeTrains::with_ids(vec![vec![0.1, 0.25, 0.9], vec![], vec![0.5]], vec![3, 7, 9], 0.0, 2.0)?;
//! nwb::write_units(&path, &st, &NwbWriteOptions::new("three units"))?;
//! let back = nwb::read_units(&path)?;
//! assert_eq!(back, st);
//! // A second write to the same path is refused unless `overwrite` is set.
//! assert!(nwb::write_units(&path, &st, &NwbWriteOptions::new("again")).is_err());
//! let summary = nwb::inspect(&path)?;
//! assert_eq!(summary.units.unwrap().n_spikes, 4);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group, H5Type, Location, ObjectReference1};
use ndarray::Array2;
use serde::Serialize;

use crate::error::{DataError, Result};
use crate::{CalciumTraces, PopulationActivity, SpikeTrains};

/// The NWB core schema version whose layout this module writes (stored as `nwb_version`).
pub const NWB_VERSION: &str = "2.11.0";

/// Namespace of the NWB core types.
const CORE: &str = "core";
/// Namespace of the generic table types (`VectorData`, `DynamicTable`, …).
const HDMF: &str = "hdmf-common";
/// Elements per compressed chunk (about 512 KiB of f64).
const CHUNK_ELEMS: usize = 65_536;
/// gzip level for large datasets (pynwb/h5py use 4 as well).
const DEFLATE_LEVEL: u8 = 4;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// Electrodes for the `Units` table: one row per electrode in
/// `/general/extracellular_ephys/electrodes`, all in one `ElectrodeGroup` recorded with one
/// `Device`, and for each unit the rows it was recorded on.
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::NwbElectrodes;
/// // Two units on a 3-channel probe: unit 0 on channel 0, unit 1 on channels 1 and 2.
/// let el = NwbElectrodes::new(vec!["CA1".into(); 3], vec![vec![0], vec![1, 2]]);
/// assert_eq!(el.group_name, "shank0");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NwbElectrodes {
    /// Brain location of each electrode (one per table row).
    pub locations: Vec<String>,
    /// For each unit (same order as the spike trains), the electrode rows it was seen on.
    pub unit_electrodes: Vec<Vec<usize>>,
    /// Name of the `ElectrodeGroup` (a plain name, no `/`).
    pub group_name: String,
    /// Description of the group.
    pub group_description: String,
    /// Location attribute of the group.
    pub group_location: String,
    /// Name of the recording `Device` (a plain name, no `/`).
    pub device_name: String,
    /// Description of the device.
    pub device_description: String,
}

impl NwbElectrodes {
    /// Electrodes with the given locations and per-unit rows, group `shank0`, device `probe`.
    pub fn new(locations: Vec<String>, unit_electrodes: Vec<Vec<usize>>) -> Self {
        NwbElectrodes {
            locations,
            unit_electrodes,
            group_name: "shank0".into(),
            group_description: "electrode group written by spikelab".into(),
            group_location: "unknown".into(),
            device_name: "probe".into(),
            device_description: "recording device".into(),
        }
    }

    fn validate(&self, n_units: usize) -> Result<()> {
        check_name("electrodes.group_name", &self.group_name)?;
        check_name("electrodes.device_name", &self.device_name)?;
        if self.unit_electrodes.len() != n_units {
            return Err(DataError::Shape {
                what: "electrodes.unit_electrodes".into(),
                expected: format!("{n_units} entries (one per unit)"),
                got: format!("{} entries", self.unit_electrodes.len()),
            });
        }
        let n = self.locations.len();
        for (u, rows) in self.unit_electrodes.iter().enumerate() {
            if let Some(bad) = rows.iter().find(|&&r| r >= n) {
                return Err(DataError::param(
                    "electrodes.unit_electrodes",
                    format!("unit {u} refers to electrode row {bad}, but the table has {n} rows"),
                ));
            }
        }
        Ok(())
    }
}

/// File-level metadata and the overwrite switch for [`write_units`].
///
/// `Default` (and [`NwbWriteOptions::new`]) fills `identifier` with a fresh UUID and
/// `session_start_time` with the current UTC time; set them for reproducible files.
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::NwbWriteOptions;
/// let mut opts = NwbWriteOptions::new("mouse 3, V1, day 2");
/// opts.session_start_time = "2024-03-01T09:30:00+01:00".into();
/// opts.overwrite = true;
/// assert_eq!(opts.identifier.len(), 36); // a UUID
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NwbWriteOptions {
    /// Replace an existing file (default `false`: refuse).
    pub overwrite: bool,
    /// `session_description` (required by NWB, non-empty).
    pub session_description: String,
    /// `identifier`: a unique id of this file (non-empty).
    pub identifier: String,
    /// `session_start_time`, ISO 8601 with a UTC offset, e.g. `2024-03-01T09:30:00+01:00` or
    /// `…Z`. Spike times are seconds relative to it. Also used as `timestamps_reference_time`.
    pub session_start_time: String,
    /// Electrode metadata for the units (optional).
    pub electrodes: Option<NwbElectrodes>,
}

impl NwbWriteOptions {
    /// Options with this session description, a random identifier, start time now (UTC),
    /// no electrodes, no overwrite.
    pub fn new(session_description: impl Into<String>) -> Self {
        NwbWriteOptions {
            session_description: session_description.into(),
            ..Default::default()
        }
    }

    fn session(&self) -> SessionMeta<'_> {
        SessionMeta {
            overwrite: self.overwrite,
            session_description: &self.session_description,
            identifier: &self.identifier,
            session_start_time: &self.session_start_time,
        }
    }
}

impl Default for NwbWriteOptions {
    fn default() -> Self {
        NwbWriteOptions {
            overwrite: false,
            session_description: "spike times written by spikelab".into(),
            identifier: uuid::Uuid::new_v4().to_string(),
            session_start_time: now_iso8601(),
            electrodes: None,
        }
    }
}

/// Which `NWBDataInterface` of `/processing/ophys` holds the written series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OphysContainer {
    /// `Fluorescence` (raw or neuropil-corrected fluorescence).
    #[default]
    Fluorescence,
    /// `DfOverF` (ΔF/F).
    DfOverF,
}

impl OphysContainer {
    fn name(self) -> &'static str {
        match self {
            OphysContainer::Fluorescence => "Fluorescence",
            OphysContainer::DfOverF => "DfOverF",
        }
    }
}

/// Element type of the stored `RoiResponseSeries/data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OphysDtype {
    /// float64: lossless for [`CalciumTraces`] (which is f64). The default.
    #[default]
    F64,
    /// float32: half the size; what most acquisition pipelines store.
    F32,
}

/// A pixel of a ROI's footprint (`PlaneSegmentation/pixel_mask` compound element).
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::PixelMask;
/// let px = PixelMask { x: 12, y: 40, weight: 1.0 };
/// assert_eq!(px.x, 12);
/// ```
#[derive(hdf5::H5Type, Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct PixelMask {
    /// Column (pixels).
    pub x: u32,
    /// Row (pixels).
    pub y: u32,
    /// Weight of the pixel in the ROI.
    pub weight: f32,
}

/// File-level metadata, overwrite switch and ophys metadata for [`write_ophys`].
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::{OphysWriteOptions, OphysContainer, OphysDtype};
/// let mut opts = OphysWriteOptions::new("GCaMP6s, L2/3");
/// opts.indicator = "GCaMP6s".into();
/// opts.container = OphysContainer::DfOverF;
/// opts.dtype = OphysDtype::F32;
/// assert_eq!(opts.series_name, "RoiResponseSeries");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OphysWriteOptions {
    /// Replace an existing file (default `false`: refuse).
    pub overwrite: bool,
    /// `session_description` (non-empty).
    pub session_description: String,
    /// `identifier` (non-empty; default a fresh UUID).
    pub identifier: String,
    /// `session_start_time`, ISO 8601 with UTC offset (default: now, UTC).
    pub session_start_time: String,
    /// Name of the `RoiResponseSeries` group (default `RoiResponseSeries`).
    pub series_name: String,
    /// `Fluorescence` (default) or `DfOverF`.
    pub container: OphysContainer,
    /// float64 (default, lossless) or float32.
    pub dtype: OphysDtype,
    /// `data@unit` (default `a.u.`).
    pub unit: String,
    /// Time of the first frame in seconds from `session_start_time` (default 0).
    pub starting_time_s: f64,
    /// `ImagingPlane/indicator` (default `unknown`).
    pub indicator: String,
    /// `ImagingPlane/location` (default `unknown`).
    pub location: String,
    /// `ImagingPlane/excitation_lambda` in nm; NaN (the default) means unknown.
    pub excitation_lambda_nm: f64,
    /// `OpticalChannel/emission_lambda` in nm; NaN (the default) means unknown.
    pub emission_lambda_nm: f64,
    /// Name of the imaging `Device` (default `microscope`).
    pub device_name: String,
    /// ROI footprints, one list of pixels per ROI (same order as the trace columns). `None`
    /// writes the placeholder `{x: j, y: 0, weight: 1}` for ROI `j`, because NWB requires a
    /// mask column and [`CalciumTraces`] carries no footprints.
    pub pixel_masks: Option<Vec<Vec<PixelMask>>>,
}

impl OphysWriteOptions {
    /// Options with this session description and defaults otherwise.
    pub fn new(session_description: impl Into<String>) -> Self {
        OphysWriteOptions {
            session_description: session_description.into(),
            ..Default::default()
        }
    }

    fn session(&self) -> SessionMeta<'_> {
        SessionMeta {
            overwrite: self.overwrite,
            session_description: &self.session_description,
            identifier: &self.identifier,
            session_start_time: &self.session_start_time,
        }
    }
}

impl Default for OphysWriteOptions {
    fn default() -> Self {
        OphysWriteOptions {
            overwrite: false,
            session_description: "calcium traces written by spikelab".into(),
            identifier: uuid::Uuid::new_v4().to_string(),
            session_start_time: now_iso8601(),
            series_name: "RoiResponseSeries".into(),
            container: OphysContainer::Fluorescence,
            dtype: OphysDtype::F64,
            unit: "a.u.".into(),
            starting_time_s: 0.0,
            indicator: "unknown".into(),
            location: "unknown".into(),
            excitation_lambda_nm: f64::NAN,
            emission_lambda_nm: f64::NAN,
            device_name: "microscope".into(),
            pixel_masks: None,
        }
    }
}

struct SessionMeta<'a> {
    overwrite: bool,
    session_description: &'a str,
    identifier: &'a str,
    session_start_time: &'a str,
}

impl SessionMeta<'_> {
    fn validate(&self) -> Result<()> {
        if self.session_description.trim().is_empty() {
            return Err(DataError::param(
                "session_description",
                "must not be empty (NWB requires it)",
            ));
        }
        if self.identifier.trim().is_empty() {
            return Err(DataError::param("identifier", "must not be empty"));
        }
        check_iso8601(self.session_start_time)
    }
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

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
    /// `/acquisition`, in the order [`read_ophys`] searches them.
    pub series: Vec<SeriesSummary>,
    /// Every generic `TimeSeries` directly in a processing module (as
    /// [`write_population_activity`] writes them; `n_rois` is the number of columns).
    pub time_series: Vec<SeriesSummary>,
}

/// Summary of a `/units` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitsSummary {
    /// Number of units.
    pub n_units: usize,
    /// Total number of spikes.
    pub n_spikes: usize,
    /// Recording interval as [`read_units`] reports it, start (s).
    pub t_start_s: f64,
    /// Recording interval as [`read_units`] reports it, end (s).
    pub t_stop_s: f64,
    /// Whether the table has an `electrodes` column.
    pub has_electrodes: bool,
}

/// Summary of one `RoiResponseSeries`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// HDF5 path of the series group (pass it to [`read_ophys_series`]).
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

// ---------------------------------------------------------------------------------------------
// Internal error plumbing: everything inside carries a message, the public functions attach
// the path.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Msg(String);

impl From<hdf5::Error> for Msg {
    fn from(e: hdf5::Error) -> Self {
        Msg(e.to_string())
    }
}
impl From<String> for Msg {
    fn from(s: String) -> Self {
        Msg(s)
    }
}
impl From<&str> for Msg {
    fn from(s: &str) -> Self {
        Msg(s.to_string())
    }
}

type R<T> = std::result::Result<T, Msg>;

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> R<T>;
}
impl<T, E: Into<Msg>> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> R<T> {
        self.map_err(|e| Msg(format!("{}: {}", what(), e.into().0)))
    }
}

fn nwb_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Nwb {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn check_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(DataError::param(
            what,
            format!("{name:?} is not a valid HDF5 object name (non-empty, no '/')"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Time stamps (no date crate needed: civil-from-days on the Unix clock)
// ---------------------------------------------------------------------------------------------

/// Current UTC time as ISO 8601 with offset, e.g. `2026-11-25T10:03:40.123456+00:00`.
fn now_iso8601() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        now.subsec_micros()
    )
}

/// Checks `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`: pynwb needs a time zone.
fn check_iso8601(s: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(DataError::param(
            "session_start_time",
            format!(
                "{s:?} is not ISO 8601 with a UTC offset ({why}); expected e.g. 2024-03-01T09:30:00+01:00"
            ),
        ))
    };
    let b = s.as_bytes();
    if b.len() < 20 {
        return bad("too short");
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return bad("date/time part");
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return bad("field out of range");
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return bad("empty fraction");
        }
    }
    let tz = &s[i..];
    let tzb = tz.as_bytes();
    let ok_tz = tz == "Z"
        || (tzb.len() == 6
            && (tzb[0] == b'+' || tzb[0] == b'-')
            && tzb[1..3].iter().all(u8::is_ascii_digit)
            && tzb[3] == b':'
            && tzb[4..6].iter().all(u8::is_ascii_digit));
    if !ok_tz {
        return bad("missing or malformed UTC offset");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Low-level writing helpers
// ---------------------------------------------------------------------------------------------

fn vlen(s: &str) -> R<VarLenUnicode> {
    VarLenUnicode::from_str(s).map_err(|e| Msg(format!("string {s:?}: {e}")))
}

fn attr_str(loc: &Location, name: &str, value: &str) -> R<()> {
    let v = vlen(value)?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

fn attr_f64(loc: &Location, name: &str, value: f64) -> R<()> {
    loc.new_attr::<f64>()
        .create(name)
        .and_then(|a| a.write_scalar(&value))
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

fn attr_ref(loc: &Location, name: &str, file: &File, target: &str) -> R<()> {
    let r: ObjectReference1 = file
        .reference(target)
        .ctx(|| format!("reference to {target}"))?;
    loc.new_attr::<ObjectReference1>()
        .create(name)
        .and_then(|a| a.write_scalar(&r))
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

fn attr_str_list(loc: &Location, name: &str, values: &[&str]) -> R<()> {
    let v = values.iter().map(|s| vlen(s)).collect::<R<Vec<_>>>()?;
    loc.new_attr_builder()
        .with_data(&v[..])
        .create(name)
        .map(|_| ())
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

/// `neurodata_type`, `namespace`, `object_id`.
fn typed(loc: &Location, neurodata_type: &str, namespace: &str) -> R<()> {
    attr_str(loc, "neurodata_type", neurodata_type)?;
    attr_str(loc, "namespace", namespace)?;
    attr_str(loc, "object_id", &uuid::Uuid::new_v4().to_string())
}

fn group(parent: &Group, name: &str) -> R<Group> {
    parent
        .create_group(name)
        .ctx(|| format!("group {}/{name}", parent.name()))
}

/// A scalar dataset of any HDF5 type.
fn scalar<T: H5Type>(parent: &Group, name: &str, value: &T) -> R<Dataset> {
    let ds = parent
        .new_dataset::<T>()
        .create(name)
        .ctx(|| format!("dataset {}/{name}", parent.name()))?;
    ds.write_scalar(value)
        .ctx(|| format!("dataset {}/{name}", parent.name()))?;
    Ok(ds)
}

fn scalar_str(parent: &Group, name: &str, value: &str) -> R<Dataset> {
    scalar(parent, name, &vlen(value)?)
}

/// A 1-D dataset; chunked + gzip when `compress` and non-empty.
fn vec1<T: H5Type>(parent: &Group, name: &str, data: &[T], compress: bool) -> R<Dataset> {
    let b = parent.new_dataset_builder();
    let res = if compress && !data.is_empty() {
        b.chunk(data.len().clamp(1, CHUNK_ELEMS))
            .deflate(DEFLATE_LEVEL)
            .with_data(data)
            .create(name)
    } else {
        b.with_data(data).create(name)
    };
    res.ctx(|| format!("dataset {}/{name}", parent.name()))
}

/// A 2-D dataset `[rows, cols]`; chunked by whole rows + gzip when `compress` and non-empty.
fn mat2<T: H5Type>(parent: &Group, name: &str, data: &Array2<T>, compress: bool) -> R<Dataset> {
    let (rows, cols) = data.dim();
    let b = parent.new_dataset_builder();
    let res = if compress && rows > 0 && cols > 0 {
        let chunk_rows = (CHUNK_ELEMS / cols).clamp(1, rows);
        b.chunk((chunk_rows, cols))
            .deflate(DEFLATE_LEVEL)
            .with_data(data)
            .create(name)
    } else {
        b.with_data(data).create(name)
    };
    res.ctx(|| format!("dataset {}/{name}", parent.name()))
}

/// `VectorData` column with a description.
fn vector_data<T: H5Type>(
    table: &Group,
    name: &str,
    data: &[T],
    description: &str,
    compress: bool,
) -> R<Dataset> {
    let ds = vec1(table, name, data, compress)?;
    typed(&ds, "VectorData", HDMF)?;
    attr_str(&ds, "description", description)?;
    Ok(ds)
}

/// `VectorIndex` (exclusive end offsets, uint64) pointing at `target` in `table`.
fn vector_index(file: &File, table: &Group, target: &str, ends: &[u64]) -> R<()> {
    let name = format!("{target}_index");
    let ds = vec1(table, &name, ends, false)?;
    typed(&ds, "VectorIndex", HDMF)?;
    attr_str(
        &ds,
        "description",
        &format!("Index for VectorData '{target}'"),
    )?;
    attr_ref(&ds, "target", file, &format!("{}/{target}", table.name()))
}

/// `ElementIdentifiers` `id` column.
fn ids(table: &Group, ids: &[i64]) -> R<()> {
    let ds = vec1(table, "id", ids, false)?;
    typed(&ds, "ElementIdentifiers", HDMF)
}

/// Exclusive end offsets of ragged lists.
fn ends_of<T>(lists: &[Vec<T>]) -> Vec<u64> {
    let mut acc = 0u64;
    lists
        .iter()
        .map(|l| {
            acc += l.len() as u64;
            acc
        })
        .collect()
}

/// Root attributes, required datasets and the standard top-level groups.
fn write_root(file: &File, meta: &SessionMeta<'_>) -> R<()> {
    attr_str(file, "nwb_version", NWB_VERSION)?;
    typed(file, "NWBFile", CORE)?;
    let created = [vlen(&now_iso8601())?];
    file.new_dataset_builder()
        .with_data(&created[..])
        .create("file_create_date")
        .ctx(|| "dataset /file_create_date".to_string())?;
    scalar_str(file, "identifier", meta.identifier)?;
    scalar_str(file, "session_description", meta.session_description)?;
    scalar_str(file, "session_start_time", meta.session_start_time)?;
    scalar_str(file, "timestamps_reference_time", meta.session_start_time)?;
    for g in ["acquisition", "analysis", "processing", "general"] {
        group(file, g)?;
    }
    let stim = group(file, "stimulus")?;
    group(&stim, "presentation")?;
    group(&stim, "templates")?;
    Ok(())
}

fn device(file: &File, name: &str, description: &str) -> R<()> {
    let general = file.group("general").ctx(|| "group /general".to_string())?;
    let devices = match general.group("devices") {
        Ok(g) => g,
        Err(_) => group(&general, "devices")?,
    };
    let dev = group(&devices, name)?;
    typed(&dev, "Device", CORE)?;
    attr_str(&dev, "description", description)
}

/// Writes a complete file through `fill` into a temporary sibling of `path`, then renames it
/// over `path`. On any error the temporary file is removed and `path` is untouched.
fn write_atomically(
    path: &Path,
    meta: &SessionMeta<'_>,
    fill: impl FnOnce(&File) -> R<()>,
) -> Result<()> {
    crate::io::check_writable(path, meta.overwrite)?;
    meta.validate()?;
    if path.is_dir() {
        return Err(nwb_err(path, "is a folder, expected a file path"));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| nwb_err(path, "has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| -> R<()> {
        let file = File::create_excl(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        write_root(&file, meta)?;
        fill(&file)?;
        file.close().ctx(|| "closing the file".to_string())
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DataError::io(path, e)
        }),
        Err(Msg(m)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(nwb_err(path, m))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Units
// ---------------------------------------------------------------------------------------------

/// Writes spike trains as the NWB `Units` table (see the [module docs](self) for the layout).
///
/// Unit ids become `id`; times are written as they are (seconds from
/// `session_start_time`). Errors: [`DataError::AlreadyExists`] unless `opts.overwrite`,
/// [`DataError::InvalidParameter`] for bad metadata (empty description, start time without
/// UTC offset, bad electrode rows), [`DataError::Nwb`] if HDF5 fails.
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// use spikelab_data::io::nwb::{self, NwbElectrodes, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("units.nwb");
/// let st = SpikeTrains::new(vec![vec![0.5, 1.5], vec![2.0]], 0.0, 3.0)?;
/// let mut opts = NwbWriteOptions::new("two units");
/// opts.session_start_time = "2024-01-02T03:04:05+00:00".into();
/// opts.electrodes = Some(NwbElectrodes::new(vec!["CA1".into(), "CA1".into()], vec![vec![0], vec![0, 1]]));
/// nwb::write_units(&path, &st, &opts)?;
/// assert_eq!(nwb::read_units(&path)?.train(0), &[0.5, 1.5]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_units(path: &Path, trains: &SpikeTrains, opts: &NwbWriteOptions) -> Result<()> {
    if let Some(el) = &opts.electrodes {
        el.validate(trains.n_units())?;
    }
    write_atomically(path, &opts.session(), |file| {
        let el_table = match &opts.electrodes {
            Some(el) => Some(write_electrodes(file, el)?),
            None => None,
        };
        write_units_table(file, trains, opts.electrodes.as_ref(), el_table.as_deref())
    })
}

/// Writes the electrodes table, group and device; returns the table's path.
fn write_electrodes(file: &File, el: &NwbElectrodes) -> R<String> {
    device(file, &el.device_name, &el.device_description)?;
    let general = file.group("general")?;
    let ecephys = group(&general, "extracellular_ephys")?;
    let eg = group(&ecephys, &el.group_name)?;
    typed(&eg, "ElectrodeGroup", CORE)?;
    attr_str(&eg, "description", &el.group_description)?;
    attr_str(&eg, "location", &el.group_location)?;
    eg.link_soft(&format!("/general/devices/{}", el.device_name), "device")
        .ctx(|| "soft link ElectrodeGroup/device".to_string())?;

    let table = group(&ecephys, "electrodes")?;
    typed(&table, "ElectrodesTable", CORE)?;
    attr_str_list(&table, "colnames", &["location", "group", "group_name"])?;
    attr_str(
        &table,
        "description",
        "metadata about extracellular electrodes",
    )?;
    let n = el.locations.len();
    ids(&table, &(0..n as i64).collect::<Vec<_>>())?;
    let locs = el
        .locations
        .iter()
        .map(|s| vlen(s))
        .collect::<R<Vec<_>>>()?;
    vector_data(
        &table,
        "location",
        &locs,
        "the location of channel within the subject e.g. brain region",
        false,
    )?;
    let gref: ObjectReference1 = file.reference(&eg.name())?;
    vector_data(
        &table,
        "group",
        &vec![gref; n],
        "a reference to the ElectrodeGroup this electrode is a part of",
        false,
    )?;
    let gname = vlen(&el.group_name)?;
    vector_data(
        &table,
        "group_name",
        &vec![gname; n],
        "the name of the ElectrodeGroup this electrode is a part of",
        false,
    )?;
    Ok(table.name())
}

fn write_units_table(
    file: &File,
    trains: &SpikeTrains,
    el: Option<&NwbElectrodes>,
    el_table: Option<&str>,
) -> R<()> {
    let units = group(file, "units")?;
    typed(&units, "Units", CORE)?;
    let mut cols = vec!["spike_times", "obs_intervals"];
    if el.is_some() {
        cols.push("electrodes");
    }
    attr_str_list(&units, "colnames", &cols)?;
    attr_str(&units, "description", "units written by spikelab")?;
    ids(&units, trains.unit_ids())?;

    let flat: Vec<f64> = trains.trains().iter().flatten().copied().collect();
    vector_data(
        &units,
        "spike_times",
        &flat,
        "the spike times for each unit in seconds",
        true,
    )?;
    vector_index(file, &units, "spike_times", &ends_of(trains.trains()))?;

    // One observation interval per unit: the recording interval of the SpikeTrains.
    let n = trains.n_units();
    let mut iv = Array2::<f64>::zeros((n, 2));
    for mut row in iv.rows_mut() {
        row[0] = trains.t_start_s();
        row[1] = trains.t_stop_s();
    }
    let ds = mat2(&units, "obs_intervals", &iv, false)?;
    typed(&ds, "VectorData", HDMF)?;
    attr_str(
        &ds,
        "description",
        "the observation intervals for each unit",
    )?;
    vector_index(
        file,
        &units,
        "obs_intervals",
        &(1..=n as u64).collect::<Vec<_>>(),
    )?;

    if let (Some(el), Some(table_path)) = (el, el_table) {
        let rows: Vec<i64> = el
            .unit_electrodes
            .iter()
            .flatten()
            .map(|&r| r as i64)
            .collect();
        let ds = vec1(&units, "electrodes", &rows, false)?;
        typed(&ds, "DynamicTableRegion", HDMF)?;
        attr_str(&ds, "description", "electrode_group")?;
        attr_ref(&ds, "table", file, table_path)?;
        vector_index(file, &units, "electrodes", &ends_of(&el.unit_electrodes))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Low-level reading helpers
// ---------------------------------------------------------------------------------------------

fn open(path: &Path) -> Result<File> {
    if !path.exists() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    File::open(path).map_err(|e| nwb_err(path, format!("cannot open as HDF5 ({e})")))
}

/// Reads a scalar string from an attribute or dataset in any string encoding HDF5 tools use.
fn read_string(c: &hdf5::Container) -> R<String> {
    let desc = c.dtype()?.to_descriptor()?;
    let s = match desc {
        TypeDescriptor::VarLenUnicode => c.read_scalar::<VarLenUnicode>()?.as_str().to_string(),
        TypeDescriptor::VarLenAscii => c.read_scalar::<VarLenAscii>()?.as_str().to_string(),
        TypeDescriptor::FixedAscii(_) => c.read_scalar::<FixedAscii<4096>>()?.as_str().to_string(),
        TypeDescriptor::FixedUnicode(_) => {
            c.read_scalar::<FixedUnicode<4096>>()?.as_str().to_string()
        }
        other => return Err(Msg(format!("expected a string, found {other}"))),
    };
    Ok(s)
}

/// Reads a scalar-or-1-element string (NWB writes some as 1-element arrays).
fn read_string_lenient(c: &hdf5::Container) -> R<String> {
    if c.is_scalar() {
        return read_string(c);
    }
    let desc = c.dtype()?.to_descriptor()?;
    match desc {
        TypeDescriptor::VarLenUnicode => c
            .read_raw::<VarLenUnicode>()?
            .first()
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| Msg("empty string array".into())),
        TypeDescriptor::VarLenAscii => c
            .read_raw::<VarLenAscii>()?
            .first()
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| Msg("empty string array".into())),
        other => Err(Msg(format!("expected a string, found {other}"))),
    }
}

fn str_attr(loc: &Location, name: &str) -> Option<String> {
    loc.attr(name).ok().and_then(|a| read_string(&a).ok())
}

fn f64_attr(loc: &Location, name: &str) -> Option<f64> {
    loc.attr(name)
        .ok()
        .and_then(|a| a.read_scalar::<f64>().ok())
}

fn root_string(file: &File, name: &str) -> Option<String> {
    file.dataset(name)
        .ok()
        .and_then(|d| read_string_lenient(&d).ok())
}

fn neurodata_type(loc: &Location) -> Option<String> {
    str_attr(loc, "neurodata_type")
}

fn ds_1d_f64(g: &Group, name: &str) -> R<Vec<f64>> {
    let ds = g
        .dataset(name)
        .ctx(|| format!("{}/{name} is missing", g.name()))?;
    if ds.ndim() > 1 {
        return Err(Msg(format!(
            "{}/{name}: expected 1-D, got shape {:?}",
            g.name(),
            ds.shape()
        )));
    }
    ds.read_raw::<f64>()
        .ctx(|| format!("reading {}/{name}", g.name()))
}

fn ds_1d_i64(g: &Group, name: &str) -> R<Vec<i64>> {
    let ds = g
        .dataset(name)
        .ctx(|| format!("{}/{name} is missing", g.name()))?;
    let desc = ds.dtype()?.to_descriptor()?;
    if !matches!(
        desc,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
    ) {
        return Err(Msg(format!(
            "{}/{name}: expected integers, found {desc}",
            g.name()
        )));
    }
    if ds.ndim() > 1 {
        return Err(Msg(format!(
            "{}/{name}: expected 1-D, got shape {:?}",
            g.name(),
            ds.shape()
        )));
    }
    ds.read_raw::<i64>()
        .ctx(|| format!("reading {}/{name}", g.name()))
}

/// Reads a `VectorIndex` and checks it: non-decreasing exclusive ends, last = `data_len`.
fn read_index(g: &Group, name: &str, n_rows: usize, data_len: usize) -> R<Vec<usize>> {
    let raw = ds_1d_i64(g, name)?;
    if raw.len() != n_rows {
        return Err(Msg(format!(
            "{}/{name} has {} entries but the table has {n_rows} rows",
            g.name(),
            raw.len()
        )));
    }
    let mut prev = 0i64;
    for (i, &e) in raw.iter().enumerate() {
        if e < prev {
            return Err(Msg(format!(
                "{}/{name}[{i}] = {e} is smaller than the previous end {prev} (ends must be non-decreasing)",
                g.name()
            )));
        }
        prev = e;
    }
    if prev as usize != data_len {
        return Err(Msg(format!(
            "{}/{name} ends at {prev} but the indexed column has {data_len} elements",
            g.name()
        )));
    }
    Ok(raw.into_iter().map(|e| e as usize).collect())
}

// ---------------------------------------------------------------------------------------------
// Reading units
// ---------------------------------------------------------------------------------------------

/// Reads the `/units` table into [`SpikeTrains`] (ids from `id`).
///
/// The interval `[t_start, t_stop]` is the union of the `obs_intervals` column and the spike
/// times when the file has that column (so files written by [`write_units`] round-trip
/// exactly); otherwise it is `[min(0, first spike), max(0, last spike)]`, i.e. `[0, last
/// spike]` for the usual pynwb file. Trains are sorted if the file stores them unsorted.
///
/// Errors ([`DataError::Nwb`], naming the file): not HDF5, no `/units`, no `spike_times` or
/// `spike_times_index`, an index whose ends are inconsistent, non-finite spike times.
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// use spikelab_data::io::nwb::{self, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("u.nwb");
/// nwb::write_units(&path, &SpikeTrains::new(vec![vec![1.0], vec![]], 0.0, 5.0)?, &NwbWriteOptions::default())?;
/// let st = nwb::read_units(&path)?;
/// assert_eq!((st.n_units(), st.t_stop_s()), (2, 5.0));
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_units(path: &Path) -> Result<SpikeTrains> {
    let file = open(path)?;
    read_units_in(&file).map_err(|Msg(m)| nwb_err(path, m))
}

fn read_units_in(file: &File) -> R<SpikeTrains> {
    let units = file
        .group("units")
        .map_err(|_| Msg("no /units table in this file".into()))?;
    let ids = ds_1d_i64(&units, "id")?;
    let n = ids.len();
    let times = if units.link_exists("spike_times") {
        ds_1d_f64(&units, "spike_times")?
    } else if n == 0 {
        Vec::new()
    } else {
        return Err("/units has no spike_times column".into());
    };
    if !units.link_exists("spike_times_index") {
        return Err(Msg(format!(
            "/units/spike_times_index is missing: cannot tell which of the {} spike times belong to which of the {n} units",
            times.len()
        )));
    }
    let ends = read_index(&units, "spike_times_index", n, times.len())?;
    let mut trains = Vec::with_capacity(n);
    let mut start = 0;
    for &end in &ends {
        trains.push(times[start..end].to_vec());
        start = end;
    }
    if let Some((u, t)) = trains
        .iter()
        .enumerate()
        .find_map(|(u, t)| t.iter().find(|x| !x.is_finite()).map(|x| (u, *x)))
    {
        return Err(Msg(format!(
            "unit {u} (id {}) has a non-finite spike time {t}",
            ids[u]
        )));
    }
    // Spike extremes (trains may be unsorted here; they are sorted below).
    let lo = trains
        .iter()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = trains
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    // Recording interval from obs_intervals when the file has them.
    let mut obs = (f64::INFINITY, f64::NEG_INFINITY);
    if units.link_exists("obs_intervals") {
        let ds = units.dataset("obs_intervals")?;
        if ds.ndim() == 2 && ds.shape()[1] == 2 {
            let v = ds.read_raw::<f64>()?;
            for pair in v.chunks_exact(2) {
                if pair[0].is_finite() && pair[1].is_finite() {
                    obs = (obs.0.min(pair[0]), obs.1.max(pair[1]));
                }
            }
        }
    }
    let (t_start, t_stop) = if obs.0 <= obs.1 {
        (obs.0.min(lo), obs.1.max(hi))
    } else {
        (lo.min(0.0), hi.max(0.0))
    };
    SpikeTrains::sorted_from(trains, ids, t_start, t_stop).map_err(|e| Msg(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Ophys
// ---------------------------------------------------------------------------------------------

/// Writes calcium traces as a `RoiResponseSeries` in `/processing/ophys` (see the
/// [module docs](self)).
///
/// `data` is `[time, ROI]` like [`CalciumTraces::data`], stored as float64 or float32
/// ([`OphysDtype`]), gzip-compressed; NaN padding is stored as NaN, so [`read_ophys`] gives
/// back the same valid lengths. The time base is `starting_time` (`opts.starting_time_s`)
/// with `rate` = the frame rate.
///
/// Errors: [`DataError::AlreadyExists`] unless `opts.overwrite`,
/// [`DataError::InvalidParameter`] / [`DataError::Shape`] for bad options or masks,
/// [`DataError::Nwb`] if HDF5 fails.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ophys.nwb");
/// let tr = CalciumTraces::new(array![[1.0, 2.0], [1.5, f64::NAN]], 30.0)?;
/// nwb::write_ophys(&path, &tr, &OphysWriteOptions::new("two ROIs"))?;
/// let back = nwb::read_ophys(&path)?;
/// assert_eq!(back.frame_rate_hz(), 30.0);
/// assert_eq!(back.valid_lengths(), &[2, 1]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_ophys(path: &Path, traces: &CalciumTraces, opts: &OphysWriteOptions) -> Result<()> {
    check_name("series_name", &opts.series_name)?;
    check_name("device_name", &opts.device_name)?;
    if !opts.starting_time_s.is_finite() {
        return Err(DataError::param(
            "starting_time_s",
            format!("must be finite, got {}", opts.starting_time_s),
        ));
    }
    for (name, v) in [
        ("excitation_lambda_nm", opts.excitation_lambda_nm),
        ("emission_lambda_nm", opts.emission_lambda_nm),
    ] {
        if !(v.is_nan() || (v.is_finite() && v > 0.0)) {
            return Err(DataError::param(
                name,
                format!("must be > 0 nm or NaN (unknown), got {v}"),
            ));
        }
    }
    let n_rois = traces.n_neurons();
    let masks: Vec<Vec<PixelMask>> = match &opts.pixel_masks {
        Some(m) => {
            if m.len() != n_rois {
                return Err(DataError::Shape {
                    what: "pixel_masks".into(),
                    expected: format!("{n_rois} masks (one per ROI)"),
                    got: format!("{} masks", m.len()),
                });
            }
            if let Some(bad) = m.iter().flatten().find(|p| !p.weight.is_finite()) {
                return Err(DataError::param(
                    "pixel_masks",
                    format!("non-finite weight in {bad:?}"),
                ));
            }
            m.clone()
        }
        None => (0..n_rois)
            .map(|j| {
                vec![PixelMask {
                    x: j as u32,
                    y: 0,
                    weight: 1.0,
                }]
            })
            .collect(),
    };
    write_atomically(path, &opts.session(), |file| {
        write_ophys_groups(file, traces, opts, &masks)
    })
}

fn write_ophys_groups(
    file: &File,
    traces: &CalciumTraces,
    opts: &OphysWriteOptions,
    masks: &[Vec<PixelMask>],
) -> R<()> {
    device(file, &opts.device_name, "imaging device")?;
    let general = file.group("general")?;
    let optophys = group(&general, "optophysiology")?;
    let plane = group(&optophys, "ImagingPlane")?;
    typed(&plane, "ImagingPlane", CORE)?;
    scalar_str(&plane, "description", "imaging plane written by spikelab")?;
    scalar(
        &plane,
        "excitation_lambda",
        &(opts.excitation_lambda_nm as f32),
    )?;
    scalar(&plane, "imaging_rate", &(traces.frame_rate_hz() as f32))?;
    scalar_str(&plane, "indicator", &opts.indicator)?;
    scalar_str(&plane, "location", &opts.location)?;
    let oc = group(&plane, "OpticalChannel")?;
    typed(&oc, "OpticalChannel", CORE)?;
    scalar_str(&oc, "description", "optical channel")?;
    scalar(&oc, "emission_lambda", &(opts.emission_lambda_nm as f32))?;
    plane
        .link_soft(&format!("/general/devices/{}", opts.device_name), "device")
        .ctx(|| "soft link ImagingPlane/device".to_string())?;

    let processing = file.group("processing")?;
    let ophys = group(&processing, "ophys")?;
    typed(&ophys, "ProcessingModule", CORE)?;
    attr_str(&ophys, "description", "optical physiology processed data")?;

    let seg = group(&ophys, "ImageSegmentation")?;
    typed(&seg, "ImageSegmentation", CORE)?;
    let ps = group(&seg, "PlaneSegmentation")?;
    typed(&ps, "PlaneSegmentation", CORE)?;
    attr_str_list(&ps, "colnames", &["pixel_mask"])?;
    attr_str(&ps, "description", "ROIs of the traces written by spikelab")?;
    let n_rois = traces.n_neurons();
    ids(&ps, &(0..n_rois as i64).collect::<Vec<_>>())?;
    let flat: Vec<PixelMask> = masks.iter().flatten().copied().collect();
    vector_data(
        &ps,
        "pixel_mask",
        &flat,
        "Pixel masks for each ROI: a list of indices and weights for the ROI.",
        false,
    )?;
    vector_index(file, &ps, "pixel_mask", &ends_of(masks))?;
    ps.link_soft(&plane.name(), "imaging_plane")
        .ctx(|| "soft link PlaneSegmentation/imaging_plane".to_string())?;
    group(&ps, "reference_images")?;

    let container = group(&ophys, opts.container.name())?;
    typed(&container, opts.container.name(), CORE)?;
    let rrs = group(&container, &opts.series_name)?;
    typed(&rrs, "RoiResponseSeries", CORE)?;
    attr_str(&rrs, "description", "calcium traces written by spikelab")?;
    attr_str(&rrs, "comments", "no comments")?;
    let data = match opts.dtype {
        OphysDtype::F64 => mat2(&rrs, "data", traces.data(), true)?,
        OphysDtype::F32 => mat2(&rrs, "data", &traces.data().mapv(|v| v as f32), true)?,
    };
    attr_str(&data, "unit", &opts.unit)?;
    attr_f64(&data, "conversion", 1.0)?;
    attr_f64(&data, "offset", 0.0)?;
    attr_f64(&data, "resolution", -1.0)?;
    let st = scalar(&rrs, "starting_time", &opts.starting_time_s)?;
    attr_f64(&st, "rate", traces.frame_rate_hz())?;
    attr_str(&st, "unit", "seconds")?;
    let rois = vec1(&rrs, "rois", &(0..n_rois as i64).collect::<Vec<_>>(), false)?;
    typed(&rois, "DynamicTableRegion", HDMF)?;
    attr_str(
        &rois,
        "description",
        "the ROIs of the traces, in column order",
    )?;
    attr_ref(&rois, "table", file, &ps.name())?;
    Ok(())
}

/// Every `RoiResponseSeries` group, in search order: each processing module (by name), its
/// `Fluorescence` then `DfOverF` then any other interface; then `/acquisition`.
fn find_series(file: &File) -> R<Vec<String>> {
    let mut out = Vec::new();
    fn scan(g: &Group, depth: usize, out: &mut Vec<String>) -> R<()> {
        let mut names = g.member_names()?;
        // Fluorescence before DfOverF, then the rest alphabetically.
        names.sort_by_key(|n| {
            (
                match n.as_str() {
                    "Fluorescence" => 0,
                    "DfOverF" => 1,
                    _ => 2,
                },
                n.clone(),
            )
        });
        for name in names {
            let Ok(child) = g.group(&name) else { continue };
            match neurodata_type(&child).as_deref() {
                Some("RoiResponseSeries") => out.push(child.name()),
                Some("ProcessingModule" | "Fluorescence" | "DfOverF") if depth < 3 => {
                    scan(&child, depth + 1, out)?
                }
                _ => {}
            }
        }
        Ok(())
    }
    for top in ["processing", "acquisition"] {
        if let Ok(g) = file.group(top) {
            scan(&g, 0, &mut out)?;
        }
    }
    Ok(out)
}

/// Reads the first `RoiResponseSeries` of the file into [`CalciumTraces`]: the first one
/// under `/processing/<module>/Fluorescence`, else `…/DfOverF` (modules by name), else under
/// `/acquisition`. Use [`read_ophys_series`] to pick another one ([`inspect`] lists them).
///
/// Errors: [`DataError::Nwb`] if the file has no `RoiResponseSeries`, or see
/// [`read_ophys_series`].
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("o.nwb");
/// nwb::write_ophys(&path, &CalciumTraces::new(array![[1.0], [2.0], [3.0]], 7.5)?, &OphysWriteOptions::default())?;
/// let tr = nwb::read_ophys(&path)?;
/// assert_eq!(tr.trace(0).to_vec(), vec![1.0, 2.0, 3.0]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_ophys(path: &Path) -> Result<CalciumTraces> {
    let file = open(path)?;
    let series = find_series(&file).map_err(|Msg(m)| nwb_err(path, m))?;
    let first = series.first().ok_or_else(|| {
        nwb_err(
            path,
            "no RoiResponseSeries under /processing/*/Fluorescence, /processing/*/DfOverF or /acquisition",
        )
    })?;
    read_series_in(&file, first).map_err(|Msg(m)| nwb_err(path, m))
}

/// Reads the `RoiResponseSeries` at the HDF5 path `series` (e.g.
/// `/processing/ophys/DfOverF/RoiResponseSeries`).
///
/// `data` may be float32/float64 (or integer) and 1-D (one ROI) or 2-D `[time, ROI]`;
/// `data@conversion` and `data@offset` are applied when they are not 1 and 0. The frame rate
/// comes from `starting_time@rate`, or from `timestamps` when they are regular (within 1 %
/// of the mean interval). Errors ([`DataError::Nwb`]): missing group or `data`, no time base,
/// irregular timestamps, infinite values.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysContainer, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("dff.nwb");
/// let mut opts = OphysWriteOptions::default();
/// opts.container = OphysContainer::DfOverF;
/// opts.series_name = "dff".into();
/// nwb::write_ophys(&path, &CalciumTraces::new(array![[0.1, 0.2]], 10.0)?, &opts)?;
/// let tr = nwb::read_ophys_series(&path, "/processing/ophys/DfOverF/dff")?;
/// assert_eq!(tr.n_neurons(), 2);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_ophys_series(path: &Path, series: &str) -> Result<CalciumTraces> {
    let file = open(path)?;
    read_series_in(&file, series).map_err(|Msg(m)| nwb_err(path, m))
}

/// Frame rate and first-frame time of a series.
fn time_base(rrs: &Group, n_frames: usize) -> R<(Option<f64>, Option<f64>)> {
    if let Ok(st) = rrs.dataset("starting_time") {
        let t0 = st.read_scalar::<f64>().ok();
        let rate = f64_attr(&st, "rate");
        return Ok((rate, t0));
    }
    if let Ok(ts) = rrs.dataset("timestamps") {
        let t = ts.read_raw::<f64>()?;
        if t.len() != n_frames {
            return Err(Msg(format!(
                "{}/timestamps has {} entries for {n_frames} frames",
                rrs.name(),
                t.len()
            )));
        }
        if t.len() < 2 {
            return Ok((None, t.first().copied()));
        }
        let mean = (t[t.len() - 1] - t[0]) / (t.len() - 1) as f64;
        if !(mean.is_finite() && mean > 0.0) {
            return Err(Msg(format!("{}/timestamps are not increasing", rrs.name())));
        }
        let worst = t
            .windows(2)
            .map(|w| ((w[1] - w[0]) - mean).abs())
            .fold(0.0, f64::max);
        if worst > 0.01 * mean || worst.is_nan() {
            return Err(Msg(format!(
                "{}/timestamps are irregular (an interval deviates by {worst} s from the mean {mean} s); CalciumTraces needs a constant frame rate",
                rrs.name()
            )));
        }
        return Ok((Some(1.0 / mean), Some(t[0])));
    }
    Ok((None, None))
}

/// `data` of a series group as **time × columns** (1-D data is one column), with
/// `data * conversion + offset` applied when those attributes are not 1 and 0, and the rate of
/// its time base (`None` when unknown). `columns` names the second axis in errors.
fn read_time_major(g: &Group, series: &str, columns: &str) -> R<(Array2<f64>, Option<f64>)> {
    let data = g
        .dataset("data")
        .map_err(|_| Msg(format!("{series}/data is missing")))?;
    let (t, n) = match data.shape().as_slice() {
        [t] => (*t, 1),
        [t, n] => (*t, *n),
        other => {
            return Err(Msg(format!(
                "{series}/data: expected time × {columns} (1-D or 2-D), got shape {other:?}"
            )));
        }
    };
    let mut values = data
        .read_raw::<f64>()
        .ctx(|| format!("reading {series}/data"))?;
    let conversion = f64_attr(&data, "conversion").unwrap_or(1.0);
    let offset = f64_attr(&data, "offset").unwrap_or(0.0);
    if conversion != 1.0 || offset != 0.0 {
        values
            .iter_mut()
            .for_each(|v| *v = *v * conversion + offset);
    }
    let (rate, _t0) = time_base(g, t)?;
    let arr = Array2::from_shape_vec((t, n), values).map_err(|e| Msg(e.to_string()))?;
    Ok((arr, rate))
}

fn read_series_in(file: &File, series: &str) -> R<CalciumTraces> {
    let rrs = file
        .group(series)
        .map_err(|_| Msg(format!("no group {series} in this file")))?;
    let ty = neurodata_type(&rrs);
    if !matches!(ty.as_deref(), Some("RoiResponseSeries")) {
        return Err(Msg(format!(
            "{series} is not a RoiResponseSeries (neurodata_type {ty:?})"
        )));
    }
    let (arr, rate) = read_time_major(&rrs, series, "ROIs")?;
    let rate = rate.ok_or_else(|| {
        Msg(format!(
            "{series} has neither starting_time@rate nor at least two timestamps: frame rate unknown"
        ))
    })?;
    CalciumTraces::new(arr, rate).map_err(|e| Msg(format!("{series}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Population activity (generic TimeSeries)
// ---------------------------------------------------------------------------------------------

/// One `[population, bin]` series for [`write_population_activity`].
#[derive(Debug, Clone, Copy)]
pub struct ActivitySeries<'a> {
    /// Name of the `TimeSeries` group (unique within the module, no `/`).
    pub name: &'a str,
    /// The values; stored transposed, **time × populations**, as NWB wants time first.
    pub activity: &'a PopulationActivity,
    /// `data@unit`, e.g. `"Hz"`.
    pub unit: &'a str,
    /// The series' `description`.
    pub description: &'a str,
}

/// Writes population activities as generic `TimeSeries` in the processing module
/// `/processing/<module>` (created with `module_description`). Each series stores `data`
/// (float64, time × populations, gzip), `starting_time` = 0 s with `rate` = 1 / `bin_s`.
///
/// Errors: [`DataError::InvalidParameter`] for an empty list, bad or repeated names or empty
/// descriptions, [`DataError::AlreadyExists`] unless `opts.overwrite` (the file is replaced
/// atomically), [`DataError::Nwb`] if HDF5 fails. `opts.electrodes` is not used.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::PopulationActivity;
/// use spikelab_data::io::nwb::{self, ActivitySeries, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("latent.nwb");
/// let z = PopulationActivity::new(array![[0.1, 0.2, 0.3], [0.5, 0.4, 0.3]], 0.004)?;
/// let s = ActivitySeries { name: "latent_z", activity: &z, unit: "spikes per neuron per bin",
///                          description: "inferred latent" };
/// nwb::write_population_activity(&path, "neulvm", "a neuLVM fit", &[s], &NwbWriteOptions::new("fit"))?;
/// let back = nwb::read_population_activity(&path, "/processing/neulvm/latent_z")?;
/// assert_eq!(back, z);
/// assert_eq!(nwb::inspect(&path)?.time_series[0].n_rois, 2);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_population_activity(
    path: &Path,
    module: &str,
    module_description: &str,
    series: &[ActivitySeries<'_>],
    opts: &NwbWriteOptions,
) -> Result<()> {
    check_name("module", module)?;
    if module_description.trim().is_empty() {
        return Err(DataError::param("module_description", "must not be empty"));
    }
    if series.is_empty() {
        return Err(DataError::param("series", "at least one series is needed"));
    }
    for (i, s) in series.iter().enumerate() {
        check_name("series name", s.name)?;
        if s.description.trim().is_empty() || s.unit.trim().is_empty() {
            return Err(DataError::param(
                "series",
                format!("{}: description and unit must not be empty", s.name),
            ));
        }
        if series[..i].iter().any(|o| o.name == s.name) {
            return Err(DataError::param(
                "series",
                format!("name {} is used twice", s.name),
            ));
        }
    }
    write_atomically(path, &opts.session(), |file| {
        let processing = file.group("processing")?;
        let m = group(&processing, module)?;
        typed(&m, "ProcessingModule", CORE)?;
        attr_str(&m, "description", module_description)?;
        for s in series {
            let ts = group(&m, s.name)?;
            typed(&ts, "TimeSeries", CORE)?;
            attr_str(&ts, "description", s.description)?;
            attr_str(&ts, "comments", "no comments")?;
            let data = mat2(
                &ts,
                "data",
                &s.activity.activity().t().as_standard_layout().into_owned(),
                true,
            )?;
            attr_str(&data, "unit", s.unit)?;
            attr_f64(&data, "conversion", 1.0)?;
            attr_f64(&data, "offset", 0.0)?;
            attr_f64(&data, "resolution", -1.0)?;
            let st = scalar(&ts, "starting_time", &0.0f64)?;
            attr_f64(&st, "rate", 1.0 / s.activity.bin_s())?;
            attr_str(&st, "unit", "seconds")?;
        }
        Ok(())
    })
}

/// Reads the generic `TimeSeries` at HDF5 path `series` (time × columns, with
/// `starting_time@rate` or regular `timestamps`) into a [`PopulationActivity`]
/// (`[column, bin]`, bin width 1 / rate). [`inspect`] lists candidates in `time_series`.
///
/// Errors: [`DataError::Nwb`] if the group is missing, is not a `TimeSeries`, has data of
/// more than 2 dimensions or no usable time base; [`DataError::Shape`]-derived messages for
/// non-finite values.
pub fn read_population_activity(path: &Path, series: &str) -> Result<PopulationActivity> {
    let file = open(path)?;
    (|| -> R<PopulationActivity> {
        let ts = file
            .group(series)
            .map_err(|_| Msg(format!("no group {series} in this file")))?;
        let ty = neurodata_type(&ts);
        if ty.as_deref() != Some("TimeSeries") {
            return Err(Msg(format!(
                "{series} is not a TimeSeries (neurodata_type {ty:?})"
            )));
        }
        let (arr, rate) = read_time_major(&ts, series, "columns")?;
        let rate = rate.filter(|r| r.is_finite() && *r > 0.0).ok_or_else(|| {
            Msg(format!(
                "{series} has neither starting_time@rate nor regular timestamps: bin width unknown"
            ))
        })?;
        PopulationActivity::new(arr.t().as_standard_layout().into_owned(), 1.0 / rate)
            .map_err(|e| Msg(format!("{series}: {e}")))
    })()
    .map_err(|Msg(m)| nwb_err(path, m))
}

/// Generic `TimeSeries` groups directly inside each processing module (modules by name).
fn find_time_series(file: &File) -> R<Vec<String>> {
    let mut out = Vec::new();
    let Ok(processing) = file.group("processing") else {
        return Ok(out);
    };
    let mut modules = processing.member_names()?;
    modules.sort();
    for m in modules {
        let Ok(g) = processing.group(&m) else {
            continue;
        };
        let mut names = g.member_names()?;
        names.sort();
        for name in names {
            if let Ok(child) = g.group(&name)
                && neurodata_type(&child).as_deref() == Some("TimeSeries")
            {
                out.push(child.name());
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Inspect
// ---------------------------------------------------------------------------------------------

/// Lists what an NWB file holds: session metadata, the `/units` table (units, spikes,
/// interval) and every `RoiResponseSeries` (shape, rate). `spikelab inspect` prints it.
///
/// Errors: [`DataError::Nwb`] if the file is not HDF5 or its units table is malformed.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("o.nwb");
/// nwb::write_ophys(&path, &CalciumTraces::new(array![[1.0, 2.0], [3.0, 4.0]], 30.0)?, &OphysWriteOptions::default())?;
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
        Some(UnitsSummary {
            n_units: st.n_units(),
            n_spikes: st.total_spikes(),
            t_start_s: st.t_start_s(),
            t_stop_s: st.t_stop_s(),
            has_electrodes,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_checks() {
        assert!(check_iso8601("2024-03-01T09:30:00+01:00").is_ok());
        assert!(check_iso8601("2024-03-01T09:30:00.123Z").is_ok());
        assert!(check_iso8601(&now_iso8601()).is_ok());
        assert!(check_iso8601("2024-03-01T09:30:00").is_err());
        assert!(check_iso8601("2024-13-01T09:30:00Z").is_err());
        assert!(check_iso8601("yesterday").is_err());
    }
}
