//! Training of the Elephant network (spec §1.4, §1.6): smoothed, z-scored spike targets, the
//! 25 %/75 % windows, MSE loss, Adagrad with Keras 2.0 semantics, seeded shuffling.
//!
//! * Target: spike counts convolved (`same`, zero-padded) with `exp(−t²/σ²)`, `t = −15…15`,
//!   `σ = 2` frames, normalised to sum 1 (a Gaussian of SD √2 frames), then z-scored
//!   `(x − mean)/(std + 1e-7)` per neuron.
//! * Samples: target index `i` with window `z[i−32 .. i+96]`, for `32 ≤ i ≤ n − 224` (the
//!   original's over-strict edge rule, kept so the sample counts match its `dataset_sizes`).
//! * Adagrad (Keras 2.0): `a ← a + g²; p ← p − lr·g/(√a + ε)`, `lr = 0.01`, `ε = 1e-8`,
//!   accumulators start at 0 (tf.keras ≥ 2 defaults differ). Batch 256, reshuffled each epoch.
//!
//! Training runs the per-window network on candle with autograd, f32 like the original.

use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::error::{CalciumError, Result};
use crate::evaluate::GroundTruthSet;
use crate::network::{ZSCORE_EPS, zscore_trace};
use crate::spikenet::{CandleParams, SpikeNetArch, SpikeNetWeights};
use crate::weights::{ElephantWeights, LAYER_NAMES, WINDOW, WINDOW_OFFSET};

/// `spike_SD_kernel` of the original: σ of `exp(−t²/σ²)` in frames.
pub const SPIKE_KERNEL_SIGMA: f64 = 2.0;
/// Half-width of the smoothing kernel (31 taps).
pub const SPIKE_KERNEL_HALF: usize = 15;

