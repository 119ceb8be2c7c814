//! Training of SimSort's detector ([`crate::detector::Detector`]) on a ground-truth recording.
//!
//! Reference: Zhang et al., NeurIPS 2025 (arXiv 2502.03198), training as in the authors' code.
//!
//! # Data
//! Every step draws `batch` windows of the configured length at uniform random starts in the
//! `[sample, channel]` trace (the reference draws a fresh start per item as well). The label of
//! a sample is 1 when it lies in [peak − a, peak + b) of some spike, with (a, b) = (1, 4)
//! samples at 10 kHz scaled by fs / 10 kHz and rounded ((3, 12) at 30 kHz): the reference
//! trains at 10 kHz and tests at 30 kHz with the same window length; this port trains at the
//! test sampling rate instead (spec decision), so the label range scales.
//!
//! # Augmentation (per window, with probability `prob`)
//! On k ∈ {1, …, min(4, C)} distinct random channels, in order, each with its probability:
//! amplitude × U(lo, hi); + N(0, σ²) per sample; a time jitter by r/8 samples, r uniform in
//! [−8R, 8R]. The reference jitters by FFT-upsampling ×8, rolling by r and FFT-downsampling;
//! this is the same circular fractional shift computed in one FFT (each bin k multiplied by
//! e^{−2πi k r/(8T)}, the Nyquist bin of an even T by cos(πr/8)). Labels are not shifted by the
//! jitter (quirk of the reference, kept).
//!
//! # Loss and optimiser
//! Binary cross-entropy with logits and positive weight w = N_neg / N_pos counted over the
//! labels of the whole trace, mean over samples, in the numerically stable form
//! ℓ(z, y) = (1 − y) z + (1 + (w − 1) y)(log(1 + e^{−|z|}) + max(−z, 0)).
//! Adam (β 0.9, 0.999, ε 1e-8) with coupled L2 weight decay λ (PyTorch `Adam(weight_decay)`:
//! the gradient becomes g + λθ before the moments). Learning rate per step s (0-based, as
//! PyTorch's `LambdaLR` stepped after every optimiser step):
//! lr · s / W for s < W (so the first step has rate 0), else
//! lr · ½(1 + cos(π ((s − W) mod C) / C)), with W the warm-up steps and C the cycle length
//! (the reference: epochs × steps per epoch; here the total number of steps by default).

use std::sync::Arc;

use candle_core::{DType, Tensor};
use candle_nn::{Optimizer, ParamsAdamW};
use ndarray::ArrayView2;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};
use spikelab_decode::train::FlatAdamW;

use crate::detector::Detector;
use crate::error::{Result, SortError};

/// Augmentation of training windows (the reference's `train_detector.sh` values by default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Probability that a window is augmented at all (0.8).
    pub prob: f64,
    /// Range of the amplitude factor (0, 1).
    pub amplitude_scale_range: (f64, f64),
    /// Standard deviation of the added Gaussian noise, in the trace's units (0.9).
    pub noise_level: f64,
    /// Largest time jitter in samples (5); shifts are multiples of 1/8 sample.
    pub jitter_range: usize,
    /// Probabilities of amplitude, noise and jitter on each chosen channel (1, 1, 1).
    pub probabilities: [f64; 3],
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            prob: 0.8,
            amplitude_scale_range: (0.0, 1.0),
            noise_level: 0.9,
            jitter_range: 5,
            probabilities: [1.0, 1.0, 1.0],
        }
    }
}

impl Augmentation {
    /// No augmentation.
    pub fn none() -> Self {
        Self {
            prob: 0.0,
            ..Self::default()
        }
    }
}

