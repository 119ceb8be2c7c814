//! Raw voltage from an NWB `ElectricalSeries` (core schema, `ecephys`), read lazily by
//! hyperslab: a chunk of samples reads only the HDF5 chunks that hold it.
//!
//! * `data` is **samples × channels** (1-D data is one channel), any integer or float type.
//! * Rate from `starting_time@rate`, or from regular `timestamps` (mean interval; an
//!   interval off the mean by more than 1 % is an error).
//! * µV: `data@unit` is volts, so `gain_to_uv[c] = conversion · channel_conversion[c] · 10⁶`
//!   and `offset_to_uv = offset · 10⁶` (`channel_conversion` absent is 1, `offset` absent 0),
//!   as NWB's `ElectricalSeries` defines `volts = data · channel_conversion · conversion +
//!   offset`.
//! * Geometry: the series' `electrodes` region (row indices into
//!   `/general/extracellular_ephys/electrodes`) picks the rows; their `rel_x`/`rel_y` columns
//!   (position in the electrode group, µm, as spikeinterface reads them) or else `x`/`y`
//!   give the contacts. Without either, the default linear layout
//!   ([`crate::io::raw::default_linear_probe`]).
//!
//! # Example
//! ```
//! use spikelab_data::RecordingSource;
//! use spikelab_data::io::raw;
//! let p = spikelab_datasets::root()?.join("sort/readers/nwb/ecephys_pynwb.nwb");
//! let rec = raw::nwb::open(&p, None)?;
//! assert_eq!(rec.n_channels(), 4);
//! assert_eq!(rec.sampling_rate_hz(), 10_000.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, File, Group};
use ndarray::{Array2, s};

use super::h5::{ds_1d_f64, ds_1d_i64, f64_attr, neurodata_type};
use super::timeseries::time_base;
use super::{Msg, R, nwb_err, open as open_file};
use crate::Probe;
use crate::error::{DataError, Result};
use crate::io::raw::{RecordingSource, check_range, default_linear_probe};

/// An `ElectricalSeries` of an NWB file, read lazily.
#[derive(Debug)]
pub struct NwbRecording {
    path: PathBuf,
    series: String,
    _file: File,
    data: Dataset,
    n_samples: usize,
    n_channels: usize,
    is_float: bool,
    sampling_rate_hz: f64,
    probe: Probe,
    gain_to_uv: Vec<f32>,
    offset_to_uv: Vec<f32>,
}

impl NwbRecording {
    /// HDF5 path of the series.
    pub fn series(&self) -> &str {
        &self.series
    }
}

/// The `ElectricalSeries` groups in `/acquisition` and one or two levels into each
/// processing module (e.g. `/processing/ecephys/LFP/ElectricalSeries`), sorted.
fn find_series(file: &File) -> R<Vec<String>> {
    let mut out = Vec::new();
    fn scan(g: &Group, depth: usize, out: &mut Vec<String>) -> R<()> {
        let mut names = g.member_names()?;
        names.sort();
        for n in names {
            if let Ok(child) = g.group(&n) {
                if neurodata_type(&child).as_deref() == Some("ElectricalSeries") {
                    out.push(child.name());
                } else if depth > 0 {
                    scan(&child, depth - 1, out)?;
                }
            }
        }
        Ok(())
    }
    if let Ok(a) = file.group("acquisition") {
        scan(&a, 0, &mut out)?;
    }
    if let Ok(p) = file.group("processing") {
        scan(&p, 2, &mut out)?;
    }
    Ok(out)
}