/// The target smoothing kernel `exp(−t²/σ²)`, `t = −15…15`, normalised to sum 1.
///
/// ```
/// let k = spikelab_calcium::train::smoothing_kernel(2.0);
/// assert_eq!(k.len(), 31);
/// assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// assert!(k[15] > k[14] && k[14] == k[16]);
/// ```
pub fn smoothing_kernel(sigma: f64) -> Vec<f64> {
    let h = SPIKE_KERNEL_HALF as i64;
    let k: Vec<f64> = (-h..=h)
        .map(|t| (-(t * t) as f64 / (sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

/// `np.convolve(x, k, mode="same")` for an odd-length symmetric kernel (zero-padded edges).
pub fn convolve_same(x: &[f64], k: &[f64]) -> Vec<f64> {
    let h = k.len() / 2;
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut acc = 0.0;
            for (m, &kv) in k.iter().enumerate() {
                let idx = i as i64 + m as i64 - h as i64;
                if idx >= 0 && (idx as usize) < n {
                    acc += x[idx as usize] * kv;
                }
            }
            acc
        })
        .collect()
}

/// NaN-free network inputs and targets with the list of training samples: sample `(i, s)` is
/// the window `x_i[s .. s + window]` with target `y_i[s + offset]`. Elephant (the default)
/// uses z-scored traces and targets, window 128 and offset 32; CASCADE raw ΔF/F, window 64 and
/// offset 32 (`crate::cascade::train`).
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// Per trace: network input (f32) and target (f32), same length.
    traces: Vec<(Vec<f32>, Vec<f32>)>,
    /// `(trace, window start)` of every sample.
    samples: Vec<(u32, u32)>,
    window: usize,
    offset: usize,
}

impl Default for TrainingData {
    fn default() -> Self {
        TrainingData {
            traces: Vec::new(),
            samples: Vec::new(),
            window: WINDOW,
            offset: WINDOW_OFFSET,
        }
    }
}

impl TrainingData {
    /// Empty set for the Elephant network (window 128, target at offset 32).
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty set for windows of `window` samples whose target is at `offset` (< `window`).
    pub(crate) fn with_window(window: usize, offset: usize) -> Self {
        debug_assert!(offset < window);
        TrainingData {
            window,
            offset,
            ..Self::default()
        }
    }

    /// Adds one trace with its targets and the given window starts (each must leave a whole
    /// window inside the trace).
    pub(crate) fn push_trace(
        &mut self,
        x: Vec<f32>,
        y: Vec<f32>,
        starts: impl Iterator<Item = usize>,
    ) {
        let idx = self.traces.len() as u32;
        let last = x.len().saturating_sub(self.window);
        self.samples.extend(
            starts
                .filter(|&s| s <= last && x.len() >= self.window)
                .map(|s| (idx, s as u32)),
        );
        self.traces.push((x, y));
    }

    /// The samples as pieces of up to `piece_outputs` consecutive window starts of one trace
    /// (`(trace, first start, mask of the starts that are samples)`), in trace order.
    pub(crate) fn pieces(&self, piece_outputs: usize) -> Vec<Piece> {
        let mut s = self.samples.clone();
        s.sort_unstable();
        let mut out: Vec<Piece> = Vec::new();
        for (tr, st) in s {
            let st = st as usize;
            match out.last_mut() {
                Some(p) if p.trace == tr && st < p.start + piece_outputs => {
                    p.mask[st - p.start] = true
                }
                _ => {
                    let mut mask = vec![false; piece_outputs];
                    mask[0] = true;
                    out.push(Piece {
                        trace: tr,
                        start: st,
                        mask,
                    });
                }
            }
        }
        out
    }

    /// Inputs `[b, P + window − 1]`, targets `[b, P]` and masks `[b, P]` of `pieces` (zero
    /// beyond a trace's end, where the mask is 0), and the number of windows the mask keeps.
    fn piece_batch(
        &self,
        pieces: &[&Piece],
        device: &Device,
    ) -> Result<(Tensor, Tensor, Tensor, usize)> {
        let p_out = pieces[0].mask.len();
        let n_in = p_out + self.window - 1;
        let mut x = vec![0.0f32; pieces.len() * n_in];
        let mut y = vec![0.0f32; pieces.len() * p_out];
        let mut m = vec![0.0f32; pieces.len() * p_out];
        let mut kept = 0;
        for (i, pc) in pieces.iter().enumerate() {
            let (z, t) = &self.traces[pc.trace as usize];
            let take = n_in.min(z.len() - pc.start);
            x[i * n_in..i * n_in + take].copy_from_slice(&z[pc.start..pc.start + take]);
            for (k, &on) in pc.mask.iter().enumerate() {
                if on {
                    y[i * p_out + k] = t[pc.start + k + self.offset];
                    m[i * p_out + k] = 1.0;
                    kept += 1;
                }
            }
        }
        let b = pieces.len();
        Ok((
            Tensor::from_vec(x, (b, n_in), device)?,
            Tensor::from_vec(y, (b, p_out), device)?,
            Tensor::from_vec(m, (b, p_out), device)?,
            kept,
        ))
    }

    /// Keeps the samples for which `keep` is true.
    pub(crate) fn retain_samples(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut i = 0;
        self.samples.retain(|_| {
            let k = keep(i);
            i += 1;
            k
        });
    }

    /// Adds all usable neurons of a ground-truth set (NaN frames dropped, as the original
    /// does). Neurons shorter than 256 frames or constant are skipped; returns how many were
    /// added.
    ///
    /// ```
    /// use spikelab_calcium::{evaluate::GroundTruthSet, train::TrainingData};
    /// use spikelab_datasets::Split;
    /// let mut d = TrainingData::new();
    /// d.add_set(&spikelab_datasets::calcium::spikefinder_csv(4, Split::Train)?)?;
    /// assert_eq!(d.n_samples(), 165_048); // the original's dataset_sizes[3]
    /// # Ok::<(), spikelab_calcium::CalciumError>(())
    /// ```
    pub fn add_set(&mut self, set: &GroundTruthSet) -> Result<usize> {
        let kernel = smoothing_kernel(SPIKE_KERNEL_SIGMA);
        let mut added = 0;
        for j in 0..set.spikes.ncols() {
            let ca = set.calcium.data().column(j);
            let sp = set.spikes.column(j);
            let (x, s): (Vec<f64>, Vec<f64>) = ca
                .iter()
                .zip(sp.iter())
                .filter(|(c, s)| c.is_finite() && s.is_finite())
                .map(|(c, s)| (*c, *s))
                .unzip();
            let n = x.len();
            if n < 2 * WINDOW {
                continue;
            }
            let Ok((z, _)) = zscore_trace(&x) else {
                continue;
            };
            let sm = convolve_same(&s, &kernel);
            let m = sm.iter().sum::<f64>() / n as f64;
            let sd = (sm.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64).sqrt();
            let t: Vec<f32> = sm
                .iter()
                .map(|v| ((v - m) / (sd + ZSCORE_EPS)) as f32)
                .collect();
            let idx = self.traces.len() as u32;
            // target i ∈ [32, n − 224] ⇒ window start i − 32 ∈ [0, n − 256].
            for start in 0..=(n - 2 * WINDOW) {
                self.samples.push((idx, start as u32));
            }
            self.traces.push((z.iter().map(|&v| v as f32).collect(), t));
            added += 1;
        }
        Ok(added)
    }

    /// Number of training samples (windows).
    pub fn n_samples(&self) -> usize {
        self.samples.len()
    }

    /// Number of neurons.
    pub fn n_neurons(&self) -> usize {
        self.traces.len()
    }

    fn batch(&self, ids: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
        let w = self.window;
        let mut x = Vec::with_capacity(ids.len() * w);
        let mut y = Vec::with_capacity(ids.len());
        for &k in ids {
            let (tr, st) = self.samples[k];
            let (z, t) = &self.traces[tr as usize];
            let st = st as usize;
            x.extend_from_slice(&z[st..st + w]);
            y.push(t[st + self.offset]);
        }
        Ok((
            Tensor::from_vec(x, (ids.len(), w), device)?,
            Tensor::from_vec(y, ids.len(), device)?,
        ))
    }
}

/// A run of consecutive window starts of one trace (see `TrainingData::pieces`).
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    trace: u32,
    start: usize,
    mask: Vec<bool>,
}

