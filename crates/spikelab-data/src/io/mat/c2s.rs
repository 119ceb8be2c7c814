//! The c2s / Spikefinder layout: a `data` struct array with `calcium`, `fps`, `spikes` and
//! `spike_times` fields.

use std::path::Path;

use super::{common_rate, mat_err, read_mat, struct_elements, trains_on_interval, vector_field};
use crate::error::{DataError, Result};
use crate::{CalciumTraces, SpikeTrains};

/// One recording of a c2s/Spikefinder `.mat` file (an element of its `data` struct array).
#[derive(Debug, Clone, PartialEq)]
pub struct C2sRecording {
    /// Fluorescence, one value per frame.
    pub calcium: Vec<f64>,
    /// Sampling rate of `calcium` in Hz (field `fps`).
    pub fps: f64,
    /// Spike count per frame (field `spikes`), if present.
    pub spike_counts: Option<Vec<f64>>,
    /// Spike times in **seconds** (field `spike_times`, stored in ms), if present.
    pub spike_times_s: Option<Vec<f64>>,
}

impl C2sRecording {
    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.calcium.len()
    }
    /// Duration `n_frames / fps` in seconds.
    pub fn duration_s(&self) -> f64 {
        self.calcium.len() as f64 / self.fps
    }
}

/// Reads a c2s/Spikefinder file (`data.N.test.preprocessed.mat[.gz]`): variable `data`, a
/// struct array (or cell array of structs) with fields `calcium` (1×T), `fps`, and optionally
/// `spikes` (1×T counts) and `spike_times` (ms; converted to seconds).
///
/// Errors name the missing or malformed field and the recording index.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let recs = mat::read_c2s(&datasets::spikefinder_test_mat(4)?)?;
/// assert_eq!(recs.len(), 3);
/// assert_eq!(recs[0].n_frames(), 33280);
/// assert_eq!(recs[0].fps, 100.0);
/// let traces = mat::c2s_to_traces(&recs)?;
/// assert_eq!(traces.valid_lengths(), &[33280, 33280, 30810]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_c2s(path: &Path) -> Result<Vec<C2sRecording>> {
    let f = read_mat(path)?;
    let v = f.variable("data")?;
    let elems = struct_elements(path, v, "data")?;
    elems
        .into_iter()
        .enumerate()
        .map(|(i, (s, e))| {
            let what = format!("data element {i}");
            let calcium = vector_field(path, s, e, "calcium", &what)?
                .ok_or_else(|| mat_err(path, format!("{what}: missing field 'calcium'")))?;
            let fps_v = s
                .field(e, "fps")
                .ok_or_else(|| mat_err(path, format!("{what}: missing field 'fps'")))?;
            let fps = fps_v.as_scalar().ok_or_else(|| {
                mat_err(
                    path,
                    format!(
                        "{what}: field 'fps' is a {}, expected a scalar",
                        fps_v.describe()
                    ),
                )
            })?;
            if !(fps.is_finite() && fps > 0.0) {
                return Err(mat_err(path, format!("{what}: fps = {fps}, must be > 0")));
            }
            let spike_counts = vector_field(path, s, e, "spikes", &what)?;
            if let Some(sc) = &spike_counts
                && sc.len() != calcium.len()
            {
                return Err(mat_err(
                    path,
                    format!(
                        "{what}: 'spikes' has {} frames but 'calcium' has {}",
                        sc.len(),
                        calcium.len()
                    ),
                ));
            }
            let spike_times_s = vector_field(path, s, e, "spike_times", &what)?
                .map(|t| t.into_iter().map(|ms| ms / 1000.0).collect::<Vec<_>>());
            if let Some(t) = &spike_times_s
                && let Some(bad) = t.iter().find(|x| !x.is_finite())
            {
                return Err(mat_err(path, format!("{what}: 'spike_times' holds {bad}")));
            }
            Ok(C2sRecording {
                calcium,
                fps,
                spike_counts,
                spike_times_s,
            })
        })
        .collect()
}

/// Puts the recordings side by side as `[time, neuron]` [`CalciumTraces`] (NaN-padded at the
/// end; valid lengths are the recordings' lengths).
///
/// The frame rate is the first recording's `fps`; the others must agree within 1 %. (The
/// Spikefinder files store each cell's exact resampled rate, e.g. 99.9993 Hz and 100.0003 Hz
/// in test 1, for data that are treated as 100 Hz.)
pub fn c2s_to_traces(recs: &[C2sRecording]) -> Result<CalciumTraces> {
    let fps = common_rate(&recs.iter().map(|r| r.fps).collect::<Vec<_>>(), 0.01)?;
    let cols: Vec<Vec<f64>> = recs.iter().map(|r| r.calcium.clone()).collect();
    CalciumTraces::from_columns(&cols, fps)
}

/// One spike train per recording from `spike_times` (seconds, frame 0 at t = 0). The interval
/// is `[min(0, first spike), max(longest duration, last spike)]`. Errors if a recording has no
/// `spike_times`.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let recs = mat::read_c2s(&datasets::spikefinder_test_mat(5)?)?;
/// let st = mat::c2s_to_spike_trains(&recs)?;
/// assert_eq!(st.n_units(), recs.len());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn c2s_to_spike_trains(recs: &[C2sRecording]) -> Result<SpikeTrains> {
    let trains = recs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.spike_times_s.clone().ok_or_else(|| {
                DataError::param(
                    "recordings",
                    format!("recording {i} has no 'spike_times' field"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let dur = recs
        .iter()
        .map(C2sRecording::duration_s)
        .fold(0.0, f64::max);
    trains_on_interval(trains, dur)
}