/// Options of [`train_detector`].
///
/// ```
/// use spikelab_sort::detector_train::TrainParams;
/// let p = TrainParams::default();
/// assert_eq!((p.batch, p.warmup_steps, p.lr), (12, 4000, 5e-4));
/// assert!(TrainParams { batch: 0, ..p }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Optimiser steps (≥ 1).
    pub steps: usize,
    /// Windows per step (12).
    pub batch: usize,
    /// Base learning rate (5e-4).
    pub lr: f64,
    /// Coupled L2 weight decay λ (1e-5).
    pub weight_decay: f64,
    /// Linear warm-up steps W (4 000; 0 for none).
    pub warmup_steps: usize,
    /// Cosine cycle length C in steps; `None`: `steps`.
    pub cycle_steps: Option<usize>,
    /// Label range (before, after the peak) in samples at 10 kHz, scaled by fs / 10 kHz
    /// ((1, 4)).
    pub label_range_10khz: (f64, f64),
    /// Window augmentation.
    pub augment: Augmentation,
    /// Seed of the window draws, augmentations and dropout (42).
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            steps: 20_000,
            batch: 12,
            lr: 5e-4,
            weight_decay: 1e-5,
            warmup_steps: 4000,
            cycle_steps: None,
            label_range_10khz: (1.0, 4.0),
            augment: Augmentation::default(),
            seed: 42,
        }
    }
}

impl TrainParams {
    /// Checks every field; returns the parameters unchanged when valid.
    pub fn validate(&self) -> Result<Self> {
        let bad = |name, reason: String| Err(SortError::InvalidParameter { name, reason });
        if self.steps == 0 || self.batch == 0 {
            return bad("steps/batch", "both must be ≥ 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", format!("{} must be finite and > 0", self.lr));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weight_decay", format!("{} must be ≥ 0", self.weight_decay));
        }
        if self.cycle_steps == Some(0) {
            return bad("cycle_steps", "must be ≥ 1".into());
        }
        let (a, b) = self.label_range_10khz;
        if !(a >= 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
            return bad(
                "label_range_10khz",
                format!("({a}, {b}): need before ≥ 0 and after > 0 samples"),
            );
        }
        let g = &self.augment;
        let (lo, hi) = g.amplitude_scale_range;
        let probs_ok = std::iter::once(g.prob)
            .chain(g.probabilities)
            .all(|p| (0.0..=1.0).contains(&p));
        if !probs_ok {
            return bad("augment", "probabilities must lie in [0, 1]".into());
        }
        if !(lo <= hi && lo.is_finite() && hi.is_finite()) {
            return bad(
                "augment",
                format!("amplitude range ({lo}, {hi}) needs lo ≤ hi"),
            );
        }
        if !(g.noise_level >= 0.0 && g.noise_level.is_finite()) {
            return bad(
                "augment",
                format!("noise level {} must be ≥ 0", g.noise_level),
            );
        }
        Ok(*self)
    }
}

/// The factor of the base learning rate at step `step` (0-based): linear warm-up over
/// `warmup` steps, then a cosine of period `cycle` steps.
///
/// ```
/// use spikelab_sort::detector_train::lr_factor;
/// assert_eq!(lr_factor(0, 4000, 100), 0.0);
/// assert_eq!(lr_factor(1000, 4000, 100), 0.25);
/// assert_eq!(lr_factor(4000, 4000, 100), 1.0);
/// assert!((lr_factor(4050, 4000, 100) - 0.5).abs() < 1e-15);
/// assert_eq!(lr_factor(4100, 4000, 100), 1.0); // (s − W) mod C restarts the cosine
/// ```
pub fn lr_factor(step: usize, warmup: usize, cycle: usize) -> f64 {
    if step < warmup {
        step as f64 / warmup as f64
    } else {
        let phase = ((step - warmup) % cycle.max(1)) as f64 / cycle.max(1) as f64;
        0.5 * (1.0 + (std::f64::consts::PI * phase).cos())
    }
}

/// Mean binary cross-entropy with logits and positive weight `pos_weight` (PyTorch
/// `BCEWithLogitsLoss(pos_weight)`), composed of operations with a backward pass.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use spikelab_sort::detector_train::bce_with_logits;
/// let z = Tensor::new(&[0.0f64, 2.0], &Device::Cpu)?;
/// let y = Tensor::new(&[1.0f64, 0.0], &Device::Cpu)?;
/// let l = bce_with_logits(&z, &y, 3.0)?.to_scalar::<f64>()?;
/// let want = (3.0 * 2f64.ln() + (1.0 + 2f64.exp()).ln()) / 2.0;
/// assert!((l - want).abs() < 1e-12);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor, pos_weight: f64) -> Result<Tensor> {
    let softplus_neg = ((logits.abs()?.neg()?.exp()? + 1.0)?.log()? + logits.neg()?.relu()?)?;
    let w = ((targets * (pos_weight - 1.0))? + 1.0)?;
    let l = ((targets.affine(-1.0, 1.0)? * logits)? + (w * softplus_neg)?)?;
    Ok(l.mean_all()?)
}

