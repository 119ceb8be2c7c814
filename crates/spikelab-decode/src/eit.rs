//! EIT (Liu, Azabou, Dabagia, Xiao, Dyer, "Seeing the forest and the tree", NeurIPS 2022,
//! arXiv 2206.06131; code `nerdslab/EIT`, MIT): a separable transformer for populations.
//!
//! Input `[B, N, C, T]` (trials, units, channels per unit, time steps).
//! 1. **Temporal module**, per unit: rearrange to `[(B·N), T, C]`, `Linear(C, d)`, one PreNorm
//!    transformer layer *without* a residual around attention (`offset`, as in the code) and
//!    with a residual feed-forward block. It treats every unit alike, so permuting the input
//!    units permutes its outputs ([`Eit::temporal`] is permutation-equivariant) and it transfers
//!    to recordings with a different number of units.
//! 2. **Population module**, per time step: rearrange to `[(B·T), N, d]`, add a learned
//!    per-unit embedding `[1, N, d]` ~ N(0, 1), one transformer layer (offset, no feed-forward,
//!    dropout 0.5 on the attention output), `Linear(d, 1)` per unit, then LayerNorm(N) →
//!    Linear(N, classes). Logits are `[(B·T), classes]`, b-major.
//!
//! No positional embedding anywhere. Training ([`train`]): Adam (lr 1e-4, β (0.9, 0.999),
//! eps 1e-8, no weight decay, no schedule), batch 64, cross-entropy on every (trial, step)
//! prediction, 500 epochs in the original (the anchors stopped at ≈ 400).
//!
//! The original module also holds parameters it never uses (the temporal module's
//! `mlp_head_bottolneck`/`mlp_head_bottom` and the population layer's feed-forward block);
//! they are not created here, so [`Eit::n_parameters`] is smaller than the original count, which
//! [`EitConfig::original_parameter_count`] reproduces (51 202 for 12 classes).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarMap};
use ndarray::{Array2, Array4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spikelab_core::Observer;

use crate::error::{DecodeError, Result};
use crate::nn::{Init, LayerConfig, LayerNorm, Linear, ParamBuilder, TransformerLayer};
use crate::train::{LoopParams, Schedule, train_epochs};

/// Shape of an EIT model (defaults: the synthetic two-body model of the original).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EitConfig {
    /// Units N (bodies, neurons).
    pub n_units: usize,
    /// Channels C per unit and step (2 coordinates; 1 for spike counts).
    pub n_channels: usize,
    /// Token width d.
    pub dim: usize,
    /// Attention heads (both modules).
    pub heads: usize,
    /// Width per head.
    pub dim_head: usize,
    /// Feed-forward width of the temporal module.
    pub temporal_mlp: usize,
    /// Dropout of the population module's attention output.
    pub population_dropout: f64,
    /// Output classes.
    pub n_classes: usize,
}

impl Default for EitConfig {
    fn default() -> Self {
        Self {
            n_units: 4,
            n_channels: 2,
            dim: 16,
            heads: 6,
            dim_head: 64,
            temporal_mlp: 32,
            population_dropout: 0.5,
            n_classes: 12,
        }
    }
}

impl EitConfig {
    fn check(&self) -> Result<()> {
        if [
            self.n_units,
            self.n_channels,
            self.dim,
            self.heads,
            self.dim_head,
            self.temporal_mlp,
        ]
        .contains(&0)
            || self.n_classes < 2
        {
            return Err(DecodeError::param(
                "eit",
                "all sizes must be ≥ 1 and n_classes ≥ 2",
            ));
        }
        if !(0.0..1.0).contains(&self.population_dropout) {
            return Err(DecodeError::param("population_dropout", "not in [0, 1)"));
        }
        Ok(())
    }

