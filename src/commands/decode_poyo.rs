//! POYO in `spikelab decode` (crate `spikelab-decode`, module `poyo::frames`):
//!
//! ```text
//! spikelab decode fit --model poyo --spikes raster.mat --target pos.mat \
//!     [--poyo-config small|1.3m|11.8m] [--context-s 1] [--steps N] [--batch 128] [--max-lr X] \
//!     [--units odd|even|0,2,5-9] [--train-used F] [--device cuda] --out DIR [--force]
//! spikelab decode transfer --from DIR --spikes new.mat --target pos.mat [--steps N] \
//!     [--finetune-steps M] --out DIR2
//! spikelab decode predict --model DIR --spikes raster.mat --out pred.npy
//! ```
//! `fit` and `transfer` write `DIR/fit.json` (split, losses, train and test R²),
//! `DIR/model.safetensors` + `DIR/model.json` (weights; configuration, vocabularies, target
//! normalisation) and `DIR/test_prediction.npy` (`[test frame, output]`); `predict` writes
//! `[frame, output]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_core::{Flow, Progress};
use spikelab_decode::poyo::{
    self, FrameParams, Poyo, PoyoConfig, PoyoFit, TrainParams, TransferParams, UnitDropout,
};
use spikelab_decode::{DecodeInputs, UnitSelection, read_counts};

use super::decode::InputArgs;

/// POYO configurations of `--poyo-config`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PoyoPreset {
    /// dim 32, depth 1, 16 latents per second, no dropout (CPU runs, tests).
    Small,
    /// POYO-1.3M (dim 64, depth 6, 128 latents per second).
    #[value(name = "1.3m")]
    Poyo1_3m,
    /// POYO-11.8M (dim 128, depth 24, 256 latents per second).
    #[value(name = "11.8m")]
    Poyo11_8m,
}

/// Recording flags shared by the POYO commands and (`--units`, `--train-used`) the others.
#[derive(Debug, Args)]
pub struct UnitArgs {
    /// Raster rows to decode from: `all`, `odd`, `even` or 0-based rows `0,2,5-9`.
    #[arg(long, default_value = "all")]
    pub units: String,
    /// Fraction of the training frames (from their start) that train; the test frames stay
    /// the last 20 % (ridge, wiener, rrr, poyo).
    #[arg(long, default_value_t = 1.0)]
    pub train_used: f64,
    /// POYO: session id of the recording (default `session` for fit, a new id for transfer).
    #[arg(long)]
    pub session: Option<String>,
    /// POYO: unit ids are PREFIX + row index (give a prefix to a recording of other neurons,
    /// so its ids do not collide with the model's).
    #[arg(long, default_value = "")]
    pub unit_prefix: String,
}

/// POYO training flags of `fit` and `transfer`.
#[derive(Debug, Args)]
pub struct PoyoTrainArgs {
    /// POYO: optimiser steps (for transfer: of unit identification).
    #[arg(long, default_value_t = TrainParams::default().steps)]
    pub steps: usize,
    /// POYO: length of the OneCycle schedule (default: --steps).
    #[arg(long)]
    pub schedule_steps: Option<usize>,
    /// POYO: windows per batch.
    #[arg(long, default_value_t = TrainParams::default().batch)]
    pub batch: usize,
    /// POYO: windows per forward/backward pass; the gradients of a batch's passes are summed
    /// before its one optimiser step (less device memory; default: the whole batch at once).
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// POYO: peak learning rate (default 3.125e-5 × batch).
    #[arg(long)]
    pub max_lr: Option<f64>,
    /// POYO: seed of the initialisation, window sampling and dropout.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    pub seed: u64,
    /// POYO: UnitDropout on training windows (keep 60 … 1000 units, mode 300, the CA1 recipe).
    #[arg(long)]
    pub unit_dropout: bool,
}

