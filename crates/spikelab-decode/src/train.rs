//! The one mini-batch training loop of this crate (the BrainBits gradient path and EIT/NDT):
//! per epoch a learning rate from the [`Schedule`], a fresh shuffle of the rows, one optimiser
//! step per batch with a divergence check, then an end-of-epoch hook (validation, test
//! accuracy, [`BestEpoch`] selection) whose metrics go to the observer with the mean loss.
//!
//! The random stream is shared with the caller: the shuffle and any dropout inside the loss
//! closure draw from it in a fixed order, so a seed gives the same run every time.

use candle_core::{DType, Tensor};
use candle_nn::{AdamW, Optimizer};
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
pub fn train_epochs(
    opt: &mut AdamW,
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
