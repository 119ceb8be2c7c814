//! `spikelab decode`: linear decoders and the BrainBits bottleneck audit (crate
//! `spikelab-decode`, module `pipeline`).
//!
//! ```text
//! spikelab decode fit --spikes raster.mat --target pos.mat --model ridge|wiener|rrr|kalman|eit|poyo \
//!     [--units all|odd|even|0,2,5-9] [--train-used F] \
//!     [--bottleneck b] [--components 12] [--lags centred:9,10] \
//!     [--window 2 --epochs 100 --device cuda] --out DIR [--force]
//! spikelab decode transfer --from DIR --spikes new.mat --target pos.mat --out DIR2
//! spikelab decode predict --model DIR --spikes raster.mat --out pred.npy
//! spikelab decode audit --spikes raster.mat --target pos.mat [--one-hot] [--units odd] \
//!     [--bottlenecks 1,2,5,10,20,50] [--gradient --epochs 100 --device cuda] --out DIR
//! ```
//! `fit` writes `DIR/fit.json` (α grid, split, scores, weights) and `DIR/test_prediction.npy`
//! (`[test frame, output]`), or for `eit` `DIR/fit.json` and `DIR/model.safetensors`; `audit` writes `DIR/audit.json` and `DIR/audit.png`;
//! POYO (`--model poyo`, `transfer`, `predict`): see [`super::decode_poyo`]. Files are
//! written through a temporary name and renamed; existing files are refused without `--force`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_core::{Flow, Progress};
use spikelab_decode::eit::TrainParams;
use spikelab_decode::eit_windows::{WindowFit, WindowParams, fit_windows};
use spikelab_decode::poyo::PoyoFit;
use spikelab_decode::{
    AuditMode, AuditParams, DecodeInputs, GradientParams, KalmanDecoderParams, Lags,
    LinearDecoderFit, LinearDecoderParams, UnitSelection, read_inputs,
};

use super::decode_poyo::{self, PoyoPreset, PoyoTrainArgs, PredictArgs, TransferArgs, UnitArgs};

/// Lags of the linear decoders and the audit when `--lags` is not given.
const DEFAULT_LAGS: &str = "centred:9,10";

/// `spikelab decode` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DecodeCommand {
    /// Fit a decoder (ridge, Wiener filter, reduced-rank, Kalman filter, EIT, POYO) and score
    /// it on held-out time.
    Fit(FitArgs),
    /// POYO unit identification: adapt a trained POYO model to a recording of new units (only
    /// the new unit and session embeddings train, then optionally everything).
    Transfer(TransferArgs),
    /// Decode every frame of a recording with a trained POYO model.
    Predict(PredictArgs),
    /// BrainBits bottleneck audit: decoding R² against the bottleneck size b.
    Audit(AuditArgs),
}

/// Inputs shared by `fit` and `audit`.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Spikes: a `[neuron, frame]` raster (.mat/.npy/.csv) or spike trains (NWB, Kilosort).
    #[arg(long)]
    pub spikes: PathBuf,
    /// MATLAB variable of the raster in a `.mat` file.
    #[arg(long)]
    pub spikes_variable: Option<String>,
    /// Target series, one row (or column) per frame.
    #[arg(long)]
    pub target: PathBuf,
    /// MATLAB variable of the target in a `.mat` file.
    #[arg(long)]
    pub target_variable: Option<String>,
    /// Frame width in seconds (binning of spike trains; frame rate of plain arrays).
    #[arg(long, default_value_t = 0.05)]
    pub bin_s: f64,
    /// Feature lags: `zero`, `causal:N` or `centred:PAST,FUTURE` (default `centred:9,10`; for
    /// `--model kalman` the summation window, default `centred:10,9`).
    #[arg(long)]
    pub lags: Option<String>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Decoder kinds of `decode fit`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LinearKind {
    /// Ridge on the given lags.
    Ridge,
    /// Ridge on causal lags 0 … 19 (ignores --lags).
    Wiener,
    /// Reduced-rank regression of rank --bottleneck.
    Rrr,
    /// Kalman filter on a [target, velocity] state observed through --components principal
    /// components of the counts summed over --lags (default window t − 10 … t + 9).
    Kalman,
    /// EIT classifying an integer target (one class per value) from --window-frame windows of
    /// the raster, beside a linear probe on the same windows.
    Eit,
    /// POYO: spike tokens at their frame times, a PerceiverIO with rotary time embeddings.
    Poyo,
}