impl PoyoTrainArgs {
    fn params(&self, steps: usize) -> TrainParams {
        TrainParams {
            steps,
            schedule_total: self.schedule_steps,
            batch: self.batch,
            micro_batch: self.micro_batch,
            max_lr: self.max_lr,
            seed: self.seed,
            unit_dropout: self.unit_dropout.then(UnitDropout::ca1),
            ..TrainParams::default()
        }
    }
}

/// `spikelab decode transfer`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Folder of a POYO model written by `decode fit --model poyo` or `decode transfer`
    /// (or its `model.safetensors`).
    #[arg(long)]
    pub from: PathBuf,
    #[command(flatten)]
    pub units: UnitArgs,
    #[command(flatten)]
    pub train: PoyoTrainArgs,
    /// Then fine-tune every parameter for this many steps (0: skip).
    #[arg(long, default_value_t = 0)]
    pub finetune_steps: usize,
    /// Device: `cpu`, `cuda[:N]`, `metal[:N]`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// `spikelab decode predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Folder of a POYO model (or its `model.safetensors`).
    #[arg(long)]
    pub model: PathBuf,
    /// Spikes: a `[neuron, frame]` raster (.mat/.npy/.csv) or spike trains (NWB, Kilosort).
    #[arg(long)]
    pub spikes: PathBuf,
    /// MATLAB variable of the raster in a `.mat` file.
    #[arg(long)]
    pub spikes_variable: Option<String>,
    /// Frame width in seconds.
    #[arg(long, default_value_t = 0.05)]
    pub bin_s: f64,
    /// Raster rows to decode from: `all`, `odd`, `even` or 0-based rows `0,2,5-9`.
    #[arg(long, default_value = "all")]
    pub units: String,
    /// Unit ids are PREFIX + row index.
    #[arg(long, default_value = "")]
    pub unit_prefix: String,
    /// Session whose embedding decodes (default: the model's last one).
    #[arg(long)]
    pub session: Option<String>,
    /// Device: `cpu`, `cuda[:N]`, `metal[:N]`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output `.npy` `[frame, output]`.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

fn load(p: &Path, device: &str) -> Result<Poyo> {
    PoyoFit::load_model(p, &device.parse()?)
        .with_context(|| format!("loading the POYO model {}", p.display()))
}

/// The selected raster rows and their unit ids.
fn select(
    counts: &ndarray::Array2<f64>,
    units: &str,
    prefix: &str,
) -> Result<(ndarray::Array2<f64>, Vec<String>)> {
    let (c, rows) = units.parse::<UnitSelection>()?.select(counts.view())?;
    Ok((c, poyo::frame_unit_ids(&rows, prefix)))
}

fn progress(steps: usize) -> Result<ProgressBar> {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(ProgressStyle::with_template(
        "step [{bar:30}] {pos}/{len} {msg}",
    )?);
    Ok(bar)
}

fn print_fit(fit: &PoyoFit, out: &Path) {
    let first = fit.loss.first().and_then(|l| l.first()).copied();
    let last = fit.loss.last().and_then(|l| l.last()).copied();
    println!(
        "{} units, {} train / {} test frames; {} parameters; loss {:.4} → {:.4}",
        fit.n_units,
        fit.split.train.len(),
        fit.split.test.len(),
        fit.n_parameters,
        first.unwrap_or(f64::NAN),
        last.unwrap_or(f64::NAN),
    );
    println!("train R² {:.4}, test R² {:.4}", fit.train_r2, fit.test_r2);
    println!("wrote {}", out.display());
}