    /// Parameter count of the original PyTorch module, unused parameters included (51 202 for
    /// the two-body model with 12 classes). The population module's unused feed-forward block
    /// has hidden width 16, as in the original.
    pub fn original_parameter_count(&self) -> usize {
        let d = self.dim;
        let inner = self.heads * self.dim_head;
        let layer_attn = 2 * d + d * 3 * inner + inner * d + d;
        let ff = |mlp: usize| 2 * d + d * mlp + mlp + mlp * d + d;
        let temporal = self.n_channels * d
            + d
            + layer_attn
            + ff(self.temporal_mlp)
            + (d + 1)
            + (self.n_units * self.n_classes + self.n_classes);
        let population = self.n_units * d
            + layer_attn
            + ff(16)
            + (d + 1)
            + 2 * self.n_units
            + self.n_units * self.n_classes
            + self.n_classes;
        temporal + population
    }
}

/// A model that maps `[B, N, C, T]` inputs to per-(trial, step) logits `[(B·T), classes]`
/// (EIT and its NDT peer); [`train`], [`accuracy`] and [`predict`] work on any of them.
pub trait StepClassifier {
    /// Logits, b-major; `rng` switches dropout on (training).
    fn logits(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor>;
    /// The parameters.
    fn params(&self) -> &VarMap;
    /// Number of classes.
    fn n_classes(&self) -> usize;
    /// Device of the parameters.
    fn on_device(&self) -> &Device;
    /// Dtype of the parameters.
    fn param_dtype(&self) -> DType;
}

/// The EIT model; parameters in a [`VarMap`] (save with [`Eit::save`]).
#[derive(Clone)]
pub struct Eit {
    cfg: EitConfig,
    varmap: VarMap,
    device: Device,
    embed: Linear,
    temporal: TransformerLayer,
    neuron_embed: Tensor,
    population: TransformerLayer,
    bottleneck: Linear,
    head_norm: LayerNorm,
    head: Linear,
}

impl std::fmt::Debug for Eit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eit")
            .field("cfg", &self.cfg)
            .field("n_parameters", &self.n_parameters())
            .finish_non_exhaustive()
    }
}

impl Eit {
    /// A new model with parameters drawn from `seed` (PyTorch default initialisation).
    pub fn new(cfg: EitConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        Self::build(cfg, VarMap::new(), seed, dtype, device)
    }

