//! POYO on framed recordings, the inputs of the other decoders: counts `[neuron, frame]` (a
//! raster, or spike trains binned by [`crate::read_inputs`]) and a target `[frame, output]`.
//!
//! Every event becomes a spike token at its frame time (frame index × `frame_s`; a count k
//! gives k spikes at that time), the target of frame f is sampled at f·`frame_s`, and the
//! frames are split in time as the linear decoders split them ([`TimeSplit::with_used`]): the
//! first `train_fraction` of the frames train (of which the first `train_used` fraction is
//! used), the rest test. A training interval is `[first, end)` in seconds of its frames, so no
//! training window reaches a test frame. This is the spec's CA1 recipe (one recording, unit
//! ids = neuron row strings, 50-ms frames).
//!
//! [`fit_frames`] trains a fresh model, [`transfer_frames`] runs unit identification (and
//! optional fine-tuning) of a trained model on the recording, both score R² on the training
//! and test frames (stitched half-overlapping windows); [`PoyoFit::write`] writes `fit.json`,
//! the model and `test_prediction.npy`; [`predict_frames`] decodes every frame of a recording
//! without targets.

use std::path::Path;

use candle_core::{DType, Device};
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use spikelab_core::Observer;
use spikelab_data::SpikeTrains;
use spikelab_data::io;

use super::model::{Poyo, PoyoConfig};
use super::tokenize::Recording;
use super::train::{Prediction, TrainParams, TrainReport, TransferParams, fit, predict, transfer};
use crate::data::TimeSplit;
use crate::error::{DecodeError, Result};
use crate::metrics::r2_score;

/// Windows per forward pass when scoring and predicting.
pub const EVAL_BATCH: usize = 64;

/// How a framed recording becomes a POYO recording and how its frames split in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameParams {
    /// Session id of the recording (the word of the session vocabulary).
    pub session: String,
    /// Frame period (s); default 0.05 (the CA1 raster's 20 Hz).
    pub frame_s: f64,
    /// Fraction of the frames (from the start) that train (default 0.8).
    pub train_fraction: f64,
    /// Fraction of the training frames, from their start, that are used (default 1); the test
    /// frames do not move.
    pub train_used: f64,
}

impl Default for FrameParams {
    fn default() -> Self {
        Self {
            session: "session".into(),
            frame_s: 0.05,
            train_fraction: 0.8,
            train_used: 1.0,
        }
    }
}

/// A recording built from frames, with its time split.
#[derive(Debug, Clone, PartialEq)]
pub struct FramedRecording {
    /// The POYO recording (spike times and target times in seconds from frame 0).
    pub recording: Recording,
    /// The settings it was built with.
    pub params: FrameParams,
    /// The split in frames (`val` is empty: POYO chooses no hyper-parameter).
    pub split: TimeSplit,
}

/// String ids `{prefix}{row}` of the given raster rows (the CA1 recipe: the row index).
///
/// ```
/// assert_eq!(spikelab_decode::poyo::frame_unit_ids(&[1, 3], "b/"), ["b/1", "b/3"]);
/// ```
pub fn frame_unit_ids(rows: &[usize], prefix: &str) -> Vec<String> {
    rows.iter().map(|r| format!("{prefix}{r}")).collect()
}

/// Spike trains of `counts` `[neuron, frame]`: a count k at frame f is k spikes at f·`frame_s`;
/// the trains span `[0, n_frames·frame_s)`. Errors: counts that are not finite integers ≥ 0,
/// a frame period that is not finite and > 0.
///
/// ```
/// let c = ndarray::array![[0.0, 2.0, 1.0]];
/// let s = spikelab_decode::poyo::spikes_from_counts(c.view(), 0.5)?;
/// assert_eq!(s.train(0), &[0.5, 0.5, 1.0]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn spikes_from_counts(counts: ArrayView2<'_, f64>, frame_s: f64) -> Result<SpikeTrains> {
    if !(frame_s > 0.0 && frame_s.is_finite()) {
        return Err(DecodeError::param(
            "frame_s",
            format!("{frame_s} is not > 0"),
        ));
    }
    let mut trains = Vec::with_capacity(counts.nrows());
    for (u, row) in counts.outer_iter().enumerate() {
        let mut t = Vec::new();
        for (f, &c) in row.iter().enumerate() {
            if !(c.is_finite() && c >= 0.0 && c.fract() == 0.0) {
                return Err(DecodeError::InvalidData(format!(
                    "count [{u}, {f}] is {c}: POYO needs event counts (integers ≥ 0) per frame"
                )));
            }
            t.extend(std::iter::repeat_n(f as f64 * frame_s, c as usize));
        }
        trains.push(t);
    }
    Ok(SpikeTrains::new(
        trains,
        0.0,
        counts.ncols() as f64 * frame_s,
    )?)
}

