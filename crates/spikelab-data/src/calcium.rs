//! Calcium fluorescence traces.

use ndarray::{Array2, ArrayView1, s};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Fluorescence traces of several neurons sampled at a common frame rate.
///
/// * **Axis order: `[time, neuron]`** (rows are frames, columns are neurons), as in the
///   Spikefinder CSVs and NWB `RoiResponseSeries`.
/// * `frame_rate_hz` is the sampling rate (> 0).
/// * Each neuron has a *valid length*: the number of frames before its trailing NaN padding
///   (Spikefinder pads shorter neurons with NaN at the end). Frames past the valid length are
///   NaN. NaNs **inside** the valid part are not dropped: [`CalciumTraces::interior_nans`]
///   reports them so a method can decide what to do.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// let nan = f64::NAN;
/// let tr = CalciumTraces::new(array![[1.0, 2.0], [1.5, nan], [1.2, nan]], 100.0)?;
/// assert_eq!(tr.valid_lengths(), &[3, 1]);
/// assert_eq!(tr.trace(1).to_vec(), vec![2.0]);
/// assert!((tr.duration_s() - 0.03).abs() < 1e-12);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalciumTraces {
    data: Array2<f64>,
    frame_rate_hz: f64,
    valid_len: Vec<usize>,
}

impl CalciumTraces {
    /// Wraps a `[time, neuron]` array; valid lengths are inferred from trailing NaNs.
    pub fn new(data: Array2<f64>, frame_rate_hz: f64) -> Result<Self> {
        if !(frame_rate_hz.is_finite() && frame_rate_hz > 0.0) {
            return Err(DataError::param(
                "frame_rate_hz",
                format!("must be > 0 Hz, got {frame_rate_hz}"),
            ));
        }
        if data.iter().any(|v| v.is_infinite()) {
            return Err(DataError::Shape {
                what: "calcium traces".into(),
                expected: "finite values or NaN padding".into(),
                got: "an infinite value".into(),
            });
        }
        let valid_len = data
            .columns()
            .into_iter()
            .map(|c| c.iter().rposition(|v| !v.is_nan()).map_or(0, |p| p + 1))
            .collect();
        Ok(CalciumTraces {
            data,
            frame_rate_hz,
            valid_len,
        })
    }

    /// Builds from one trace per neuron (possibly of different lengths), padding with NaN.
    pub fn from_columns(traces: &[Vec<f64>], frame_rate_hz: f64) -> Result<Self> {
        let t = traces.iter().map(Vec::len).max().unwrap_or(0);
        let mut data = Array2::from_elem((t, traces.len()), f64::NAN);
        for (j, tr) in traces.iter().enumerate() {
            for (i, &v) in tr.iter().enumerate() {
                data[[i, j]] = v;
            }
        }
        Self::new(data, frame_rate_hz)
    }

    /// The `[time, neuron]` data, NaN-padded.
    pub fn data(&self) -> &Array2<f64> {
        &self.data
    }
    /// Frame rate in Hz.
    pub fn frame_rate_hz(&self) -> f64 {
        self.frame_rate_hz
    }
    /// Number of frames (rows, including padding).
    pub fn n_frames(&self) -> usize {
        self.data.nrows()
    }
    /// Number of neurons (columns).
    pub fn n_neurons(&self) -> usize {
        self.data.ncols()
    }
    /// Duration of the longest trace in seconds.
    pub fn duration_s(&self) -> f64 {
        self.n_frames() as f64 / self.frame_rate_hz
    }
    /// Per-neuron number of frames before the trailing NaN padding.
    pub fn valid_lengths(&self) -> &[usize] {
        &self.valid_len
    }
    /// The valid (unpadded) part of neuron `j`'s trace.
    pub fn trace(&self, j: usize) -> ArrayView1<'_, f64> {
        self.data.slice(s![..self.valid_len[j], j])
    }
    /// `(neuron, frame)` of every NaN inside a neuron's valid part.
    pub fn interior_nans(&self) -> Vec<(usize, usize)> {
        (0..self.n_neurons())
            .flat_map(|j| {
                self.trace(j)
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_nan())
                    .map(move |(i, _)| (j, i))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
    /// Neurons whose valid length is zero (all-NaN columns).
    pub fn empty_neurons(&self) -> Vec<usize> {
        (0..self.n_neurons())
            .filter(|&j| self.valid_len[j] == 0)
            .collect()
    }
}
