//! `spikelab calcium …`: calcium → spike inference (Spikefinder-Elephant, CASCADE).
//!
//! ```text
//! spikelab calcium deconvolve IN OUT [--fps HZ] [--model model1.h5|FILE] [--ensemble] [--rates]
//! spikelab calcium deconvolve IN OUT --model cascade:NAME|cascade:DIR [--resample]
//! spikelab calcium models
//! spikelab calcium evaluate [--model …] [--ensemble] [--padding zero|nan]
//! spikelab calcium train OUT.safetensors [--steps N] [--init model1.h5|glorot] [--seed S]
//! spikelab calcium train-cascade --ground-truth DIR... --frame-rate HZ --noise-levels 2,3 --out DIR
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ndarray::Array2;
use spikelab_calcium::cascade::Threshold;
use spikelab_calcium::deconvolve::{DeconvolverParams, ElephantModel, Family, ModelChoice, Units};
use spikelab_calcium::evaluate::{Padding, evaluate};
use spikelab_calcium::train::{TrainConfig, TrainingData, train};
use spikelab_calcium::{ElephantWeights, Evaluation};
use spikelab_data::io::{self, ReadOptions};

use super::nwb_out::{NwbMetaArgs, NwbOutArgs, NwbTarget};
use spikelab_datasets::calcium::leaderboard_scores;

/// `spikelab calcium` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CalciumCommand {
    /// Infer spike rates from calcium traces (CSV, NPY, c2s/plain MAT or NWB ophys).
    Deconvolve(DeconvolveArgs),
    /// Score a model on the bundled Spikefinder test sets 1, 3, 4, 5 beside the leaderboard.
    Evaluate(EvaluateArgs),
    /// Train (or retrain) the network on the bundled Spikefinder training sets 4, 5, 6.
    Train(TrainArgs),
    /// List the CASCADE models: bundled ones and those its authors publish for download.
    Models,
    /// Train a CASCADE model for a frame rate from CASCADE ground truth (`CAttached_*.mat`).
    TrainCascade(super::calcium_cascade::TrainCascadeArgs),
}

/// Which network(s) to run.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Weights: an embedded pretrained model (`model1` … `model5`, also written `model1.h5`;
    /// default model1), a bundled Keras file of `datasets/`
    /// (`model_for_test_dataset1_retrained.h5`) or a path to a `.h5`/`.safetensors` file; or
    /// `cascade:NAME` (a bundled CASCADE model, see `calcium models`) / `cascade:FOLDER` (a
    /// downloaded CASCADE model folder).
    #[arg(long)]
    pub model: Option<String>,
    /// Average the five embedded models `model1` … `model5` instead of `--model`.
    #[arg(long)]
    pub ensemble: bool,
    /// Use the per-window (Keras-style, ~200× slower) evaluation instead of the fully
    /// convolutional one; the results agree to ~1e-5.
    #[arg(long)]
    pub per_window: bool,
}

impl ModelArgs {
    fn params(&self) -> Result<DeconvolverParams> {
        let model = match (&self.model, self.ensemble) {
            (_, true) => ModelChoice::EmbeddedEnsemble,
            (None, false) => DeconvolverParams::default().model,
            (Some(name), false) => model_choice(name)?,
        };
        let evaluation = if self.per_window {
            Evaluation::PerWindow
        } else {
            Evaluation::default()
        };
        Ok(DeconvolverParams {
            model,
            evaluation,
            ..Default::default()
        })
    }
}

/// `--model` → a model: an existing path, an embedded name, a bundled Keras file or CASCADE
/// model (`cascade:…`).
fn model_choice(name: &str) -> Result<ModelChoice> {
    if let Some(c) = name.strip_prefix("cascade:") {
        return Ok(ModelChoice::Cascade(super::calcium_cascade::model_dir(c)?));
    }
    if Path::new(name).exists() {
        return Ok(ModelChoice::ElephantFile(name.into()));
    }
    if let Some(m) = ModelChoice::embedded_by_name(name) {
        return Ok(m);
    }
    Ok(ModelChoice::ElephantFile(
        spikelab_datasets::elephant_model(name)
            .with_context(|| format!("{name:?}: no such file, embedded or bundled model"))?,
    ))
}