/// Per-sample labels of a trace of `n` samples: 1 on [f − before, f + after) of every frame.
fn labels(n: usize, frames: &[i64], before: usize, after: usize) -> Vec<u8> {
    let mut y = vec![0u8; n];
    for &f in frames {
        let lo = (f - before as i64).max(0);
        let hi = (f + after as i64).min(n as i64);
        for t in lo..hi {
            y[t as usize] = 1;
        }
    }
    y
}

/// Circular shift by a fraction of a sample through one real FFT.
pub(crate) struct Jitter {
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    n: usize,
}

impl Jitter {
    pub(crate) fn new(n: usize) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        Self {
            r2c: planner.plan_fft_forward(n),
            c2r: planner.plan_fft_inverse(n),
            n,
        }
    }

    /// y[t] = x[t − shift] circularly, band-limited.
    pub(crate) fn shift(&self, x: &mut [f64], shift: f64) -> Result<()> {
        let n = self.n;
        let mut spec = self.r2c.make_output_vec();
        let fft_err = |e: realfft::FftError| SortError::InvalidParameter {
            name: "jitter",
            reason: e.to_string(),
        };
        self.r2c.process(x, &mut spec).map_err(fft_err)?;
        for (k, s) in spec.iter_mut().enumerate() {
            if n.is_multiple_of(2) && k == n / 2 {
                *s *= (std::f64::consts::PI * shift).cos();
                s.im = 0.0;
            } else if k > 0 {
                let a = -2.0 * std::f64::consts::PI * k as f64 * shift / n as f64;
                *s *= Complex::new(a.cos(), a.sin());
            }
        }
        self.c2r.process(&mut spec, x).map_err(fft_err)?;
        for v in x.iter_mut() {
            *v /= n as f64;
        }
        Ok(())
    }
}

/// Augments one window `[T, C]` (row-major) in place.
fn augment(
    w: &mut [f32],
    t: usize,
    c: usize,
    g: &Augmentation,
    jitter: &Jitter,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    if rng.random::<f64>() >= g.prob {
        return Ok(());
    }
    let k = rng.random_range(1..=c.min(4));
    let noise = Normal::new(0.0, g.noise_level).map_err(|e| SortError::InvalidParameter {
        name: "noise_level",
        reason: e.to_string(),
    })?;
    let mut col = vec![0f64; t];
    for ch in sample(rng, c, k).into_vec() {
        for (i, v) in col.iter_mut().enumerate() {
            *v = w[i * c + ch] as f64;
        }
        if rng.random::<f64>() < g.probabilities[0] {
            let (lo, hi) = g.amplitude_scale_range;
            let a = if lo < hi {
                rng.random_range(lo..hi)
            } else {
                lo
            };
            col.iter_mut().for_each(|v| *v *= a);
        }
        if rng.random::<f64>() < g.probabilities[1] {
            col.iter_mut().for_each(|v| *v += noise.sample(rng));
        }
        if rng.random::<f64>() < g.probabilities[2] && g.jitter_range > 0 {
            let r = 8 * g.jitter_range as i64;
            let shift = rng.random_range(-r..=r) as f64 / 8.0;
            jitter.shift(&mut col, shift)?;
        }
        for (i, v) in col.iter().enumerate() {
            w[i * c + ch] = *v as f32;
        }
    }
    Ok(())
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The loss of every step run.
    pub losses: Vec<f64>,
    /// N_neg / N_pos over the trace's labels.
    pub pos_weight: f64,
    /// Label samples (before, after) the peak at the trace's sampling rate.
    pub label_range: (usize, usize),
}

