//! `spikelab neulvm`: fit the neuLVM mesoscopic latent-variable model to recorded spikes, or
//! simulate a fitted model.
//!
//! ```text
//! spikelab neulvm fit --spikes spikes_4ms.npy --out-dir fit/ [--restarts 5] [--seed 1]
//!     [--bounds-from-truth] [--max-em 20] [--threads 0] [--overwrite]
//! spikelab neulvm simulate --fit fit/fit.json --seconds 100 --out-dir sim/ [--seed 7]
//! ```
//! `fit` writes `fit.json` (every restart, resumable state), `params.json` (chosen parameters),
//! `latent.npy` (`[population, bin]` Z of the chosen restart), `activity_hz.npy` (Z/Δ) and,
//! with the `hdf5` feature (default), `fit.nwb`: both as NWB `TimeSeries` (time ×
//! populations) in the processing module `neulvm`, whose description holds the fitted
//! parameters as JSON. `simulate` writes `z.npy`, `z_mean.npy` (`[population, bin]`),
//! `spikes.npy` (`[population, bin, neuron]`, u8) and, with `hdf5`, `sim.nwb` (z and z_mean).
//! Existing outputs are refused before any work unless `--overwrite`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use spikelab_data::io::{check_writable, npy};
use spikelab_neulvm::fit::{self, Progress};
use spikelab_neulvm::{
    Bounds, FitOptions, FitResult, ModelConfig, NeuLvm, Params, Recording, SimOptions, simulate,
};

/// neuLVM subcommands.
#[derive(Debug, Subcommand)]
pub enum NeulvmCommand {
    /// Fit the 3-population winner-take-all model by EM (restarts from a seeded prior).
    Fit(FitArgs),
    /// Free simulation of a fitted model.
    Simulate(SimArgs),
}

/// `spikelab neulvm fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Spikes `.npy`, shape [population, bin, neuron], values 0/1, 4-ms bins; the first 250
    /// bins are the history window.
    #[arg(long)]
    pub spikes: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Number of restarts.
    #[arg(long, default_value_t = 5)]
    pub restarts: usize,
    /// Seed of the prior draws.
    #[arg(long, default_value_t = 20221011)]
    pub seed: u64,
    /// Maximum EM iterations per restart.
    #[arg(long, default_value_t = 20)]
    pub max_em: usize,
    /// Worker threads for the restarts (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Lower/upper bound factors around the paper's ground truth (the original's prior).
    #[arg(long, default_value_t = 0.4)]
    pub lo: f64,
    /// Upper bound factor.
    #[arg(long, default_value_t = 2.0)]
    pub hi: f64,
    /// Overwrite existing output files.
    #[arg(long)]
    pub overwrite: bool,
}

/// `spikelab neulvm simulate`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// `fit.json` written by `spikelab neulvm fit`.
    #[arg(long)]
    pub fit: PathBuf,
    /// Simulated duration in seconds.
    #[arg(long, default_value_t = 100.0)]
    pub seconds: f64,
    /// Output folder.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// RNG seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Overwrite existing output files.
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs a neuLVM subcommand.
pub fn run(cmd: NeulvmCommand) -> Result<()> {
    match cmd {
        NeulvmCommand::Fit(a) => run_fit(a),
        NeulvmCommand::Simulate(a) => run_simulate(a),
    }
}