    fn build(
        cfg: EitConfig,
        varmap: VarMap,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        cfg.check()?;
        let pb = ParamBuilder::new(&varmap, seed, dtype, device);
        let t = pb.pp("temporal");
        let p = pb.pp("population");
        let layer = |ff: bool, dropout: f64, mlp: usize| LayerConfig {
            dim: cfg.dim,
            heads: cfg.heads,
            dim_head: cfg.dim_head,
            mlp,
            dropout,
            offset: true,
            ff,
        };
        Ok(Self {
            embed: Linear::new(cfg.n_channels, cfg.dim, true, &t.pp("embed"))?,
            temporal: TransformerLayer::new(
                &layer(true, 0.0, cfg.temporal_mlp),
                &t.pp("transformer.layers.0"),
            )?,
            neuron_embed: p.get(
                &[1, cfg.n_units, cfg.dim],
                "neuron_embed",
                Init::Normal(1.0),
            )?,
            population: TransformerLayer::new(
                &layer(false, cfg.population_dropout, 16),
                &p.pp("transformer.layers.0"),
            )?,
            bottleneck: Linear::new(cfg.dim, 1, true, &p.pp("bottleneck"))?,
            head_norm: LayerNorm::new(cfg.n_units, &p.pp("head.0"))?,
            head: Linear::new(cfg.n_units, cfg.n_classes, true, &p.pp("head.2"))?,
            cfg,
            varmap,
            device: device.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EitConfig {
        &self.cfg
    }

    /// The parameters.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of trainable scalars.
    pub fn n_parameters(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// The temporal module: `x` `[B, N, C, T]` → `[B, N, T, d]` (any N).
    pub fn temporal(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, c, t) = x.dims4()?;
        if c != self.cfg.n_channels {
            return Err(DecodeError::Shape(format!(
                "{c} channels per unit, the model takes {}",
                self.cfg.n_channels
            )));
        }
        let h = x.permute((0, 1, 3, 2))?.reshape((b * n, t, c))?;
        let h = self.embed.forward(&h)?;
        let h = self.temporal.forward(&h, None, None)?;
        Ok(h.reshape((b, n, t, self.cfg.dim))?)
    }

    /// Logits `[(B·T), classes]` (b-major) for `x` `[B, N, C, T]`; `rng` switches dropout on
    /// (training).
    pub fn forward(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let (b, n, _, t) = x.dims4()?;
        if n != self.cfg.n_units {
            return Err(DecodeError::Shape(format!(
                "input has {n} units, the model's population module {}; use Eit::transfer",
                self.cfg.n_units
            )));
        }
        let d = self.cfg.dim;
        let h = self.temporal(x)?;
        let h = h.permute((0, 2, 1, 3))?.reshape((b * t, n, d))?;
        let h = h.broadcast_add(&self.neuron_embed)?;
        let h = self.population.forward(&h, None, rng)?;
        let h = self.bottleneck.forward(&h)?.reshape((b * t, n))?;
        self.head.forward(&self.head_norm.forward(&h)?)
    }

    /// A model for recordings with `n_units` units and `n_classes` classes that reuses this
    /// model's temporal module (copied) with a fresh population module drawn from `seed`.
    pub fn transfer(&self, n_units: usize, n_classes: usize, seed: u64) -> Result<Self> {
        let varmap = VarMap::new();
        {
            let src = self.varmap.data().lock().expect("varmap lock");
            let mut dst = varmap.data().lock().expect("varmap lock");
            for (name, v) in src.iter().filter(|(k, _)| k.starts_with("temporal.")) {
                dst.insert(
                    name.clone(),
                    candle_core::Var::from_tensor(&v.as_tensor().copy()?)?,
                );
            }
        }
        let cfg = EitConfig {
            n_units,
            n_classes,
            ..self.cfg.clone()
        };
        Self::build(cfg, varmap, seed, self.embed.weight().dtype(), &self.device)
    }

    /// The trainable variables of the temporal module only (for fine-tuning heads alone, pass
    /// the complement to the optimiser).
    pub fn population_vars(&self) -> Vec<candle_core::Var> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut v: Vec<(String, candle_core::Var)> = data
            .iter()
            .filter(|(k, _)| k.starts_with("population."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(_, v)| v).collect()
    }

    /// Writes the weights (`path`, safetensors) and the configuration (`path` with extension
    /// `json`), each through a temporary file in the same folder and a rename. Refuses to
    /// overwrite unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<()> {
        crate::nn::save_checkpoint(&self.varmap, &self.cfg, path, force)
    }

    /// Loads a model written by [`Eit::save`].
    pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let cfg: EitConfig = crate::nn::load_checkpoint_meta(path)?;
        let mut model = Self::build(cfg, VarMap::new(), 0, dtype, device)?;
        model
            .varmap
            .load(path)
            .map_err(|e| DecodeError::ModelFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        // Loading replaces the values in place; rebuild so every block sees them.
        let varmap = model.varmap.clone();
        model = Self::build(model.cfg.clone(), varmap, 0, dtype, device)?;
        Ok(model)
    }

    /// Predicted class of every (trial, step) of `x` `[B, N, C, T]`; see [`predict`].
    pub fn predict(&self, x: &Array4<f64>, batch: usize) -> Result<Array2<u32>> {
        predict(self, x, batch)
    }
}

impl StepClassifier for Eit {
    fn logits(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        self.forward(x, rng)
    }
    fn params(&self) -> &VarMap {
        &self.varmap
    }
    fn n_classes(&self) -> usize {
        self.cfg.n_classes
    }
    fn on_device(&self) -> &Device {
        &self.device
    }
    fn param_dtype(&self) -> DType {
        self.embed.weight().dtype()
    }
}

/// Predicted class of every (trial, step) of `x` `[B, N, C, T]` (f64 host array), in batches
/// of `batch`; returns `[B, T]`.
pub fn predict<M: StepClassifier + ?Sized>(
    model: &M,
    x: &Array4<f64>,
    batch: usize,
) -> Result<Array2<u32>> {
    let (b, _, _, t) = x.dim();
    let mut out = Array2::<u32>::zeros((b, t));
    for start in (0..b).step_by(batch.max(1)) {
        let end = (start + batch.max(1)).min(b);
        let xb = to_tensor(x, start..end, model.param_dtype(), model.on_device())?;
        let pred: Vec<u32> = model.logits(&xb, None)?.argmax(1)?.to_vec1()?;
        for (k, p) in pred.into_iter().enumerate() {
            out[[start + k / t, k % t]] = p;
        }
    }
    Ok(out)
}

/// Shape of the NDT benchmark model of the EIT repository (`Synthetic_NDT`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NdtConfig {
    /// Units N.
    pub n_units: usize,
    /// Channels C per unit.
    pub n_channels: usize,
    /// Time steps T (the learned time embedding has one row per step).
    pub n_steps: usize,
    /// Layers.
    pub depth: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width per head.
    pub dim_head: usize,
    /// Feed-forward width.
    pub mlp: usize,
    /// Output classes.
    pub n_classes: usize,
}

impl Default for NdtConfig {
    fn default() -> Self {
        Self {
            n_units: 4,
            n_channels: 2,
            n_steps: 10,
            depth: 2,
            heads: 6,
            dim_head: 64,
            mlp: 16,
            n_classes: 12,
        }
    }
}

impl NdtConfig {
    /// Parameter count of the original module, its unused `mask_token` included (25 472 for
    /// 12 classes).
    pub fn original_parameter_count(&self) -> usize {
        let d = self.n_units * self.n_channels;
        let inner = self.heads * self.dim_head;
        let layer = 2 * d
            + d * 3 * inner
            + inner * d
            + d
            + 2 * d
            + d * self.mlp
            + self.mlp
            + self.mlp * d
            + d;
        d * d
            + d
            + self.n_steps * d
            + d
            + self.depth * layer
            + d * self.n_units
            + self.n_units
            + self.n_units * self.n_classes
            + self.n_classes
    }
}

/// EIT's peer: all units of a step form one token (`[B, T, N·C]`, unit-major), Linear(N·C, N·C)
/// plus a learned time embedding ~ N(0, 1), `depth` standard PreNorm layers (residuals around
/// attention and feed-forward), then Linear(N·C, N) → Linear(N, classes) per step. Trained with
/// Adam at lr 5e-4 in the original.
#[derive(Clone)]
pub struct Ndt {
    cfg: NdtConfig,
    varmap: VarMap,
    device: Device,
    embed: Linear,
    time_embed: Tensor,
    layers: Vec<TransformerLayer>,
    head1: Linear,
    head2: Linear,
}

impl std::fmt::Debug for Ndt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ndt")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Ndt {
    /// A new model with parameters drawn from `seed`.
    pub fn new(cfg: NdtConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        if [
            cfg.n_units,
            cfg.n_channels,
            cfg.n_steps,
            cfg.depth,
            cfg.heads,
            cfg.dim_head,
            cfg.mlp,
        ]
        .contains(&0)
            || cfg.n_classes < 2
        {
            return Err(DecodeError::param("ndt", "all sizes ≥ 1 and n_classes ≥ 2"));
        }
        let varmap = VarMap::new();
        let pb = ParamBuilder::new(&varmap, seed, dtype, device);
        let d = cfg.n_units * cfg.n_channels;
        let layer = LayerConfig {
            dim: d,
            heads: cfg.heads,
            dim_head: cfg.dim_head,
            mlp: cfg.mlp,
            dropout: 0.0,
            offset: false,
            ff: true,
        };
        Ok(Self {
            embed: Linear::new(d, d, true, &pb.pp("embed"))?,
            time_embed: pb.get(&[1, cfg.n_steps, d], "time_embed", Init::Normal(1.0))?,
            layers: (0..cfg.depth)
                .map(|i| TransformerLayer::new(&layer, &pb.pp(format!("transformer.layers.{i}"))))
                .collect::<Result<_>>()?,
            head1: Linear::new(d, cfg.n_units, true, &pb.pp("head.0"))?,
            head2: Linear::new(cfg.n_units, cfg.n_classes, true, &pb.pp("head.1"))?,
            cfg,
            varmap,
            device: device.clone(),
        })
    }