/// Training settings (defaults: the original's).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Adagrad learning rate (0.01).
    pub learning_rate: f64,
    /// Adagrad ε (1e-8).
    pub epsilon: f64,
    /// Initial value of the Adagrad accumulators (0: Keras 2.0; tf.keras ≥ 2 uses 0.1).
    pub initial_accumulator: f64,
    /// Batch size (256).
    pub batch_size: usize,
    /// Epochs (15).
    pub epochs: usize,
    /// Stop after this many steps in total (`None`: run all epochs).
    pub max_steps: Option<usize>,
    /// Seed of the shuffling (ChaCha8).
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            learning_rate: 0.01,
            epsilon: 1e-8,
            initial_accumulator: 0.0,
            batch_size: 256,
            epochs: 15,
            max_steps: None,
            seed: 0,
        }
    }
}

impl TrainConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(CalciumError::InvalidParameter { name, reason });
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(
                "learning_rate",
                format!("must be > 0, got {}", self.learning_rate),
            );
        }
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return bad("epsilon", format!("must be > 0, got {}", self.epsilon));
        }
        if !(self.initial_accumulator >= 0.0 && self.initial_accumulator.is_finite()) {
            return bad(
                "initial_accumulator",
                format!("must be ≥ 0, got {}", self.initial_accumulator),
            );
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be ≥ 1".into());
        }
        if self.epochs == 0 {
            return bad("epochs", "must be ≥ 1".into());
        }
        Ok(())
    }
}

/// Progress of one training step, passed to the observer (hook a progress bar to it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Step number (1-based).
    pub step: usize,
    /// Total steps of this run.
    pub total_steps: usize,
    /// Epoch (0-based).
    pub epoch: usize,
    /// Mean squared error of this batch (before the update).
    pub loss: f64,
}

/// The trained weights and the loss of every step.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// Weights after training.
    pub weights: ElephantWeights,
    /// Batch loss per step.
    pub losses: Vec<f64>,
}

/// Counts a finished step of `epoch` in `step`, appends its `loss` to `losses` and reports it
/// to `on_step`; returns what `on_step` returns (whether to go on).
fn record_step(
    loss: f64,
    epoch: usize,
    step: &mut usize,
    total: usize,
    losses: &mut Vec<f64>,
    on_step: &mut impl FnMut(&TrainProgress) -> bool,
) -> bool {
    *step += 1;
    losses.push(loss);
    on_step(&TrainProgress {
        step: *step,
        total_steps: total,
        epoch,
        loss,
    })
}

/// Network weights as candle variables plus their Adagrad accumulators (`a ← a + g²;
/// p ← p − lr·g/(√a + ε)`, accumulators starting at `TrainConfig::initial_accumulator`).
pub(crate) struct Trainer {
    arch: SpikeNetArch,
    kernels: Vec<Var>,
    biases: Vec<Var>,
    acc: Vec<Tensor>,
    device: Device,
}

