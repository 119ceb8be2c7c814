//! The BrainBits bottleneck audit (Mayo et al., NeurIPS 2024, arXiv 2411.02783): how much of
//! the neural signal does a decoder use?
//!
//! A linear bottleneck of width b is inserted before the readout: x → Linear(d, b) →
//! Linear(b, q). The audit reports the test score m(b) over a sweep of b, a **random-input
//! baseline** m_rand (the same pipeline fed i.i.d. uniform [0, 1) inputs of the same shape), a
//! **ceiling** m_ceil (the decoder without bottleneck), the normalised fidelity
//! f(b) = (m(b) − m_rand)/(m_ceil − m_rand) and the smallest b with f(b) ≥ 0.9.
//!
//! Two ways to fit the bottlenecked decoder:
//! * [`AuditMode::ClosedForm`] (default): reduced-rank regression (the exact squared-loss optimum
//!   of a linear bottleneck + linear readout, [`crate::fit_rrr`]) on top of ridge with α chosen
//!   once on a time-ordered validation split at full rank;
//! * [`AuditMode::Gradient`]: the paper's path, the two Linear layers trained with AdamW and a
//!   per-epoch cosine schedule, batch 128, 15 % random validation rows, keeping the weights with
//!   the best validation loss (candle, f32, seeded).
//!
//! Inputs are z-scored with training statistics (ddof 1), as in the original; the random
//! baseline replaces the already z-scored inputs, so its noise is not normalised (the original's
//! order). Confidence intervals come from bootstrap resampling of contiguous blocks of test rows
//! (block length 1 = i.i.d. rows), the same resamples for every b.

use candle_core::{DType, Tensor};
use candle_nn::{Optimizer, VarMap};
use ndarray::{Array2, ArrayView2, Axis, s};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress, Silent};

use crate::decoder::DEFAULT_ALPHAS;
use crate::error::{DecodeError, Result};
use crate::linear::{LinearModel, RidgeMethod, RidgePath, choose_alpha, rrr_from_ridge};
use crate::metrics::r2_score;
use crate::nn::{Linear, ParamBuilder};
use crate::train::{BestEpoch, LoopParams, Schedule, train_epochs};

/// The paper-faithful gradient path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientParams {
    /// Peak learning rate (0.01 in the original README command).
    pub lr: f64,
    /// AdamW weight decay (0.1 in the README command; 0 reproduces the closed form).
    pub weight_decay: f64,
    /// Epochs; the learning rate follows lr·(1 + cos(πe/epochs))/2 per epoch.
    pub epochs: usize,
    /// Mini-batch size (128).
    pub batch: usize,
    /// Fraction of training rows held out at random for model selection (0.15).
    pub val_fraction: f64,
    /// Where to train.
    pub device: spikelab_core::Device,
}

impl Default for GradientParams {
    fn default() -> Self {
        Self {
            lr: 0.01,
            weight_decay: 0.1,
            epochs: 100,
            batch: 128,
            val_fraction: 0.15,
            device: spikelab_core::Device::Cpu,
        }
    }
}

/// How the bottlenecked decoder is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuditMode {
    /// Reduced-rank regression (exact optimum).
    ClosedForm,
    /// AdamW + cosine training of Linear(d, b) → Linear(b, q).
    Gradient(GradientParams),
}

/// Parameters of the audit ([`Audit::run`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditParams {
    /// Bottleneck sizes b (each ≤ the input dimension).
    pub bottlenecks: Vec<usize>,
    /// Ridge α grid (closed form).
    pub alphas: Vec<f64>,
    /// Fraction of the training rows (from their end) that chooses α.
    pub val_fraction: f64,
    /// Bootstrap resamples for the confidence intervals (0 = none).
    pub bootstrap: usize,
    /// Length of the contiguous test-row blocks that are resampled.
    pub block_len: usize,
    /// z-score the inputs with training statistics.
    pub standardize: bool,
    /// Seed of the random baseline, the bootstrap and the gradient path.
    pub seed: u64,
    /// Fitting mode.
    pub mode: AuditMode,
}

