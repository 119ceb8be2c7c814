//! `spikelab decode`: linear decoders and the BrainBits bottleneck audit; `spikelab synth
//! twobody`: EIT's two-body benchmark.
//!
//! ```text
//! spikelab decode fit --spikes raster.mat --target pos.mat --model ridge|wiener|rrr \
//!     [--bottleneck b] [--lags centred:9,10] --out DIR [--force]
//! spikelab decode audit --spikes raster.mat --target pos.mat [--one-hot] \
//!     [--bottlenecks 1,2,5,10,20,50] [--gradient --epochs 100 --device cuda] --out DIR
//! spikelab synth twobody --out twobody.npy [--trials 500] [--seed 0]
//! ```
//! `fit` writes `DIR/fit.json` (α grid, split, scores, weights) and `DIR/test_prediction.npy`
//! (`[test frame, output]`); `audit` writes `DIR/audit.json` and `DIR/audit.png`. Files are
//! written through a temporary name and renamed; existing files are refused without `--force`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Axis};
use spikelab_core::{Flow, Progress};
use spikelab_decode::{
    AuditMode, AuditParams, GradientParams, Lags, LinearDecoderParams, TimeSplit, lagged_features,
};
use spikelab_synth::{TwoBodyLabel, TwoBodyParams};

use spikelab_data::io::{self, Loaded, ReadOptions};

