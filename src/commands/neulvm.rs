//! `spikelab neulvm`: fit the neuLVM mesoscopic latent-variable model to recorded spikes, or
//! simulate a model.
//!
//! ```text
//! spikelab neulvm fit --spikes spikes_4ms.npy --out-dir fit/ [--model model.toml | --preset winner-take-all]
//!     [--restarts 5] [--seed 20221011] [--max-em 20] [--threads 0] [--force]
//! spikelab neulvm simulate (--fit fit/fit.json | --model model.toml | --preset winner-take-all)
//!     --out-dir sim/ [--seconds 100] [--seed 7] [--recorded 3] [--force]
//! ```
//! A model file (TOML, format in docs/neulvm.md) holds the network (`[model]`), the box of
//! the fitted parameters (`[bounds]`) and optional parameters to simulate with (`[params]`).
//! The outputs are those of `FitResult::write_dir` and `Simulation::write_dir`; existing ones
//! are refused before any work unless `--force`.

use super::nwb_out::NwbMetaArgs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use spikelab_core::{Flow, Progress};
use spikelab_neulvm::fit;
use spikelab_neulvm::{
    FitOptions, FitResult, ModelSpec, NeuLvm, Recording, SimOptions, Simulation, simulate,
};

/// neuLVM subcommands.
#[derive(Debug, Subcommand)]
pub enum NeulvmCommand {
    /// Fit a model (by default the paper's winner-take-all network) by EM, restarting from a
    /// seeded prior.
    Fit(FitArgs),
    /// Free simulation of a fitted model or of a model file's `[params]`.
    Simulate(SimArgs),
}

/// Built-in models.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// The paper's 3-population network (`ModelSpec::winner_take_all`).
    WinnerTakeAll,
}

/// Which model: a TOML file or a preset.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model file (TOML: `[model]`, `[bounds]`, optional `[params]`; see docs/neulvm.md).
    #[arg(long, conflicts_with = "preset")]
    pub model: Option<PathBuf>,
    /// Built-in model, used when no --model is given.
    #[arg(long, value_enum, default_value_t = Preset::WinnerTakeAll)]
    pub preset: Preset,
}

impl ModelArgs {
    fn spec(&self) -> Result<ModelSpec> {
        let Some(path) = &self.model else {
            return Ok(match self.preset {
                Preset::WinnerTakeAll => ModelSpec::winner_take_all(),
            });
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let spec: ModelSpec =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        spec.validate()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(spec)
    }
}

/// The library's fit defaults (for the help text and unset options).
fn fit_defaults() -> FitOptions {
    FitOptions::new(
        ModelSpec::winner_take_all()
            .bounds()
            .expect("the preset is valid"),
    )
}

/// `spikelab neulvm fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Spikes `.npy`, shape [population, bin, neuron], values 0/1, bins of the model's dt_s;
    /// the first history_bins bins are the history window.
    #[arg(long)]
    pub spikes: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Which model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of restarts.
    #[arg(long, default_value_t = fit_defaults().restarts)]
    pub restarts: usize,
    /// Seed of the prior draws.
    #[arg(long, default_value_t = fit_defaults().seed)]
    pub seed: u64,
    /// Maximum EM iterations per restart.
    #[arg(long, default_value_t = fit_defaults().max_em_iters)]
    pub max_em: usize,
    /// Worker threads for the restarts (0 = all cores).
    #[arg(long, default_value_t = fit_defaults().threads)]
    pub threads: usize,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub nwb: NwbMetaArgs,
}

/// `spikelab neulvm simulate`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// `fit.json` written by `spikelab neulvm fit` (its model and chosen parameters); without
    /// it, the model file's or preset's `[params]`.
    #[arg(long, conflicts_with = "model")]
    pub fit: Option<PathBuf>,
    /// Which model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Simulated duration in seconds (after the history window).
    #[arg(long, default_value_t = 100.0)]
    pub seconds: f64,
    /// Output folder.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// RNG seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Recorded neurons per population in the written spikes.
    #[arg(long, default_value_t = SimOptions::new(1, 0).n_recorded)]
    pub recorded: usize,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub nwb: NwbMetaArgs,
}

/// Runs a neuLVM subcommand.
pub fn run(cmd: NeulvmCommand) -> Result<()> {
    match cmd {
        NeulvmCommand::Fit(a) => run_fit(a),
        NeulvmCommand::Simulate(a) => run_simulate(a),
    }
}

fn run_fit(a: FitArgs) -> Result<()> {
    FitResult::check_output_dir(&a.out_dir, a.force)?;
    a.nwb.check_before(cfg!(feature = "hdf5"))?;
    let spec = a.model.spec()?;
    let model = NeuLvm::new(spec.model.clone(), Recording::from_npy(&a.spikes)?)?;
    let mut opts = FitOptions::new(spec.bounds()?);
    opts.restarts = a.restarts;
    opts.seed = a.seed;
    opts.max_em_iters = a.max_em;
    opts.threads = a.threads;
    let bar = indicatif::ProgressBar::new(a.restarts as u64);
    let res = fit::fit(&model, &opts, &mut |p: &Progress<'_>| {
        match p.stage {
            "m_step" => bar.set_message(format!(
                "restart {} EM {} loss {:.4}",
                p.metric("restart").unwrap_or(0.0),
                p.step,
                p.metric("loss").unwrap_or(f64::NAN)
            )),
            "restart" => bar.inc(1),
            _ => {}
        }
        Flow::Continue
    })?;
    bar.finish();
    println!(
        "chosen restart {} with loss {:.5}",
        res.best,
        res.best().loss
    );
    print_written(&res.write_dir(&a.out_dir, a.force)?, &a.nwb)?;
    Ok(())
}

fn run_simulate(a: SimArgs) -> Result<()> {
    if !(a.seconds.is_finite() && a.seconds > 0.0) {
        bail!("--seconds must be > 0");
    }
    Simulation::check_output_dir(&a.out_dir, a.force)?;
    a.nwb.check_before(cfg!(feature = "hdf5"))?;
    let (cfg, params) = match &a.fit {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let res = FitResult::from_json(&text)?;
            let params = res.best().state.params.clone();
            (res.config, params)
        }
        None => {
            let spec = a.model.spec()?;
            let params = spec
                .params
                .context("the model file has no [params] to simulate (or pass --fit)")?;
            (spec.model, params)
        }
    };
    let mut opts = SimOptions::new((a.seconds / cfg.dt_s).round() as usize, a.seed);
    opts.n_recorded = a.recorded;
    let sim = simulate::simulate(&cfg, &params, &opts)?;
    let description = format!(
        "free simulation of a neuLVM model by spikelab, seed {}",
        a.seed
    );
    print_written(&sim.write_dir(&a.out_dir, &description, a.force)?, &a.nwb)?;
    println!("simulated {} s into {}", a.seconds, a.out_dir.display());
    Ok(())
}

/// Prints what was written, after filling `--nwb-meta` into the NWB files among it.
fn print_written(paths: &[PathBuf], nwb: &NwbMetaArgs) -> Result<()> {
    for p in paths {
        if p.extension().is_some_and(|e| e == "nwb") {
            nwb.annotate(p)?;
        }
        println!("wrote {}", p.display());
    }
    Ok(())
}