impl FrameParams {
    /// Builds the recording of `counts` `[neuron, frame]` (unit ids `unit_ids`, one per row)
    /// and `target` `[frame, output]`, and splits its frames. Errors: shapes that disagree,
    /// non-integer counts, NaN/∞ targets, a recording without spikes, an empty split.
    pub fn recording(
        &self,
        counts: ArrayView2<'_, f64>,
        target: ArrayView2<'_, f64>,
        unit_ids: Vec<String>,
    ) -> Result<FramedRecording> {
        let n = counts.ncols();
        if target.nrows() != n {
            return Err(DecodeError::Shape(format!(
                "target has {} frames, the raster {n}",
                target.nrows()
            )));
        }
        let split = TimeSplit::with_used(n, self.train_fraction, 0.0, self.train_used)?;
        let spikes = spikes_from_counts(counts, self.frame_s)?;
        let times = (0..n).map(|f| f as f64 * self.frame_s).collect();
        let recording = Recording::new(&self.session, spikes, unit_ids, times, target.to_owned())?;
        Ok(FramedRecording {
            recording,
            params: self.clone(),
            split,
        })
    }
}

impl FramedRecording {
    fn seconds(&self, r: &std::ops::Range<usize>) -> Vec<(f64, f64)> {
        let dt = self.params.frame_s;
        vec![(r.start as f64 * dt, r.end as f64 * dt)]
    }

    /// The training interval (s): the used training frames.
    pub fn train_intervals(&self) -> Vec<(f64, f64)> {
        self.seconds(&self.split.train)
    }

    /// The test interval (s): the test frames.
    pub fn test_intervals(&self) -> Vec<(f64, f64)> {
        self.seconds(&self.split.test)
    }

    /// Stitched predictions inside `intervals` and their R² against the targets.
    fn score(&self, model: &Poyo, intervals: &[(f64, f64)]) -> Result<(Prediction, f64)> {
        let p = predict(model, &self.recording, intervals, EVAL_BATCH)?;
        let y = self.recording.targets.select(Axis(0), &p.rows);
        let r2 = r2_score(y.view(), p.values.view())?;
        Ok((p, r2))
    }
}

/// What [`fit_frames`] and [`transfer_frames`] measured, written as `fit.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoyoFit {
    /// `"fit"` or `"transfer"`.
    pub run: String,
    /// The model's shape.
    pub config: PoyoConfig,
    /// The recording and its split.
    pub frames: FrameParams,
    /// The split in frames.
    pub split: TimeSplit,
    /// Units of the recording.
    pub n_units: usize,
    /// Trainable parameters of the model.
    pub n_parameters: usize,
    /// Training phases: the fit, or unit identification then fine-tuning.
    pub phases: Vec<TrainParams>,
    /// Loss per step of each phase.
    pub loss: Vec<Vec<f64>>,
    /// R² on the used training frames (stitched windows, as the test).
    pub train_r2: f64,
    /// R² on the test frames.
    pub test_r2: f64,
    /// Frame index of each row of `test_prediction.npy`.
    pub test_frames: Vec<usize>,
    /// Stitched test predictions `[row of test_frames, output]` (written to
    /// `test_prediction.npy`, not to the JSON).
    #[serde(skip)]
    pub test_prediction: Array2<f64>,
}

impl PoyoFit {
    /// Files written by [`PoyoFit::write`] (`model.json` holds the configuration,
    /// vocabularies and target normalisation that [`Poyo::load`] needs).
    pub const FILES: [&'static str; 4] = [
        "fit.json",
        "model.safetensors",
        "model.json",
        "test_prediction.npy",
    ];

    /// Checks that [`PoyoFit::write`] may write into `dir`.
    pub fn check_writable(dir: &Path, force: bool) -> Result<()> {
        for f in Self::FILES {
            io::check_writable(&dir.join(f), force)?;
        }
        Ok(())
    }

    /// The model file inside an output folder (read back by [`Poyo::load`]).
    pub fn model_path(dir: &Path) -> std::path::PathBuf {
        dir.join(Self::FILES[1])
    }

    /// Loads the f32 model of an output folder written by [`PoyoFit::write`] (or a
    /// `.safetensors` file written by [`Poyo::save`]) onto `device`. Errors: missing files,
    /// a checkpoint whose JSON and weights disagree ([`DecodeError::ModelFile`]).
    pub fn load_model(path: &Path, device: &spikelab_core::Device) -> Result<Poyo> {
        let file = if path.is_dir() {
            Self::model_path(path)
        } else {
            path.to_path_buf()
        };
        Poyo::load(&file, DType::F32, &device.to_candle()?)
    }