/// The kernels and biases of `w` as variables of `dtype` (Keras layout, layer order).
fn weight_vars(w: &SpikeNetWeights, dtype: DType, device: &Device) -> Result<(Vec<Var>, Vec<Var>)> {
    let t = w.to_tensors(device)?;
    let var = |part: &str| -> Result<Vec<Var>> {
        LAYER_NAMES
            .iter()
            .map(|name| {
                Ok(Var::from_tensor(
                    &t[&format!("{name}.{part}")].to_dtype(dtype)?,
                )?)
            })
            .collect()
    };
    Ok((var("kernel")?, var("bias")?))
}

impl Trainer {
    pub(crate) fn new(
        init: &SpikeNetWeights,
        initial_accumulator: f64,
        device: &Device,
    ) -> Result<Self> {
        let (kernels, biases) = weight_vars(init, DType::F32, device)?;
        let acc = kernels
            .iter()
            .chain(biases.iter())
            .map(|v| Tensor::zeros(v.shape(), DType::F32, device)?.affine(1.0, initial_accumulator))
            .collect::<candle_core::Result<_>>()?;
        Ok(Trainer {
            arch: init.arch,
            kernels,
            biases,
            acc,
            device: device.clone(),
        })
    }

    /// The current weights as network parameters, tracked for backpropagation.
    fn params(&self) -> Result<CandleParams> {
        let k: [Tensor; 5] = std::array::from_fn(|i| self.kernels[i].as_tensor().clone());
        let b: [Tensor; 5] = std::array::from_fn(|i| self.biases[i].as_tensor().clone());
        Ok(CandleParams::from_keras(&self.arch, &k, &b)?.for_training())
    }

    /// Backpropagates `loss` and applies one Adagrad update to every weight that has a
    /// gradient; returns the loss (computed before the update) as a number.
    fn adagrad_update(&mut self, loss: &Tensor, lr: f64, eps: f64) -> Result<f64> {
        let grads = loss.backward()?;
        let vars = self.kernels.iter().chain(self.biases.iter());
        for (v, a) in vars.zip(self.acc.iter_mut()) {
            let Some(g) = grads.get(v.as_tensor()) else {
                continue;
            };
            // The gradient of a weight used directly by an op (dense layers) is recorded as a
            // function of that step's activations; detached, the accumulator does not keep
            // every step's graph alive (≈ 50 MB per step at batch 256).
            let g = g.detach();
            *a = (&*a + g.sqr()?)?;
            let upd = (&g / (a.sqrt()? + eps)?)?;
            v.set(&(v.as_tensor() - (upd * lr)?)?)?;
        }
        Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }

