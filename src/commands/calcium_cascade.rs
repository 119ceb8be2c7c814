//! `spikelab calcium models`, `spikelab calcium train-cascade` and the `cascade:NAME|FOLDER`
//! names of `--model`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use spikelab_calcium::cascade::train::{TargetSmoothing, TrainCascadeParams, load_datasets, train};
use spikelab_calcium::cascade::zoo;
use spikelab_core::{Flow, Progress};

/// Prints the CASCADE model zoo.
pub fn models() -> Result<()> {
    println!(
        "{:<58} {:>8} {:>10} {:>7}  {:<22} available",
        "model", "rate Hz", "smooth ms", "causal", "family"
    );
    for m in zoo::known_models() {
        println!(
            "{:<58} {:>8} {:>10} {:>7}  {:<22} {}",
            m.name,
            m.frame_rate_hz,
            m.smoothing_ms.map_or("-".into(), |v| v.to_string()),
            if m.causal_kernel { "yes" } else { "no" },
            m.family,
            if m.bundled {
                "bundled (datasets/models/cascade)"
            } else {
                "download from the CASCADE authors"
            }
        );
    }
    println!(
        "\nuse: spikelab calcium deconvolve IN OUT --model cascade:NAME (bundled) or cascade:FOLDER (downloaded)"
    );
    Ok(())
}

/// The folder of `cascade:NAME` (a bundled model) or `cascade:FOLDER`.
pub fn model_dir(name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    spikelab_datasets::path(&format!("models/cascade/{name}")).with_context(|| {
        format!("{name:?} is neither a model folder nor a bundled CASCADE model (see `spikelab calcium models`)")
    })
}

/// Arguments of `spikelab calcium train-cascade`.
#[derive(clap::Args, Debug)]
pub struct TrainCascadeArgs {
    /// Ground truth: a folder of `CAttached_*.mat[.gz]` files (one dataset), or a folder of
    /// such dataset folders (CASCADE's `Ground_truth/`). Repeat or list several.
    #[arg(long, required = true, num_args = 1..)]
    pub ground_truth: Vec<PathBuf>,
    /// Keep only dataset folders whose name contains this (case-insensitive), e.g. `GCaMP6f`.
    #[arg(long)]
    pub indicator: Option<String>,
    /// Frame rate of the model (Hz).
    #[arg(long)]
    pub frame_rate: f64,
    /// Noise levels, one ensemble each (whole numbers, % · Hz^-1/2), e.g. `2,3,4`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub noise_levels: Vec<f64>,
    /// Members per noise level.
    #[arg(long, default_value_t = 5)]
    pub ensemble: usize,
    /// SD of the target smoothing (s).
    #[arg(long, default_value_t = 0.2)]
    pub smoothing: f64,
    /// Smooth targets with CASCADE's causal kernel instead of a Gaussian.
    #[arg(long)]
    pub causal_kernel: bool,
    /// Epochs per member.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Windows per Adagrad step.
    #[arg(long, default_value_t = 8192)]
    pub batch_size: usize,
    /// Noise replicas per trial at most (CASCADE: 500).
    #[arg(long, default_value_t = 500)]
    pub max_replicas: usize,
    /// Training windows per member at most (CASCADE: 5000000).
    #[arg(long, default_value_t = 5_000_000)]
    pub max_windows: usize,
    /// Seed of the noise, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `cpu` or `cuda[:N]` (a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Members trained at once, each on its own thread (and GPU stream); the model does not
    /// depend on it. Default: 2 on the CPU (1.23× the steps/s of 1 on 2 cores), 1 on a GPU
    /// (8 at once gave no gain on an H100).
    #[arg(long)]
    pub concurrent_members: Option<usize>,
    /// Model folder to write (its name becomes `model_name`).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `spikelab calcium train-cascade`.
pub fn train_cascade(a: TrainCascadeArgs) -> Result<()> {
    spikelab_data::io::check_writable(&a.out, a.force)?;
    let name = a
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("--out needs a folder name")?;
    let device: spikelab_core::Device = a.device.parse()?;
    let smoothing = if a.causal_kernel {
        TargetSmoothing::Causal { sd_s: a.smoothing }
    } else {
        TargetSmoothing::Gaussian { sd_s: a.smoothing }
    };
    let params = TrainCascadeParams {
        frame_rate_hz: a.frame_rate,
        noise_levels: a.noise_levels.clone(),
        ensemble_size: a.ensemble,
        smoothing,
        epochs: a.epochs,
        batch_size: a.batch_size,
        max_replicas: a.max_replicas,
        max_windows: a.max_windows,
        seed: a.seed,
        device,
        concurrent_members: a.concurrent_members.unwrap_or(match device {
            spikelab_core::Device::Cpu => 2,
            _ => 1,
        }),
        ..TrainCascadeParams::new(name)
    }
    .validate()?;
    let sets = load_datasets(&a.ground_truth, a.indicator.as_deref(), |ds| {
        eprintln!("{}: {} trials", ds.name, ds.trials.len());
    })?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {msg} [{eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = std::time::Instant::now();
    let trained = train(&params, &sets, &mut |p: &Progress| {
        if let Some(t) = p.total {
            bar.set_length(t as u64);
        }
        bar.set_position(p.step as u64 + 1);
        bar.set_message(format!(
            "level {} member {} epoch {} loss {:.5}",
            p.metric("noise_level").unwrap_or(f64::NAN),
            p.metric("member").unwrap_or(f64::NAN),
            p.metric("epoch").unwrap_or(f64::NAN),
            p.metric("loss").unwrap_or(f64::NAN)
        ));
        Flow::Continue
    })?;
    bar.finish_and_clear();
    for l in &trained.levels {
        println!(
            "noise level {}: {} trials used, {} too noisy; windows per member {:?}; last-epoch loss {:?}",
            l.noise_level, l.trials_used, l.trials_too_noisy, l.windows_per_member, l.final_loss
        );
    }
    trained.model.save(&a.out, a.force)?;
    println!(
        "trained in {:.1} s; wrote {} (use: spikelab calcium deconvolve IN OUT --model cascade:{})",
        t0.elapsed().as_secs_f64(),
        a.out.display(),
        a.out.display()
    );
    Ok(())
}