fn write_json(path: &std::path::Path, s: &str, overwrite: bool) -> Result<()> {
    check_writable(path, overwrite)?;
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

/// Refuses, before any work, to replace existing outputs unless `overwrite`.
fn check_outputs(dir: &std::path::Path, names: &[&str], overwrite: bool) -> Result<()> {
    for n in names {
        check_writable(&dir.join(n), overwrite)?;
    }
    Ok(())
}

/// Writes `[population, bin]` series as NWB `TimeSeries` in the processing module `neulvm`.
#[cfg(feature = "hdf5")]
fn write_nwb(
    path: &std::path::Path,
    description: &str,
    series: &[(&str, &ndarray::Array2<f64>, &str, &str)],
    dt_s: f64,
    overwrite: bool,
) -> Result<()> {
    use spikelab_data::PopulationActivity;
    use spikelab_data::io::nwb::{self, ActivitySeries, NwbWriteOptions};
    let acts = series
        .iter()
        .map(|(_, a, _, _)| PopulationActivity::new((*a).clone(), dt_s))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let list: Vec<ActivitySeries<'_>> = series
        .iter()
        .zip(&acts)
        .map(|((name, _, unit, desc), act)| ActivitySeries {
            name,
            activity: act,
            unit,
            description: desc,
        })
        .collect();
    let mut opts = NwbWriteOptions::new("spikelab neulvm");
    opts.overwrite = overwrite;
    nwb::write_population_activity(path, "neulvm", description, &list, &opts)?;
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_nwb(
    path: &std::path::Path,
    _: &str,
    _: &[(&str, &ndarray::Array2<f64>, &str, &str)],
    _: f64,
    _: bool,
) -> Result<()> {
    eprintln!(
        "note: {} not written: this spikelab was built without the `hdf5` feature",
        path.display()
    );
    Ok(())
}

const FIT_OUTPUTS: [&str; 5] = [
    "fit.json",
    "params.json",
    "latent.npy",
    "activity_hz.npy",
    "fit.nwb",
];
const SIM_OUTPUTS: [&str; 4] = ["z.npy", "z_mean.npy", "spikes.npy", "sim.nwb"];

fn run_fit(a: FitArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out_dir)?;
    check_outputs(&a.out_dir, &FIT_OUTPUTS, a.overwrite)?;
    let cfg = ModelConfig::winner_take_all();
    let dt = cfg.dt_s;
    let rec = Recording::from_npy(&a.spikes)?;
    let model = NeuLvm::new(cfg, rec)?;
    let gt = Params::winner_take_all_ground_truth();
    let mut opts = FitOptions::new(Bounds::relative_to(&gt, a.lo, a.hi)?);
    opts.restarts = a.restarts;
    opts.seed = a.seed;
    opts.max_em_iters = a.max_em;
    opts.threads = a.threads;
    let bar = indicatif::ProgressBar::new(a.restarts as u64);
    let res = fit::fit(&model, &opts, &|p: &Progress| match p {
        Progress::MStep {
            restart,
            em_iter,
            loss,
            ..
        } => bar.set_message(format!("restart {restart} EM {em_iter} loss {loss:.4}")),
        Progress::RestartDone { .. } => bar.inc(1),
        Progress::EStep { .. } => {}
    })?;
    bar.finish();
    let best = res.best();
    println!("chosen restart {} with loss {:.5}", res.best, best.loss);
    write_json(&a.out_dir.join("fit.json"), &res.to_json()?, a.overwrite)?;
    write_json(
        &a.out_dir.join("params.json"),
        &serde_json::to_string_pretty(&best.state.params)?,
        a.overwrite,
    )?;
    npy::write(&a.out_dir.join("latent.npy"), &best.state.z, a.overwrite)?;
    let hz = best.state.z.mapv(|z| z / dt);
    npy::write(&a.out_dir.join("activity_hz.npy"), &hz, a.overwrite)?;
    write_nwb(
        &a.out_dir.join("fit.nwb"),
        &format!(
            "neuLVM fit by spikelab: restart {} of {}, loss {:.6}; parameters {}",
            res.best,
            res.restarts.len(),
            best.loss,
            serde_json::to_string(&best.state.params)?
        ),
        &[
            (
                "latent_z",
                &best.state.z,
                "expected spikes per neuron per bin",
                "inferred latent population activity Z (chosen restart)",
            ),
            (
                "activity_hz",
                &hz,
                "Hz",
                "inferred population rate Z / bin width",
            ),
        ],
        dt,
        a.overwrite,
    )?;
    Ok(())
}

fn run_simulate(a: SimArgs) -> Result<()> {
    if !(a.seconds.is_finite() && a.seconds > 0.0) {
        bail!("--seconds must be > 0");
    }
    std::fs::create_dir_all(&a.out_dir)?;
    check_outputs(&a.out_dir, &SIM_OUTPUTS, a.overwrite)?;
    let res = FitResult::from_json(&std::fs::read_to_string(&a.fit)?)?;
    let cfg = ModelConfig::winner_take_all();
    let n = (a.seconds / cfg.dt_s).round() as usize;
    let sim = simulate::simulate(&cfg, &res.best().state.params, &SimOptions::new(n, a.seed))?;
    npy::write(&a.out_dir.join("z.npy"), &sim.z, a.overwrite)?;
    npy::write(&a.out_dir.join("z_mean.npy"), &sim.z_mean, a.overwrite)?;
    npy::write(&a.out_dir.join("spikes.npy"), &sim.spikes, a.overwrite)?;
    write_nwb(
        &a.out_dir.join("sim.nwb"),
        &format!(
            "free simulation of a fitted neuLVM model by spikelab, seed {}",
            a.seed
        ),
        &[
            (
                "z",
                &sim.z,
                "spikes per neuron per bin",
                "simulated population activity (with finite-size noise)",
            ),
            (
                "z_mean",
                &sim.z_mean,
                "expected spikes per neuron per bin",
                "expected activity given the past",
            ),
        ],
        cfg.dt_s,
        a.overwrite,
    )?;
    println!("simulated {} s into {}", a.seconds, a.out_dir.display());
    Ok(())
}