/// `decode fit --model poyo`.
pub fn fit(
    input: &InputArgs,
    data: DecodeInputs,
    units: &UnitArgs,
    train: &PoyoTrainArgs,
    preset: PoyoPreset,
    context_s: f64,
    device: &str,
) -> Result<()> {
    let (counts, ids) = select(&data.counts, &units.units, &units.unit_prefix)?;
    let frames = FrameParams {
        session: units
            .session
            .clone()
            .unwrap_or_else(|| FrameParams::default().session),
        frame_s: input.bin_s,
        train_used: units.train_used,
        ..FrameParams::default()
    };
    let rec = frames.recording(counts.view(), data.target.view(), ids)?;
    let dim_out = data.target.ncols();
    let config = PoyoConfig {
        context_s,
        ..match preset {
            PoyoPreset::Small => PoyoConfig::small(dim_out),
            PoyoPreset::Poyo1_3m => PoyoConfig::poyo_1_3m(dim_out),
            PoyoPreset::Poyo11_8m => PoyoConfig::poyo_11_8m(dim_out),
        }
    };
    let device = device.parse::<spikelab_core::Device>()?.to_candle()?;
    let params = train.params(train.steps);
    let bar = progress(params.steps)?;
    let mut obs = |p: &Progress<'_>| {
        bar.set_position(p.step as u64 + 1);
        if let Some(l) = p.metric("loss") {
            bar.set_message(format!("loss {l:.4}"));
        }
        Flow::Continue
    };
    let (model, fit) = poyo::fit_frames(config, &rec, &params, &device, &mut obs)?;
    bar.finish_and_clear();
    fit.write(&model, &input.out, input.force)?;
    print_fit(&fit, &input.out);
    Ok(())
}

/// `decode transfer`.
pub fn transfer(a: TransferArgs) -> Result<()> {
    PoyoFit::check_writable(&a.input.out, a.input.force)?;
    let model = load(&a.from, &a.device)?;
    let data = spikelab_decode::read_inputs(
        &a.input.spikes,
        a.input.spikes_variable.as_deref(),
        &a.input.target,
        a.input.target_variable.as_deref(),
        a.input.bin_s,
    )?;
    let (counts, ids) = select(&data.counts, &a.units.units, &a.units.unit_prefix)?;
    let session = a
        .units
        .session
        .clone()
        .unwrap_or_else(|| format!("session{}", model.meta().sessions.len()));
    let frames = FrameParams {
        session,
        frame_s: a.input.bin_s,
        train_used: a.units.train_used,
        ..FrameParams::default()
    };
    let rec = frames.recording(counts.view(), data.target.view(), ids)?;
    let params = TransferParams {
        identify: a.train.params(a.train.steps),
        finetune: (a.finetune_steps > 0).then(|| TrainParams {
            schedule_total: None,
            ..a.train.params(a.finetune_steps)
        }),
    };
    let bar = progress(a.train.steps + a.finetune_steps)?;
    let mut done = 0u64;
    let mut obs = |p: &Progress<'_>| {
        done += 1;
        bar.set_position(done);
        if let Some(l) = p.metric("loss") {
            bar.set_message(format!("loss {l:.4}"));
        }
        Flow::Continue
    };
    let (model, fit) = poyo::transfer_frames(model, &rec, &params, &mut obs)?;
    bar.finish_and_clear();
    fit.write(&model, &a.input.out, a.input.force)?;
    print_fit(&fit, &a.input.out);
    Ok(())
}

/// `decode predict`.
pub fn predict(a: PredictArgs) -> Result<()> {
    spikelab_data::io::check_writable(&a.out, a.force)?;
    let model = load(&a.model, &a.device)?;
    let counts = read_counts(&a.spikes, a.spikes_variable.as_deref(), a.bin_s)?;
    let (counts, ids) = select(&counts, &a.units, &a.unit_prefix)?;
    let pred = poyo::predict_frames(&model, counts.view(), ids, a.bin_s, a.session.as_deref())?;
    spikelab_data::io::write_atomic(&a.out, a.force, |tmp| {
        spikelab_data::io::npy::write(tmp, &pred, true)
    })?;
    println!(
        "{} frames × {} outputs; wrote {}",
        pred.nrows(),
        pred.ncols(),
        a.out.display()
    );
    Ok(())
}