/// Arguments of `spikelab calcium deconvolve`.
#[derive(clap::Args, Debug)]
pub struct DeconvolveArgs {
    /// Calcium traces: `.csv[.gz]`/`.npy` (`[time, neuron]`), `.mat[.gz]` (c2s `data` struct or a
    /// matrix named by `--variable`), `.nwb` (first RoiResponseSeries).
    pub input: PathBuf,
    /// Output `.csv` or `.npy`, `[time, neuron]` at the input's frame rate and length, NaN where
    /// undefined.
    pub output: PathBuf,
    /// Frame rate (Hz); required for files that store none (CSV, NPY, MAT matrices).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Use `--fps` even where the file stores a different rate.
    #[arg(long)]
    pub force_fps: bool,
    /// MATLAB variable of a plain `.mat` matrix.
    #[arg(long)]
    pub variable: Option<String>,
    /// The input matrix is `[neuron, time]` (transpose it).
    #[arg(long)]
    pub neurons_first: bool,
    /// Also run baseline removal and dispersion normalisation on 100 Hz input (always done,
    /// with resampling, when the rate is not 100 Hz).
    #[arg(long)]
    pub preprocess: bool,
    /// Write spike rates in Hz (Elephant: stored calibration of the embedded models, else
    /// fitted on the bundled training sets) instead of the network's units.
    #[arg(long)]
    pub rates: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// CASCADE only: Fourier-resample the traces to the model's frame rate instead of refusing
    /// a rate more than 5 % off (the output comes back at the input's rate).
    #[arg(long)]
    pub resample: bool,
    /// CASCADE only: `clip` negatives, `none`, or `single-spike` (zero below 1/e of a single
    /// spike's peak, with dilation).
    #[arg(long, default_value_t = Threshold::default())]
    pub threshold: Threshold,
    /// Also write what was done (model, rates, noise levels, skipped neurons) as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Replace OUT (and the `--report` file) if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub nwb: NwbOutArgs,
}

/// Arguments of `spikelab calcium evaluate`.
#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Frames without a prediction: `zero` (as the submission CSVs) or `nan` (dropped).
    #[arg(long, default_value = "zero")]
    pub padding: String,
}

/// Arguments of `spikelab calcium train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Output weights (`.safetensors`).
    pub output: PathBuf,
    /// Start from `glorot` (fresh Keras initialisation) or a model name/path.
    #[arg(long, default_value = "glorot")]
    pub init: String,
    /// Number of Adagrad steps (default: the original's 15 epochs).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Shuffling / initialisation seed.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    pub seed: u64,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `spikelab calcium` subcommand.
pub fn run(cmd: CalciumCommand) -> Result<()> {
    match cmd {
        CalciumCommand::Deconvolve(a) => deconvolve(a),
        CalciumCommand::Evaluate(a) => evaluate_cmd(a),
        CalciumCommand::Train(a) => train_cmd(a),
        CalciumCommand::Models => super::calcium_cascade::models(),
        CalciumCommand::TrainCascade(a) => super::calcium_cascade::train_cascade(a),
    }
}

/// Refuses an output name that is not `.csv` or `.npy` (before any work is done).
fn check_output(path: &Path) -> Result<bool> {
    let name = path.to_string_lossy().to_lowercase();
    match (name.ends_with(".npy"), name.ends_with(".csv")) {
        (false, false) => bail!("{}: output must be .csv or .npy", path.display()),
        (npy, _) => Ok(npy),
    }
}

/// Writes `[row, column]` values as `.npy` or `.csv` (columns named 0, 1, …), atomically.
fn write_matrix(path: &Path, y: &Array2<f64>, force: bool) -> Result<()> {
    let cols: Vec<String> = (0..y.ncols()).map(|j| j.to_string()).collect();
    let npy = check_output(path)?;
    Ok(io::write_atomic(path, force, |tmp| {
        if npy {
            io::npy::write(tmp, y, true)
        } else {
            io::csv::write_table(tmp, &cols, y, true)
        }
    })?)
}

