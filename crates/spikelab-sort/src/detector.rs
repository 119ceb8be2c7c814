//! SimSort's spike detector: a per-sample transformer classifier on multichannel windows.
//!
//! Reference: Zhang, Han, Wang, Lv, Gu, Li, "SimSort: A Data-Driven Framework for Spike Sorting
//! by Large-Scale Electrophysiology Simulation", NeurIPS 2025 (arXiv 2502.03198), detection
//! model as in the authors' code (`SimSortTool/SimSort-Tetrode`).
//!
//! # Model
//!
//! A window x ∈ ℝ^{T×C} (T samples, C channels, the filtered and standardised trace) becomes
//! per-sample logits z ∈ ℝ^T:
//!
//! 1. h = x W_inᵀ + b_in (Linear C → d) plus the sinusoidal position code
//!    pe[t, 2i] = sin(t·10000^{−2i/d}), pe[t, 2i+1] = cos(t·10000^{−2i/d}) (no √d scaling;
//!    windows up to 6 000 samples, the reference's `max_len`);
//! 2. N post-norm encoder layers (PyTorch `TransformerEncoderLayer`, ReLU, no final norm):
//!    h ← LN₁(h + Drop(MHA(h))), h ← LN₂(h + Drop(W₂ Drop(ReLU(W₁ h + b₁)) + b₂)), where MHA is
//!    multi-head self-attention with a biased joint projection `in_proj` (d → 3d), softmax
//!    attention with dropout on the weights, and `out_proj` (d → d); LayerNorm eps 1e-5;
//! 3. z = h w_outᵀ + b_out (Linear d → 1); p = σ(z) is the probability that a sample lies
//!    within a spike's label range.
//!
//! With d = 256, 4 heads, feed-forward 1024 and 4 input channels the model has 791 297
//! parameters with one layer and 3 160 577 with four.
//!
//! Every block is composed of tensor operations with a backward pass (candle 0.11's fused
//! layer norm and softmax have none); the blocks come from [`spikelab_decode::nn`] where they
//! exist there.
//!
//! # Inference ([`Detector::detect`])
//!
//! The recording is cut into chunks (3 000 000 samples); each chunk into non-overlapping
//! windows; samples with σ(z) > 0.97 form runs of consecutive positives, and each run becomes
//! one spike at the argmax of |x| on a single channel per chunk, the one with the largest Σ|x|
//! over the chunk (a quirk of the reference, kept).
//!
//! Quirks of the reference, and what this port does:
//! - the samples after the last full window of a chunk, and after the last full chunk, are never
//!   scanned: [`DetectParams::scan_tail`] (default `true`) scans them with one more window
//!   aligned to the chunk's end (overlapping the previous one; only the unscanned samples take
//!   its output) or, for a remainder shorter than a window, zero-padded; `false` reproduces the
//!   reference;
//! - one "max channel" per chunk decides where merged peaks land: kept;
//! - training uses the test sampling rate (see [`crate::detector_train`]).

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::VarMap;
use ndarray::ArrayView2;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spikelab_decode::nn::{Dropout, Init, LayerNorm, Linear, ParamBuilder, attend_heads};

use crate::error::{Result, SortError};

/// The longest window the position code covers (the reference's `max_len`).
pub const MAX_WINDOW: usize = 6000;

/// Shape of the detection transformer.
///
/// ```
/// use spikelab_sort::detector::DetectorConfig;
/// let c = DetectorConfig::default();
/// assert_eq!((c.hidden, c.layers, c.heads, c.ff, c.window), (256, 1, 4, 1024, 2000));
/// assert_eq!(DetectorConfig::four_layers().layers, 4);
/// assert!(DetectorConfig { heads: 3, ..c }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Input channels C.
    pub channels: usize,
    /// Model width d (even, divisible by `heads`).
    pub hidden: usize,
    /// Encoder layers (≥ 1).
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub ff: usize,
    /// Dropout probability in [0, 1) (attention weights, sub-block outputs, feed-forward).
    pub dropout: f64,
    /// Window length in samples (1 ..= 6 000).
    pub window: usize,
}

