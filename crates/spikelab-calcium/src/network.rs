//! The Elephant network and inference: z-scoring, windowing, the index-32 alignment, and the
//! two evaluations (per-window reference on candle; exact fully-convolutional form).
//!
//! **Alignment.** For a trace of `n` frames the network sees the windows `z[j..j+128]`,
//! `j = 0 … n−129` (the original's `n − 128` windows), and the output of window `j` belongs to
//! frame `j + 32` (25 % past, 75 % future). Frames `0 … 31` and `n−96 … n−1` have no output and
//! are **NaN**. Frames that were NaN in the input are NaN in the output too.

use candle_core::Device;
use ndarray::{Array2, ArrayView1};
use spikelab_data::CalciumTraces;

use crate::error::{CalciumError, Result};
use crate::spikenet::Conv1dSpikeNet;
use crate::weights::{ElephantWeights, WINDOW, WINDOW_OFFSET};

/// The epsilon of the original `norm`: `z = (x − mean)/(std + 1e-7)`.
pub const ZSCORE_EPS: f64 = 1e-7;

pub use crate::spikenet::Evaluation;

/// Why a neuron got no prediction (its output column is all NaN).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Skipped {
    /// The trace is too short for the network's window (Elephant: fewer than 129 valid
    /// frames, the 128-sample window plus one; CASCADE: fewer frames than its window).
    TooShort {
        /// Valid (non-NaN) frames.
        frames: usize,
    },
    /// All frames are NaN.
    AllNan,
    /// The trace is constant (standard deviation 0).
    Constant,
    /// Every window holds a NaN frame (CASCADE), so no frame gets an output.
    NoCompleteWindow,
}

/// `(neuron index, reason)` of every neuron without a prediction.
pub type SkippedNeurons = Vec<(usize, Skipped)>;

/// Z-scoring and NaN handling of one trace, shared by inference and training.
///
/// Returns the z-scored trace (f64) with NaN frames filled by linear interpolation between
/// their valid neighbours (constant extrapolation at the ends), and the NaN mask.
pub fn zscore_trace(trace: &[f64]) -> std::result::Result<(Vec<f64>, Vec<bool>), Skipped> {
    let nan: Vec<bool> = trace.iter().map(|v| !v.is_finite()).collect();
    let valid: Vec<f64> = trace.iter().copied().filter(|v| v.is_finite()).collect();
    if valid.is_empty() {
        return Err(Skipped::AllNan);
    }
    if valid.len() < WINDOW + 1 {
        return Err(Skipped::TooShort {
            frames: valid.len(),
        });
    }
    let n = valid.len() as f64;
    let mean = valid.iter().sum::<f64>() / n;
    let var = valid.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    if sd == 0.0 {
        return Err(Skipped::Constant);
    }
    let mut z: Vec<f64> = trace
        .iter()
        .map(|&v| (v - mean) / (sd + ZSCORE_EPS))
        .collect();
    fill_nan_linear(&mut z);
    Ok((z, nan))
}

/// Mean and standard deviation of a trace's finite values, with the checks and the
/// summation order of [`zscore_trace`] (so the z-scores built from them are the same bits).
fn zscore_stats(trace: ArrayView1<f64>) -> std::result::Result<(f64, f64), Skipped> {
    let finite = || trace.iter().copied().filter(|v| v.is_finite());
    let count = finite().count();
    if count == 0 {
        return Err(Skipped::AllNan);
    }
    if count < WINDOW + 1 {
        return Err(Skipped::TooShort { frames: count });
    }
    let n = count as f64;
    let mean = finite().sum::<f64>() / n;
    let var = finite().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    if sd == 0.0 {
        return Err(Skipped::Constant);
    }
    Ok((mean, sd))
}