/// `spikelab decode fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Decoder.
    #[arg(long, value_enum, default_value = "ridge")]
    pub model: LinearKind,
    /// Rank of the reduced-rank decoder.
    #[arg(long)]
    pub bottleneck: Option<usize>,
    /// Principal components observed by the Kalman decoder (0 = every active neuron).
    #[arg(long, default_value_t = 12)]
    pub components: usize,
    /// Frames per window of the EIT classifier.
    #[arg(long, default_value_t = WindowParams::default().window)]
    pub window: usize,
    /// Training epochs of the EIT classifier.
    #[arg(long, default_value_t = WindowParams::default().train.epochs)]
    pub epochs: usize,
    /// Device of EIT and POYO: `cpu`, `cuda[:N]`, `metal[:N]`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub units: UnitArgs,
    /// POYO configuration.
    #[arg(long, value_enum, default_value = "1.3m")]
    pub poyo_config: PoyoPreset,
    /// POYO context window (s).
    #[arg(long, default_value_t = 1.0)]
    pub context_s: f64,
    #[command(flatten)]
    pub poyo: PoyoTrainArgs,
}

/// `spikelab decode audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Bottleneck sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5,10,20,50")]
    pub bottlenecks: Vec<usize>,
    /// Decode a one-hot code of the (integer) target instead of its value (needed for a
    /// scalar target: rank 1 already is full rank there).
    #[arg(long)]
    pub one_hot: bool,
    /// Bootstrap resamples of contiguous test blocks.
    #[arg(long, default_value_t = AuditParams::default().bootstrap)]
    pub bootstrap: usize,
    /// Frames per bootstrap block.
    #[arg(long, default_value_t = 20)]
    pub block_len: usize,
    /// Use the paper's gradient path (AdamW + cosine) instead of reduced-rank regression.
    #[arg(long)]
    pub gradient: bool,
    /// Epochs of the gradient path.
    #[arg(long, default_value_t = GradientParams::default().epochs)]
    pub epochs: usize,
    /// AdamW weight decay of the gradient path.
    #[arg(long, default_value_t = GradientParams::default().weight_decay)]
    pub weight_decay: f64,
    /// Device of the gradient path: `cpu`, `cuda[:N]`, `metal[:N]`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed of the random baseline, bootstrap and training.
    #[arg(long, default_value_t = AuditParams::default().seed)]
    pub seed: u64,
    /// Raster rows to decode from: `all`, `odd`, `even` or 0-based rows `0,2,5-9`.
    #[arg(long, default_value = "all")]
    pub units: String,
}

/// Runs a `decode` subcommand.
pub fn run(cmd: DecodeCommand) -> Result<()> {
    match cmd {
        DecodeCommand::Fit(a) => fit(a),
        DecodeCommand::Transfer(a) => decode_poyo::transfer(a),
        DecodeCommand::Predict(a) => decode_poyo::predict(a),
        DecodeCommand::Audit(a) => audit(a),
    }
}

fn inputs(a: &InputArgs) -> Result<DecodeInputs> {
    Ok(read_inputs(
        &a.spikes,
        a.spikes_variable.as_deref(),
        &a.target,
        a.target_variable.as_deref(),
        a.bin_s,
    )?)
}

/// `decode fit --model eit`: train, print the accuracies, write the fit and the model.
fn fit_eit(a: &FitArgs) -> Result<()> {
    WindowFit::check_writable(&a.input.out, a.input.force)?;
    let DecodeInputs { counts, target } = inputs(&a.input)?;
    let (counts, _) = a
        .units
        .units
        .parse::<UnitSelection>()?
        .select(counts.view())?;
    let defaults = WindowParams::default();
    let params = WindowParams {
        window: a.window,
        device: a.device.parse()?,
        train: TrainParams {
            epochs: a.epochs,
            ..defaults.train
        },
        ..defaults
    };
    let bar = ProgressBar::new(a.epochs as u64);
    bar.set_style(ProgressStyle::with_template(
        "epoch [{bar:30}] {pos}/{len} {msg}",
    )?);
    let mut obs = |p: &Progress<'_>| {
        bar.set_position(p.step as u64 + 1);
        if let Some(acc) = p.metric("accuracy") {
            bar.set_message(format!("test accuracy {acc:.3}"));
        }
        Flow::Continue
    };
    let (model, fit) = fit_windows(counts.view(), target.view(), &params, &mut obs)?;
    bar.finish_and_clear();
    println!(
        "{} neurons, {} classes, {} train / {} test windows of {} frames",
        counts.nrows(),
        fit.classes.len(),
        fit.n_windows.0,
        fit.n_windows.1,
        a.window
    );
    println!(
        "test accuracy: EIT {:.4}, linear probe {:.4} (α {}), majority class {:.4}",
        fit.test_accuracy, fit.probe_accuracy, fit.probe_alpha, fit.majority_accuracy
    );
    fit.write(&model, &a.input.out, a.input.force)?;
    println!("wrote {}", a.input.out.display());
    Ok(())
}