/// Trains `detector` on `traces` `[sample, channel]` (filtered, standardised) whose spikes of
/// all units are at `spike_frames` (peak samples), sampled at `sampling_rate_hz`.
///
/// The observer sees stage `"step"` after every step with metrics `loss` and `lr`;
/// [`Flow::Stop`] ends the run. A non-finite loss ends it with [`SortError::Diverged`] before
/// the parameters are updated.
///
/// ```
/// use candle_core::{DType, Device};
/// use spikelab_sort::detector::{Detector, DetectorConfig};
/// use spikelab_sort::detector_train::{TrainParams, train_detector};
/// let cfg = DetectorConfig { hidden: 8, heads: 2, ff: 16, window: 32, ..Default::default() };
/// let mut det = Detector::new(cfg, 1, DType::F32, &Device::Cpu)?;
/// let x = ndarray::Array2::<f32>::from_shape_fn((500, 4), |(t, c)| ((t * 7 + c) % 5) as f32 - 2.0);
/// let p = TrainParams { steps: 3, batch: 2, warmup_steps: 1, ..Default::default() };
/// let r = train_detector(&mut det, &x.view(), &[40, 200, 350], 30_000.0, &p, &mut spikelab_core::Silent)?;
/// assert_eq!(r.losses.len(), 3);
/// assert_eq!(r.label_range, (3, 12));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn train_detector(
    detector: &mut Detector,
    traces: &ArrayView2<f32>,
    spike_frames: &[i64],
    sampling_rate_hz: f64,
    params: &TrainParams,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    let p = params.validate()?;
    let (n, c) = traces.dim();
    let cfg = *detector.config();
    let w = cfg.window;
    if c != cfg.channels {
        return Err(SortError::Dimension {
            what: "traces [sample, channel]".into(),
            expected: format!("{} channels", cfg.channels),
            got: format!("{c} channels"),
        });
    }
    if n < w {
        return Err(SortError::Dimension {
            what: "training trace".into(),
            expected: format!("at least one window of {w} samples"),
            got: format!("{n} samples"),
        });
    }
    if !(sampling_rate_hz > 0.0 && sampling_rate_hz.is_finite()) {
        return Err(SortError::InvalidParameter {
            name: "sampling_rate_hz",
            reason: format!("{sampling_rate_hz} must be finite and > 0"),
        });
    }
    if traces.iter().any(|v| !v.is_finite()) {
        return Err(SortError::NonFinite("training traces".into()));
    }
    let scale = sampling_rate_hz / 10_000.0;
    let before = (p.label_range_10khz.0 * scale).round() as usize;
    let after = (p.label_range_10khz.1 * scale).round() as usize;
    let y_all = labels(n, spike_frames, before, after);
    let n_pos = y_all.iter().filter(|&&v| v == 1).count();
    if n_pos == 0 {
        return Err(SortError::InvalidParameter {
            name: "spike_frames",
            reason: "no spike falls inside the trace: nothing to learn".into(),
        });
    }
    let pos_weight = (n - n_pos) as f64 / n_pos as f64;

    let vars = detector.varmap().all_vars();
    let mut opt = FlatAdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: p.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let cycle = p.cycle_steps.unwrap_or(p.steps);
    let jitter = Jitter::new(w);
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let device = detector.device().clone();
    let dtype = detector.dtype();
    let mut losses = Vec::with_capacity(p.steps);
    for step in 0..p.steps {
        let mut xs = vec![0f32; p.batch * w * c];
        let mut ys = vec![0f32; p.batch * w];
        for b in 0..p.batch {
            let s = rng.random_range(0..=n - w);
            let win = &mut xs[b * w * c..(b + 1) * w * c];
            for (t, row) in traces
                .slice(ndarray::s![s..s + w, ..])
                .outer_iter()
                .enumerate()
            {
                for (ch, v) in row.iter().enumerate() {
                    win[t * c + ch] = *v;
                }
            }
            augment(win, w, c, &p.augment, &jitter, &mut rng)?;
            for (t, v) in ys[b * w..(b + 1) * w].iter_mut().enumerate() {
                *v = y_all[s + t] as f32;
            }
        }
        let x = Tensor::from_vec(xs, (p.batch, w, c), &device)?.to_dtype(dtype)?;
        let y = Tensor::from_vec(ys, (p.batch, w), &device)?.to_dtype(dtype)?;
        let logits = detector.forward(&x, Some(&mut rng))?;
        let loss = bce_with_logits(&logits, &y, pos_weight)?;
        let (lv, grads) = backward_coupled_l2(&loss, step, &vars, p.weight_decay)?;
        let lr = p.lr * lr_factor(step, p.warmup_steps, cycle);
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
    Ok(TrainReport {
        losses,
        pos_weight,
        label_range: (before, after),
    })
}