impl Default for AuditParams {
    fn default() -> Self {
        Self {
            bottlenecks: vec![1, 2, 5, 10, 20, 50, 100],
            alphas: DEFAULT_ALPHAS.to_vec(),
            val_fraction: 0.125,
            bootstrap: 1000,
            block_len: 1,
            standardize: true,
            seed: 0,
            mode: AuditMode::ClosedForm,
        }
    }
}

/// One point of the curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPoint {
    /// Bottleneck width.
    pub b: usize,
    /// Test R² with the bottleneck.
    pub r2: f64,
    /// 95 % bootstrap interval of `r2` (equal to `r2` without bootstrap).
    pub ci: (f64, f64),
    /// Test R² of the same pipeline on random inputs.
    pub r2_random: f64,
    /// (r2 − m_rand)/(m_ceil − m_rand).
    pub fidelity: f64,
}

/// The audit's result (serialise with `serde_json` for the JSON report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// `"closed-form"` or `"gradient"`.
    pub mode: String,
    /// The curve, in the order of `bottlenecks`.
    pub points: Vec<AuditPoint>,
    /// m_ceil: test R² of the decoder without bottleneck (full-rank ridge).
    pub ceiling: f64,
    /// 95 % bootstrap interval of the ceiling.
    pub ceiling_ci: (f64, f64),
    /// m_rand: test R² of the ceiling pipeline on random inputs.
    pub random: f64,
    /// Smallest b with fidelity ≥ 0.9, if any.
    pub b90: Option<usize>,
    /// α chosen on the validation split.
    pub alpha: f64,
    /// Training rows, test rows, input dimension, outputs.
    pub shape: (usize, usize, usize, usize),
}

/// Validated [`AuditParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    params: AuditParams,
}

impl AuditParams {
    /// Checks the parameters once.
    pub fn check(self) -> Result<Audit> {
        if self.bottlenecks.is_empty() || self.bottlenecks.contains(&0) {
            return Err(DecodeError::param("bottlenecks", "need sizes ≥ 1"));
        }
        if self.alphas.is_empty() || self.alphas.iter().any(|a| !(*a >= 0.0 && a.is_finite())) {
            return Err(DecodeError::param("alphas", "need finite α ≥ 0"));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(DecodeError::param("val_fraction", "not in (0, 1)"));
        }
        if self.block_len == 0 {
            return Err(DecodeError::param("block_len", "must be ≥ 1"));
        }
        if let AuditMode::Gradient(g) = &self.mode {
            if !(g.lr > 0.0 && g.weight_decay >= 0.0 && g.epochs > 0 && g.batch > 0) {
                return Err(DecodeError::param(
                    "gradient",
                    "need lr > 0, weight_decay ≥ 0, epochs ≥ 1, batch ≥ 1",
                ));
            }
            if !(g.val_fraction > 0.0 && g.val_fraction < 1.0) {
                return Err(DecodeError::param("gradient.val_fraction", "not in (0, 1)"));
            }
        }
        Ok(Audit { params: self })
    }
}

/// z-scores columns with the statistics of `train` (ddof 1; constant columns are only centred).
pub fn standardize(train: &Array2<f64>, test: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
    let mean = train.mean_axis(Axis(0)).expect("non-empty");
    let sd = train
        .std_axis(Axis(0), 1.0)
        .mapv(|v| if v > 0.0 { v } else { 1.0 });
    ((train - &mean) / &sd, (test - &mean) / &sd)
}

fn uniform_like(a: &Array2<f64>, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn(a.dim(), || rng.random::<f64>())
}

impl Audit {
    /// The parameters.
    pub fn params(&self) -> &AuditParams {
        &self.params
    }

