//! Training, prediction with stitching, and transfer to new recordings (unit identification).

use std::path::PathBuf;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};

use super::model::{Poyo, PoyoConfig, PoyoMeta, SPARSE_TABLES, weighted_sse};
use super::optim::{OneCycle, SparseLamb};
use super::tokenize::{
    Prepared, Recording, Sample, Stitcher, TOKEN_SPIKE, TargetNorm, UnitDropout, collate,
    eval_starts, tokenize, tokenize_window,
};
use super::vocab::Vocab;
use crate::error::{DecodeError, Result};
use crate::metrics::r2_score;

/// Time intervals `[start_s, end_s)` of each recording (one list per recording, same order).
pub type Intervals = [Vec<(f64, f64)>];

/// Training settings (POYO's recipe: SparseLamb, OneCycle, batch 128 → max lr 0.004, weight
/// decay 1e-4, UnitDropout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Optimiser steps to run.
    pub steps: usize,
    /// Length of the OneCycle schedule (defaults to `steps`; the CA1 recipe runs 740 of 2 500).
    pub schedule_total: Option<usize>,
    /// Windows per batch.
    pub batch: usize,
    /// Windows per forward/backward pass (`None`: the whole batch in one pass). The passes'
    /// gradients are summed before the one optimiser step, so the step is the whole batch's
    /// (each pass draws its own dropout masks) while the device holds the activations of one
    /// pass only: POYO-1.3M at 4-s context and batch 128 needs more than an 80 GB GPU in one
    /// pass.
    #[serde(default)]
    pub micro_batch: Option<usize>,
    /// Peak learning rate (default 3.125e-5 × batch).
    pub max_lr: Option<f64>,
    /// Weight decay on every parameter.
    pub weight_decay: f64,
    /// β₁ cycling of OneCycle (reference: on).
    pub cycle_momentum: bool,
    /// UnitDropout on training windows (`None`: keep all units).
    pub unit_dropout: Option<UnitDropout>,
    /// Seed of window sampling, unit dropout and dropout masks.
    pub seed: u64,
    /// Dropout during training (the reference trains with it).
    pub dropout: bool,
    /// Write a checkpoint ([`Poyo::save`], overwriting) every this many steps (0: never).
    pub checkpoint_every: usize,
    /// Where checkpoints go.
    pub checkpoint_path: Option<PathBuf>,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            steps: 1000,
            schedule_total: None,
            batch: 128,
            micro_batch: None,
            max_lr: None,
            weight_decay: 1e-4,
            cycle_momentum: true,
            unit_dropout: None,
            seed: 42,
            dropout: true,
            checkpoint_every: 0,
            checkpoint_path: None,
        }
    }
}

impl TrainParams {
    fn check(&self) -> Result<OneCycle> {
        if self.steps == 0 || self.batch == 0 {
            return Err(DecodeError::param("train", "need steps ≥ 1 and batch ≥ 1"));
        }
        if self.micro_batch == Some(0) {
            return Err(DecodeError::param("micro_batch", "must be ≥ 1"));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(DecodeError::param("weight_decay", "must be finite and ≥ 0"));
        }
        if let Some(d) = &self.unit_dropout {
            d.check()?;
        }
        if self.checkpoint_every > 0 && self.checkpoint_path.is_none() {
            return Err(DecodeError::param(
                "checkpoint_path",
                "needed when checkpoint_every > 0",
            ));
        }
        let total = self.schedule_total.unwrap_or(self.steps).max(2);
        let mut s = OneCycle::new(self.max_lr.unwrap_or(3.125e-5 * self.batch as f64), total)?;
        s.cycle_momentum = self.cycle_momentum;
        Ok(s)
    }
}

/// Which parameters a training run updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every parameter.
    All,
    /// Only the unit and session embedding tables (unit identification); rows of units not in
    /// the training data receive no gradient and stay as they are.
    Embeddings,
}

/// Loss per step of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Weighted MSE (normalised targets) of each step's batch.
    pub loss: Vec<f64>,
    /// Whether an observer stopped the run early.
    pub stopped: bool,
}