fn deconvolve(a: DeconvolveArgs) -> Result<()> {
    check_output(&a.output)?;
    io::check_writable(&a.output, a.force)?;
    if let Some(r) = &a.report {
        io::check_writable(r, a.force)?;
    }
    let nwb_target = a.nwb.target(a.force)?;
    let mut params = DeconvolverParams {
        preprocess: a.preprocess,
        units: if a.rates {
            Units::RatesHz
        } else {
            Units::Network
        },
        resample: a.resample,
        threshold: a.threshold,
        ..a.model.params()?
    };
    if a.rates && matches!(params.model, ModelChoice::ElephantFile(_)) {
        let m = ElephantModel::load(&params.model, params.evaluation)?;
        params.calibration = Some(spikelab_datasets::calcium::fit_calibration(&m)?);
    }
    let deconvolver = params.build()?;
    let options = ReadOptions {
        frame_rate_hz: a.fps,
        force_frame_rate: a.force_fps,
        variable: a.variable.clone(),
        neurons_first: a.neurons_first,
        ..ReadOptions::default()
    };
    let traces = io::read_traces(&a.input, &options)?;
    let t0 = std::time::Instant::now();
    let out = deconvolver.run(&traces, &mut spikelab_core::Silent)?;
    let r = &out.report;
    eprintln!(
        "{}: {} neurons, {} frames at {} Hz; {} ({:?}) at {} Hz ({:?}, {} frames), {:.2} s",
        a.input.display(),
        r.n_neurons,
        r.n_frames,
        r.input_rate_hz,
        r.model,
        r.family,
        r.model_rate_hz,
        r.rate_handling,
        r.n_model_frames,
        t0.elapsed().as_secs_f64()
    );
    for (j, nu) in r.noise_levels.iter().enumerate() {
        let level = r.cascade.as_ref().map(|c| c.model_noise_level[j]);
        let level = level.map_or(String::new(), |l| format!(" → ensemble of level {l}"));
        eprintln!("  neuron {j}: noise level ν = {nu:.2} %·Hz^-1/2{level}");
    }
    for s in &r.skipped {
        eprintln!("  neuron {}: no output ({:?})", s.neuron, s.reason);
    }
    if let Some(c) = &r.calibration {
        let (a, b) = (c.intercept, c.slope);
        eprintln!("calibration: spikes/frame = max(0, {a:.4} + {b:.4}·output)");
    }
    if r.cascade.as_ref().is_some_and(|c| c.above_trained_range) {
        eprintln!(
            "warning: the mean noise level is more than 2 above the model's highest level; check the ΔF/F computation or use a high-noise model"
        );
    }
    write_matrix(&a.output, &out.values, a.force)?;
    if let Some(p) = &a.report {
        io::write_json(p, r, a.force)?;
    }
    let units = match (r.units, r.family) {
        (Units::RatesHz, _) => "spikes/s",
        (_, Family::Cascade) => "expected spikes per frame",
        _ => "z-score units",
    };
    let (out_path, hz) = (a.output.display(), r.output_rate_hz);
    eprintln!("wrote {out_path} ({units}, [time, neuron] at {hz} Hz, NaN where undefined)");
    if let Some(t) = nwb_target {
        let unit = if r.units == Units::RatesHz {
            "Hz"
        } else {
            units
        };
        let description = format!(
            "{units} inferred from the calcium traces by spikelab ({}), NaN where undefined",
            r.model
        );
        let at = write_nwb_results(
            &t,
            &traces,
            &out.values,
            hz,
            unit,
            &description,
            &a.nwb.meta,
        )?;
        eprintln!(
            "wrote {} ({at}, linked to the traces' ROIs)",
            t.dest.display()
        );
    }
    Ok(())
}

/// Adds the results as a `RoiResponseSeries` linked to the ROIs of the traces: to a copy of
/// the user's NWB file, or to a new file holding the traces too.
#[cfg(feature = "hdf5")]
fn write_nwb_results(
    t: &NwbTarget,
    traces: &spikelab_data::CalciumTraces,
    values: &Array2<f64>,
    rate_hz: f64,
    unit: &str,
    description: &str,
    meta: &NwbMetaArgs,
) -> Result<String> {
    use io::nwb::{self, OphysWriteOptions, RoiSeriesOptions};
    let opts = RoiSeriesOptions {
        description: description.to_string(),
        ..RoiSeriesOptions::new(
            if unit == "Hz" {
                "spike_rate"
            } else {
                "spike_inference"
            },
            unit,
        )
    };
    Ok(match &t.source {
        Some(src) => nwb::add_roi_response_series(
            src,
            &t.dest,
            values.view(),
            rate_hz,
            &opts,
            &t.add_options(meta)?,
        )?,
        None => nwb::write_ophys_with_series(
            &t.dest,
            traces,
            values.view(),
            rate_hz,
            &OphysWriteOptions {
                overwrite: t.overwrite,
                ..OphysWriteOptions::new("calcium traces and spike inference written by spikelab")
                    .with_metadata(meta.metadata()?)
            },
            &opts,
        )?,
    })
}