    /// Number of trainable scalars.
    pub fn n_parameters(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }
}

impl StepClassifier for Ndt {
    fn logits(&self, x: &Tensor, _rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let (b, n, c, t) = x.dims4()?;
        if (n, c, t) != (self.cfg.n_units, self.cfg.n_channels, self.cfg.n_steps) {
            return Err(DecodeError::Shape(format!(
                "input [{b}, {n}, {c}, {t}] for an NDT of {} units × {} channels × {} steps",
                self.cfg.n_units, self.cfg.n_channels, self.cfg.n_steps
            )));
        }
        let h = x.permute((0, 3, 1, 2))?.reshape((b, t, n * c))?;
        let mut h = self.embed.forward(&h)?.broadcast_add(&self.time_embed)?;
        for l in &self.layers {
            h = l.forward(&h, None, None)?;
        }
        let h = self.head2.forward(&self.head1.forward(&h)?)?;
        Ok(h.reshape((b * t, self.cfg.n_classes))?)
    }
    fn params(&self) -> &VarMap {
        &self.varmap
    }
    fn n_classes(&self) -> usize {
        self.cfg.n_classes
    }
    fn on_device(&self) -> &Device {
        &self.device
    }
    fn param_dtype(&self) -> DType {
        self.embed.weight().dtype()
    }
}

