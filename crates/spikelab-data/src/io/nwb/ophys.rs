//! Optical physiology: [`CalciumTraces`] ↔ a `RoiResponseSeries` in `/processing/ophys`
//! with its `PlaneSegmentation`, `ImagingPlane`, `OpticalChannel` and `Device`.

use std::path::Path;

use hdf5::{File, Group};

use super::h5::*;
use super::metadata::NwbMetadata;
use super::session::{SessionMeta, device, now_iso8601, write_atomically};
use super::timeseries::read_time_major;
use super::{CORE, Ctx, HDMF, Msg, R, check_name, nwb_err, open};
use crate::CalciumTraces;
use crate::error::{DataError, Result};

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
    /// Session and subject metadata (`/general`); see [`NwbMetadata`].
    pub metadata: NwbMetadata,
}

impl OphysWriteOptions {
    /// Options with this session description and defaults otherwise.
    pub fn new(session_description: impl Into<String>) -> Self {
        OphysWriteOptions {
            session_description: session_description.into(),
            ..Default::default()
        }
    }

    /// Sets `metadata` and takes from its `[imaging]` table the fields it sets (location,
    /// indicator, wavelengths).
    ///
    /// ```
    /// use spikelab_data::io::nwb::{NwbMetadata, OphysWriteOptions};
    /// let meta = NwbMetadata::from_toml_str("[imaging]\nlocation = \"VISp\"\n")?;
    /// let opts = OphysWriteOptions::new("V1").with_metadata(meta);
    /// assert_eq!(opts.location, "VISp");
    /// assert_eq!(opts.indicator, "unknown");
    /// # Ok::<(), spikelab_data::DataError>(())
    /// ```
    pub fn with_metadata(mut self, metadata: NwbMetadata) -> Self {
        if let Some(im) = &metadata.imaging {
            if let Some(v) = &im.location {
                self.location = v.clone();
            }
            if let Some(v) = &im.indicator {
                self.indicator = v.clone();
            }
            if let Some(v) = im.excitation_lambda_nm {
                self.excitation_lambda_nm = v;
            }
            if let Some(v) = im.emission_lambda_nm {
                self.emission_lambda_nm = v;
            }
        }
        self.metadata = metadata;
        self
    }

    fn session(&self) -> SessionMeta<'_> {
        SessionMeta {
            overwrite: self.overwrite,
            session_description: &self.session_description,
            identifier: &self.identifier,
            session_start_time: &self.session_start_time,
            metadata: &self.metadata,
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
            metadata: NwbMetadata::default(),
        }
    }
}

/// Writes calcium traces as a `RoiResponseSeries` in `/processing/ophys` (see the
/// [module docs](super)).
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
/// # spikelab_datasets::collect_nwb(&path);
/// let back = nwb::read_ophys(&path)?;
/// assert_eq!(back.frame_rate_hz(), 30.0);
/// assert_eq!(back.valid_lengths(), &[2, 1]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_ophys(path: &Path, traces: &CalciumTraces, opts: &OphysWriteOptions) -> Result<()> {
    write_ophys_then(path, traces, opts, |_| Ok(()))
}

/// [`write_ophys`], then `then` adds to the open file within the same atomic write.
pub(super) fn write_ophys_then(
    path: &Path,
    traces: &CalciumTraces,
    opts: &OphysWriteOptions,
    then: impl FnOnce(&File) -> R<()>,
) -> Result<()> {
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
    if traces.n_frames() == 0 || n_rois == 0 {
        return Err(DataError::param(
            "traces",
            format!(
                "{} frames × {n_rois} ROIs: nothing to write (an empty series fails DANDI's checks)",
                traces.n_frames()
            ),
        ));
    }
    if opts.metadata.dandi && traces.n_frames() < n_rois {
        return Err(DataError::param(
            "traces",
            format!(
                "{} frames of {n_rois} ROIs: DANDI's checks expect time, the first axis, to be the longest (is the input transposed?)",
                traces.n_frames()
            ),
        ));
    }
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
        write_ophys_groups(file, traces, opts, &masks)?;
        then(file)
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
pub(super) fn find_series(file: &File) -> R<Vec<String>> {
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
/// `/acquisition`. Use [`read_ophys_series`] to pick another one ([`inspect`](super::inspect) lists them).
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
/// # spikelab_datasets::collect_nwb(&path);
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
/// nwb::write_ophys(&path, &CalciumTraces::new(array![[0.1, 0.2], [0.3, 0.4]], 10.0)?, &opts)?;
/// # spikelab_datasets::collect_nwb(&path);
/// let tr = nwb::read_ophys_series(&path, "/processing/ophys/DfOverF/dff")?;
/// assert_eq!(tr.n_neurons(), 2);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_ophys_series(path: &Path, series: &str) -> Result<CalciumTraces> {
    let file = open(path)?;
    read_series_in(&file, series).map_err(|Msg(m)| nwb_err(path, m))
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