/// Frames `a..b` of [`zscore_trace`]'s output (as f32) into `buf`, reading only the trace:
/// a non-finite run is located by scanning outwards from the piece to its finite neighbours.
fn zscored_piece(
    trace: ArrayView1<f64>,
    (mean, sd): (f64, f64),
    a: usize,
    b: usize,
    buf: &mut Vec<f32>,
) {
    let n = trace.len();
    let z = |i: usize| (trace[i] - mean) / (sd + ZSCORE_EPS);
    buf.clear();
    let mut i = a;
    while i < b {
        let v = z(i);
        if v.is_finite() {
            buf.push(v as f32);
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && !z(start - 1).is_finite() {
            start -= 1;
        }
        let mut end = i;
        while end < n && !z(end).is_finite() {
            end += 1;
        }
        let left = (start > 0).then(|| z(start - 1));
        let right = (end < n).then(|| z(end));
        for idx in i..end.min(b) {
            let k = idx - start;
            buf.push(interpolate(left, right, k, end - start) as f32);
        }
        i = end.min(b);
    }
}

/// Value `k` of a non-finite run of length `len` between `left` and `right` (the rule of
/// [`fill_nan_linear`]).
#[inline]
fn interpolate(left: Option<f64>, right: Option<f64>, k: usize, len: usize) -> f64 {
    match (left, right) {
        (Some(a), Some(b)) => {
            let f = (k + 1) as f64 / (len + 1) as f64;
            a + (b - a) * f
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => 0.0,
    }
}

/// Fills non-finite values by linear interpolation (constant at the ends). No-op without NaNs.
pub(crate) fn fill_nan_linear(x: &mut [f64]) {
    let n = x.len();
    let mut i = 0;
    let mut last: Option<usize> = None;
    while i < n {
        if x[i].is_finite() {
            last = Some(i);
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !x[i].is_finite() {
            i += 1;
        }
        let left = last.map(|l| x[l]);
        let right = if i < n { Some(x[i]) } else { None };
        for (k, v) in x[start..i].iter_mut().enumerate() {
            *v = interpolate(left, right, k, i - start);
        }
    }
}

/// The Spikefinder-Elephant CNN with loaded weights.
///
/// ```
/// # #[cfg(feature = "embedded-weights")] {
/// use spikelab_calcium::{ElephantCnn, Evaluation};
/// let cnn = ElephantCnn::embedded(1)?;
/// let p = spikelab_datasets::spikefinder_calcium(4, spikelab_datasets::Split::Test)?;
/// let traces = spikelab_data::io::csv::read_calcium(&p, 100.0)?;
/// let y = cnn.predict(&traces)?; // [time, neuron], NaN where undefined
/// assert_eq!(y.dim(), (33280, 3));
/// assert!(y[[31, 0]].is_nan() && y[[32, 0]].is_finite());
/// assert!(y[[33280 - 97, 0]].is_finite() && y[[33280 - 96, 0]].is_nan());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ElephantCnn {
    weights: ElephantWeights,
    net: Conv1dSpikeNet,
}

impl ElephantCnn {
    /// A network with the given weights, fully-convolutional evaluation on the CPU.
    pub fn new(weights: ElephantWeights) -> Self {
        let net = Conv1dSpikeNet::new(weights.to_spikenet());
        ElephantCnn { weights, net }
    }

    /// The original's pretrained model 1–5 compiled into the library
    /// ([`ElephantWeights::embedded`], feature `embedded-weights`).
    #[cfg(feature = "embedded-weights")]
    pub fn embedded(model: u8) -> Result<Self> {
        Ok(Self::new(ElephantWeights::embedded(model)?))
    }

    /// Loads weights from a `.h5` (Keras, feature `keras-h5`) or `.safetensors` file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        Ok(Self::new(ElephantWeights::from_file(path)?))
    }

    /// Chooses the evaluation (default: fully convolutional).
    pub fn with_evaluation(mut self, evaluation: Evaluation) -> Self {
        self.net = self.net.with_evaluation(evaluation);
        self
    }

    /// Runs on another candle device (e.g. `Device::new_cuda(0)` with the `cuda` feature).
    /// On the CPU the fully-convolutional evaluation uses our gemm kernel; elsewhere candle ops.
    pub fn with_device(mut self, device: Device) -> Self {
        self.net = self.net.with_device(device);
        self
    }

    /// Uses candle's ops for the fully-convolutional evaluation even on the CPU (the code path
    /// GPUs take; slower than the default gemm kernel on the CPU, useful as a cross-check).
    pub fn with_candle_kernels(mut self, yes: bool) -> Self {
        self.net = self.net.with_candle_kernels(yes);
        self
    }

    /// Windows per chunk of the CPU fully-convolutional kernel (default 4096): chunks are the
    /// unit of parallel work, and each re-reads 127 overlap samples.
    pub fn with_chunk_outputs(mut self, chunk_outputs: usize) -> Result<Self> {
        self.net = self.net.with_chunk_outputs(chunk_outputs)?;
        Ok(self)
    }

    /// Windows per batch for the per-window evaluation (default 4096, as the golden outputs).
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        self.net = self.net.with_batch_size(batch_size)?;
        Ok(self)
    }

    /// The weights.
    pub fn weights(&self) -> &ElephantWeights {
        &self.weights
    }

    /// The network of the Elephant architecture these weights instantiate.
    pub fn net(&self) -> &Conv1dSpikeNet {
        &self.net
    }

    /// The evaluation in use.
    pub fn evaluation(&self) -> Evaluation {
        self.net.evaluation()
    }

    /// Raw network outputs for already z-scored f32 traces: for each trace of `n ≥ 129`
    /// samples, the `n − 128` outputs of windows `j = 0 … n−129` (output `j` belongs to frame
    /// `j + 32`). Shorter traces give an empty vector.
    pub fn forward_zscored(&self, traces: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        self.net.forward_with(traces, |n| n.saturating_sub(WINDOW))
    }

    /// Prediction for one trace at 100 Hz (NaN frames allowed), aligned to its frames: NaN at
    /// frames `< 32`, `≥ n − 96` and where the input is NaN (see module docs). Errors with
    /// [`CalciumError::InvalidInput`] for an all-NaN, constant or too-short trace.
    pub fn predict_trace(&self, trace: &[f64]) -> Result<Vec<f64>> {
        let (z, nan) = zscore_trace(trace).map_err(|s| CalciumError::InvalidInput {
            what: "trace".into(),
            reason: format!("{s:?}"),
        })?;
        let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        let y = self.forward_zscored(&[&zf])?.remove(0);
        Ok(align(&y, &nan, trace.len()))
    }

    /// Predictions for all neurons of 100 Hz traces (`|frame_rate_hz − 100| ≤ 0.1`, else
    /// [`CalciumError::InvalidInput`]; resample first with
    /// [`crate::preprocess::Preprocessing`]). Output `[time, neuron]`, same shape as the input,
    /// in z-score units of the smoothed spike train (the original's raw linear output; see
    /// [`crate::calibration`] for rates). A neuron that cannot be predicted (see
    /// [`Skipped`]) gets an all-NaN column; [`ElephantCnn::predict_report`] says which.
    pub fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>> {
        Ok(self.predict_report(traces)?.0)
    }

    /// As [`ElephantCnn::predict`], also returning the skipped neurons and why.
    pub fn predict_report(&self, traces: &CalciumTraces) -> Result<(Array2<f64>, SkippedNeurons)> {
        check_rate(traces.frame_rate_hz())?;
        let (t, nn) = traces.data().dim();
        let mut out = Array2::from_elem((t, nn), f64::NAN);
        let mut skipped = Vec::new();
        let mut zs: Vec<(usize, Vec<f32>, Vec<bool>)> = Vec::new();
        for j in 0..nn {
            let col = traces.trace(j).to_vec();
            match zscore_trace(&col) {
                Ok((z, nan)) => zs.push((j, z.iter().map(|&v| v as f32).collect(), nan)),
                Err(s) => skipped.push((j, s)),
            }
        }
        let refs: Vec<&[f32]> = zs.iter().map(|(_, z, _)| z.as_slice()).collect();
        let ys = self.forward_zscored(&refs)?;
        for ((j, z, nan), y) in zs.iter().zip(ys) {
            let col = align(&y, nan, z.len());
            for (i, v) in col.into_iter().enumerate() {
                out[[i, *j]] = v;
            }
        }
        Ok((out, skipped))
    }

    /// As [`ElephantCnn::predict_report`] in bounded memory: each neuron runs in pieces of at
    /// most `chunk_frames` windows (rounded down to whole kernel chunks, see
    /// [`ElephantCnn::with_chunk_outputs`], and never below one), each reading its 128-frame
    /// window plus the piece, so the memory beyond the input and the output does not grow
    /// with the recording's length. The output has the same bits as
    /// [`ElephantCnn::predict_report`]: pieces start on the kernel's chunk boundaries and the
    /// z-scores are computed with the same operations in the same order.
    /// `chunk_frames = 0` is a [`CalciumError::InvalidParameter`].
    pub fn predict_report_bounded(
        &self,
        traces: &CalciumTraces,
        chunk_frames: usize,
    ) -> Result<(Array2<f64>, SkippedNeurons)> {
        check_rate(traces.frame_rate_hz())?;
        check_chunk_frames(chunk_frames)?;
        let mut out = Array2::from_elem(traces.data().dim(), f64::NAN);
        let skipped = self.predict_into(traces, chunk_frames, &mut out, false)?;
        Ok((out, skipped))
    }

    /// The bounded prediction (any frame rate: the caller has checked it) written into `out`
    /// (`[time, neuron]` as `traces`), or added to it with `accumulate` (an ensemble's sum).
    pub(crate) fn predict_into(
        &self,
        traces: &CalciumTraces,
        chunk_frames: usize,
        out: &mut Array2<f64>,
        accumulate: bool,
    ) -> Result<SkippedNeurons> {
        let (g, piece) = match self.net.piece_granularity() {
            Some(g) => (g, (chunk_frames / g).max(1) * g),
            None => (usize::MAX, usize::MAX),
        };
        let mut skipped = Vec::new();
        // (neuron, first window, windows): the pieces of one network call, at most `piece`
        // windows in all, so short traces of many neurons still run in parallel.
        let mut batch: Vec<(usize, (f64, f64), usize, usize)> = Vec::new();
        let mut in_batch = 0usize;
        for j in 0..traces.n_neurons() {
            let trace = traces.trace(j);
            let stats = match zscore_stats(trace) {
                Ok(s) => s,
                Err(s) => {
                    skipped.push((j, s));
                    continue;
                }
            };
            let n_out = trace.len() - WINDOW;
            let mut j0 = 0;
            while j0 < n_out {
                // A piece that is not the trace's last ends on a multiple of `g`.
                let room = piece - in_batch;
                let m = if n_out - j0 <= room {
                    n_out - j0
                } else {
                    room / g * g
                };
                if m > 0 {
                    batch.push((j, stats, j0, m));
                    in_batch += m;
                    j0 += m;
                }
                if m == 0 || in_batch == piece {
                    self.run_batch(traces, &batch, out, accumulate)?;
                    batch.clear();
                    in_batch = 0;
                }
            }
        }
        self.run_batch(traces, &batch, out, accumulate)?;
        Ok(skipped)
    }

    fn run_batch(
        &self,
        traces: &CalciumTraces,
        batch: &[(usize, (f64, f64), usize, usize)],
        out: &mut Array2<f64>,
        accumulate: bool,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let bufs: Vec<Vec<f32>> = batch
            .iter()
            .map(|&(j, stats, j0, m)| {
                let mut buf = Vec::with_capacity(m + WINDOW);
                zscored_piece(traces.trace(j), stats, j0, j0 + m + WINDOW, &mut buf);
                buf
            })
            .collect();
        let refs: Vec<&[f32]> = bufs.iter().map(|b| b.as_slice()).collect();
        let ys = self.forward_zscored(&refs)?;
        for (&(j, _, j0, _), y) in batch.iter().zip(ys) {
            let trace = traces.trace(j);
            for (k, v) in y.into_iter().enumerate() {
                let i = j0 + k + WINDOW_OFFSET;
                let v = if trace[i].is_finite() {
                    v as f64
                } else {
                    f64::NAN
                };
                if accumulate {
                    out[[i, j]] += v;
                } else {
                    out[[i, j]] = v;
                }
            }
        }
        Ok(())
    }
}

/// `chunk_frames` of the bounded prediction must be ≥ 1.
pub(crate) fn check_chunk_frames(chunk_frames: usize) -> Result<()> {
    if chunk_frames == 0 {
        return Err(CalciumError::InvalidParameter {
            name: "chunk_frames",
            reason: "must be ≥ 1".into(),
        });
    }
    Ok(())
}

pub(crate) fn check_rate(frame_rate_hz: f64) -> Result<()> {
    if !(frame_rate_hz.is_finite() && (frame_rate_hz - 100.0).abs() <= 0.1) {
        return Err(CalciumError::InvalidInput {
            what: "frame_rate_hz".into(),
            reason: format!(
                "the network expects 100 Hz traces, got {frame_rate_hz} Hz: resample with preprocess::Preprocessing first"
            ),
        });
    }
    Ok(())
}

/// Places window outputs at frames `j + 32`; NaN elsewhere and where the input was NaN.
fn align(y: &[f32], nan: &[bool], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; n];
    for (j, &v) in y.iter().enumerate() {
        out[j + WINDOW_OFFSET] = v as f64;
    }
    for (o, &isnan) in out.iter_mut().zip(nan) {
        if isnan {
            *o = f64::NAN;
        }
    }
    out
}