    /// Runs the audit: `x_*` `[sample, feature]`, `y_*` `[sample, output]`. Reports one
    /// progress step per bottleneck (stage `"bottleneck"`); a stop request ends the sweep and
    /// returns the points computed so far.
    pub fn run(
        &self,
        x_train: ArrayView2<'_, f64>,
        y_train: ArrayView2<'_, f64>,
        x_test: ArrayView2<'_, f64>,
        y_test: ArrayView2<'_, f64>,
        observer: &mut dyn Observer,
    ) -> Result<AuditReport> {
        let p = &self.params;
        let d = x_train.ncols();
        if x_test.ncols() != d || y_test.ncols() != y_train.ncols() {
            return Err(DecodeError::Shape(format!(
                "train {}→{} vs test {}→{}",
                d,
                y_train.ncols(),
                x_test.ncols(),
                y_test.ncols()
            )));
        }
        if y_test.nrows() < 2 || y_test.nrows() != x_test.nrows() {
            return Err(DecodeError::InvalidData(format!(
                "test split has {} rows of features and {} of targets",
                x_test.nrows(),
                y_test.nrows()
            )));
        }
        if let Some(&b) = p.bottlenecks.iter().find(|&&b| b > d) {
            return Err(DecodeError::param(
                "bottlenecks",
                format!("b = {b} is larger than the input dimension {d}"),
            ));
        }
        crate::data::check_target(y_train, x_train.nrows())?;
        crate::data::check_target(y_test, x_test.nrows())?;
        let (xtr, xte) = if p.standardize {
            standardize(&x_train.to_owned(), &x_test.to_owned())
        } else {
            (x_train.to_owned(), x_test.to_owned())
        };
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let rtr = uniform_like(&xtr, &mut rng);
        let rte = uniform_like(&xte, &mut rng);
        let ytr = y_train.to_owned();
        let yte = y_test.to_owned();

        // α once, at full rank, on the last rows of the training split (real inputs).
        let n_val = ((p.val_fraction * xtr.nrows() as f64).floor() as usize).max(2);
        if n_val + 2 > xtr.nrows() {
            return Err(DecodeError::InvalidData(format!(
                "{} training rows are too few for a validation split",
                xtr.nrows()
            )));
        }
        let cut = xtr.nrows() - n_val;
        let (alpha, _, _) = choose_alpha(
            xtr.slice(s![..cut, ..]),
            ytr.slice(s![..cut, ..]),
            xtr.slice(s![cut.., ..]),
            ytr.slice(s![cut.., ..]),
            &p.alphas,
            RidgeMethod::Auto,
        )?;
        let full = RidgePath::new(xtr.view(), ytr.view())?.model(alpha)?;
        let full_rand = RidgePath::new(rtr.view(), ytr.view())?.model(alpha)?;
        let ceil_pred = full.predict(xte.view())?;
        let ceiling = r2_score(yte.view(), ceil_pred.view())?;
        let random = r2_score(yte.view(), full_rand.predict(rte.view())?.view())?;

        let mut preds = Vec::new();
        let mut rand_r2 = Vec::new();
        let total = p.bottlenecks.len();
        for (i, &b) in p.bottlenecks.iter().enumerate() {
            let (model, model_rand) = match &p.mode {
                AuditMode::ClosedForm => (
                    rrr_from_ridge(&full, xtr.view(), b, None)?,
                    rrr_from_ridge(&full_rand, rtr.view(), b, None)?,
                ),
                AuditMode::Gradient(g) => (
                    train_bottleneck(&xtr, &ytr, b, g, p.seed.wrapping_add(i as u64))?,
                    train_bottleneck(&rtr, &ytr, b, g, p.seed.wrapping_add(1000 + i as u64))?,
                ),
            };
            let pred = model.predict(xte.view())?;
            let r2 = r2_score(yte.view(), pred.view())?;
            rand_r2.push(r2_score(
                yte.view(),
                model_rand.predict(rte.view())?.view(),
            )?);
            preds.push(pred);
            let flow = observer.observe(
                &Progress::new("bottleneck", i)
                    .with_total(total)
                    .with_metric("b", b as f64)
                    .with_metric("r2", r2),
            );
            if flow == Flow::Stop {
                break;
            }
        }

        // Paired block bootstrap of the test rows.
        let n = yte.nrows();
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); preds.len() + 1];
        let block = p.block_len.min(n);
        for _ in 0..p.bootstrap {
            let mut idx = Vec::with_capacity(n + block);
            while idx.len() < n {
                let start = rng.random_range(0..=n - block);
                idx.extend(start..start + block);
            }
            idx.truncate(n);
            let yb = yte.select(Axis(0), &idx);
            for (k, pred) in preds.iter().chain(std::iter::once(&ceil_pred)).enumerate() {
                samples[k].push(r2_score(yb.view(), pred.select(Axis(0), &idx).view())?);
            }
        }
        let ci = |v: &mut Vec<f64>, point: f64| -> (f64, f64) {
            if v.is_empty() {
                return (point, point);
            }
            v.sort_by(f64::total_cmp);
            let q = |f: f64| v[((f * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
            (q(0.025), q(0.975))
        };
        let span = ceiling - random;
        let mut points = Vec::new();
        for (k, pred) in preds.iter().enumerate() {
            let r2 = r2_score(yte.view(), pred.view())?;
            points.push(AuditPoint {
                b: p.bottlenecks[k],
                r2,
                ci: ci(&mut samples[k], r2),
                r2_random: rand_r2[k],
                fidelity: if span > 0.0 {
                    (r2 - random) / span
                } else {
                    f64::NAN
                },
            });
        }
        let ceiling_ci = ci(&mut samples[preds.len()], ceiling);
        if span <= 0.0 {
            return Err(DecodeError::InvalidData(format!(
                "the ceiling R² {ceiling:.4} does not exceed the random baseline {random:.4}: \
                 nothing to audit"
            )));
        }
        let b90 = points
            .iter()
            .filter(|pt| pt.fidelity >= 0.9)
            .map(|pt| pt.b)
            .min();
        Ok(AuditReport {
            mode: match p.mode {
                AuditMode::ClosedForm => "closed-form".into(),
                AuditMode::Gradient(_) => "gradient".into(),
            },
            points,
            ceiling,
            ceiling_ci,
            random,
            b90,
            alpha,
            shape: (xtr.nrows(), xte.nrows(), d, ytr.ncols()),
        })
    }
}

/// Trains Linear(d, b) → Linear(b, q) with AdamW and a per-epoch cosine schedule on the
/// rows of `x`/`y` (15 % random validation rows select the best epoch) and returns the
/// collapsed linear map.
pub fn train_bottleneck(
    x: &Array2<f64>,
    y: &Array2<f64>,
    b: usize,
    g: &GradientParams,
    seed: u64,
) -> Result<LinearModel> {
    let device = g.device.to_candle()?;
    let (n, d) = x.dim();
    let q = y.ncols();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let n_val = ((g.val_fraction * n as f64).round() as usize).clamp(1, n - 1);
    let (val_idx, fit_idx) = order.split_at(n_val);
    let to_t = |a: &Array2<f64>, idx: &[usize]| -> Result<Tensor> {
        let sel = a.select(Axis(0), idx);
        let v: Vec<f32> = sel.iter().map(|&v| v as f32).collect();
        Ok(Tensor::from_vec(v, sel.dim(), &device)?)
    };
    let (xf, yf) = (to_t(x, fit_idx)?, to_t(y, fit_idx)?);
    let (xv, yv) = (to_t(x, val_idx)?, to_t(y, val_idx)?);
    let varmap = VarMap::new();
    let pb = ParamBuilder::new(&varmap, seed, DType::F32, &device);
    let enc = Linear::new(d, b, true, &pb.pp("bottleneck"))?;
    let dec = Linear::new(b, q, true, &pb.pp("head"))?;
    let forward = |x: &Tensor| -> Result<Tensor> { dec.forward(&enc.forward(x)?) };
    let mut opt = crate::train::FlatAdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: g.lr,
            weight_decay: g.weight_decay,
            ..Default::default()
        },
    )?;
    let loop_params = LoopParams {
        epochs: g.epochs,
        batch: g.batch,
        lr: g.lr,
        schedule: Schedule::Cosine,
    };
    let mut best = BestEpoch::default();
    train_epochs(
        &mut opt,
        fit_idx.len(),
        &loop_params,
        &mut rng,
        |rows, _| {
            let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
            let idx = Tensor::from_vec(idx, rows.len(), &device)?;
            let xb = xf.index_select(&idx, 0)?;
            let yb = yf.index_select(&idx, 0)?;
            Ok((forward(&xb)? - yb)?.sqr()?.mean_all()?)
        },
        |epoch, _| {
            let vl = (forward(&xv)? - &yv)?
                .sqr()?
                .mean_all()?
                .to_scalar::<f32>()? as f64;
            best.offer(epoch, vl, || {
                Ok(vec![
                    enc.weight().copy()?,
                    enc_bias(&varmap)?,
                    dec.weight().copy()?,
                    var(&varmap, "head.bias")?,
                ])
            })?;
            Ok(vec![("val_loss", vl)])
        },
        &mut Silent,
    )?;
    let (_, _, w) = best
        .into_best()
        .ok_or_else(|| DecodeError::InvalidData("no epoch was run".into()))?;
    let to_a = |t: &Tensor| -> Result<Array2<f64>> {
        let t = t.to_dtype(DType::F64)?;
        let (r, c) = t.dims2()?;
        Ok(
            Array2::from_shape_vec((r, c), t.flatten_all()?.to_vec1::<f64>()?)
                .expect("shape from tensor"),
        )
    };
    let w1 = to_a(&w[0])?; // [b, d]
    let b1 = to_a(&w[1].reshape((1, b))?)?;
    let w2 = to_a(&w[2])?; // [q, b]
    let b2 = to_a(&w[3].reshape((1, q))?)?;
    let weights = w1.t().dot(&w2.t());
    let intercept = (b1.dot(&w2.t()) + b2).row(0).to_owned();
    Ok(LinearModel {
        weights,
        intercept,
        alpha: 0.0,
        rank: Some(b),
    })
}

