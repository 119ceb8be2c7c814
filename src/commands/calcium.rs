//! `spikelab calcium …`: calcium → spike inference with the Spikefinder-Elephant CNN.
//!
//! ```text
//! spikelab calcium deconvolve IN OUT [--fps HZ] [--model model1.h5|FILE] [--ensemble] [--rates]
//! spikelab calcium deconvolve IN OUT --fps 30 --model cascade:NAME|cascade:DIR [--resample]
//! spikelab calcium models
//! spikelab calcium evaluate [--model …] [--ensemble] [--padding zero|nan]
//! spikelab calcium train OUT.safetensors [--steps N] [--init model1.h5|glorot] [--seed S]
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ndarray::Array2;
use spikelab_calcium::calibration::Calibration;
use spikelab_calcium::ensemble::ElephantEnsemble;
use spikelab_calcium::evaluate::{Padding, Predictor, evaluate};
use spikelab_calcium::preprocess::{Preprocessing, noise_level};
use spikelab_calcium::train::{TrainConfig, TrainingData, train};
use spikelab_calcium::{ElephantCnn, ElephantWeights, Evaluation};
use spikelab_data::CalciumTraces;
use spikelab_data::io::{self, ReadOptions};
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
}

/// Which network(s) to run.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Weights: an embedded pretrained model (`model1` … `model5`, also written `model1.h5`),
    /// a bundled Keras file of `datasets/` (`model_for_test_dataset1_retrained.h5`) or a path to
    /// a `.h5`/`.safetensors` file; or `cascade:NAME` (a bundled CASCADE model, see `calcium
    /// models`) / `cascade:FOLDER` (a downloaded CASCADE model folder).
    #[arg(long, default_value = "model1.h5")]
    pub model: String,
    /// Average the five embedded models `model1` … `model5` instead of `--model`.
    #[arg(long)]
    pub ensemble: bool,
    /// Use the per-window (Keras-style, ~200× slower) evaluation instead of the fully
    /// convolutional one; the results agree to ~1e-5.
    #[arg(long)]
    pub per_window: bool,
}

/// Arguments of `spikelab calcium deconvolve`.
#[derive(clap::Args, Debug)]
pub struct DeconvolveArgs {
    /// Calcium traces: `.csv[.gz]`/`.npy` (`[time, neuron]`), `.mat[.gz]` (c2s `data` struct or a
    /// matrix named by `--variable`), `.nwb` (first RoiResponseSeries).
    pub input: PathBuf,
    /// Output `.csv` or `.npy`, `[time, neuron]` at 100 Hz, NaN where undefined.
    pub output: PathBuf,
    /// Frame rate (Hz) of CSV/NPY/MAT-matrix input (c2s and NWB files carry their own).
    #[arg(long, default_value_t = 100.0)]
    pub fps: f64,
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
    /// Write calibrated spike rates in Hz (stored constants for the embedded models, else fitted
    /// on the bundled training sets) instead of the network's z-score units.
    #[arg(long)]
    pub rates: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// CASCADE only: Fourier-resample the traces to the model's frame rate (output at that
    /// rate) instead of refusing a rate more than 5 % off.
    #[arg(long)]
    pub resample: bool,
    /// CASCADE only: `clip` negatives (default), `none`, or `single-spike` (zero below 1/e of a
    /// single spike's peak, with dilation).
    #[arg(long, default_value = "clip")]
    pub threshold: String,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
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
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Shuffling / initialisation seed.
    #[arg(long, default_value_t = 0)]
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
        CalciumCommand::Models => crate::commands::calcium_cascade::models(),
    }
}

/// `model1`…`model5` (optionally `.h5`): the number of an embedded model.
fn embedded_number(name: &str) -> Option<u8> {
    let n = name
        .strip_suffix(".h5")
        .unwrap_or(name)
        .strip_prefix("model")?;
    n.parse().ok().filter(|n| (1..=5).contains(n))
}

