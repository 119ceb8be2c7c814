//! The CASCADE ground-truth layout: a `CAttached` cell array of structs with `fluo_time`,
//! `fluo_mean` and `events_AP` fields.

use std::path::Path;

use super::{common_rate, mat_err, read_mat, struct_elements, trains_on_interval, vector_field};
use crate::error::{DataError, Result};
use crate::{CalciumTraces, SpikeTrains};

/// One trial of a CASCADE ground-truth file (an element of its `CAttached` cell array).
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeTrial {
    /// Frame times in seconds (field `fluo_time`).
    pub fluo_time_s: Vec<f64>,
    /// ΔF/F as a fraction, one value per frame (field `fluo_mean`).
    pub dff: Vec<f64>,
    /// Spike times in seconds on the same clock as `fluo_time_s` (field `events_AP`, stored
    /// in units of 1e-4 s).
    pub spike_times_s: Vec<f64>,
    /// Frame rate in Hz: 1 / median of the frame-time differences.
    pub frame_rate_hz: f64,
}

/// Ephys sampling rate of CASCADE's `events_AP` (samples of 1e-4 s).
pub const CASCADE_EPHYS_RATE_HZ: f64 = 1e4;

/// Reads a CASCADE ground-truth file (`CAttached_*.mat[.gz]`): variable `CAttached`, a cell
/// array of structs (a struct array works too) with `fluo_time` (s), `fluo_mean` (ΔF/F) and
/// `events_AP` (units of 1e-4 s).
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let p = datasets::cascade_sample("CAttached_Chen2013_GC6f_cell1B_full_mini.mat.gz")?;
/// let trials = mat::read_cascade(&p)?;
/// assert_eq!(trials.len(), 2);
/// assert!((trials[0].frame_rate_hz - 60.0).abs() < 2.0);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_cascade(path: &Path) -> Result<Vec<CascadeTrial>> {
    let f = read_mat(path)?;
    let v = f.variable("CAttached")?;
    let elems = struct_elements(path, v, "CAttached")?;
    elems
        .into_iter()
        .enumerate()
        .map(|(i, (s, e))| {
            let what = format!("CAttached trial {i}");
            let need = |field: &str| -> Result<Vec<f64>> {
                vector_field(path, s, e, field, &what)?
                    .ok_or_else(|| mat_err(path, format!("{what}: missing field '{field}'")))
            };
            let fluo_time_s = need("fluo_time")?;
            let dff = need("fluo_mean")?;
            let events = need("events_AP")?;
            if fluo_time_s.len() != dff.len() {
                return Err(mat_err(
                    path,
                    format!(
                        "{what}: 'fluo_time' has {} frames but 'fluo_mean' has {}",
                        fluo_time_s.len(),
                        dff.len()
                    ),
                ));
            }
            if fluo_time_s.len() < 2 {
                return Err(mat_err(
                    path,
                    format!("{what}: fewer than 2 frames, no frame rate"),
                ));
            }
            if fluo_time_s.iter().any(|t| !t.is_finite())
                || fluo_time_s.windows(2).any(|w| w[1] <= w[0])
            {
                return Err(mat_err(
                    path,
                    format!("{what}: 'fluo_time' is not finite and strictly increasing"),
                ));
            }
            let mut diffs: Vec<f64> = fluo_time_s.windows(2).map(|w| w[1] - w[0]).collect();
            diffs.sort_by(f64::total_cmp);
            let m = diffs.len();
            let med = if m % 2 == 1 {
                diffs[m / 2]
            } else {
                0.5 * (diffs[m / 2 - 1] + diffs[m / 2])
            };
            if let Some(bad) = events.iter().find(|x| !x.is_finite()) {
                return Err(mat_err(path, format!("{what}: 'events_AP' holds {bad}")));
            }
            let mut spike_times_s: Vec<f64> =
                events.iter().map(|x| x / CASCADE_EPHYS_RATE_HZ).collect();
            spike_times_s.sort_by(f64::total_cmp);
            Ok(CascadeTrial {
                fluo_time_s,
                dff,
                spike_times_s,
                frame_rate_hz: 1.0 / med,
            })
        })
        .collect()
}

/// The trials' ΔF/F side by side as `[time, trial]` [`CalciumTraces`] (NaN-padded). The frame
/// rate is the first trial's; the others must agree within 1 %.
pub fn cascade_to_traces(trials: &[CascadeTrial]) -> Result<CalciumTraces> {
    let rate = common_rate(
        &trials.iter().map(|t| t.frame_rate_hz).collect::<Vec<_>>(),
        0.01,
    )?;
    let cols: Vec<Vec<f64>> = trials.iter().map(|t| t.dff.clone()).collect();
    CalciumTraces::from_columns(&cols, rate)
}

/// One spike train per trial, with times relative to the trial's first frame
/// (`t - fluo_time_s[0]`) so that they line up with [`cascade_to_traces`]. The interval is
/// `[min(0, first spike), max(longest trial, last spike)]`.
pub fn cascade_to_spike_trains(trials: &[CascadeTrial]) -> Result<SpikeTrains> {
    if trials.is_empty() {
        return Err(DataError::param("trials", "no trial given"));
    }
    let trains: Vec<Vec<f64>> = trials
        .iter()
        .map(|t| {
            let t0 = t.fluo_time_s.first().copied().unwrap_or(0.0);
            t.spike_times_s.iter().map(|s| s - t0).collect()
        })
        .collect();
    let dur = trials
        .iter()
        .map(|t| t.dff.len() as f64 / t.frame_rate_hz)
        .fold(0.0, f64::max);
    trains_on_interval(trains, dur)
}