fn to_tensor(
    x: &Array4<f64>,
    rows: std::ops::Range<usize>,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let (_, n, c, t) = x.dim();
    let sel = x.slice(ndarray::s![rows.clone(), .., .., ..]);
    let v: Vec<f64> = sel.iter().copied().collect();
    Ok(Tensor::from_vec(v, (rows.len(), n, c, t), device)?.to_dtype(dtype)?)
}

fn gather(x: &Array4<f64>, idx: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
    let (_, n, c, t) = x.dim();
    let mut v = Vec::with_capacity(idx.len() * n * c * t);
    for &i in idx {
        v.extend(x.slice(ndarray::s![i, .., .., ..]).iter().copied());
    }
    Ok(Tensor::from_vec(v, (idx.len(), n, c, t), device)?.to_dtype(dtype)?)
}

/// EIT inputs from a raster: consecutive non-overlapping windows of `len` frames of `counts`
/// `[neuron, frame]` as `[window, neuron, 1, frame]` (one channel: the count), each labelled
/// with `labels` at its first frame. Frames after the last whole window are dropped.
///
/// ```
/// let counts = ndarray::Array2::from_shape_fn((3, 7), |(n, t)| (n * 10 + t) as f64);
/// let (x, y) = spikelab_decode::eit::raster_windows(counts.view(), &[0, 0, 1, 1, 2, 2, 3], 2)?;
/// assert_eq!(x.dim(), (3, 3, 1, 2));
/// assert_eq!((x[[1, 2, 0, 0]], x[[1, 2, 0, 1]]), (22.0, 23.0)); // window 1, neuron 2
/// assert_eq!(y, vec![0, 1, 2]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn raster_windows(
    counts: ndarray::ArrayView2<'_, f64>,
    labels: &[u32],
    len: usize,
) -> Result<(Array4<f64>, Vec<u32>)> {
    if labels.len() != counts.ncols() {
        return Err(DecodeError::Shape(format!(
            "{} labels for {} frames",
            labels.len(),
            counts.ncols()
        )));
    }
    let (w, starts) = crate::data::count_windows(counts, len, len)?;
    let (n_win, _, n) = w.dim();
    let x = Array4::from_shape_fn((n_win, n, 1, len), |(k, j, _, t)| w[[k, t, j]]);
    Ok((x, starts.iter().map(|&s| labels[s]).collect()))
}