impl Default for DetectorConfig {
    /// The reference's training configuration: 4 channels, d 256, 1 layer, 4 heads, ff 1024,
    /// dropout 0, windows of 2 000 samples.
    fn default() -> Self {
        Self {
            channels: 4,
            hidden: 256,
            layers: 1,
            heads: 4,
            ff: 1024,
            dropout: 0.0,
            window: 2000,
        }
    }
}

impl DetectorConfig {
    /// The configuration said to be the released detector's: 4 layers, dropout 0.2.
    pub fn four_layers() -> Self {
        Self {
            layers: 4,
            dropout: 0.2,
            ..Self::default()
        }
    }

    /// Checks every field; returns the configuration unchanged when valid.
    pub fn validate(self) -> Result<Self> {
        let bad = |name, reason: String| Err(SortError::InvalidParameter { name, reason });
        if self.channels == 0 {
            return bad("channels", "need at least one input channel".into());
        }
        if self.hidden == 0 || !self.hidden.is_multiple_of(2) {
            return bad(
                "hidden",
                format!("{} must be even and ≥ 2 (sin/cos pairs)", self.hidden),
            );
        }
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return bad(
                "heads",
                format!("{} heads must divide hidden {}", self.heads, self.hidden),
            );
        }
        if self.layers == 0 {
            return bad("layers", "need at least one encoder layer".into());
        }
        if self.ff == 0 {
            return bad("ff", "feed-forward width must be ≥ 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{} not in [0, 1)", self.dropout));
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return bad(
                "window",
                format!("{} samples: use 1 ..= {MAX_WINDOW}", self.window),
            );
        }
        Ok(self)
    }
}

/// PyTorch's `MultiheadAttention` (biased joint projection, dropout on the weights).
#[derive(Debug, Clone)]
struct MultiHeadAttention {
    in_proj: candle_nn::Linear,
    out_proj: candle_nn::Linear,
    heads: usize,
    dropout: Dropout,
}

impl MultiHeadAttention {
    fn new(dim: usize, heads: usize, dropout: f64, pb: &ParamBuilder) -> Result<Self> {
        // PyTorch: xavier_uniform over the [3d, d] matrix, zero biases, out_proj U(±1/√d).
        let xavier = (6.0 / (4 * dim) as f64).sqrt();
        let w_in = pb.get(&[3 * dim, dim], "in_proj.weight", Init::Uniform(xavier))?;
        let b_in = pb.get(&[3 * dim], "in_proj.bias", Init::Const(0.0))?;
        let bound = 1.0 / (dim as f64).sqrt();
        let w_out = pb.get(&[dim, dim], "out_proj.weight", Init::Uniform(bound))?;
        let b_out = pb.get(&[dim], "out_proj.bias", Init::Const(0.0))?;
        Ok(Self {
            in_proj: candle_nn::Linear::new(w_in, Some(b_in)),
            out_proj: candle_nn::Linear::new(w_out, Some(b_out)),
            heads,
            dropout: Dropout::new(dropout)?,
        })
    }

    fn forward(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.heads;
        let qkv = self.in_proj.forward(x)?;
        let split = |i: usize| -> Result<Tensor> {
            Ok(qkv
                .narrow(D::Minus1, i * d, d)?
                .reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let out = attend_heads(&q, &k, &v, None, &self.dropout, rng)?;
        let out = out.transpose(1, 2)?.reshape((b, n, d))?;
        Ok(self.out_proj.forward(&out)?)
    }
}

/// One post-norm encoder layer (PyTorch `TransformerEncoderLayer`, ReLU activation).
#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: MultiHeadAttention,
    linear1: Linear,
    linear2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    dropout: Dropout,
}

impl EncoderLayer {
    fn new(cfg: &DetectorConfig, pb: &ParamBuilder) -> Result<Self> {
        let d = cfg.hidden;
        Ok(Self {
            self_attn: MultiHeadAttention::new(d, cfg.heads, cfg.dropout, &pb.pp("self_attn"))?,
            linear1: Linear::new(d, cfg.ff, true, &pb.pp("linear1"))?,
            linear2: Linear::new(cfg.ff, d, true, &pb.pp("linear2"))?,
            norm1: LayerNorm::new(d, &pb.pp("norm1"))?,
            norm2: LayerNorm::new(d, &pb.pp("norm2"))?,
            dropout: Dropout::new(cfg.dropout)?,
        })
    }