fn var(varmap: &VarMap, name: &str) -> Result<Tensor> {
    let data = varmap.data().lock().expect("varmap lock");
    Ok(data
        .get(name)
        .ok_or_else(|| DecodeError::InvalidData(format!("missing parameter {name}")))?
        .as_tensor()
        .copy()?)
}

fn enc_bias(varmap: &VarMap) -> Result<Tensor> {
    var(varmap, "bottleneck.bias")
}

/// The synthetic ground truth of the audit's acceptance test: latent factors Z ~ N(0, I),
/// Poisson counts with rate exp(Z U + b), and a target Y = Z W + noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentPopulationParams {
    /// Samples (rows).
    pub n_samples: usize,
    /// Poisson neurons.
    pub n_neurons: usize,
    /// Latent factors.
    pub n_factors: usize,
    /// Target dimension.
    pub n_outputs: usize,
    /// Standard deviation of the loadings U.
    pub loading_sd: f64,
    /// Baseline rate exp(b) (counts per sample).
    pub base_rate: f64,
    /// Noise variance as a fraction of var(Z W) (per output).
    pub noise_fraction: f64,
}

impl Default for LatentPopulationParams {
    fn default() -> Self {
        Self {
            n_samples: 5000,
            n_neurons: 300,
            n_factors: 8,
            n_outputs: 64,
            loading_sd: 0.25,
            base_rate: 2.0,
            noise_fraction: 0.1,
        }
    }
}