fn load_cnn(name: &str) -> Result<ElephantCnn> {
    let p = Path::new(name);
    if p.exists() {
        return ElephantCnn::from_file(p).with_context(|| format!("loading weights {name}"));
    }
    if let Some(n) = embedded_number(name) {
        return Ok(ElephantCnn::embedded(n)?);
    }
    ElephantCnn::from_file(&spikelab_datasets::elephant_model(name)?)
        .with_context(|| format!("loading bundled model {name}"))
}

enum Model {
    One(Box<ElephantCnn>),
    Many(ElephantEnsemble),
}

impl Predictor for Model {
    fn predict(&self, traces: &CalciumTraces) -> spikelab_calcium::Result<Array2<f64>> {
        match self {
            Model::One(m) => m.predict(traces),
            Model::Many(e) => e.predict(traces),
        }
    }
}

fn model(a: &ModelArgs) -> Result<(Model, String)> {
    let ev = if a.per_window {
        Evaluation::PerWindow
    } else {
        Evaluation::FullyConvolutional
    };
    if a.ensemble {
        let e = ElephantEnsemble::embedded()?;
        let members = e
            .members()
            .iter()
            .map(|m| m.clone().with_evaluation(ev))
            .collect();
        return Ok((
            Model::Many(ElephantEnsemble::new(members)?),
            "ensemble of model1..model5".into(),
        ));
    }
    Ok((
        Model::One(Box::new(load_cnn(&a.model)?.with_evaluation(ev))),
        a.model.clone(),
    ))
}

pub(crate) fn write_matrix(path: &Path, y: &Array2<f64>, force: bool) -> Result<()> {
    let name_lc = path.to_string_lossy().to_lowercase();
    if name_lc.ends_with(".npy") {
        io::npy::write(path, y, force)?;
    } else if name_lc.ends_with(".csv") || name_lc.ends_with(".csv.gz") {
        let cols: Vec<String> = (0..y.ncols()).map(|j| j.to_string()).collect();
        io::csv::write_table(path, &cols, y, force)?;
    } else {
        bail!("{}: output must be .csv or .npy", path.display());
    }
    Ok(())
}

/// The stored calibration of an embedded model or the ensemble; other weights are fitted on
/// the bundled training sets.
fn calibration(a: &ModelArgs, m: &Model) -> Result<Calibration> {
    if a.ensemble {
        return Ok(Calibration::embedded_ensemble());
    }
    if !Path::new(&a.model).exists()
        && let Some(n) = embedded_number(&a.model)
    {
        return Ok(Calibration::embedded(n)?);
    }
    Ok(spikelab_datasets::calcium::fit_calibration(m)?)
}

fn read_traces(a: &DeconvolveArgs) -> Result<CalciumTraces> {
    let options = ReadOptions {
        frame_rate_hz: Some(a.fps),
        variable: a.variable.clone(),
        neurons_first: a.neurons_first,
        ..ReadOptions::default()
    };
    Ok(io::read_traces(&a.input, &options)?)
}

fn deconvolve(a: DeconvolveArgs) -> Result<()> {
    io::check_writable(&a.output, a.force)?;
    let mut tr = read_traces(&a)?;
    if let Some(name) = a.model.model.strip_prefix("cascade:") {
        let threshold = crate::commands::calcium_cascade::threshold(&a.threshold)?;
        return crate::commands::calcium_cascade::deconvolve(
            name, tr, threshold, a.resample, a.rates, &a.output, a.force,
        );
    }
    let fps = tr.frame_rate_hz();
    eprintln!(
        "{}: {} neurons, {} frames at {fps} Hz",
        a.input.display(),
        tr.n_neurons(),
        tr.n_frames()
    );
    for j in 0..tr.n_neurons() {
        let nu = noise_level(&tr.trace(j).to_vec(), fps)?;
        eprintln!("  neuron {j}: noise level ν = {nu:.2} %·Hz^-1/2");
    }
    if (fps - 100.0).abs() > 0.1 || a.preprocess {
        tr = Preprocessing::default().apply(&tr)?;
        eprintln!(
            "preprocessed (5th-percentile baseline, p5/p80 normalisation{}) → {} frames at {} Hz",
            if (fps - 100.0).abs() > 0.1 {
                ", FFT resampling"
            } else {
                ""
            },
            tr.n_frames(),
            tr.frame_rate_hz()
        );
        // The network needs exactly the 100 Hz grid.
        tr = CalciumTraces::new(tr.data().clone(), 100.0)?;
    } else if fps != 100.0 {
        tr = CalciumTraces::new(tr.data().clone(), 100.0)?;
    }
    let (m, name) = model(&a.model)?;
    let t0 = std::time::Instant::now();
    let mut y = m.predict(&tr)?;
    eprintln!(
        "{name}: {} samples in {:.2} s",
        tr.n_frames() * tr.n_neurons(),
        t0.elapsed().as_secs_f64()
    );
    for j in 0..y.ncols() {
        if y.column(j).iter().all(|v| v.is_nan()) {
            eprintln!("  neuron {j}: no prediction (all NaN, constant, or < 129 valid frames)");
        }
    }
    if a.rates {
        let cal = calibration(&a.model, &m)?;
        eprintln!(
            "calibration: spikes/frame = max(0, {:.4} + {:.4}·output)",
            cal.intercept, cal.slope
        );
        y = cal.rates_hz(&y, 100.0);
    }
    write_matrix(&a.output, &y, a.force)?;
    eprintln!(
        "wrote {} ({} units, [time, neuron] at 100 Hz; output of frame t uses frames t−32 … t+95)",
        a.output.display(),
        if a.rates { "Hz" } else { "z-score" }
    );
    Ok(())
}