    /// One Adagrad step on a batch; returns the batch loss before the update.
    fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64, eps: f64) -> Result<f64> {
        let pred = self.params()?.forward_windows(x)?;
        let loss = (pred - y)?.sqr()?.mean_all()?;
        self.adagrad_update(&loss, lr, eps)
    }

    /// One pass over `order` (sample indices of `data`) in batches. `on_step` returning `false`
    /// ends the pass (and the caller's run) after that step; the return value says whether
    /// to go on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn epoch(
        &mut self,
        data: &TrainingData,
        order: &[usize],
        cfg: &TrainConfig,
        epoch: usize,
        step: &mut usize,
        total: usize,
        losses: &mut Vec<f64>,
        on_step: &mut impl FnMut(&TrainProgress) -> bool,
    ) -> Result<bool> {
        for ids in order.chunks(cfg.batch_size) {
            if *step >= total {
                break;
            }
            let (x, y) = data.batch(ids, &self.device)?;
            let l = self.step(&x, &y, cfg.learning_rate, cfg.epsilon)?;
            if !record_step(l, epoch, step, total, losses, on_step) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One Adagrad step on pieces of consecutive windows, evaluated fully-convolutionally:
    /// the loss is the mean over the masked windows of `(output − target)²`, the same MSE as
    /// a per-window batch of those windows; `kept` is the number of windows in the mask
    /// (counted on the host: no device round trip).
    fn step_pieces(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        m: &Tensor,
        kept: usize,
        lr: f64,
        eps: f64,
    ) -> Result<f64> {
        let pred = self.params()?.forward_full_batch(x)?;
        let n = kept.max(1) as f64;
        let loss = (((pred - y)?.sqr()? * m)?.sum_all()? / n)?;
        self.adagrad_update(&loss, lr, eps)
    }

    /// One pass over `order` (indices into `pieces`), `per_step` pieces per Adagrad step;
    /// `on_step` as in `Trainer::epoch`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn epoch_pieces(
        &mut self,
        data: &TrainingData,
        pieces: &[Piece],
        order: &[usize],
        per_step: usize,
        cfg: &TrainConfig,
        epoch: usize,
        step: &mut usize,
        losses: &mut Vec<f64>,
        on_step: &mut impl FnMut(&TrainProgress) -> bool,
        total: usize,
    ) -> Result<bool> {
        for ids in order.chunks(per_step.max(1)) {
            let batch: Vec<&Piece> = ids.iter().map(|&i| &pieces[i]).collect();
            let (x, y, m, kept) = data.piece_batch(&batch, &self.device)?;
            let l = self.step_pieces(&x, &y, &m, kept, cfg.learning_rate, cfg.epsilon)?;
            if !record_step(l, epoch, step, total, losses, on_step) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(crate) fn spikenet_weights(&self) -> Result<SpikeNetWeights> {
        let read = |v: &Var| -> Result<Vec<f32>> {
            Ok(v.as_tensor()
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1()?)
        };
        let kernels: Vec<Vec<f32>> = self.kernels.iter().map(read).collect::<Result<_>>()?;
        let biases: Vec<Vec<f32>> = self.biases.iter().map(read).collect::<Result<_>>()?;
        SpikeNetWeights::new(
            self.arch,
            kernels.try_into().expect("5 layers"),
            biases.try_into().expect("5 layers"),
        )
    }

    fn weights(&self) -> Result<ElephantWeights> {
        let w = self.spikenet_weights()?;
        ElephantWeights::new(w.kernels, w.biases)
    }
}

/// Trains from `init` (e.g. [`ElephantWeights::glorot_uniform`] or `model1.h5` for retraining)
/// on `device`, calling `on_step` after each step.
///
/// ```
/// use spikelab_calcium::{ElephantWeights, evaluate::GroundTruthSet};
/// use spikelab_calcium::train::{train, TrainConfig, TrainingData};
/// let mut d = TrainingData::new();
/// d.add_set(&spikelab_datasets::calcium::spikefinder_csv(4, spikelab_datasets::Split::Train)?)?;
/// let cfg = TrainConfig { batch_size: 16, max_steps: Some(3), ..TrainConfig::default() };
/// let r = train(&ElephantWeights::glorot_uniform(0), &d, &cfg, &candle_core::Device::Cpu, |_| {})?;
/// assert_eq!(r.losses.len(), 3);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn train(
    init: &ElephantWeights,
    data: &TrainingData,
    cfg: &TrainConfig,
    device: &Device,
    mut on_step: impl FnMut(&TrainProgress),
) -> Result<TrainReport> {
    cfg.validate()?;
    if data.n_samples() == 0 {
        return Err(CalciumError::InvalidInput {
            what: "training data".into(),
            reason: "no samples (need neurons with ≥ 256 valid frames)".into(),
        });
    }
    let mut tr = Trainer::new(&init.to_spikenet(), cfg.initial_accumulator, device)?;
    let steps_per_epoch = data.n_samples().div_ceil(cfg.batch_size);
    let total = (steps_per_epoch * cfg.epochs).min(cfg.max_steps.unwrap_or(usize::MAX));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..data.n_samples()).collect();
    let mut losses = Vec::with_capacity(total);
    let mut step = 0;
    for epoch in 0..cfg.epochs {
        if step >= total {
            break;
        }
        order.shuffle(&mut rng);
        tr.epoch(
            data,
            &order,
            cfg,
            epoch,
            &mut step,
            total,
            &mut losses,
            &mut |p: &TrainProgress| {
                on_step(p);
                true
            },
        )?;
    }
    Ok(TrainReport {
        weights: tr.weights()?,
        losses,
    })
}