fn fit(a: FitArgs) -> Result<()> {
    if a.units.train_used != 1.0 && matches!(a.model, LinearKind::Kalman | LinearKind::Eit) {
        anyhow::bail!("--train-used applies to ridge, wiener, rrr and poyo");
    }
    if let LinearKind::Eit = a.model {
        return fit_eit(&a);
    }
    if let LinearKind::Poyo = a.model {
        PoyoFit::check_writable(&a.input.out, a.input.force)?;
        let data = inputs(&a.input)?;
        return decode_poyo::fit(
            &a.input,
            data,
            &a.units,
            &a.poyo,
            a.poyo_config,
            a.context_s,
            &a.device,
        );
    }
    LinearDecoderFit::check_writable(&a.input.out, a.input.force)?;
    let DecodeInputs { counts, target } = inputs(&a.input)?;
    let (counts, _) = a
        .units
        .units
        .parse::<UnitSelection>()?
        .select(counts.view())?;
    if let LinearKind::Kalman = a.model {
        let window = match &a.input.lags {
            Some(l) => l.parse()?,
            None => KalmanDecoderParams::default().window,
        };
        let params = KalmanDecoderParams {
            window,
            n_components: (a.components > 0).then_some(a.components),
            ..Default::default()
        };
        let fit = params.check()?.fit(counts.view(), target.view())?;
        println!(
            "{} neurons × {} frames → {} outputs; Kalman filter on {} components",
            counts.nrows(),
            counts.ncols(),
            target.ncols(),
            fit.model.projection.ncols()
        );
        println!("train R² {:.4}, test R² {:.4}", fit.train_r2, fit.test_r2);
        fit.write(&a.input.out, a.input.force)?;
        println!("wrote {}", a.input.out.display());
        return Ok(());
    }
    let mut params = LinearDecoderParams {
        lags: a.input.lags.as_deref().unwrap_or(DEFAULT_LAGS).parse()?,
        train_used: a.units.train_used,
        ..Default::default()
    };
    match a.model {
        LinearKind::Ridge | LinearKind::Kalman | LinearKind::Eit | LinearKind::Poyo => {}
        LinearKind::Wiener => params.lags = Lags::Causal(20),
        LinearKind::Rrr => {
            params.rank = Some(a.bottleneck.context("--model rrr needs --bottleneck")?)
        }
    }
    let fit = params.check()?.fit(counts.view(), target.view())?;
    println!(
        "{} neurons × {} frames → {} outputs; α = {} (validation R² {:?})",
        counts.nrows(),
        counts.ncols(),
        target.ncols(),
        fit.model.alpha,
        fit.validation
    );
    println!("train R² {:.4}, test R² {:.4}", fit.train_r2, fit.test_r2);
    fit.write(&a.input.out, a.input.force)?;
    println!("wrote {}", a.input.out.display());
    Ok(())
}

fn audit(a: AuditArgs) -> Result<()> {
    let (json, png) = (
        a.input.out.join("audit.json"),
        a.input.out.join("audit.png"),
    );
    for p in [&json, &png] {
        spikelab_data::io::check_writable(p, a.input.force)?;
    }
    let DecodeInputs { counts, target } = inputs(&a.input)?;
    let (counts, _) = a.units.parse::<UnitSelection>()?.select(counts.view())?;
    let target = if a.one_hot {
        spikelab_decode::one_hot(target.view())?
    } else {
        target
    };
    let mode = if a.gradient {
        AuditMode::Gradient(GradientParams {
            epochs: a.epochs,
            weight_decay: a.weight_decay,
            device: a.device.parse()?,
            ..Default::default()
        })
    } else {
        AuditMode::ClosedForm
    };
    let params = AuditParams {
        bottlenecks: a.bottlenecks.clone(),
        bootstrap: a.bootstrap,
        block_len: a.block_len,
        seed: a.seed,
        mode,
        ..Default::default()
    };
    let bar = ProgressBar::new(a.bottlenecks.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len}",
    )?);
    bar.set_message("bottleneck");
    let mut obs = |p: &Progress<'_>| {
        bar.set_position(p.step as u64 + 1);
        Flow::Continue
    };
    let lags: Lags = a.input.lags.as_deref().unwrap_or(DEFAULT_LAGS).parse()?;
    let rep = params
        .check()?
        .run_recording(counts.view(), target.view(), &lags, &mut obs)?;
    bar.finish_and_clear();
    println!(
        "ceiling R² {:.4}, random-input R² {:.4}, α {}",
        rep.ceiling, rep.random, rep.alpha
    );
    println!("   b      R²   95% CI            random   fidelity");
    for p in &rep.points {
        println!(
            "{:4}  {:.4}  [{:.4}, {:.4}]  {:+.4}  {:.3}",
            p.b, p.r2, p.ci.0, p.ci.1, p.r2_random, p.fidelity
        );
    }
    match rep.b90 {
        Some(b) => println!("smallest b with fidelity ≥ 0.9: {b}"),
        None => println!("no b reaches fidelity 0.9"),
    }
    rep.write_json(&json, a.input.force)?;
    rep.plot(&png, a.input.force)?;
    println!("wrote {}", a.input.out.display());
    Ok(())
}