/// Training settings (defaults: the original synthetic recipe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Epochs.
    pub epochs: usize,
    /// Trials per batch.
    pub batch: usize,
    /// Adam learning rate (1e-4 for EIT, 5e-4 for the NDT peer).
    pub lr: f64,
    /// Seed of the shuffling and dropout.
    pub seed: u64,
    /// Evaluate on the test set every this many epochs (0 = only at the end).
    pub eval_every: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            epochs: 500,
            batch: 64,
            lr: 1e-4,
            seed: 0,
            eval_every: 10,
        }
    }
}

/// One evaluated epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Zero-based epoch.
    pub epoch: usize,
    /// Mean training loss of the epoch.
    pub loss: f64,
    /// Test accuracy over all (trial, step) predictions, when evaluated.
    pub test_accuracy: Option<f64>,
}

/// Trains `model` on `x_train` `[B, N, C, T]` with one label per trial (repeated over the T
/// steps) with Adam; reports every epoch (stage `"epoch"`, metrics `loss`, `accuracy`). A
/// non-finite loss stops with [`DecodeError::Diverged`] before the parameters are updated.
pub fn train<M: StepClassifier + ?Sized>(
    model: &M,
    x_train: &Array4<f64>,
    y_train: &[u32],
    test: Option<(&Array4<f64>, &[u32])>,
    params: &TrainParams,
    vars: Option<Vec<candle_core::Var>>,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochStats>> {
    let (n, _, _, t) = x_train.dim();
    if y_train.len() != n || n == 0 {
        return Err(DecodeError::Shape(format!(
            "{n} trials with {} labels",
            y_train.len()
        )));
    }
    if let Some(&bad) = y_train.iter().find(|&&y| y as usize >= model.n_classes()) {
        return Err(DecodeError::InvalidData(format!(
            "label {bad} for a {}-class model",
            model.n_classes()
        )));
    }
    let device = model.on_device().clone();
    let dtype = model.param_dtype();
    let mut opt = crate::train::FlatAdamW::new(
        vars.unwrap_or_else(|| model.params().all_vars()),
        candle_nn::ParamsAdamW {
            lr: params.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    crate::nn::seed_device(&device, &mut rng)?;
    let loop_params = LoopParams {
        epochs: params.epochs,
        batch: params.batch,
        lr: params.lr,
        schedule: Schedule::Constant,
    };
    let mut history = Vec::new();
    train_epochs(
        &mut opt,
        n,
        &loop_params,
        &mut rng,
        |idx, rng| {
            let xb = gather(x_train, idx, dtype, &device)?;
            let labels: Vec<u32> = idx
                .iter()
                .flat_map(|&i| std::iter::repeat_n(y_train[i], t))
                .collect();
            let yb = Tensor::from_vec(labels, idx.len() * t, &device)?;
            let logits = model.logits(&xb, Some(rng))?;
            Ok(candle_nn::loss::cross_entropy(
                &logits.to_dtype(DType::F32)?,
                &yb,
            )?)
        },
        |epoch, loss| {
            let last = epoch + 1 == params.epochs;
            let evaluate = last || (params.eval_every > 0 && (epoch + 1) % params.eval_every == 0);
            let test_accuracy = match test {
                Some((xt, yt)) if evaluate => Some(accuracy(model, xt, yt)?),
                _ => None,
            };
            history.push(EpochStats {
                epoch,
                loss,
                test_accuracy,
            });
            Ok(test_accuracy.map(|a| ("accuracy", a)).into_iter().collect())
        },
        observer,
    )?;
    Ok(history)
}

/// Accuracy of `model` over all (trial, step) predictions of `x` against per-trial labels.
pub fn accuracy<M: StepClassifier + ?Sized>(model: &M, x: &Array4<f64>, y: &[u32]) -> Result<f64> {
    if x.dim().0 != y.len() {
        return Err(DecodeError::Shape(format!(
            "{} trials with {} labels",
            x.dim().0,
            y.len()
        )));
    }
    let pred = predict(model, x, 256)?;
    let t = pred.ncols();
    let hits = pred
        .indexed_iter()
        .filter(|((i, _), p)| **p == y[*i])
        .count();
    Ok(hits as f64 / (y.len() * t) as f64)
}