/// [`train_detector`] on a recording and its ground truth: the traces (as stored, in the
/// recording's units; filter and standardise them first) and the frames of every unit pooled.
/// The two sampling rates must agree.
///
/// ```
/// use candle_core::{DType, Device};
/// use spikelab_data::{Probe, Recording, Sorting};
/// use spikelab_sort::detector::{Detector, DetectorConfig};
/// use spikelab_sort::detector_train::{TrainParams, train_detector_on_recording};
/// let x = ndarray::Array2::<f32>::from_shape_fn((400, 4), |(t, c)| ((t * 3 + c) % 7) as f32 - 3.0);
/// let rec = Recording::new(x, 30_000.0, Probe::tetrode(20.0))?;
/// let gt = Sorting::new(vec![1, 2], vec![vec![50, 300], vec![120]], 30_000.0, 400)?;
/// let cfg = DetectorConfig { hidden: 8, heads: 2, ff: 16, window: 32, ..Default::default() };
/// let mut det = Detector::new(cfg, 1, DType::F32, &Device::Cpu)?;
/// let p = TrainParams { steps: 2, batch: 2, ..Default::default() };
/// let r = train_detector_on_recording(&mut det, &rec, &gt, &p, &mut spikelab_core::Silent)?;
/// assert_eq!(r.losses.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn train_detector_on_recording(
    detector: &mut Detector,
    recording: &spikelab_data::Recording,
    ground_truth: &spikelab_data::Sorting,
    params: &TrainParams,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    let fs = recording.sampling_rate_hz();
    if (ground_truth.sampling_rate_hz() - fs).abs() > 1e-9 * fs {
        return Err(SortError::InvalidParameter {
            name: "ground_truth",
            reason: format!(
                "sampled at {} Hz, the recording at {fs} Hz: resample one of them",
                ground_truth.sampling_rate_hz()
            ),
        });
    }
    let mut frames: Vec<i64> = ground_truth.trains().iter().flatten().copied().collect();
    frames.sort_unstable();
    train_detector(detector, &recording.traces(), &frames, fs, params, observer)
}

/// The loss value and its gradients with PyTorch Adam's coupled L2 (`g + λθ`) added; a
/// non-finite loss is [`SortError::Diverged`] before any parameter moves.
pub(crate) fn backward_coupled_l2(
    loss: &Tensor,
    step: usize,
    vars: &[candle_core::Var],
    weight_decay: f64,
) -> Result<(f64, candle_core::backprop::GradStore)> {
    let lv = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if !lv.is_finite() {
        return Err(SortError::Diverged { step, loss: lv });
    }
    let mut grads = loss.backward()?;
    if weight_decay > 0.0 {
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let g = (g + (v.as_tensor().detach() * weight_decay)?)?;
                grads.insert(v.as_tensor(), g);
            }
        }
    }
    Ok((lv, grads))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An integer shift equals np.roll; a shift and its opposite give the input back.
    #[test]
    fn jitter_is_a_circular_shift() -> Result<()> {
        for n in [16usize, 15] {
            let j = Jitter::new(n);
            let x: Vec<f64> = (0..n).map(|i| ((i * 5 + 3) % 7) as f64 - 3.0).collect();
            let mut y = x.clone();
            j.shift(&mut y, 3.0)?;
            for t in 0..n {
                assert!((y[t] - x[(t + n - 3) % n]).abs() < 1e-12, "n {n} t {t}");
            }
            let mut z = x.clone();
            j.shift(&mut z, 0.625)?;
            j.shift(&mut z, -0.625)?;
            // The Nyquist bin of an even length is damped by cos²(π s): not exactly invertible.
            if !n.is_multiple_of(2) {
                for t in 0..n {
                    assert!((z[t] - x[t]).abs() < 1e-12);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn labels_cover_the_range_and_clip() {
        let y = labels(20, &[1, 10], 3, 4);
        let ones: Vec<usize> = (0..20).filter(|&t| y[t] == 1).collect();
        assert_eq!(ones, vec![0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13]);
    }
}