struct WindowSampler<'a> {
    preps: Vec<Prepared<'a>>,
    /// (recording, a, b) with b − a ≥ L, and the cumulative usable length.
    spans: Vec<(usize, f64, f64)>,
    cum: Vec<f64>,
}

impl<'a> WindowSampler<'a> {
    fn new(preps: Vec<Prepared<'a>>, intervals: &Intervals, context_s: f64) -> Result<Self> {
        if intervals.len() != preps.len() {
            return Err(DecodeError::Shape(format!(
                "{} interval lists for {} recordings",
                intervals.len(),
                preps.len()
            )));
        }
        let mut spans = Vec::new();
        let mut cum = Vec::new();
        let mut total = 0.0;
        for (r, iv) in intervals.iter().enumerate() {
            for &(a, b) in iv {
                if !(a.is_finite() && b.is_finite()) {
                    return Err(DecodeError::InvalidData(format!(
                        "interval [{a}, {b}) is not finite"
                    )));
                }
                if b - a >= context_s {
                    total += b - a - context_s + 1e-9;
                    spans.push((r, a, b));
                    cum.push(total);
                }
            }
        }
        if spans.is_empty() {
            return Err(DecodeError::InvalidData(format!(
                "no training interval is as long as the context ({context_s} s)"
            )));
        }
        Ok(Self { preps, spans, cum })
    }

    fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        cfg: &PoyoConfig,
        norm: &TargetNorm,
        dropout: Option<&UnitDropout>,
    ) -> Result<Sample> {
        let grid = cfg.grid();
        let mut last = None;
        for _ in 0..100 {
            let x = rng.random_range(0.0..*self.cum.last().expect("non-empty"));
            let i = self
                .cum
                .partition_point(|&c| c < x)
                .min(self.spans.len() - 1);
            let (r, a, b) = self.spans[i];
            let start = a + rng.random_range(0.0..=(b - a - cfg.context_s).max(0.0));
            let prep = &self.preps[r];
            let keep = dropout.map(|d| d.keep(prep.rec.spikes.n_units(), rng));
            match tokenize(prep, keep.as_deref(), start, &grid, (a, b), norm) {
                Ok(s) if s.weights.iter().any(|&w| w > 0.0) => return Ok(s),
                Ok(_) => {}
                Err(e @ DecodeError::EmptyWindow { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            DecodeError::InvalidData(
                "100 training windows in a row without a target of positive weight".into(),
            )
        }))
    }
}

fn prepare<'a>(model: &Poyo, recordings: &'a [Recording]) -> Result<Vec<Prepared<'a>>> {
    let meta = model.meta();
    recordings
        .iter()
        .map(|r| {
            if r.dim_out() != meta.config.dim_out {
                return Err(DecodeError::Shape(format!(
                    "recording {} has {} outputs, the model {}",
                    r.id,
                    r.dim_out(),
                    meta.config.dim_out
                )));
            }
            Prepared::new(r, &meta.units, &meta.sessions)
        })
        .collect()
}

