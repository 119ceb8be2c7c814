//! The Elephant network and inference: z-scoring, windowing, the index-32 alignment, and the
//! two evaluations (per-window reference on candle; exact fully-convolutional form).
//!
//! **Alignment.** For a trace of `n` frames the network sees the windows `z[j..j+128]`,
//! `j = 0 … n−129` (the original's `n − 128` windows), and the output of window `j` belongs to
//! frame `j + 32` (25 % past, 75 % future). Frames `0 … 31` and `n−96 … n−1` have no output and
//! are **NaN**. Frames that were NaN in the input are NaN in the output too.

use candle_core::{DType, Device, Tensor};
use ndarray::Array2;
use spikelab_data::CalciumTraces;

use crate::error::{CalciumError, Result};
use crate::fastconv::FastNet;
use crate::weights::{ElephantWeights, WINDOW, WINDOW_OFFSET};

/// The epsilon of the original `norm`: `z = (x − mean)/(std + 1e-7)`.
pub const ZSCORE_EPS: f64 = 1e-7;

/// Which evaluation of the network to use. Both give the same numbers to ≲1e-5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Evaluation {
    /// One 128-sample window per output, as Keras `predict` does (5.59 M MAC per sample):
    /// the reference, on candle (any device).
    PerWindow,
    /// The exact fully-convolutional form (≈0.12 M MAC per sample): on the CPU our gemm-based
    /// kernel, on a GPU device the same maths with candle's dilated `conv1d`.
    #[default]
    FullyConvolutional,
}

/// Candle tensors of the weights in the layouts candle's ops want.
#[derive(Debug, Clone)]
pub(crate) struct CandleParams {
    /// conv kernels as (out, in, k).
    pub conv: [Tensor; 3],
    pub conv_b: [Tensor; 3],
    /// dense1 (70, 300), dense2 (4200, 1).
    pub dense1: Tensor,
    pub dense1_b: Tensor,
    pub dense2: Tensor,
    pub dense2_b: Tensor,
}

impl CandleParams {
    /// From Keras-layout tensors (kernels (k, in, out) / (in, out)), keeping autograd links.
    pub(crate) fn from_keras(k: &[Tensor; 5], b: &[Tensor; 5]) -> Result<Self> {
        let conv = [
            k[0].permute((2, 1, 0))?.contiguous()?,
            k[1].permute((2, 1, 0))?.contiguous()?,
            k[2].permute((2, 1, 0))?.contiguous()?,
        ];
        Ok(CandleParams {
            conv,
            conv_b: [b[0].clone(), b[1].clone(), b[2].clone()],
            dense1: k[3].clone(),
            dense1_b: b[3].clone(),
            dense2: k[4].clone(),
            dense2_b: b[4].clone(),
        })
    }

    pub(crate) fn new(w: &ElephantWeights, device: &Device) -> Result<Self> {
        let t = w.to_tensors(device)?;
        let names = crate::weights::LAYER_NAMES;
        let k: [Tensor; 5] = std::array::from_fn(|i| t[&format!("{}.kernel", names[i])].clone());
        let b: [Tensor; 5] = std::array::from_fn(|i| t[&format!("{}.bias", names[i])].clone());
        Self::from_keras(&k, &b)
    }

    fn conv_relu(&self, x: &Tensor, i: usize, dilation: usize) -> Result<Tensor> {
        let y = x.conv1d(&self.conv[i], 0, 1, dilation, 1)?;
        Ok(y.broadcast_add(&self.conv_b[i].reshape((1, (), 1))?)?
            .relu()?)
    }

    /// Per-window forward pass: `x` is `[batch, 128]` f32, the result `[batch]`.
    pub(crate) fn forward_windows(&self, x: &Tensor) -> Result<Tensor> {
        let b = x.dim(0)?;
        let x = x.reshape((b, 1, WINDOW))?;
        let h = self.conv_relu(&x, 0, 1)?; // [b, 50, 88]
        let h = self.conv_relu(&h, 1, 1)?; // [b, 60, 68]
        let h = h.reshape((b, 60, 34, 2))?.max(3)?; // [b, 60, 34]
        let h = self.conv_relu(&h, 2, 1)?; // [b, 70, 28]
        let h = h.reshape((b, 70, 14, 2))?.max(3)?; // [b, 70, 14]
        let h = h.transpose(1, 2)?.contiguous()?; // [b, 14, 70]
        let h = h
            .broadcast_matmul(&self.dense1)?
            .broadcast_add(&self.dense1_b)?
            .relu()?; // [b, 14, 300]
        let h = h.reshape((b, 14 * 300))?; // flatten: t·300 + unit
        let y = h.matmul(&self.dense2)?.broadcast_add(&self.dense2_b)?;
        Ok(y.reshape(b)?)
    }

    /// Fully-convolutional forward pass with candle ops: `z` is `[n]` f32; the result holds the
    /// outputs of the `n − 127` windows.
    pub(crate) fn forward_full(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        let x = z.reshape((1, 1, n))?;
        let h1 = self.conv_relu(&x, 0, 1)?;
        let h2 = self.conv_relu(&h1, 1, 1)?;
        let l2 = h2.dim(2)?;
        let m1 = h2
            .narrow(2, 0, l2 - 1)?
            .maximum(&h2.narrow(2, 1, l2 - 1)?)?;
        let c3 = self.conv_relu(&m1, 2, 2)?;
        let l3 = c3.dim(2)?;
        let m2 = c3
            .narrow(2, 0, l3 - 2)?
            .maximum(&c3.narrow(2, 2, l3 - 2)?)?;
        let d = m2
            .squeeze(0)?
            .t()?
            .matmul(&self.dense1)?
            .broadcast_add(&self.dense1_b)?
            .relu()?; // [n_d, 300]
        // Output: 14-tap, dilation-4 convolution with kernel W5 viewed (14, 300) → (1, 300, 14).
        let k5 = self
            .dense2
            .reshape((14, 300))?
            .t()?
            .unsqueeze(0)?
            .contiguous()?;
        let dt = d.t()?.unsqueeze(0)?.contiguous()?;
        let y = dt.conv1d(&k5, 0, 1, 4, 1)?.squeeze(0)?.squeeze(0)?;
        Ok(y.broadcast_add(&self.dense2_b)?)
    }
}