    fn forward(&self, x: &Tensor, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let a = self.self_attn.forward(x, rng.as_deref_mut())?;
        let a = self.dropout.forward(&a, rng.as_deref_mut())?;
        let x = self.norm1.forward(&(x + a)?)?;
        let h = self.linear1.forward(&x)?.relu()?;
        let h = self.dropout.forward(&h, rng.as_deref_mut())?;
        let h = self.dropout.forward(&self.linear2.forward(&h)?, rng)?;
        Ok(self.norm2.forward(&(x + h)?)?)
    }
}

/// The sinusoidal position code `[t, d]` (f64 values cast to `dtype`).
fn position_code(t: usize, d: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut pe = vec![0.0f64; t * d];
    for pos in 0..t {
        for i in 0..d / 2 {
            let div = (-((2 * i) as f64) * 10000f64.ln() / d as f64).exp();
            let a = pos as f64 * div;
            pe[pos * d + 2 * i] = a.sin();
            pe[pos * d + 2 * i + 1] = a.cos();
        }
    }
    Ok(Tensor::from_vec(pe, (t, d), device)?.to_dtype(dtype)?)
}

/// The detection transformer with its parameters.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use spikelab_sort::detector::{Detector, DetectorConfig};
/// let cfg = DetectorConfig { hidden: 8, heads: 2, ff: 16, window: 10, ..Default::default() };
/// let det = Detector::new(cfg, 7, DType::F32, &Device::Cpu)?;
/// let x = Tensor::zeros((3, 10, 4), DType::F32, &Device::Cpu)?;
/// assert_eq!(det.forward(&x, None)?.dims(), &[3, 10]);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub struct Detector {
    config: DetectorConfig,
    varmap: VarMap,
    input: Linear,
    layers: Vec<EncoderLayer>,
    output: Linear,
    pe: Tensor,
    device: Device,
    dtype: DType,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("config", &self.config)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// A freshly initialised model (PyTorch's default initialisations, drawn from a ChaCha8
    /// stream seeded with `seed`) with parameters of `dtype` on `device`.
    pub fn new(config: DetectorConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        let config = config.validate()?;
        let varmap = VarMap::new();
        let pb = ParamBuilder::new(&varmap, seed, dtype, device);
        Self::build(config, varmap, &pb)
    }