/// Opens the `ElectricalSeries` at HDF5 path `series` (e.g. `/acquisition/ElectricalSeries`),
/// or the only one in the file when `None` (module docs).
///
/// Errors: [`DataError::Io`] for a missing file; [`DataError::Nwb`] naming the file for no
/// or several series (listing them), data of rank > 2, no rate, electrodes rows out of the
/// table or a `channel_conversion` of the wrong length.
pub fn open(path: &Path, series: Option<&str>) -> Result<NwbRecording> {
    let file = open_file(path)?;
    let r = (|| -> R<NwbRecording> {
        let name = match series {
            Some(s) => s.to_string(),
            None => {
                let all = find_series(&file)?;
                match all.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(Msg("no ElectricalSeries in /acquisition or /processing; raw voltage is not in this file".into())),
                    _ => return Err(Msg(format!("several ElectricalSeries ({all:?}); choose one (RawOptions::nwb_series)"))),
                }
            }
        };
        let g = file
            .group(&name)
            .map_err(|_| Msg(format!("no group {name} in this file")))?;
        let ty = neurodata_type(&g);
        if ty.as_deref() != Some("ElectricalSeries") {
            return Err(Msg(format!(
                "{name} is not an ElectricalSeries (neurodata_type {ty:?})"
            )));
        }
        let data = g
            .dataset("data")
            .map_err(|_| Msg(format!("{name}/data is missing")))?;
        let (n_samples, n_channels) = match data.shape().as_slice() {
            [t] => (*t, 1),
            [t, c] => (*t, *c),
            other => {
                return Err(Msg(format!(
                    "{name}/data: expected samples × channels, got shape {other:?}"
                )));
            }
        };
        if n_channels == 0 {
            return Err(Msg(format!("{name}/data has no channels")));
        }
        let is_float = matches!(data.dtype()?.to_descriptor()?, TypeDescriptor::Float(_));
        let (rate, _) = time_base(&g, n_samples)?;
        let rate = rate.filter(|r| r.is_finite() && *r > 0.0).ok_or_else(|| {
            Msg(format!("{name} has neither starting_time@rate nor regular timestamps: the sampling rate is unknown"))
        })?;
        let conversion = f64_attr(&data, "conversion").unwrap_or(1.0);
        let offset = f64_attr(&data, "offset").unwrap_or(0.0);
        let cc = if g.link_exists("channel_conversion") {
            let cc = ds_1d_f64(&g, "channel_conversion")?;
            if cc.len() != n_channels {
                return Err(Msg(format!(
                    "{name}/channel_conversion has {} values for {n_channels} channels",
                    cc.len()
                )));
            }
            cc
        } else {
            vec![1.0; n_channels]
        };
        let gain_to_uv = cc.iter().map(|c| (c * conversion * 1e6) as f32).collect();
        let offset_to_uv = vec![(offset * 1e6) as f32; n_channels];
        let probe = electrodes_probe(&file, &g, &name, n_channels)?;
        Ok(NwbRecording {
            path: path.to_path_buf(),
            series: name,
            _file: file.clone(),
            data,
            n_samples,
            n_channels,
            is_float,
            sampling_rate_hz: rate,
            probe,
            gain_to_uv,
            offset_to_uv,
        })
    })();
    r.map_err(|Msg(m)| nwb_err(path, m))
}

fn electrodes_probe(file: &File, g: &Group, name: &str, n: usize) -> R<Probe> {
    let fallback = || default_linear_probe(n).map_err(|e| Msg(e.to_string()));
    if !g.link_exists("electrodes") {
        return fallback();
    }
    let rows = ds_1d_i64(g, "electrodes")?;
    if rows.len() != n {
        return Err(Msg(format!(
            "{name}/electrodes has {} rows for {n} channels of data",
            rows.len()
        )));
    }
    let Ok(table) = file.group("general/extracellular_ephys/electrodes") else {
        return fallback();
    };
    let (xs, ys) = if table.link_exists("rel_x") && table.link_exists("rel_y") {
        (ds_1d_f64(&table, "rel_x")?, ds_1d_f64(&table, "rel_y")?)
    } else if table.link_exists("x") && table.link_exists("y") {
        (ds_1d_f64(&table, "x")?, ds_1d_f64(&table, "y")?)
    } else {
        return fallback();
    };
    let pos = rows
        .iter()
        .map(|&r| {
            let r = usize::try_from(r)
                .ok()
                .filter(|&r| r < xs.len() && r < ys.len());
            r.map(|r| [xs[r], ys[r]]).ok_or_else(|| {
                Msg(format!(
                    "{name}/electrodes points at a row outside the {}-row electrodes table",
                    xs.len()
                ))
            })
        })
        .collect::<R<Vec<_>>>()?;
    Probe::new(pos, 0.0).map_err(|e| Msg(format!("electrodes positions: {e}")))
}

impl RecordingSource for NwbRecording {
    fn n_samples(&self) -> usize {
        self.n_samples
    }
    fn n_channels(&self) -> usize {
        self.n_channels
    }
    fn sampling_rate_hz(&self) -> f64 {
        self.sampling_rate_hz
    }
    fn probe(&self) -> &Probe {
        &self.probe
    }
    fn gain_to_uv(&self) -> &[f32] {
        &self.gain_to_uv
    }
    fn offset_to_uv(&self) -> &[f32] {
        &self.offset_to_uv
    }
    fn read_chunk(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>> {
        check_range(start_sample, n_samples, self.n_samples)?;
        let end = start_sample + n_samples;
        let read = || -> std::result::Result<Array2<f32>, hdf5::Error> {
            if n_samples == 0 {
                return Ok(Array2::zeros((0, self.n_channels)));
            }
            if self.data.ndim() == 1 {
                let v = self.data.read_slice_1d::<f32, _>(start_sample..end)?;
                Ok(v.insert_axis(ndarray::Axis(1)))
            } else {
                self.data.read_slice_2d::<f32, _>(s![start_sample..end, ..])
            }
        };
        let out = read().map_err(|e| {
            nwb_err(
                &self.path,
                format!(
                    "reading {}/data samples {start_sample}..{end}: {}",
                    self.series,
                    crate::io::hdf5_guard::error_text(&e)
                ),
            )
        })?;
        if self.is_float
            && let Some(((s, c), &v)) = out.indexed_iter().find(|(_, v)| !v.is_finite())
        {
            return Err(DataError::NonFiniteSample {
                path: self.path.clone(),
                sample: start_sample + s,
                channel: c,
                value: v as f64,
            });
        }
        Ok(out)
    }
}