    /// Writes `dir/fit.json`, the model (`model.safetensors` + `model.json`) and
    /// `dir/test_prediction.npy`, each through a temporary file and a rename; creates `dir`;
    /// refuses existing files unless `force`.
    pub fn write(&self, model: &Poyo, dir: &Path, force: bool) -> Result<()> {
        Self::check_writable(dir, force)?;
        std::fs::create_dir_all(dir).map_err(|source| DecodeError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        model.save(&Self::model_path(dir), force)?;
        io::write_atomic(&dir.join(Self::FILES[3]), force, |tmp| {
            io::npy::write(tmp, &self.test_prediction, true)
        })?;
        io::write_json(&dir.join(Self::FILES[0]), self, force)?;
        Ok(())
    }
}

fn report(
    run: &str,
    model: &Poyo,
    rec: &FramedRecording,
    phases: Vec<TrainParams>,
    reports: Vec<TrainReport>,
) -> Result<PoyoFit> {
    let (_, train_r2) = rec.score(model, &rec.train_intervals())?;
    let (test, test_r2) = rec.score(model, &rec.test_intervals())?;
    Ok(PoyoFit {
        run: run.into(),
        config: *model.config(),
        frames: rec.params.clone(),
        split: rec.split.clone(),
        n_units: rec.recording.spikes.n_units(),
        n_parameters: model.n_parameters(),
        phases,
        loss: reports.into_iter().map(|r| r.loss).collect(),
        train_r2,
        test_r2,
        test_frames: test.rows,
        test_prediction: test.values,
    })
}

/// Trains a fresh POYO (`config`, its `dim_out` set to the target's columns) on the training
/// frames of `rec` (f32 on `device`) and scores it on the training and test frames.
///
/// ```
/// use candle_core::Device;
/// use spikelab_core::Silent;
/// use spikelab_decode::poyo::{FrameParams, PoyoConfig, TrainParams, fit_frames, frame_unit_ids};
///
/// // 6 units, 400 frames of 50 ms; the target is which half of the units fires.
/// let on = |f: usize| (f / 20) % 2;
/// let counts = ndarray::Array2::from_shape_fn((6, 400), |(u, f)| f64::from(u8::from((u < 3) == (on(f) == 0))));
/// let target = ndarray::Array2::from_shape_fn((400, 1), |(f, _)| on(f) as f64);
/// let rec = FrameParams::default().recording(counts.view(), target.view(), frame_unit_ids(&[0, 1, 2, 3, 4, 5], ""))?;
/// let cfg = PoyoConfig { context_s: 1.0, ..PoyoConfig::small(1) };
/// let params = TrainParams { steps: 3, batch: 4, ..Default::default() };
/// let (model, fit) = fit_frames(cfg, &rec, &params, &Device::Cpu, &mut Silent)?;
/// assert_eq!((fit.loss[0].len(), fit.test_prediction.dim()), (3, (80, 1)));
/// assert!(fit.test_r2.is_finite());
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn fit_frames(
    config: PoyoConfig,
    rec: &FramedRecording,
    params: &TrainParams,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<(Poyo, PoyoFit)> {
    let config = PoyoConfig {
        dim_out: rec.recording.dim_out(),
        ..config
    };
    config.check()?;
    let (model, rep) = fit(
        config,
        std::slice::from_ref(&rec.recording),
        &[rec.train_intervals()],
        params,
        DType::F32,
        device,
        observer,
    )?;
    let fit = report("fit", &model, rec, vec![params.clone()], vec![rep])?;
    Ok((model, fit))
}

/// Unit identification of `model` on `rec` (new unit and session ids get fresh embedding
/// rows; only the two tables train), then the optional fine-tuning of every parameter, on the
/// training frames of `rec`; scored on its training and test frames. Errors: a target with
/// another number of outputs than the model's ([`DecodeError::Shape`]).
pub fn transfer_frames(
    model: Poyo,
    rec: &FramedRecording,
    params: &TransferParams,
    observer: &mut dyn Observer,
) -> Result<(Poyo, PoyoFit)> {
    let (model, reps) = transfer(
        model,
        std::slice::from_ref(&rec.recording),
        &[rec.train_intervals()],
        params,
        observer,
    )?;
    let phases = std::iter::once(params.identify.clone())
        .chain(params.finetune.clone())
        .collect();
    let fit = report("transfer", &model, rec, phases, reps)?;
    Ok((model, fit))
}

/// Decodes every frame of `counts` `[neuron, frame]` (unit ids `unit_ids`, frame period
/// `frame_s`) with the session embedding of `session` (default: the model's last session, the
/// one most recently trained or transferred). Returns `[frame, output]` in target units.
/// Errors: ids not in the model ([`DecodeError::UnknownId`]: transfer first), a 1-s window
/// without spikes ([`DecodeError::EmptyWindow`]), a recording shorter than the context.
pub fn predict_frames(
    model: &Poyo,
    counts: ArrayView2<'_, f64>,
    unit_ids: Vec<String>,
    frame_s: f64,
    session: Option<&str>,
) -> Result<Array2<f64>> {
    let meta = model.meta();
    let session = match session {
        Some(s) => s.to_string(),
        None => meta
            .sessions
            .words()
            .last()
            .filter(|_| meta.sessions.len() > 1)
            .cloned()
            .ok_or_else(|| DecodeError::InvalidData("the model has no session".into()))?,
    };
    let n = counts.ncols();
    let spikes = spikes_from_counts(counts, frame_s)?;
    // Targets are placeholders: the model only reads them to build the output queries.
    let rec = Recording::new(
        session,
        spikes,
        unit_ids,
        (0..n).map(|f| f as f64 * frame_s).collect(),
        Array2::zeros((n, meta.config.dim_out)),
    )?;
    let p = predict(model, &rec, &[(0.0, n as f64 * frame_s)], EVAL_BATCH)?;
    if p.rows.len() != n {
        return Err(DecodeError::InvalidData(format!(
            "the windows covered {} of {n} frames",
            p.rows.len()
        )));
    }
    Ok(p.values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_core::Silent;

    fn toy(frames: usize) -> (Array2<f64>, Array2<f64>) {
        let counts = Array2::from_shape_fn((4, frames), |(u, f)| ((u + f) % 3 == 0) as u8 as f64);
        let target = Array2::from_shape_fn((frames, 1), |(f, _)| (f % 40) as f64);
        (counts, target)
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let (mut counts, target) = toy(200);
        let ids = frame_unit_ids(&[0, 1, 2, 3], "");
        counts[[1, 5]] = 0.5;
        let p = FrameParams::default();
        let e = p.recording(counts.view(), target.view(), ids.clone());
        assert!(matches!(e, Err(DecodeError::InvalidData(m)) if m.contains("[1, 5]")));
        let (counts, _) = toy(200);
        let short = target.slice(ndarray::s![..150, ..]);
        assert!(matches!(
            p.recording(counts.view(), short, ids.clone()),
            Err(DecodeError::Shape(_))
        ));
        let bad = FrameParams {
            train_used: 0.0,
            ..FrameParams::default()
        };
        assert!(bad.recording(counts.view(), target.view(), ids).is_err());
    }

    #[test]
    fn predict_refuses_unknown_units_and_silent_recordings() {
        let (counts, target) = toy(200);
        let ids = frame_unit_ids(&[0, 1, 2, 3], "");
        let rec = FrameParams::default()
            .recording(counts.view(), target.view(), ids.clone())
            .unwrap();
        let params = TrainParams {
            steps: 1,
            batch: 2,
            ..TrainParams::default()
        };
        let (model, _) = fit_frames(
            PoyoConfig::small(1),
            &rec,
            &params,
            &Device::Cpu,
            &mut Silent,
        )
        .unwrap();
        let other = frame_unit_ids(&[0, 1, 2, 3], "b/");
        assert!(matches!(
            predict_frames(&model, counts.view(), other, 0.05, None),
            Err(DecodeError::UnknownId { kind: "unit", .. })
        ));
        // A silent stretch longer than a window is predicted from START/END tokens; a
        // recording without any spike is an error.
        let mut silent = counts.clone();
        silent.slice_mut(ndarray::s![.., 60..100]).fill(0.0);
        let pred = predict_frames(&model, silent.view(), ids.clone(), 0.05, None).unwrap();
        assert_eq!(pred.dim(), (200, 1));
        assert!(pred.iter().all(|v| v.is_finite()));
        silent.fill(0.0);
        let e = predict_frames(&model, silent.view(), ids.clone(), 0.05, None);
        assert!(matches!(e, Err(DecodeError::InvalidData(m)) if m.contains("no spikes")));
        let pred = predict_frames(&model, counts.view(), ids, 0.05, Some("session")).unwrap();
        assert_eq!(pred.dim(), (200, 1));
    }
}
