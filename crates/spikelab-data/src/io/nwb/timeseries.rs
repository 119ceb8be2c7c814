//! Generic `TimeSeries` in processing modules ([`PopulationActivity`], e.g. neuLVM's
//! latents) and the time base (`starting_time@rate` or `timestamps`) every series shares.

use std::path::Path;

use hdf5::{Dataset, File, Group};
use ndarray::Array2;

use super::h5::*;
use super::session::{NwbWriteOptions, write_atomically};
use super::{CORE, Ctx, Msg, R, check_name, nwb_err, open};
use crate::PopulationActivity;
use crate::error::{DataError, Result};

/// Frame rate and first-frame time of a series.
pub(super) fn time_base(rrs: &Group, n_frames: usize) -> R<(Option<f64>, Option<f64>)> {
    if let Ok(st) = rrs.dataset("starting_time") {
        let t0 = st.read_scalar::<f64>().ok();
        let rate = f64_attr(&st, "rate");
        return Ok((rate, t0));
    }
    if let Ok(ts) = rrs.dataset("timestamps") {
        let t = read_checked::<f64>(&ts)?;
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

/// Applies `data@conversion` and `data@offset` (`v * conversion + offset`) to values read
/// from `data`, when those attributes are present and not 1 and 0.
pub(super) fn scale<'a>(data: &Dataset, values: impl IntoIterator<Item = &'a mut f64>) {
    let conversion = f64_attr(data, "conversion").unwrap_or(1.0);
    let offset = f64_attr(data, "offset").unwrap_or(0.0);
    if conversion != 1.0 || offset != 0.0 {
        values
            .into_iter()
            .for_each(|v| *v = *v * conversion + offset);
    }
}

/// The `data` dataset of a series group and its (time, columns) size; 1-D data is one column.
pub(super) fn time_major_data(
    g: &Group,
    series: &str,
    columns: &str,
) -> R<(hdf5::Dataset, usize, usize)> {
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
    Ok((data, t, n))
}

/// `data` of a series group as **time × columns** (1-D data is one column), with
/// `data * conversion + offset` applied when those attributes are not 1 and 0, and the rate of
/// its time base (`None` when unknown). `columns` names the second axis in errors.
pub(super) fn read_time_major(
    g: &Group,
    series: &str,
    columns: &str,
) -> R<(Array2<f64>, Option<f64>)> {
    let (data, t, n) = time_major_data(g, series, columns)?;
    crate::io::hdf5_guard::check_dataset_size(&data).ctx(|| format!("reading {series}/data"))?;
    let mut values = data
        .read_raw::<f64>()
        .ctx(|| format!("reading {series}/data"))?;
    scale(&data, &mut values);
    let (rate, _t0) = time_base(g, t)?;
    let arr = Array2::from_shape_vec((t, n), values).map_err(|e| Msg(e.to_string()))?;
    Ok((arr, rate))
}

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
/// (`[column, bin]`, bin width 1 / rate). [`inspect`](super::inspect) lists candidates in `time_series`.
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
pub(super) fn find_time_series(file: &File) -> R<Vec<String>> {
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