fn evaluate_cmd(a: EvaluateArgs) -> Result<()> {
    let padding = match a.padding.as_str() {
        "zero" => Padding::ZeroFilled,
        "nan" => Padding::NanDropped,
        other => bail!("--padding must be `zero` or `nan`, got {other:?}"),
    };
    let (m, name) = model(&a.model)?;
    let base = leaderboard_scores("Elephant (CNN)", "corr")?;
    let emb = leaderboard_scores("Embedding of CNNs via Ca recording stats", "corr")?;
    let lb = |s: &[(String, f64)], n: u32| {
        s.iter()
            .find(|(d, _)| *d == format!("{n}.test.spikes"))
            .map_or("   –  ".to_string(), |(_, v)| format!("{v:.3}"))
    };
    println!("Spikefinder metric (40-ms sums, Pearson r, median over neurons), model: {name}");
    println!(
        "{:<8} {:>7} {:>9} {:>10} {:>12}  per-neuron r",
        "dataset", "ours", "ours(ρ)", "LB Elephant", "LB embedding"
    );
    let mut ours = Vec::new();
    for n in [1u32, 3, 4, 5] {
        let set = spikelab_datasets::calcium::spikefinder_test(n)?;
        let s = evaluate(&m, &set, padding)?;
        ours.push(s.median_corr);
        let cells: Vec<String> = s.corr.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{:<8} {:>7.3} {:>9.3} {:>10} {:>12}  {}",
            format!("test {n}"),
            s.median_corr,
            s.median_rank,
            lb(&base, n),
            lb(&emb, n),
            cells.join(" ")
        );
    }
    println!(
        "mean of the 4 medians: {:.3} (test 2 has no bundled calcium)",
        ours.iter().sum::<f64>() / ours.len() as f64
    );
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    io::check_writable(&a.output, a.force)?;
    let init = if a.init == "glorot" {
        ElephantWeights::glorot_uniform(a.seed)
    } else {
        load_cnn(&a.init)?.weights().clone()
    };
    let mut data = TrainingData::new();
    for n in [4u32, 5, 6] {
        data.add_set(&spikelab_datasets::calcium::spikefinder_csv(
            n,
            spikelab_datasets::Split::Train,
        )?)?;
    }
    let cfg = TrainConfig {
        batch_size: a.batch_size,
        max_steps: a.steps,
        seed: a.seed,
        ..TrainConfig::default()
    };
    let total = a
        .steps
        .unwrap_or(data.n_samples().div_ceil(a.batch_size) * cfg.epochs);
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {msg} [{eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut smooth = f64::NAN;
    let r = train(&init, &data, &cfg, &candle_core_device(), |p| {
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

fn candle_core_device() -> spikelab_calcium::Device {
    spikelab_calcium::Device::Cpu
}