/// Counts `[sample, neuron]` and target `[sample, output]` of a [`LatentPopulationParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct LatentPopulation {
    /// Poisson counts.
    pub counts: Array2<f64>,
    /// Target.
    pub target: Array2<f64>,
    /// Latent factors `[sample, factor]`.
    pub factors: Array2<f64>,
}

impl LatentPopulationParams {
    /// Draws the population from ChaCha8 seeded with `seed`.
    pub fn generate(&self, seed: u64) -> Result<LatentPopulation> {
        if self.n_samples < 4 || self.n_neurons == 0 || self.n_factors == 0 || self.n_outputs == 0 {
            return Err(DecodeError::param("latent population", "empty dimension"));
        }
        if !(self.loading_sd >= 0.0 && self.base_rate > 0.0 && self.noise_fraction >= 0.0) {
            return Err(DecodeError::param(
                "latent population",
                "need loading_sd ≥ 0, base_rate > 0, noise_fraction ≥ 0",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let std = Normal::new(0.0, 1.0).expect("valid");
        let draw = |r: usize, c: usize, sd: f64, rng: &mut ChaCha8Rng| {
            Array2::from_shape_simple_fn((r, c), || sd * std.sample(rng))
        };
        let z = draw(self.n_samples, self.n_factors, 1.0, &mut rng);
        let u = draw(self.n_factors, self.n_neurons, self.loading_sd, &mut rng);
        let w = draw(self.n_factors, self.n_outputs, 1.0, &mut rng);
        let log_rate = z.dot(&u) + self.base_rate.ln();
        let counts = log_rate.mapv(|lr| {
            let rate = lr.exp();
            Poisson::new(rate)
                .map(|p| p.sample(&mut rng))
                .unwrap_or(0.0)
        });
        let signal = z.dot(&w);
        let var = signal.var_axis(Axis(0), 0.0);
        let mut target = signal;
        for (mut col, v) in target.columns_mut().into_iter().zip(var.iter()) {
            let sd = (self.noise_fraction * v).sqrt();
            col.mapv_inplace(|s| s + sd * std.sample(&mut rng));
        }
        Ok(LatentPopulation {
            counts,
            target,
            factors: z,
        })
    }
}

/// Column weights of BrainDiffuser's multi-head objective Σ_h w_h·MSE_h, where each MSE is a
/// mean over its head's d_h columns: c_j = w_h / d_h for the columns of head h (pass them to
/// [`crate::fit_rrr`]).
///
/// ```
/// let c = spikelab_decode::brainbits::head_column_weights(&[1, 2], &[1.0, 4.0])?;
/// assert_eq!(c, vec![1.0, 2.0, 2.0]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn head_column_weights(head_sizes: &[usize], weights: &[f64]) -> Result<Vec<f64>> {
    if head_sizes.len() != weights.len() || head_sizes.contains(&0) {
        return Err(DecodeError::param(
            "heads",
            "one weight per head and every head ≥ 1 column",
        ));
    }
    if weights.iter().any(|w| !(*w > 0.0 && w.is_finite())) {
        return Err(DecodeError::param("head weights", "must be > 0 and finite"));
    }
    Ok(head_sizes
        .iter()
        .zip(weights)
        .flat_map(|(&d, &w)| std::iter::repeat_n(w / d as f64, d))
        .collect())
}

/// BrainDiffuser's `scale_latents`: standardise every column of the test predictions with
/// their own mean and standard deviation (ddof 0), then give it the training targets' mean and
/// standard deviation (ddof 0). `pred` `[test sample, output]`, `y_train` `[train sample,
/// output]`.
pub fn scale_latents(
    pred: ArrayView2<'_, f64>,
    y_train: ArrayView2<'_, f64>,
) -> Result<Array2<f64>> {
    if pred.ncols() != y_train.ncols() || pred.nrows() < 2 || y_train.nrows() < 2 {
        return Err(DecodeError::Shape(format!(
            "predictions {:?} vs training targets {:?}",
            pred.dim(),
            y_train.dim()
        )));
    }
    let (pm, ps) = (
        pred.mean_axis(Axis(0)).expect("rows"),
        pred.std_axis(Axis(0), 0.0),
    );
    if let Some(j) = ps.iter().position(|&s| s <= 0.0 || !s.is_finite()) {
        return Err(DecodeError::InvalidData(format!(
            "prediction column {j} is constant: scale_latents divides by its spread"
        )));
    }
    let (tm, ts) = (
        y_train.mean_axis(Axis(0)).expect("rows"),
        y_train.std_axis(Axis(0), 0.0),
    );
    Ok((&pred - &pm) / &ps * &ts + &tm)
}
