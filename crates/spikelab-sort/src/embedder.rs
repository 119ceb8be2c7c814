//! SimSort's spike embedder: a GRU whose last hidden state embeds a multichannel snippet,
//! trained with a triplet margin loss.
//!
//! Reference: Zhang et al., NeurIPS 2025 (arXiv 2502.03198), identification model as in the
//! authors' code.
//!
//! # Model
//! A snippet s ∈ ℝ^{L×C} (L samples, C channels) is read by a one-layer GRU (PyTorch gate
//! layout: r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h ← (1 − z) ⊙ n + z ⊙ h, h₀ = 0); the
//! embedding is h_L (512 values in the reference; 795 648 parameters with C = 4). Parameters are
//! drawn like PyTorch's (U(±1/√hidden)) from a seeded ChaCha8 stream and named `weight_ih_l0`,
//! `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0` (candle's `GRU`, whose gradients
//! `tests/embedder.rs` checks).
//!
//! # Batch "reconstruct" ([`reconstruct`])
//! Before the network (training and inference) a batch of B snippets is flattened to a B × LC
//! matrix, each row's own mean is subtracted, and the matrix is replaced by its rank-k SVD
//! reconstruction across the batch (k = 8; the mean is not added back). An embedding therefore
//! depends on the other snippets of its batch (quirk of the reference, kept: batches of 256 at
//! inference there).
//!
//! # Training ([`train_embedder`])
//! Triplets: anchor = a random snippet; positive = another snippet of the same unit; negative =
//! a snippet of a different unit (uniform over the other units, then over its snippets). Each
//! of the three is augmented with probability `prob` (0.5): on 1–4 random channels, a time
//! jitter by r/8 samples, |r| ≤ 8·J with J drawn once per run from 1..=50 (quirk kept),
//! amplitude × U(0.5, 1), + N(0, 4²). Loss: mean of max(‖a − p‖ − ‖a − n‖ + margin, 0) with
//! ‖u‖ = ‖u + 10⁻⁶‖₂ (PyTorch `TripletMarginLoss(margin 1, p 2)`); Adam with coupled L2 decay
//! 1e-5, lr 1e-4 halved every `lr_step_every` steps (the reference: every 10 epochs).

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::{GRU, GRUConfig, RNN};
use candle_nn::{Optimizer, ParamsAdamW, VarBuilder, VarMap};
use ndarray::{Array2, Array3, ArrayView3};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};
use spikelab_decode::nn::{Init, ParamBuilder};
use spikelab_decode::train::FlatAdamW;

use crate::detector_train::Jitter;
use crate::detector_train::backward_coupled_l2;
use crate::error::{Result, SortError};

/// Shape of the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmbedderConfig {
    /// Input channels C (4).
    pub channels: usize,
    /// GRU width = embedding length (512).
    pub hidden: usize,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            channels: 4,
            hidden: 512,
        }
    }
}

