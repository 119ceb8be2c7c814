//! The one mini-batch training loop of this crate (the BrainBits gradient path and EIT/NDT):
//! per epoch a learning rate from the [`Schedule`], a fresh shuffle of the rows, one optimiser
//! step per batch with a divergence check, then an end-of-epoch hook (validation, test
//! accuracy, [`BestEpoch`] selection) whose metrics go to the observer with the mean loss.
//!
//! The random stream is shared with the caller: the shuffle and any dropout inside the loss
//! closure draw from it in a fixed order, so a seed gives the same run every time.
//!
//! [`FlatAdamW`] is candle-nn's AdamW computed on all parameters at once: the same arithmetic
//! per element (so the same numbers, tested bit for bit), in about 15 tensor operations plus
//! one gather and one scatter per parameter tensor instead of 16 operations per tensor. On a
//! GPU, where small models are bound by the cost of launching operations, that is most of an
//! optimiser step (PyTorch's Adam does the same with its `foreach` implementation).

use candle_core::{DType, Tensor, Var, backprop::GradStore};
use candle_nn::{Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};

use crate::error::{DecodeError, Result};

/// Learning rate of each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// lr·(1 + cos(π e / E))/2 at epoch e of E (per epoch, no warm-up).
    Cosine,
}

impl Schedule {
    /// The rate at `epoch` of `epochs` for the base rate `lr`.
    ///
    /// ```
    /// use spikelab_decode::train::Schedule;
    /// assert_eq!(Schedule::Cosine.lr(0.01, 0, 10), 0.01);
    /// assert!((Schedule::Cosine.lr(0.01, 5, 10) - 0.005).abs() < 1e-15);
    /// assert_eq!(Schedule::Constant.lr(0.01, 5, 10), 0.01);
    /// ```
    pub fn lr(self, lr: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                lr * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos()) / 2.0
            }
        }
    }
}

/// Epochs, batch size and learning rate of a [`train_epochs`] run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoopParams {
    /// Epochs (≥ 1).
    pub epochs: usize,
    /// Rows per batch (≥ 1); the last batch of an epoch may be smaller.
    pub batch: usize,
    /// Base learning rate (> 0).
    pub lr: f64,
    /// Per-epoch schedule of the rate.
    pub schedule: Schedule,
}

impl LoopParams {
    fn check(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.batch > 0 && self.epochs > 0) {
            return Err(DecodeError::param(
                "train",
                "need lr > 0, batch ≥ 1, epochs ≥ 1",
            ));
        }
        Ok(())
    }
}