/// Trains `model` on random windows of `recordings` inside `intervals` with SparseLamb and
/// OneCycle; every unit and session id must be in the model's vocabularies (else
/// [`DecodeError::UnknownId`]). Reports every step (stage `"step"`, metrics `loss`, `lr`,
/// `beta1`); a non-finite loss stops with [`DecodeError::Diverged`] before the update. An
/// observer's [`Flow::Stop`] ends the run after the current step.
pub fn train(
    model: &Poyo,
    recordings: &[Recording],
    intervals: &Intervals,
    params: &TrainParams,
    scope: Scope,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    let schedule = params.check()?;
    let cfg = *model.config();
    let norm = model.meta().norm.clone();
    let sampler = WindowSampler::new(prepare(model, recordings)?, intervals, cfg.context_s)?;
    let vars: Vec<(String, candle_core::Var, bool)> = {
        let data = model.varmap().data().lock().expect("varmap lock");
        let mut v: Vec<_> = data
            .iter()
            .filter(|(k, _)| scope == Scope::All || SPARSE_TABLES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone(), SPARSE_TABLES.contains(&k.as_str())))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let mut opt = SparseLamb::new(vars, params.weight_decay)?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    crate::nn::seed_device(model.device(), &mut rng)?;
    let mut report = TrainReport {
        loss: Vec::with_capacity(params.steps),
        stopped: false,
    };
    for step in 0..params.steps {
        let samples = (0..params.batch)
            .map(|_| sampler.draw(&mut rng, &cfg, &norm, params.unit_dropout.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        // Σ over passes of (Σ w·mse of the pass) / (Σ w of the whole batch) is the batch's
        // weighted MSE, and the summed gradients are its gradient.
        let wsum: f64 = samples.iter().flat_map(|s| s.weights.iter()).sum();
        let per_pass = params.micro_batch.unwrap_or(params.batch).min(params.batch);
        let mut lv = 0.0;
        let mut grads: Option<GradStore> = None;
        for part in samples.chunks(per_pass) {
            let batch = collate(part, &cfg.grid(), cfg.dim_out)?;
            let pred = if params.dropout {
                model.forward(&batch, Some(&mut rng))?
            } else {
                model.forward(&batch, None)?
            };
            let loss = (weighted_sse(&pred, &batch)? / wsum)?;
            let part_loss = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            lv += part_loss;
            if !part_loss.is_finite() {
                return Err(DecodeError::Diverged {
                    epoch: 0,
                    step,
                    loss: part_loss,
                });
            }
            let part_grads = loss.backward()?;
            grads = Some(match grads {
                None => part_grads,
                Some(sum) => opt.add_grads(sum, part_grads)?,
            });
        }
        let grads = grads.expect("a batch has at least one pass");
        let (lr, beta1) = schedule.at(step);
        opt.step(&grads, lr, beta1)?;
        report.loss.push(lv);
        if params.checkpoint_every > 0 && (step + 1) % params.checkpoint_every == 0 {
            let path = params.checkpoint_path.as_ref().expect("checked");
            model.save(path, true)?;
        }
        let p = Progress::new("step", step)
            .with_total(params.steps)
            .with_metric("loss", lv)
            .with_metric("lr", lr)
            .with_metric("beta1", beta1);
        if observer.observe(&p) == Flow::Stop {
            report.stopped = true;
            break;
        }
    }
    Ok(report)
}

/// A freshly initialised model (seed `seed`) over the units and sessions of `recordings`, with
/// the target normalisation of `intervals`.
pub fn new_model(
    config: PoyoConfig,
    recordings: &[Recording],
    intervals: &Intervals,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<Poyo> {
    let mut units = Vocab::new();
    let mut sessions = Vocab::new();
    for r in recordings {
        units.extend(&r.unit_ids)?;
        sessions.extend([&r.id])?;
    }
    let refs: Vec<&Recording> = recordings.iter().collect();
    let norm = TargetNorm::fit(&refs, intervals)?;
    let meta = PoyoMeta {
        config,
        units,
        sessions,
        norm,
    };
    Poyo::new(meta, seed, dtype, device)
}

/// Builds a fresh model over the units and sessions of `recordings` (target normalisation from
/// the training intervals, [`new_model`]) and trains it.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    config: PoyoConfig,
    recordings: &[Recording],
    intervals: &Intervals,
    params: &TrainParams,
    dtype: DType,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<(Poyo, TrainReport)> {
    let model = new_model(config, recordings, intervals, params.seed, dtype, device)?;
    let report = train(&model, recordings, intervals, params, Scope::All, observer)?;
    Ok((model, report))
}

/// Settings of [`transfer`]: unit identification, then optional full fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferParams {
    /// Training of the new unit and session embeddings only.
    pub identify: TrainParams,
    /// Then every parameter (`None`: skip).
    pub finetune: Option<TrainParams>,
}

/// Unit identification (POYO paper §2.5): adds the unknown unit and session ids of
/// `recordings` to the vocabularies (fresh N(0, 0.02) rows), trains only the embedding tables
/// on them (rows of the old units get no gradient and stay fixed), then optionally fine-tunes
/// every parameter. Returns the model and the two reports.
pub fn transfer(
    model: Poyo,
    recordings: &[Recording],
    intervals: &Intervals,
    params: &TransferParams,
    observer: &mut dyn Observer,
) -> Result<(Poyo, Vec<TrainReport>)> {
    let meta = model.meta();
    let mut new_units = Vec::new();
    let mut new_sessions = Vec::new();
    for r in recordings {
        new_units.extend(
            r.unit_ids
                .iter()
                .filter(|u| meta.units.index(u).is_none())
                .cloned(),
        );
        if meta.sessions.index(&r.id).is_none() {
            new_sessions.push(r.id.clone());
        }
    }
    let model = model.extend_vocab(&new_units, &new_sessions, params.identify.seed)?;
    let mut reports = vec![train(
        &model,
        recordings,
        intervals,
        &params.identify,
        Scope::Embeddings,
        observer,
    )?];
    if let Some(ft) = &params.finetune {
        reports.push(train(
            &model,
            recordings,
            intervals,
            ft,
            Scope::All,
            observer,
        )?);
    }
    Ok((model, reports))
}

/// Stitched predictions of one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Rows of the recording's targets that some window covered.
    pub rows: Vec<usize>,
    /// Their times (s).
    pub times_s: Vec<f64>,
    /// Predictions `[row, output]` in target units (mean over overlapping windows).
    pub values: Array2<f64>,
}

/// Predicts the targets of `recording` inside `intervals` with half-overlapping windows
/// (step L/2) whose predictions of the same target are averaged; `batch` windows per forward
/// pass. A window in which no unit spikes is predicted from its START/END tokens (as the
/// reference does). Errors: unknown ids, intervals shorter than L,
/// [`DecodeError::EmptyWindow`] when no window has a spike.
pub fn predict(
    model: &Poyo,
    recording: &Recording,
    intervals: &[(f64, f64)],
    batch: usize,
) -> Result<Prediction> {
    let cfg = *model.config();
    let prep = prepare(model, std::slice::from_ref(recording))?.remove(0);
    let norm = &model.meta().norm;
    let mut windows = Vec::new();
    let mut any_spike = false;
    for &(a, b) in intervals {
        for s in eval_starts(a, b, cfg.context_s)? {
            let w = tokenize_window(&prep, None, s, &cfg.grid(), (a, b), norm, true)?;
            any_spike |= w.token_type.contains(&TOKEN_SPIKE);
            windows.push(w);
        }
    }
    if !any_spike {
        return Err(DecodeError::EmptyWindow {
            recording: recording.id.clone(),
            start_s: intervals.first().map_or(0.0, |iv| iv.0),
        });
    }
    let mut st = Stitcher::new(recording.target_times_s.len(), cfg.dim_out);
    for chunk in windows.chunks(batch.max(1)) {
        let bt = collate(chunk, &cfg.grid(), cfg.dim_out)?;
        let out = model
            .forward(&bt, None)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        for (i, s) in chunk.iter().enumerate() {
            for (q, &row) in s.target_rows.iter().enumerate() {
                let o = (i * bt.n_out + q) * cfg.dim_out;
                let v: Vec<f64> = (0..cfg.dim_out)
                    .map(|j| out[o + j] * norm.std[j] + norm.mean[j])
                    .collect();
                st.add(row, &v);
            }
        }
    }
    let (rows, values) = st.finish();
    let times_s = rows.iter().map(|&r| recording.target_times_s[r]).collect();
    Ok(Prediction {
        rows,
        times_s,
        values,
    })
}

/// R² (uniform over outputs) of the stitched predictions of each recording inside its
/// intervals, and their mean (POYO's evaluation).
pub fn evaluate(
    model: &Poyo,
    recordings: &[Recording],
    intervals: &Intervals,
    batch: usize,
) -> Result<(Vec<f64>, f64)> {
    if intervals.len() != recordings.len() || recordings.is_empty() {
        return Err(DecodeError::Shape(format!(
            "{} interval lists for {} recordings",
            intervals.len(),
            recordings.len()
        )));
    }
    let mut r2 = Vec::new();
    for (rec, iv) in recordings.iter().zip(intervals) {
        let p = predict(model, rec, iv, batch)?;
        let y = rec.targets.select(ndarray::Axis(0), &p.rows);
        r2.push(r2_score(y.view(), p.values.view())?);
    }
    let mean = r2.iter().sum::<f64>() / r2.len() as f64;
    Ok((r2, mean))
}