/// The GRU embedder with its parameters.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use spikelab_sort::embedder::{Embedder, EmbedderConfig};
/// let e = Embedder::new(EmbedderConfig::default(), 0, DType::F32, &Device::Cpu)?;
/// assert_eq!(e.n_parameters(), 795_648);
/// let x = Tensor::zeros((2, 60, 4), DType::F32, &Device::Cpu)?;
/// assert_eq!(e.forward(&x)?.dims(), &[2, 512]);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub struct Embedder {
    config: EmbedderConfig,
    varmap: VarMap,
    gru: GRU,
    device: Device,
    dtype: DType,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("config", &self.config)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// A freshly initialised embedder (seeded) with parameters of `dtype` on `device`.
    pub fn new(config: EmbedderConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        if config.channels == 0 || config.hidden == 0 {
            return Err(SortError::InvalidParameter {
                name: "EmbedderConfig",
                reason: "channels and hidden must be ≥ 1".into(),
            });
        }
        let varmap = VarMap::new();
        let pb = ParamBuilder::new(&varmap, seed, dtype, device);
        let (c, h) = (config.channels, config.hidden);
        let bound = 1.0 / (h as f64).sqrt();
        pb.get(&[3 * h, c], "weight_ih_l0", Init::Uniform(bound))?;
        pb.get(&[3 * h, h], "weight_hh_l0", Init::Uniform(bound))?;
        pb.get(&[3 * h], "bias_ih_l0", Init::Uniform(bound))?;
        pb.get(&[3 * h], "bias_hh_l0", Init::Uniform(bound))?;
        // candle's GRU finds the parameters above in the VarMap and uses them as they are.
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let gru = candle_nn::rnn::gru(c, h, GRUConfig::default(), vb)?;
        Ok(Self {
            config,
            varmap,
            gru,
            device: device.clone(),
            dtype,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EmbedderConfig {
        &self.config
    }

    /// The parameters.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Number of scalar parameters.
    pub fn n_parameters(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Writes the parameters as safetensors at `path` and the configuration as JSON beside
    /// it (extension `json`); existing files are an error unless `overwrite`.
    pub fn save(&self, path: &std::path::Path, overwrite: bool) -> Result<()> {
        crate::detector::save_model(&self.varmap, &self.config, path, overwrite)
    }

    /// Reads an embedder that [`Embedder::save`] wrote.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use spikelab_sort::embedder::{Embedder, EmbedderConfig};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("emb.safetensors");
    /// let a = Embedder::new(EmbedderConfig { channels: 2, hidden: 3 }, 1, DType::F32, &Device::Cpu)?;
    /// a.save(&path, false)?;
    /// let b = Embedder::load(&path, DType::F32, &Device::Cpu)?;
    /// assert_eq!(b.config(), a.config());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: &std::path::Path, dtype: DType, device: &Device) -> Result<Self> {
        let config: EmbedderConfig = crate::detector::load_config(path)?;
        let mut e = Self::new(config, 0, dtype, device)?;
        crate::detector::load_params(&mut e.varmap, path)?;
        Ok(e)
    }

    /// Embeddings `[B, hidden]` (the last hidden state) of snippets `x` `[B, L, C]` (already
    /// reconstructed, see [`reconstruct`]).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, l, c) = x.dims3()?;
        if c != self.config.channels || l == 0 {
            return Err(SortError::Dimension {
                what: "embedder input [batch, samples, channels]".into(),
                expected: format!("[_, ≥ 1, {}]", self.config.channels),
                got: format!("{:?}", x.dims()),
            });
        }
        let x = x.to_dtype(self.dtype)?;
        let states = self.gru.seq(&x)?;
        let last = states.last().expect("l ≥ 1");
        Ok(last.h().clone())
    }

    /// Embeddings of snippets `[B, L, C]`: reconstructed with `rank` as one batch, then
    /// [`Embedder::forward`]; returned as `[B, hidden]` f32.
    pub fn embed(&self, snippets: &ArrayView3<f32>, rank: usize) -> Result<Array2<f32>> {
        let x = to_tensor(&reconstruct(snippets, rank)?, &self.device)?;
        let e = self.forward(&x)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let (b, h) = (e.len(), self.config.hidden);
        Ok(Array2::from_shape_vec((b, h), e.concat()).expect("shape"))
    }
}

fn to_tensor(x: &Array3<f32>, device: &Device) -> Result<Tensor> {
    let (b, l, c) = x.dim();
    let v: Vec<f32> = x.iter().copied().collect();
    Ok(Tensor::from_vec(v, (b, l, c), device)?)
}

/// The batch "reconstruct" of the reference: rows (snippets flattened to L·C values) minus
/// their own mean, then the rank-`rank` SVD reconstruction of the B × LC matrix (all of it
/// when `rank` ≥ min(B, LC)).
///
/// ```
/// use ndarray::Array3;
/// use spikelab_sort::embedder::reconstruct;
/// let x = Array3::<f32>::from_shape_fn((5, 3, 2), |(b, t, c)| (b * t + c) as f32);
/// let full = reconstruct(&x.view(), 8)?;
/// // Full rank: only the row means are removed.
/// let mean0 = x.slice(ndarray::s![0, .., ..]).mean().unwrap();
/// assert!((full[[0, 1, 1]] - (x[[0, 1, 1]] - mean0)).abs() < 1e-4);
/// let r1 = reconstruct(&x.view(), 1)?;
/// assert_eq!(r1.dim(), (5, 3, 2));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn reconstruct(x: &ArrayView3<f32>, rank: usize) -> Result<Array3<f32>> {
    let (b, l, c) = x.dim();
    if x.iter().any(|v| !v.is_finite()) {
        return Err(SortError::NonFinite("snippets".into()));
    }
    let m = nalgebra::DMatrix::<f64>::from_fn(b, l * c, |i, j| x[[i, j / c, j % c]] as f64);
    let mut m = m;
    for mut row in m.row_iter_mut() {
        let mean = row.mean();
        row.add_scalar_mut(-mean);
    }
    let svd = m.svd(true, true);
    let (u, vt) = (svd.u.expect("u"), svd.v_t.expect("v_t"));
    // nalgebra does not sort singular values: keep the `rank` largest.
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&i, &j| svd.singular_values[j].total_cmp(&svd.singular_values[i]));
    let mut out = nalgebra::DMatrix::<f64>::zeros(b, l * c);
    for &k in order.iter().take(rank) {
        out += u.column(k) * svd.singular_values[k] * vt.row(k);
    }
    Ok(Array3::from_shape_fn((b, l, c), |(i, t, ch)| {
        out[(i, t * c + ch)] as f32
    }))
}