/// Runs the loop over `n_rows` training rows. `batch_loss(rows, rng)` returns the scalar loss
/// of a batch of row indices (any float dtype); a non-finite loss ends the run with
/// [`DecodeError::Diverged`] before the parameters are updated. `after_epoch(epoch,
/// mean_loss)` returns extra metrics of the epoch; the observer then sees stage `"epoch"` with
/// `loss` and those metrics, and a [`Flow::Stop`] ends the run after that epoch.
pub fn train_epochs<O: Optimizer>(
    opt: &mut O,
    n_rows: usize,
    params: &LoopParams,
    rng: &mut ChaCha8Rng,
    mut batch_loss: impl FnMut(&[usize], &mut ChaCha8Rng) -> Result<Tensor>,
    mut after_epoch: impl FnMut(usize, f64) -> Result<Vec<(&'static str, f64)>>,
    observer: &mut dyn Observer,
) -> Result<()> {
    params.check()?;
    if n_rows == 0 {
        return Err(DecodeError::InvalidData("no training rows".into()));
    }
    let mut order: Vec<usize> = (0..n_rows).collect();
    for epoch in 0..params.epochs {
        opt.set_learning_rate(params.schedule.lr(params.lr, epoch, params.epochs));
        order.shuffle(rng);
        let mut total = 0.0;
        let mut steps = 0;
        for (step, rows) in order.chunks(params.batch).enumerate() {
            let loss = batch_loss(rows, rng)?;
            let lv = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !lv.is_finite() {
                return Err(DecodeError::Diverged {
                    epoch,
                    step,
                    loss: lv,
                });
            }
            opt.backward_step(&loss)?;
            total += lv;
            steps += 1;
        }
        let mean = total / steps as f64;
        let extra = after_epoch(epoch, mean)?;
        let mut p = Progress::new("epoch", epoch)
            .with_total(params.epochs)
            .with_metric("loss", mean);
        for (name, v) in extra {
            p = p.with_metric(name, v);
        }
        if observer.observe(&p) == Flow::Stop {
            break;
        }
    }
    Ok(())
}

/// AdamW (Loshchilov & Hutter; candle-nn's update rule: bias-corrected moments, decoupled
/// weight decay θ ← θ(1 − lr·λ) − lr·m̂/(√v̂ + ε)) over one flat buffer of every parameter.
///
/// A step whose gradients miss a parameter updates parameter by parameter, skipping the
/// missing ones as candle-nn does.
#[derive(Debug)]
pub struct FlatAdamW {
    vars: Vec<Var>,
    m: Tensor,
    v: Tensor,
    step_t: usize,
    params: ParamsAdamW,
}

impl FlatAdamW {
    fn moments(&self, g: &Tensor, m: &Tensor, v: &Tensor) -> candle_core::Result<[Tensor; 2]> {
        let (b1, b2) = (self.params.beta1, self.params.beta2);
        Ok([
            ((m * b1)? + (g * (1.0 - b1))?)?,
            ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?,
        ])
    }

    fn update(
        &self,
        theta: &Tensor,
        next_m: &Tensor,
        next_v: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let p = &self.params;
        let t = self.step_t as i32;
        let scale_m = 1f64 / (1f64 - p.beta1.powi(t));
        let scale_v = 1f64 / (1f64 - p.beta2.powi(t));
        let m_hat = (next_m * scale_m)?;
        let v_hat = (next_v * scale_v)?;
        let decayed = (theta * (1f64 - p.lr * p.weight_decay))?;
        let adjusted = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
        decayed - (adjusted * p.lr)?
    }
}

impl Optimizer for FlatAdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> candle_core::Result<Self> {
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        let n: usize = vars.iter().map(|v| v.elem_count()).sum();
        let (dtype, device) = match vars.first() {
            Some(v) => (v.dtype(), v.device().clone()),
            None => (DType::F32, candle_core::Device::Cpu),
        };
        if vars
            .iter()
            .any(|v| v.dtype() != dtype || !v.device().same_device(&device))
        {
            candle_core::bail!("FlatAdamW needs every parameter on one device in one dtype");
        }
        let m = Tensor::zeros(n, dtype, &device)?;
        Ok(Self {
            v: m.clone(),
            m,
            vars,
            step_t: 0,
            params,
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        if self.vars.is_empty() {
            return Ok(());
        }
        self.step_t += 1;
        // Detached: the moments must not carry an autograd history from step to step.
        let flat = |t: &Tensor| Ok::<_, candle_core::Error>(t.flatten_all()?.detach());
        let gs: Option<Vec<Tensor>> = self
            .vars
            .iter()
            .map(|v| grads.get(v).map(flat).transpose())
            .collect::<candle_core::Result<Option<Vec<_>>>>()?;
        match gs {
            Some(gs) => {
                let g = Tensor::cat(&gs, 0)?;
                let thetas = self
                    .vars
                    .iter()
                    .map(|v| flat(v.as_tensor()))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let theta = Tensor::cat(&thetas, 0)?;
                let [next_m, next_v] = self.moments(&g, &self.m, &self.v)?;
                let next_theta = self.update(&theta, &next_m, &next_v)?;
                let mut offset = 0;
                for var in &self.vars {
                    let n = var.elem_count();
                    var.set(&next_theta.narrow(0, offset, n)?.reshape(var.shape())?)?;
                    offset += n;
                }
                self.m = next_m;
                self.v = next_v;
            }
            None => {
                let (mut ms, mut vs) = (Vec::new(), Vec::new());
                let mut offset = 0;
                for var in &self.vars {
                    let n = var.elem_count();
                    let m = self.m.narrow(0, offset, n)?;
                    let v = self.v.narrow(0, offset, n)?;
                    offset += n;
                    match grads.get(var) {
                        Some(g) => {
                            let [next_m, next_v] = self.moments(&flat(g)?, &m, &v)?;
                            let theta = flat(var.as_tensor())?;
                            let next_theta = self.update(&theta, &next_m, &next_v)?;
                            var.set(&next_theta.reshape(var.shape())?)?;
                            ms.push(next_m);
                            vs.push(next_v);
                        }
                        None => {
                            ms.push(m);
                            vs.push(v);
                        }
                    }
                }
                self.m = Tensor::cat(&ms, 0)?;
                self.v = Tensor::cat(&vs, 0)?;
            }
        }
        Ok(())
    }
}

/// Early selection: keeps a snapshot of the epoch with the lowest score (ties keep the first).
#[derive(Debug, Clone)]
pub struct BestEpoch<T> {
    best: Option<(f64, usize, T)>,
}

impl<T> Default for BestEpoch<T> {
    fn default() -> Self {
        Self { best: None }
    }
}

impl<T> BestEpoch<T> {
    /// Offers the score of `epoch`; `snapshot` is taken only when it is a new best.
    pub fn offer(
        &mut self,
        epoch: usize,
        score: f64,
        snapshot: impl FnOnce() -> Result<T>,
    ) -> Result<()> {
        if self.best.as_ref().is_none_or(|(s, _, _)| score < *s) {
            self.best = Some((score, epoch, snapshot()?));
        }
        Ok(())
    }

    /// `(score, epoch, snapshot)` of the best epoch, if any was offered.
    pub fn into_best(self) -> Option<(f64, usize, T)> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two models with the same starting parameters, one stepped by candle-nn's AdamW, one by
    /// FlatAdamW: after every step (including steps whose gradients miss a parameter) the
    /// parameters are bit-identical.
    #[test]
    fn flat_adamw_equals_candle_adamw_bit_for_bit() -> candle_core::Result<()> {
        for dtype in [DType::F32, DType::F64] {
            let dev = Device::Cpu;
            let shapes: [&[usize]; 3] = [&[3, 4], &[4], &[2, 2, 5]];
            let make = || -> candle_core::Result<Vec<Var>> {
                shapes
                    .iter()
                    .enumerate()
                    .map(|(k, s)| {
                        let n: usize = s.iter().product();
                        let v: Vec<f64> = (0..n)
                            .map(|i| ((i * 7 + k * 3) % 11) as f64 / 5.0 - 1.0)
                            .collect();
                        Var::from_tensor(&Tensor::from_vec(v, *s, &dev)?.to_dtype(dtype)?)
                    })
                    .collect()
            };
            let (a, b) = (make()?, make()?);
            let params = ParamsAdamW {
                lr: 0.05,
                weight_decay: 0.1,
                ..Default::default()
            };
            let mut reference = candle_nn::AdamW::new(a.clone(), params.clone())?;
            let mut flat = FlatAdamW::new(b.clone(), params)?;
            for step in 0..6 {
                // Loss Σ_k Σ (θ_k ⊙ θ_k ⊙ c_k); at steps 2 and 4 parameter 1 is left out.
                let loss = |vars: &[Var]| -> candle_core::Result<Tensor> {
                    let mut total = Tensor::zeros((), dtype, &dev)?;
                    for (k, v) in vars.iter().enumerate() {
                        if k == 1 && step % 2 == 0 && step > 0 {
                            continue;
                        }
                        let t = v.as_tensor();
                        total = (total + (t.sqr()? * (k as f64 + 1.5))?.sum_all()?)?;
                    }
                    Ok(total)
                };
                if step == 3 {
                    reference.set_learning_rate(0.02);
                    flat.set_learning_rate(0.02);
                }
                reference.backward_step(&loss(&a)?)?;
                flat.backward_step(&loss(&b)?)?;
                for (x, y) in a.iter().zip(&b) {
                    let dx = x
                        .as_tensor()
                        .to_dtype(DType::F64)?
                        .flatten_all()?
                        .to_vec1::<f64>()?;
                    let dy = y
                        .as_tensor()
                        .to_dtype(DType::F64)?
                        .flatten_all()?
                        .to_vec1::<f64>()?;
                    assert_eq!(dx, dy, "{dtype:?} step {step}");
                }
            }
        }
        Ok(())
    }
}