/// `spikelab decode` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DecodeCommand {
    /// Fit a linear decoder (ridge, Wiener filter, reduced-rank) and score it on held-out time.
    Fit(FitArgs),
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
    /// Feature lags: `zero`, `causal:N` or `centred:PAST,FUTURE`.
    #[arg(long, default_value = "centred:9,10")]
    pub lags: String,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Linear decoder kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LinearKind {
    /// Ridge on the given lags.
    Ridge,
    /// Ridge on causal lags 0 … 19 (ignores --lags).
    Wiener,
    /// Reduced-rank regression of rank --bottleneck.
    Rrr,
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
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Frames per bootstrap block.
    #[arg(long, default_value_t = 20)]
    pub block_len: usize,
    /// Use the paper's gradient path (AdamW + cosine) instead of reduced-rank regression.
    #[arg(long)]
    pub gradient: bool,
    /// Epochs of the gradient path.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// AdamW weight decay of the gradient path.
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Device of the gradient path: `cpu`, `cuda[:N]`, `metal[:N]`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed of the random baseline, bootstrap and training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `spikelab synth twobody`.
#[derive(Debug, Args)]
pub struct TwoBodyArgs {
    /// Output `.npy`: `[trial, body, (m, x, y, vx, vy), step]`; the window starts and the
    /// permutation classes go to the same name with `.truth.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Trials.
    #[arg(long, default_value_t = 500)]
    pub trials: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `decode` subcommand.
pub fn run(cmd: DecodeCommand) -> Result<()> {
    match cmd {
        DecodeCommand::Fit(a) => fit(a),
        DecodeCommand::Audit(a) => audit(a),
    }
}

fn parse_lags(s: &str) -> Result<Lags> {
    let bad = || anyhow::anyhow!("--lags {s:?}: expected zero, causal:N or centred:PAST,FUTURE");
    Ok(match s.split_once(':') {
        None if s == "zero" => Lags::Zero,
        Some(("causal", n)) => Lags::Causal(n.parse().map_err(|_| bad())?),
        Some(("centred", pf)) => {
            let (p, f) = pf.split_once(',').ok_or_else(bad)?;
            Lags::Centred {
                past: p.parse().map_err(|_| bad())?,
                future: f.parse().map_err(|_| bad())?,
            }
        }
        _ => return Err(bad()),
    })
}

fn as_matrix(loaded: Loaded, what: &Path) -> Result<Array2<f64>> {
    Ok(match loaded {
        Loaded::Raster(r) => spikelab_decode::raster_counts(&r),
        Loaded::Array(a) => match a.data.ndim() {
            1 => a.data.insert_axis(Axis(1)).into_dimensionality()?,
            2 => a.data.into_dimensionality()?,
            n => bail!("{}: {n}-dimensional array, expected 1 or 2", what.display()),
        },
        Loaded::Traces(t) => t.data().t().to_owned(),
        Loaded::SpikeTrains(_) => bail!("{}: spike trains are not a target", what.display()),
    })
}

/// Reads any supported file through the reader facade, frames of `bin_s` seconds.
fn open(path: &Path, bin_s: f64, variable: Option<&str>) -> Result<Loaded> {
    let options = ReadOptions {
        frame_rate_hz: Some(1.0 / bin_s),
        bin_s: Some(bin_s),
        variable: variable.map(str::to_owned),
        ..ReadOptions::default()
    };
    Ok(io::open(path, &options)?)
}

/// Counts `[neuron, frame]` and target `[frame, output]`.
fn inputs(a: &InputArgs) -> Result<(Array2<f64>, Array2<f64>)> {
    let spikes = open(&a.spikes, a.bin_s, a.spikes_variable.as_deref())?;
    let counts = match spikes {
        Loaded::SpikeTrains(s) => spikelab_decode::spike_counts(&s, a.bin_s)?,
        other => as_matrix(other, &a.spikes)?,
    };
    let t = counts.ncols();
    let target = as_matrix(
        open(&a.target, a.bin_s, a.target_variable.as_deref())?,
        &a.target,
    )?;
    let target = if target.nrows() == t {
        target
    } else if target.ncols() == t {
        target.t().to_owned()
    } else {
        bail!(
            "target {:?} has no axis of the raster's {t} frames",
            target.dim()
        );
    };
    Ok((counts, target))
}

fn prepare_out(dir: &Path, files: &[&str], force: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for f in files {
        let p = dir.join(f);
        if p.exists() && !force {
            bail!("{} exists (pass --force to replace it)", p.display());
        }
    }
    Ok(())
}

fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path.file_name().context("output has no file name")?;
    // Keep the extension last: writers pick the format from it.
    let tmp = path.with_file_name(format!(".tmp.{}", name.to_string_lossy()));
    write(&tmp)?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

fn fit(a: FitArgs) -> Result<()> {
    prepare_out(
        &a.input.out,
        &["fit.json", "test_prediction.npy"],
        a.input.force,
    )?;
    let (counts, target) = inputs(&a.input)?;
    let mut params = LinearDecoderParams {
        lags: parse_lags(&a.input.lags)?,
        ..Default::default()
    };
    match a.model {
        LinearKind::Ridge => {}
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
    write_atomic(&a.input.out.join("fit.json"), |p| {
        std::fs::write(p, serde_json::to_string_pretty(&fit)?)?;
        Ok(())
    })?;
    write_atomic(&a.input.out.join("test_prediction.npy"), |p| {
        Ok(spikelab_data::io::npy::write(
            p,
            &fit.test_prediction,
            true,
        )?)
    })?;
    println!("wrote {}", a.input.out.display());
    Ok(())
}

fn one_hot(target: &Array2<f64>) -> Result<Array2<f64>> {
    if target.ncols() != 1 || target.iter().any(|v| v.fract() != 0.0) {
        bail!("--one-hot needs a single integer-valued target column");
    }
    let lo = target.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    let hi = target.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let k = (hi - lo) as usize + 1;
    Ok(Array2::from_shape_fn((target.nrows(), k), |(i, j)| {
        f64::from(u8::from((target[[i, 0]] - lo) as usize == j))
    }))
}

fn audit(a: AuditArgs) -> Result<()> {
    prepare_out(&a.input.out, &["audit.json", "audit.png"], a.input.force)?;
    let (counts, target) = inputs(&a.input)?;
    let target = if a.one_hot { one_hot(&target)? } else { target };
    let x = lagged_features(counts.view(), &parse_lags(&a.input.lags)?)?;
    let split = TimeSplit::new(x.nrows(), 0.8, 0.125)?;
    let rows = |m: &Array2<f64>, r: std::ops::Range<usize>| m.slice(ndarray::s![r, ..]).to_owned();
    let (xtr, ytr) = (
        rows(&x, split.train.clone()),
        rows(&target, split.train.clone()),
    );
    let (xte, yte) = (
        rows(&x, split.test.clone()),
        rows(&target, split.test.clone()),
    );
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
    let rep = params
        .check()?
        .run(xtr.view(), ytr.view(), xte.view(), yte.view(), &mut obs)?;
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
    write_atomic(&a.input.out.join("audit.json"), |p| {
        std::fs::write(p, serde_json::to_string_pretty(&rep)?)?;
        Ok(())
    })?;
    write_atomic(&a.input.out.join("audit.png"), |p| plot(&rep, p))?;
    println!("wrote {}", a.input.out.display());
    Ok(())
}

fn plot(rep: &spikelab_decode::AuditReport, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let root = BitMapBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let bmax = rep.points.iter().map(|p| p.b).max().unwrap_or(1) as f64;
    let top = rep
        .points
        .iter()
        .map(|p| p.ci.1.max(p.r2))
        .fold(rep.ceiling.max(rep.ceiling_ci.1), f64::max);
    let lo = rep.random.min(0.0) - 0.05 * top.abs().max(0.1);
    let hi = top * 1.15 + 0.01;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("BrainBits audit ({})", rep.mode),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0.8f64..bmax * 1.25).log_scale(), lo..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("bottleneck b")
        .y_desc("test R²")
        .draw()?;
    let pts: Vec<(f64, f64)> = rep.points.iter().map(|p| (p.b as f64, p.r2)).collect();
    chart
        .draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(2)))?
        .label("bottleneck")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    chart.draw_series(
        rep.points
            .iter()
            .map(|p| PathElement::new(vec![(p.b as f64, p.ci.0), (p.b as f64, p.ci.1)], BLUE)),
    )?;
    let rand: Vec<(f64, f64)> = rep
        .points
        .iter()
        .map(|p| (p.b as f64, p.r2_random))
        .collect();
    chart
        .draw_series(LineSeries::new(rand, RED))?
        .label("random inputs")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    chart
        .draw_series(LineSeries::new(
            vec![(0.8, rep.ceiling), (bmax * 1.25, rep.ceiling)],
            BLACK.stroke_width(1),
        ))?
        .label("ceiling (no bottleneck)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// `spikelab synth twobody`.
pub fn twobody(a: TwoBodyArgs) -> Result<()> {
    let truth_path = a.out.with_extension("truth.json");
    for p in [&a.out, &truth_path] {
        if p.exists() && !a.force {
            bail!("{} exists (pass --force to replace it)", p.display());
        }
    }
    let data = TwoBodyParams {
        n_trials: a.trials,
        ..Default::default()
    }
    .generate(a.seed)?;
    write_atomic(&a.out, |p| {
        Ok(spikelab_data::io::npy::write(p, &data.states, true)?)
    })?;
    let truth = serde_json::json!({
        "axes": "[trial, body, (m, x, y, vx, vy), step]",
        "bodies": "0, 1 = pair 1 (light, heavy); 2, 3 = pair 2",
        "window_starts": data.starts,
        "permutations": spikelab_synth::twobody::PERMUTATIONS,
        "classes": {
            "both": spikelab_synth::twobody::permutation_classes(TwoBodyLabel::Both),
            "connection": spikelab_synth::twobody::permutation_classes(TwoBodyLabel::Connection),
            "type": spikelab_synth::twobody::permutation_classes(TwoBodyLabel::Type),
        },
        "seed": a.seed,
    });
    write_atomic(&truth_path, |p| {
        std::fs::write(p, serde_json::to_string_pretty(&truth)?)?;
        Ok(())
    })?;
    println!(
        "wrote {} trials to {} and {}",
        a.trials,
        a.out.display(),
        truth_path.display()
    );
    Ok(())
}