/// Retrains `init` (normally `model1.h5`) following an embedding
/// [`RetrainingPlan`](crate::embedding::RetrainingPlan): in each of `plan.iterations`
/// iterations, every planned dataset's windows are freshly shuffled and the first
/// `take_from(dataset, n_windows)` kept; the union is trained for `plan.epochs_per_iteration`
/// epochs (batch `plan.batch_size`, Adagrad at `plan.learning_rate`). Adagrad accumulators
/// start at zero and carry over between iterations (one Keras model fitted repeatedly).
///
/// `sets` pairs each planned dataset id with its ground truth; datasets of the plan that are
/// missing from `sets` are an error. `max_steps` caps the total (for tests).
pub fn retrain_with_plan(
    init: &ElephantWeights,
    plan: &crate::embedding::RetrainingPlan,
    sets: &[(usize, &GroundTruthSet)],
    seed: u64,
    max_steps: Option<usize>,
    device: &Device,
    mut on_step: impl FnMut(&TrainProgress),
) -> Result<TrainReport> {
    let cfg = TrainConfig {
        learning_rate: plan.learning_rate,
        batch_size: plan.batch_size,
        seed,
        ..TrainConfig::default()
    };
    cfg.validate()?;
    let mut per_set = Vec::new();
    for e in &plan.entries {
        let (_, set) = sets
            .iter()
            .find(|(id, _)| *id == e.dataset_id)
            .ok_or_else(|| CalciumError::InvalidInput {
                what: "retraining".into(),
                reason: format!("no ground truth given for planned dataset {}", e.dataset_id),
            })?;
        let mut d = TrainingData::new();
        d.add_set(set)?;
        per_set.push((e.dataset_id, d));
    }
    let mut data = TrainingData::new();
    let mut offsets = Vec::new();
    for (_, d) in &per_set {
        offsets.push(data.samples.len());
        let base = data.traces.len() as u32;
        data.traces.extend(d.traces.iter().cloned());
        data.samples
            .extend(d.samples.iter().map(|&(t, s)| (t + base, s)));
    }
    let mut tr = Trainer::new(&init.to_spikenet(), cfg.initial_accumulator, device)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut step = 0;
    let total = max_steps.unwrap_or(usize::MAX);
    let mut losses = Vec::new();
    for it in 0..plan.iterations {
        let mut order = Vec::new();
        for ((id, d), &off) in per_set.iter().zip(&offsets) {
            let n = d.n_samples();
            let take = plan.take_from(*id, n).unwrap_or(0).min(n);
            let mut ids: Vec<usize> = (0..n).collect();
            ids.shuffle(&mut rng);
            order.extend(ids[..take].iter().map(|i| i + off));
        }
        for ep in 0..plan.epochs_per_iteration {
            order.shuffle(&mut rng);
            tr.epoch(
                &data,
                &order,
                &cfg,
                it * plan.epochs_per_iteration + ep,
                &mut step,
                total,
                &mut losses,
                &mut |p: &TrainProgress| {
                    on_step(p);
                    true
                },
            )?;
        }
    }
    Ok(TrainReport {
        weights: tr.weights()?,
        losses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a step the Adagrad accumulators hold no autograd path back to the weights: the
    /// dense layers' gradients are recorded as functions of the step's activations, and an
    /// accumulator built from them kept every step's graph alive (memory grew ≈ 50 MB per
    /// step at batch 256).
    #[test]
    fn accumulators_carry_no_autograd_history() -> Result<()> {
        let init = ElephantWeights::glorot_uniform(3).to_spikenet();
        let mut tr = Trainer::new(&init, 0.1, &Device::Cpu)?;
        let w = init.arch.window;
        let x: Vec<f32> = (0..4 * w)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
            .collect();
        let x = Tensor::from_vec(x, (4, w), &Device::Cpu)?;
        let y = Tensor::new(&[0.0f32, 1.0, 0.5, 2.0], &Device::Cpu)?;
        tr.step(&x, &y, 0.01, 1e-7)?;
        let vars: Vec<&Var> = tr.kernels.iter().chain(&tr.biases).collect();
        for (i, a) in tr.acc.iter().enumerate() {
            let g = a.sum_all()?.backward()?;
            assert!(
                vars.iter().all(|v| g.get(v.as_tensor()).is_none()),
                "accumulator {i} depends on the weights"
            );
        }
        Ok(())
    }

    /// A scalar loss of the kernels and biases.
    type LossOf<'a> = &'a dyn Fn(&[Var], &[Var]) -> Result<Tensor>;

    /// Autograd against central differences (step 1e-6, f64) for the first, middle and last
    /// entry of every kernel and bias.
    fn check_gradients(ks: &[Var], bs: &[Var], loss: LossOf<'_>) -> Result<()> {
        let dev = Device::Cpu;
        let grads = loss(ks, bs)?.backward()?;
        let h = 1e-6;
        for v in ks.iter().chain(bs) {
            let g: Vec<f64> = grads
                .get(v.as_tensor())
                .expect("gradient")
                .flatten_all()?
                .to_vec1()?;
            let base: Vec<f64> = v.as_tensor().flatten_all()?.to_vec1()?;
            for idx in [0, base.len() / 2, base.len() - 1] {
                let at = |d: f64| -> Result<f64> {
                    let mut p = base.clone();
                    p[idx] += d;
                    v.set(&Tensor::from_vec(p, v.shape(), &dev)?)?;
                    Ok(loss(ks, bs)?.to_scalar::<f64>()?)
                };
                let fd = (at(h)? - at(-h)?) / (2.0 * h);
                v.set(&Tensor::from_vec(base.clone(), v.shape(), &dev)?)?;
                assert!(
                    (fd - g[idx]).abs() <= 1e-5 * (1.0 + g[idx].abs()),
                    "shape {:?} entry {idx}: autograd {} vs finite difference {fd}",
                    v.shape(),
                    g[idx]
                );
            }
        }
        Ok(())
    }

    /// The network of the kernel and bias variables `ks`, `bs`, set up for training.
    fn training_params(arch: &SpikeNetArch, ks: &[Var], bs: &[Var]) -> Result<CandleParams> {
        let k: [Tensor; 5] = std::array::from_fn(|i| ks[i].as_tensor().clone());
        let b: [Tensor; 5] = std::array::from_fn(|i| bs[i].as_tensor().clone());
        Ok(CandleParams::from_keras(arch, &k, &b)?.for_training())
    }

    /// Deterministic inputs in [−2, 2].
    fn test_input(rows: usize, cols: usize) -> Result<Tensor> {
        let x: Vec<f64> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 25.0)
            .collect();
        Ok(Tensor::from_vec(x, (rows, cols), &Device::Cpu)?)
    }

    /// The per-window loss's gradient (the path `train` and `retrain_with_plan` use) against
    /// central differences, in f64, for three entries of every kernel and bias.
    #[test]
    fn per_window_gradient_matches_finite_differences() -> Result<()> {
        let init = ElephantWeights::embedded(1)?.to_spikenet();
        let (ks, bs) = weight_vars(&init, DType::F64, &Device::Cpu)?;
        let x = test_input(3, init.arch.window)?;
        let y = Tensor::new(&[0.3f64, -1.0, 2.0], &Device::Cpu)?;
        check_gradients(&ks, &bs, &|ks: &[Var], bs: &[Var]| {
            let p = training_params(&init.arch, ks, bs)?;
            Ok((p.forward_windows(&x)? - &y)?.sqr()?.mean_all()?)
        })
    }

    /// The masked loss of pieces of consecutive windows (the path CASCADE training uses on
    /// every device: dilated convolutions, pooling as shifted maxima) against central
    /// differences, in f64.
    #[test]
    fn pieces_gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let init = SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 4)?;
        let (ks, bs) = weight_vars(&init, DType::F64, &dev)?;
        let n_out = 9;
        let x = test_input(3, init.arch.window + n_out - 1)?;
        let y = Tensor::from_vec(
            (0..3 * n_out).map(|i| (i % 5) as f64 * 0.2).collect(),
            (3, n_out),
            &dev,
        )?;
        let m = Tensor::from_vec(
            (0..3 * n_out).map(|i| f64::from(i % 4 != 3)).collect(),
            (3, n_out),
            &dev,
        )?;
        check_gradients(&ks, &bs, &|ks: &[Var], bs: &[Var]| {
            let p = training_params(&init.arch, ks, bs)?;
            let e = ((p.forward_full_batch(&x)? - &y)?.sqr()? * &m)?;
            Ok((e.sum_all()? / m.sum_all()?.to_scalar::<f64>()?)?)
        })
    }

    /// Canary for the candle 0.11.1 bug that `conv1d_batch_as_one` works around: the kernel
    /// gradient of a batched `conv1d` with several output channels is wrong. When this test
    /// fails, candle reads non-contiguous kernels correctly and the fold can go.
    #[test]
    fn candle_batched_conv1d_gradients_are_still_wrong() -> Result<()> {
        let dev = Device::Cpu;
        let x = test_input(3, 2 * 20)?.reshape((3, 2, 20))?;
        let k = Var::from_tensor(&test_input(4, 2 * 5)?.reshape((4, 2, 5))?)?;
        let batched = x.conv1d(k.as_tensor(), 0, 1, 2, 1)?.sqr()?.sum_all()?;
        let g_batched = batched
            .backward()?
            .get(k.as_tensor())
            .expect("grad")
            .clone();
        let mut g_sum = Tensor::zeros((4, 2, 5), DType::F64, &dev)?;
        for i in 0..3 {
            let one = x.narrow(0, i, 1)?.conv1d(k.as_tensor(), 0, 1, 2, 1)?;
            let g = one.sqr()?.sum_all()?.backward()?;
            g_sum = (g_sum + g.get(k.as_tensor()).expect("grad"))?;
        }
        let diff = (g_batched - g_sum)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(
            diff > 1e-3,
            "batched conv1d kernel gradient now right (diff {diff}): drop the batch fold"
        );
        Ok(())
    }

    /// The unfold + matrix-product convolution (the GPU training path) gives the per-sample
    /// `conv1d`'s values and kernel and input gradients, at dilations 1, 2 and 4.
    #[test]
    fn unfold_conv_matches_per_sample_conv1d() -> Result<()> {
        for dilation in [1, 2, 4] {
            let x = Var::from_tensor(&test_input(3, 2 * 20)?.reshape((3, 2, 20))?)?;
            let k = Var::from_tensor(&test_input(4, 2 * 5)?.reshape((4, 2, 5))?)?;
            let y = crate::spikenet::conv1d_unfold(x.as_tensor(), k.as_tensor(), dilation)?;
            let g = y.sqr()?.sum_all()?.backward()?;
            let (gx, gk) = (
                g.get(x.as_tensor()).expect("dx"),
                g.get(k.as_tensor()).expect("dk"),
            );
            let mut gk_sum = Tensor::zeros((4, 2, 5), DType::F64, &Device::Cpu)?;
            for i in 0..3 {
                let xi = Var::from_tensor(&x.as_tensor().narrow(0, i, 1)?)?;
                let yi = xi.as_tensor().conv1d(k.as_tensor(), 0, 1, dilation, 1)?;
                let max_dy = (&yi - y.narrow(0, i, 1)?)?
                    .abs()?
                    .max_all()?
                    .to_scalar::<f64>()?;
                assert!(max_dy < 1e-12, "values, dilation {dilation}: {max_dy}");
                let gi = yi.sqr()?.sum_all()?.backward()?;
                let dxi = gi.get(xi.as_tensor()).expect("dx");
                let max_dx = (dxi - gx.narrow(0, i, 1)?)?
                    .abs()?
                    .max_all()?
                    .to_scalar::<f64>()?;
                assert!(
                    max_dx < 1e-10,
                    "input gradient, dilation {dilation}: {max_dx}"
                );
                gk_sum = (gk_sum + gi.get(k.as_tensor()).expect("dk"))?;
            }
            let max_dk = (gk - gk_sum)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(
                max_dk < 1e-10,
                "kernel gradient, dilation {dilation}: {max_dk}"
            );
        }
        Ok(())
    }

    /// The pieces loss's gradients on CUDA equal the CPU's (f32, largest difference relative
    /// to the largest gradient entry ≤ 1e-4): training on a GPU takes the CPU's steps. Needs a
    /// GPU (`--features cuda`).
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_pieces_gradients_match_the_cpu() -> Result<()> {
        let cuda = "cuda".parse::<spikelab_core::Device>()?.to_candle()?;
        let init = SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 4)?;
        let (b, n_out) = (32, 256);
        let x = test_input(b, init.arch.window + n_out - 1)?.to_dtype(DType::F32)?;
        let grads_on = |dev: &Device| -> Result<Vec<Vec<f32>>> {
            let (ks, bs) = weight_vars(&init, DType::F32, dev)?;
            let p = training_params(&init.arch, &ks, &bs)?;
            let loss = p
                .forward_full_batch(&x.to_device(dev)?)?
                .sqr()?
                .mean_all()?;
            let g = loss.backward()?;
            ks.iter()
                .chain(&bs)
                .map(|v| {
                    Ok(g.get(v.as_tensor())
                        .expect("gradient")
                        .flatten_all()?
                        .to_vec1::<f32>()?)
                })
                .collect()
        };
        let (cpu, gpu) = (grads_on(&Device::Cpu)?, grads_on(&cuda)?);
        for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
            let scale = c.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let diff = c.iter().zip(g).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                diff <= 1e-4 * scale,
                "parameter {i}: CUDA gradient differs by {diff} (largest entry {scale})"
            );
        }
        Ok(())
    }
}