#[cfg(not(feature = "hdf5"))]
fn write_nwb_results(
    t: &NwbTarget,
    _: &spikelab_data::CalciumTraces,
    _: &Array2<f64>,
    _: f64,
    _: &str,
    _: &str,
    _: &NwbMetaArgs,
) -> Result<String> {
    bail!(
        "{}: NWB needs the `hdf5` feature (rebuild spikelab with default features)",
        t.dest.display()
    )
}

fn evaluate_cmd(a: EvaluateArgs) -> Result<()> {
    let padding = match a.padding.as_str() {
        "zero" => Padding::ZeroFilled,
        "nan" => Padding::NanDropped,
        other => bail!("--padding must be `zero` or `nan`, got {other:?}"),
    };
    let params = a.model.params()?;
    let m = ElephantModel::load(&params.model, params.evaluation)?;
    let base = leaderboard_scores("Elephant (CNN)", "corr")?;
    let emb = leaderboard_scores("Embedding of CNNs via Ca recording stats", "corr")?;
    let lb = |s: &[(String, f64)], n: u32| {
        s.iter()
            .find(|(d, _)| *d == format!("{n}.test.spikes"))
            .map_or("   –  ".to_string(), |(_, v)| format!("{v:.3}"))
    };
    let name = &params.model;
    println!("Spikefinder metric (40-ms sums, Pearson r, median over neurons), model: {name}");
    println!(
        "{:<8} {:>7} {:>9} {:>10} {:>12}  per-neuron r",
        "dataset", "ours", "ours(ρ)", "LB Elephant", "LB embedding"
    );
    let mut ours = Vec::new();
    for n in [1u32, 3, 4, 5] {
        let s = evaluate(
            &m,
            &spikelab_datasets::calcium::spikefinder_test(n)?,
            padding,
        )?;
        ours.push(s.median_corr);
        let cells: Vec<String> = s.corr.iter().map(|r| format!("{r:.3}")).collect();
        let (r, rho) = (s.median_corr, s.median_rank);
        let (b, e) = (lb(&base, n), lb(&emb, n));
        let name = format!("test {n}");
        println!(
            "{name:<8} {r:>7.3} {rho:>9.3} {b:>10} {e:>12}  {}",
            cells.join(" ")
        );
    }
    let mean = ours.iter().sum::<f64>() / ours.len() as f64;
    println!("mean of the 4 medians: {mean:.3} (test 2 has no bundled calcium)");
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    io::check_writable(&a.output, a.force)?;
    let init = if a.init == "glorot" {
        ElephantWeights::glorot_uniform(a.seed)
    } else {
        match ElephantModel::load(&model_choice(&a.init)?, Evaluation::default())? {
            ElephantModel::One(m) => m.weights().clone(),
            ElephantModel::Ensemble(_) => bail!("--init takes one model"),
        }
    };
    let mut data = TrainingData::new();
    for n in [4u32, 5, 6] {
        let split = spikelab_datasets::Split::Train;
        data.add_set(&spikelab_datasets::calcium::spikefinder_csv(n, split)?)?;
    }
    let cfg = TrainConfig {
        batch_size: a.batch_size,
        max_steps: a.steps,
        seed: a.seed,
        ..TrainConfig::default()
    };
    let per_epoch = data.n_samples().div_ceil(a.batch_size);
    let bar = indicatif::ProgressBar::new(a.steps.unwrap_or(per_epoch * cfg.epochs) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {msg} [{eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut smooth = f64::NAN;
    let r = train(&init, &data, &cfg, &spikelab_calcium::Device::Cpu, |p| {
        smooth = if smooth.is_nan() {
            p.loss
        } else {
            0.98 * smooth + 0.02 * p.loss
        };
        bar.set_position(p.step as u64);
        bar.set_message(format!("epoch {} loss {smooth:.4}", p.epoch));
    })?;
    bar.finish();
    r.weights.save_safetensors(&a.output, a.force)?;
    eprintln!(
        "{} samples from {} neurons; final smoothed loss {smooth:.4}; wrote {}",
        data.n_samples(),
        data.n_neurons(),
        a.output.display()
    );
    Ok(())
}