/// Mean triplet margin loss with Euclidean distances (PyTorch `TripletMarginLoss(margin, p=2)`,
/// eps 1e-6 added to the differences), composed of operations with a backward pass.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use spikelab_sort::embedder::triplet_margin_loss;
/// let a = Tensor::new(&[[0.0f64, 0.0]], &Device::Cpu)?;
/// let p = Tensor::new(&[[3.0f64, 4.0]], &Device::Cpu)?;
/// let n = Tensor::new(&[[0.0f64, 1.0]], &Device::Cpu)?;
/// let l = triplet_margin_loss(&a, &p, &n, 1.0)?.to_scalar::<f64>()?;
/// assert!((l - 5.0).abs() < 1e-5); // 5 − 1 + 1
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn triplet_margin_loss(a: &Tensor, p: &Tensor, n: &Tensor, margin: f64) -> Result<Tensor> {
    let dist = |u: &Tensor, v: &Tensor| -> Result<Tensor> {
        Ok(((u - v)? + 1e-6)?.sqr()?.sum(1)?.sqrt()?)
    };
    let l = ((dist(a, p)? - dist(a, n)?)? + margin)?.relu()?;
    Ok(l.mean_all()?)
}

/// Options of [`train_embedder`] (the reference's `train_extractor.sh` values by default,
/// except the step-based schedule).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmbedderTrainParams {
    /// Optimiser steps (≥ 1).
    pub steps: usize,
    /// Triplets per step (128).
    pub batch: usize,
    /// Base learning rate (1e-4).
    pub lr: f64,
    /// Coupled L2 weight decay (1e-5).
    pub weight_decay: f64,
    /// The rate is halved every this many steps.
    pub lr_step_every: usize,
    /// Triplet margin (1).
    pub margin: f64,
    /// Rank of the batch reconstruction (8).
    pub rank: usize,
    /// Probability that each triplet member is augmented (0.5).
    pub prob: f64,
    /// Amplitude factor range ((0.5, 1)).
    pub amplitude_scale_range: (f64, f64),
    /// Standard deviation of the added noise (4).
    pub noise_level: f64,
    /// Upper end of the once-per-run jitter range J ~ U{1..=max} in samples (50).
    pub max_jitter: usize,
    /// Seed (42).
    pub seed: u64,
}

impl Default for EmbedderTrainParams {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch: 128,
            lr: 1e-4,
            weight_decay: 1e-5,
            lr_step_every: 10_000,
            margin: 1.0,
            rank: 8,
            prob: 0.5,
            amplitude_scale_range: (0.5, 1.0),
            noise_level: 4.0,
            max_jitter: 50,
            seed: 42,
        }
    }
}

impl EmbedderTrainParams {
    /// Checks every field; returns the parameters unchanged when valid.
    ///
    /// ```
    /// use spikelab_sort::embedder::EmbedderTrainParams;
    /// let p = EmbedderTrainParams::default();
    /// assert!(p.validate().is_ok());
    /// assert!(EmbedderTrainParams { rank: 0, ..p }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<Self> {
        let (lo, hi) = self.amplitude_scale_range;
        let ok = self.steps > 0
            && self.batch > 0
            && self.lr_step_every > 0
            && self.rank > 0
            && self.lr > 0.0
            && self.lr.is_finite()
            && self.weight_decay >= 0.0
            && self.margin >= 0.0
            && (0.0..=1.0).contains(&self.prob)
            && self.noise_level >= 0.0
            && self.noise_level.is_finite()
            && lo <= hi
            && lo.is_finite()
            && hi.is_finite();
        if !ok {
            return Err(SortError::InvalidParameter {
                name: "EmbedderTrainParams",
                reason: format!(
                    "{self:?}: need steps, batch, lr_step_every, rank ≥ 1, finite lr > 0, \
                     weight_decay, margin, noise_level ≥ 0, prob in [0, 1], amplitude lo ≤ hi"
                ),
            });
        }
        Ok(*self)
    }
}