    fn build(config: DetectorConfig, varmap: VarMap, pb: &ParamBuilder) -> Result<Self> {
        let input = Linear::new(config.channels, config.hidden, true, &pb.pp("input"))?;
        let layers = (0..config.layers)
            .map(|i| EncoderLayer::new(&config, &pb.pp(format!("encoder.layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let output = Linear::new(config.hidden, 1, true, &pb.pp("output"))?;
        let pe = position_code(config.window, config.hidden, pb.dtype(), pb.device())?;
        Ok(Self {
            config,
            varmap,
            input,
            layers,
            output,
            pe,
            device: pb.device().clone(),
            dtype: pb.dtype(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The parameters (names as `input.weight`, `encoder.layers.0.self_attn.in_proj.weight`,
    /// ..., `output.bias`).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The parameter dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of scalar parameters.
    pub fn n_parameters(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Logits `[B, T]` of windows `x` `[B, T, C]` (T ≤ the configured window). Dropout is
    /// applied when `rng` is given (training), not otherwise.
    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let (_, t, c) = x.dims3()?;
        if c != self.config.channels || t > self.config.window {
            return Err(SortError::Dimension {
                what: "detector input [batch, samples, channels]".into(),
                expected: format!("[_, ≤ {}, {}]", self.config.window, self.config.channels),
                got: format!("{:?}", x.dims()),
            });
        }
        let x = x.to_dtype(self.dtype)?;
        let mut h = self
            .input
            .forward(&x)?
            .broadcast_add(&self.pe.narrow(0, 0, t)?)?;
        for layer in &self.layers {
            h = layer.forward(&h, rng.as_deref_mut())?;
        }
        Ok(self.output.forward(&h)?.squeeze(D::Minus1)?)
    }

    /// Writes the parameters as safetensors at `path` and the configuration as JSON at `path`
    /// with the extension `json`. Existing files are an error unless `overwrite`.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<()> {
        save_model(&self.varmap, &self.config, path, overwrite)
    }

    /// Reads a model that [`Detector::save`] wrote, with parameters of `dtype` on `device`.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use spikelab_sort::detector::{Detector, DetectorConfig};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("det.safetensors");
    /// let cfg = DetectorConfig { hidden: 8, heads: 2, ff: 16, window: 10, ..Default::default() };
    /// let a = Detector::new(cfg, 1, DType::F32, &Device::Cpu)?;
    /// a.save(&path, false)?;
    /// let b = Detector::load(&path, DType::F32, &Device::Cpu)?;
    /// assert_eq!(b.config(), a.config());
    /// assert_eq!(b.n_parameters(), a.n_parameters());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let config: DetectorConfig = load_config(path)?;
        let mut det = Self::new(config, 0, dtype, device)?;
        load_params(&mut det.varmap, path)?;
        Ok(det)
    }

    /// Spike frames (sorted) detected in `traces` `[sample, channel]` (filtered and
    /// standardised like the training data). See the module documentation for the rule.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use spikelab_sort::detector::{DetectParams, Detector, DetectorConfig};
    /// let cfg = DetectorConfig { hidden: 8, heads: 2, ff: 16, window: 10, ..Default::default() };
    /// let det = Detector::new(cfg, 1, DType::F32, &Device::Cpu)?;
    /// let x = ndarray::Array2::<f32>::zeros((35, 4));
    /// let frames = det.detect(&x.view(), &DetectParams::default())?;
    /// assert!(frames.windows(2).all(|w| w[0] < w[1]));
    /// # Ok::<(), spikelab_sort::SortError>(())
    /// ```
    pub fn detect(&self, traces: &ArrayView2<f32>, params: &DetectParams) -> Result<Vec<i64>> {
        let params = params.validate()?;
        let (n, c) = traces.dim();
        if c != self.config.channels {
            return Err(SortError::Dimension {
                what: "traces [sample, channel]".into(),
                expected: format!("{} channels", self.config.channels),
                got: format!("{c} channels"),
            });
        }
        if traces.iter().any(|v| !v.is_finite()) {
            return Err(SortError::NonFinite("detector input traces".into()));
        }
        let mut frames = Vec::new();
        let mut start = 0;
        while start < n {
            let len = params.chunk_samples.min(n - start);
            if len < params.chunk_samples && !params.scan_tail {
                break;
            }
            let chunk = traces.slice(ndarray::s![start..start + len, ..]);
            let probs = self.chunk_probabilities(&chunk, &params)?;
            for f in merge_runs(&chunk, &probs, params.threshold) {
                frames.push((start + f) as i64);
            }
            start += len;
        }
        Ok(frames)
    }

    /// σ(logits) over a chunk (NaN where a sample is not scanned).
    fn chunk_probabilities(
        &self,
        chunk: &ArrayView2<f32>,
        params: &DetectParams,
    ) -> Result<Vec<f32>> {
        let (n, c) = chunk.dim();
        let w = self.config.window;
        // Window starts and the first sample each one fills.
        let mut starts: Vec<(usize, usize)> = (0..n / w).map(|k| (k * w, k * w)).collect();
        let covered = (n / w) * w;
        let mut padded = false;
        if params.scan_tail && covered < n {
            if n >= w {
                starts.push((n - w, covered));
            } else {
                starts.push((0, 0));
                padded = true;
            }
        }
        let mut probs = vec![f32::NAN; n];
        for batch in starts.chunks(params.batch_windows) {
            let mut data = vec![0f32; batch.len() * w * c];
            for (b, &(s, _)) in batch.iter().enumerate() {
                let end = (s + w).min(n);
                for (t, row) in chunk
                    .slice(ndarray::s![s..end, ..])
                    .outer_iter()
                    .enumerate()
                {
                    for (ch, v) in row.iter().enumerate() {
                        data[(b * w + t) * c + ch] = *v;
                    }
                }
            }
            let x = Tensor::from_vec(data, (batch.len(), w, c), &self.device)?;
            let p = candle_nn::ops::sigmoid(&self.forward(&x, None)?)?
                .to_dtype(DType::F32)?
                .to_vec2::<f32>()?;
            for (row, &(s, first)) in p.iter().zip(batch) {
                let end = if padded { n } else { s + w };
                probs[first..end].copy_from_slice(&row[first - s..end - s]);
            }
        }
        Ok(probs)
    }
}

/// Writes `varmap` as safetensors at `path` and `config` as JSON beside it (extension
/// `json`), each atomically.
pub(crate) fn save_model<C: Serialize>(
    varmap: &VarMap,
    config: &C,
    path: &Path,
    overwrite: bool,
) -> Result<()> {
    let json = path.with_extension("json");
    let text = serde_json::to_string_pretty(config).map_err(|e| SortError::File {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    spikelab_data::io::write_atomic(path, overwrite, |tmp| {
        varmap.save(tmp)?;
        Ok::<(), SortError>(())
    })?;
    spikelab_data::io::write_bytes_atomic(&json, text.as_bytes(), overwrite)?;
    Ok(())
}

/// Reads the JSON configuration that [`save_model`] wrote beside `path`.
pub(crate) fn load_config<C: serde::de::DeserializeOwned>(path: &Path) -> Result<C> {
    let json = path.with_extension("json");
    let text = std::fs::read_to_string(&json).map_err(|e| SortError::File {
        path: json.clone(),
        reason: format!("{e} (the configuration written beside the weights)"),
    })?;
    serde_json::from_str(&text).map_err(|e| SortError::File {
        path: json,
        reason: e.to_string(),
    })
}

/// Sets the values of `varmap` (in place: the model holds the same vars) from `path`.
pub(crate) fn load_params(varmap: &mut VarMap, path: &Path) -> Result<()> {
    varmap.load(path).map_err(|e| SortError::File {
        path: path.to_path_buf(),
        reason: format!("{e} (parameters must match the configuration in the JSON file)"),
    })
}

/// Runs of `probs > threshold` merged to one frame each: the argmax of |x| within the run on
/// the channel with the largest Σ|x| over the chunk.
fn merge_runs(chunk: &ArrayView2<f32>, probs: &[f32], threshold: f64) -> Vec<usize> {
    let (n, c) = chunk.dim();
    let max_ch = (0..c)
        .map(|ch| chunk.column(ch).iter().map(|v| v.abs() as f64).sum::<f64>())
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |a, (i, s)| if s > a.1 { (i, s) } else { a },
        )
        .0;
    let col = chunk.column(max_ch);
    let mut out = Vec::new();
    let mut t = 0;
    while t < n {
        if probs[t] as f64 > threshold {
            let s = t;
            while t < n && probs[t] as f64 > threshold {
                t += 1;
            }
            let best = (s..t).fold(s, |b, i| if col[i].abs() > col[b].abs() { i } else { b });
            out.push(best);
        } else {
            t += 1;
        }
    }
    out
}

/// Options of [`Detector::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectParams {
    /// Probability threshold in (0, 1) (reference: 0.97).
    pub threshold: f64,
    /// Chunk length in samples (reference: 3 000 000); the max channel is chosen per chunk.
    pub chunk_samples: usize,
    /// Scan the samples the reference skips (after the last full window of a chunk and after
    /// the last full chunk). `false` reproduces the reference.
    pub scan_tail: bool,
    /// Windows per forward pass (memory only; no effect on the result): the attention scores
    /// alone take batch_windows · heads · window² values (4 · 4 · 2 000² f32 = 256 MB).
    pub batch_windows: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self {
            threshold: 0.97,
            chunk_samples: 3_000_000,
            scan_tail: true,
            batch_windows: 4,
        }
    }
}

impl DetectParams {
    /// The reference's behaviour: tails are not scanned.
    pub fn faithful() -> Self {
        Self {
            scan_tail: false,
            ..Self::default()
        }
    }

    /// Checks every field; returns the parameters unchanged when valid.
    pub fn validate(&self) -> Result<Self> {
        let bad = |name, reason: String| Err(SortError::InvalidParameter { name, reason });
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return bad("threshold", format!("{} not in (0, 1)", self.threshold));
        }
        if self.chunk_samples == 0 {
            return bad("chunk_samples", "must be ≥ 1".into());
        }
        if self.batch_windows == 0 {
            return bad("batch_windows", "must be ≥ 1".into());
        }
        Ok(*self)
    }
}

/// Counts of a detection matched against ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectionScores {
    /// Detected spikes matched to a ground-truth spike.
    pub tp: usize,
    /// Detected spikes left unmatched.
    pub fp: usize,
    /// Ground-truth spikes left unmatched.
    pub fn_: usize,
}

impl DetectionScores {
    /// tp / (tp + fp), 0 without detections.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn), 0 without ground truth.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// 2 tp / (2 tp + fp + fn), 0 when both are empty.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Detection matching of SimSort (any unit): detected frames in time order each take the
/// earliest not yet matched ground-truth frame within ±`tolerance_frames` (inclusive).
/// Both inputs must be sorted.
///
/// ```
/// use spikelab_sort::detector::match_detections;
/// let s = match_detections(&[100, 200, 300], &[98, 150, 205, 206], 5)?;
/// assert_eq!((s.tp, s.fp, s.fn_), (2, 2, 1));
/// assert!((s.f1() - 4.0 / 7.0).abs() < 1e-12);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn match_detections(
    truth: &[i64],
    detected: &[i64],
    tolerance_frames: i64,
) -> Result<DetectionScores> {
    for (name, v) in [("truth", truth), ("detected", detected)] {
        if v.windows(2).any(|w| w[0] > w[1]) {
            return Err(SortError::InvalidParameter {
                name,
                reason: "frames must be sorted ascending".into(),
            });
        }
    }
    if tolerance_frames < 0 {
        return Err(SortError::InvalidParameter {
            name: "tolerance_frames",
            reason: format!("{tolerance_frames} < 0"),
        });
    }
    let mut used = vec![false; truth.len()];
    let mut lo = 0;
    let mut tp = 0;
    for &d in detected {
        while lo < truth.len() && truth[lo] < d - tolerance_frames {
            lo += 1;
        }
        let mut k = lo;
        while k < truth.len() && truth[k] <= d + tolerance_frames {
            if !used[k] {
                used[k] = true;
                tp += 1;
                break;
            }
            k += 1;
        }
    }
    Ok(DetectionScores {
        tp,
        fp: detected.len() - tp,
        fn_: truth.len() - tp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose output is +100 everywhere: every scanned sample is positive, so each chunk
    /// gives one run, placed at the max |x| of the chunk's max channel within the scanned part.
    #[test]
    fn tails_are_scanned_or_skipped() -> Result<()> {
        let cfg = DetectorConfig {
            hidden: 8,
            heads: 2,
            ff: 16,
            window: 10,
            ..Default::default()
        };
        let det = Detector::new(cfg, 1, DType::F32, &Device::Cpu)?;
        {
            let data = det.varmap.data().lock().expect("lock");
            data["output.weight"].set(&Tensor::zeros((1, 8), DType::F32, &Device::Cpu)?)?;
            data["output.bias"].set(&Tensor::new(&[100f32], &Device::Cpu)?)?;
        }
        // 35 samples; channel 2 has the largest Σ|x|; its peaks at 7, 22 and 31.
        let mut x = ndarray::Array2::<f32>::zeros((35, 4));
        for t in 0..35 {
            x[[t, 2]] = 1.0;
        }
        x[[7, 2]] = 5.0;
        x[[22, 2]] = -9.0;
        x[[31, 2]] = 6.0;
        let p = DetectParams {
            chunk_samples: 25,
            ..Default::default()
        };
        // Faithful: chunk 0..25 scanned on 0..20 only; the 10-sample tail chunk is dropped.
        let faithful = DetectParams {
            scan_tail: false,
            ..p
        };
        assert_eq!(det.detect(&x.view(), &faithful)?, vec![7]);
        // Scanning tails: 0..25 in full (peak 22), then the chunk 25..35 (peak 31).
        assert_eq!(det.detect(&x.view(), &p)?, vec![22, 31]);
        // A last chunk shorter than a window is zero-padded.
        let short = x.slice(ndarray::s![..31, ..]);
        assert_eq!(det.detect(&short, &p)?, vec![22, 25]);
        Ok(())
    }
}