/// Why a neuron got no prediction (its output column is all NaN).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Skipped {
    /// The trace has fewer than 129 valid frames (the 128-sample window plus one).
    TooShort {
        /// Valid (non-NaN) frames.
        frames: usize,
    },
    /// All frames are NaN.
    AllNan,
    /// The trace is constant (standard deviation 0).
    Constant,
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
            *v = match (left, right) {
                (Some(a), Some(b)) => {
                    let f = (k + 1) as f64 / (i - start + 1) as f64;
                    a + (b - a) * f
                }
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => 0.0,
            };
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
    fast: FastNet,
    evaluation: Evaluation,
    device: Device,
    batch_size: usize,
    candle_kernels: bool,
    chunk_outputs: usize,
}

impl ElephantCnn {
    /// A network with the given weights, fully-convolutional evaluation on the CPU.
    pub fn new(weights: ElephantWeights) -> Self {
        let fast = FastNet::new(&weights);
        ElephantCnn {
            weights,
            fast,
            evaluation: Evaluation::default(),
            device: Device::Cpu,
            batch_size: 4096,
            candle_kernels: false,
            chunk_outputs: crate::fastconv::CHUNK_OUTPUTS,
        }
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
        self.evaluation = evaluation;
        self
    }

    /// Runs on another candle device (e.g. `Device::new_cuda(0)` with the `cuda` feature).
    /// On the CPU the fully-convolutional evaluation uses our gemm kernel; elsewhere candle ops.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Uses candle's ops for the fully-convolutional evaluation even on the CPU (the code path
    /// GPUs take; slower than the default gemm kernel on the CPU, useful as a cross-check).
    pub fn with_candle_kernels(mut self, yes: bool) -> Self {
        self.candle_kernels = yes;
        self
    }

    /// Windows per chunk of the CPU fully-convolutional kernel (default 4096): chunks are the
    /// unit of parallel work, and each re-reads 127 overlap samples.
    pub fn with_chunk_outputs(mut self, chunk_outputs: usize) -> Result<Self> {
        if chunk_outputs == 0 {
            return Err(CalciumError::InvalidParameter {
                name: "chunk_outputs",
                reason: "must be ≥ 1".into(),
            });
        }
        self.chunk_outputs = chunk_outputs;
        Ok(self)
    }

    /// Windows per batch for the per-window evaluation (default 4096, as the golden outputs).
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(CalciumError::InvalidParameter {
                name: "batch_size",
                reason: "must be ≥ 1".into(),
            });
        }
        self.batch_size = batch_size;
        Ok(self)
    }

    /// The weights.
    pub fn weights(&self) -> &ElephantWeights {
        &self.weights
    }

    /// The evaluation in use.
    pub fn evaluation(&self) -> Evaluation {
        self.evaluation
    }

    /// Raw network outputs for already z-scored f32 traces: for each trace of `n ≥ 129`
    /// samples, the `n − 128` outputs of windows `j = 0 … n−129` (output `j` belongs to frame
    /// `j + 32`). Shorter traces give an empty vector.
    pub fn forward_zscored(&self, traces: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        match (self.evaluation, &self.device) {
            (Evaluation::FullyConvolutional, Device::Cpu) if !self.candle_kernels => {
                Ok(self.fast.forward_many(traces, self.chunk_outputs))
            }
            (Evaluation::FullyConvolutional, dev) => {
                let p = CandleParams::new(&self.weights, dev)?;
                traces
                    .iter()
                    .map(|z| {
                        if z.len() <= WINDOW {
                            return Ok(Vec::new());
                        }
                        let t = Tensor::from_slice(z, z.len(), dev)?;
                        let y = p.forward_full(&t)?;
                        let y = y.narrow(0, 0, z.len() - WINDOW)?;
                        Ok(y.to_dtype(DType::F32)?.to_vec1()?)
                    })
                    .collect()
            }
            (Evaluation::PerWindow, dev) => {
                let p = CandleParams::new(&self.weights, dev)?;
                traces
                    .iter()
                    .map(|z| self.forward_windows_one(&p, z, dev))
                    .collect()
            }
        }
    }

    fn forward_windows_one(&self, p: &CandleParams, z: &[f32], dev: &Device) -> Result<Vec<f32>> {
        if z.len() <= WINDOW {
            return Ok(Vec::new());
        }
        let nw = z.len() - WINDOW;
        let mut out = Vec::with_capacity(nw);
        let mut buf = Vec::with_capacity(self.batch_size * WINDOW);
        let mut j0 = 0;
        while j0 < nw {
            let b = self.batch_size.min(nw - j0);
            buf.clear();
            for j in j0..j0 + b {
                buf.extend_from_slice(&z[j..j + WINDOW]);
            }
            let x = Tensor::from_slice(&buf, (b, WINDOW), dev)?;
            let y: Vec<f32> = p.forward_windows(&x)?.to_vec1()?;
            out.extend(y);
            j0 += b;
        }
        Ok(out)
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