/// Trains `embedder` on per-unit snippets (`units[u]` `[n_u, L, C]`, at least two units, each
/// with at least two snippets). The observer sees stage `"step"` with `loss` and `lr`.
/// Returns the loss of every step.
pub fn train_embedder(
    embedder: &mut Embedder,
    units: &[ArrayView3<f32>],
    params: &EmbedderTrainParams,
    observer: &mut dyn Observer,
) -> Result<Vec<f64>> {
    let p = params.validate()?;
    if units.len() < 2 || units.iter().any(|u| u.dim().0 < 2) {
        return Err(SortError::InvalidParameter {
            name: "units",
            reason: "need ≥ 2 units with ≥ 2 snippets each to form triplets".into(),
        });
    }
    let (_, l, c) = units[0].dim();
    if units.iter().any(|u| u.dim().1 != l || u.dim().2 != c) || c != embedder.config.channels {
        return Err(SortError::Dimension {
            what: "snippets [n, samples, channels]".into(),
            expected: format!("one length and {} channels", embedder.config.channels),
            got: format!("{:?}", units.iter().map(|u| u.dim()).collect::<Vec<_>>()),
        });
    }
    let noise = Normal::new(0.0, p.noise_level).map_err(|e| SortError::InvalidParameter {
        name: "noise_level",
        reason: e.to_string(),
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let jitter_max = rng.random_range(1..=p.max_jitter.max(1)) as i64;
    let jitter = Jitter::new(l);
    let vars = embedder.varmap.all_vars();
    let mut opt = FlatAdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: p.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let n_units = units.len();
    let mut losses = Vec::with_capacity(p.steps);
    let mut col = vec![0f64; l];
    for step in 0..p.steps {
        let mut batches = [
            Array3::<f32>::zeros((p.batch, l, c)),
            Array3::<f32>::zeros((p.batch, l, c)),
            Array3::<f32>::zeros((p.batch, l, c)),
        ];
        for b in 0..p.batch {
            let u = rng.random_range(0..n_units);
            let n_u = units[u].dim().0;
            let pair = sample(&mut rng, n_u, 2).into_vec();
            let other = (u + rng.random_range(1..n_units)) % n_units;
            let k = rng.random_range(0..units[other].dim().0);
            let picks = [(u, pair[0]), (u, pair[1]), (other, k)];
            for (batch, &(unit, i)) in batches.iter_mut().zip(&picks) {
                let mut s = batch.slice_mut(ndarray::s![b, .., ..]);
                s.assign(&units[unit].slice(ndarray::s![i, .., ..]));
                if rng.random::<f64>() >= p.prob {
                    continue;
                }
                let chans = rng.random_range(1..=c.min(4));
                for ch in sample(&mut rng, c, chans).into_vec() {
                    for (t, v) in col.iter_mut().enumerate() {
                        *v = s[[t, ch]] as f64;
                    }
                    let r = rng.random_range(-8 * jitter_max..=8 * jitter_max);
                    jitter.shift(&mut col, r as f64 / 8.0)?;
                    let (lo, hi) = p.amplitude_scale_range;
                    let a = if lo < hi {
                        rng.random_range(lo..hi)
                    } else {
                        lo
                    };
                    for (t, v) in col.iter().enumerate() {
                        s[[t, ch]] = (v * a + noise.sample(&mut rng)) as f32;
                    }
                }
            }
        }
        let mut emb = Vec::with_capacity(3);
        for batch in &batches {
            let x = to_tensor(&reconstruct(&batch.view(), p.rank)?, &embedder.device)?;
            emb.push(embedder.forward(&x)?);
        }
        let loss = triplet_margin_loss(&emb[0], &emb[1], &emb[2], p.margin)?;
        let (lv, grads) = backward_coupled_l2(&loss, step, &vars, p.weight_decay)?;
        let lr = p.lr * 0.5f64.powi((step / p.lr_step_every) as i32);
        opt.set_learning_rate(lr);
        opt.step(&grads)?;
        losses.push(lv);
        let progress = Progress::new("step", step)
            .with_total(p.steps)
            .with_metric("loss", lv)
            .with_metric("lr", lr);
        if observer.observe(&progress) == Flow::Stop {
            break;
        }
    }
    Ok(losses)
}
