//! `spikelab lds`: linear dynamical systems (crate `spikelab-lds`, module `pipeline`).
//!
//! ```text
//! spikelab lds fit --y Y.npy [--u U.npy] [--input-timing control|same] --states N --out FIT.json
//!     [--iters 100] [--tol 1e-6] [--offsets] [--diagonal-r] [--seed S] [--force]
//! spikelab lds molds --y Y.npy --u U.npy --components K --states N --out DIR
//!     [--init tensor-em|tensor-only|random-em] [--restarts 1] [--lag 10] [--iters 100]
//!     [--truth Y.truth.json] [--seed S] [--force]
//! ```
//!
//! Arrays are `[trajectory, time, channel]` f64 (a 2-D `[time, channel]` array is one
//! trajectory); NaN in Y marks a missing entry, trailing all-NaN rows shorten a trajectory.
//! `lds fit` writes FIT.json (model, log-likelihood trace) and FIT.states.npy (smoothed means
//! `[trajectory, time, state]`). `lds molds` writes DIR/model.json, DIR/fit.json,
//! DIR/responsibilities.npy `[trajectory, component]` and, with `--truth`,
//! DIR/comparison.json. Nothing is overwritten without `--force`.

use std::path::PathBuf;

use anyhow::Result;
use spikelab_core::{Flow, Progress};
use spikelab_lds::pipeline::{
    InputTiming, LdsFitOptions, LdsFitResult, MoldsRun, MoldsTruth, read_trajectories,
};
use spikelab_lds::{EmOptions, Learn, MoldsInit, MoldsOptions, TensorOptions};

/// `spikelab lds …`
#[derive(clap::Subcommand, Debug)]
pub enum LdsCommand {
    /// Fit one linear dynamical system by EM (Kalman smoother E-step).
    Fit(FitArgs),
    /// Fit a mixture of linear dynamical systems (MoLDS Tensor-EM).
    Molds(MoldsArgs),
}

/// How the input array enters the model.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TimingArg {
    /// `x_{t+1} = A x_t + B u_t`, `y_t = C x_t + D u_t` (control convention).
    Control,
    /// `x_t = A x_{t−1} + B u_t`, `y_t = C x_t + D u_t` (dynamax convention).
    Same,
}

/// Arguments of `spikelab lds fit`.
#[derive(clap::Args, Debug)]
pub struct FitArgs {
    /// Outputs `[trajectory, time, output]` (or `[time, output]`), NaN = missing.
    #[arg(long)]
    pub y: PathBuf,
    /// Inputs `[trajectory, time, input]` (or `[time, input]`).
    #[arg(long)]
    pub u: Option<PathBuf>,
    /// Input timing.
    #[arg(long, value_enum, default_value = "control")]
    pub input_timing: TimingArg,
    /// Number of latent states.
    #[arg(long)]
    pub states: usize,
    /// Output JSON (the smoothed states go to FIT.states.npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = EmOptions::default().max_iter)]
    pub iters: usize,
    /// Relative log-likelihood tolerance.
    #[arg(long, default_value_t = EmOptions::default().tol)]
    pub tol: f64,
    /// Learn the offsets b, d (otherwise b = 0 and d = the mean of Y stay fixed).
    #[arg(long)]
    pub offsets: bool,
    /// Diagonal R (needed when some steps are only partly observed).
    #[arg(long)]
    pub diagonal_r: bool,
    /// Seed of the initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace existing outputs.
    #[arg(long)]
    pub force: bool,
}

/// Initialisations of `spikelab lds molds`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum InitArg {
    /// Tensor stage then EM.
    TensorEm,
    /// Tensor stage only.
    TensorOnly,
    /// EM from random starts.
    RandomEm,
}

/// Arguments of `spikelab lds molds`.
#[derive(clap::Args, Debug)]
pub struct MoldsArgs {
    /// Outputs `[trajectory, time, output]`, NaN = missing.
    #[arg(long)]
    pub y: PathBuf,
    /// Inputs `[trajectory, time, input]` (control convention, i.i.d. N(0, I) for the tensor stage).
    #[arg(long)]
    pub u: PathBuf,
    /// Number of components K.
    #[arg(long)]
    pub components: usize,
    /// Latent states per component.
    #[arg(long)]
    pub states: usize,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Initialisation.
    #[arg(long, value_enum, default_value = "tensor-em")]
    pub init: InitArg,
    /// Random starts for `random-em`.
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// Lag window L of the tensor stage.
    #[arg(long, default_value_t = TensorOptions::default().lag)]
    pub lag: usize,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = EmOptions::default().max_iter)]
    pub iters: usize,
    /// Ground truth written by `spikelab synth molds` (adds DIR/comparison.json).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Seed (slices of the tensor stage, random starts).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace existing outputs.
    #[arg(long)]
    pub force: bool,
}

/// Runs `spikelab lds …`.
pub fn run(cmd: LdsCommand) -> Result<()> {
    match cmd {
        LdsCommand::Fit(a) => fit(a),
        LdsCommand::Molds(a) => molds(a),
    }
}

fn progress_printer(label: &'static str) -> impl FnMut(&Progress<'_>) -> Flow {
    move |p: &Progress<'_>| {
        if p.step.is_multiple_of(10) {
            eprintln!(
                "{label} {:>4}: log-likelihood {:.6}",
                p.step,
                p.metric("loglik").unwrap_or(f64::NAN)
            );
        }
        Flow::Continue
    }
}

fn fit(a: FitArgs) -> Result<()> {
    let states_path = LdsFitResult::states_path(&a.out);
    spikelab_data::io::check_writable(&a.out, a.force)?;
    spikelab_data::io::check_writable(&states_path, a.force)?;
    let timing = match a.input_timing {
        TimingArg::Control => InputTiming::Control,
        TimingArg::Same => InputTiming::Same,
    };
    let trajs = read_trajectories(&a.y, a.u.as_deref(), timing)?;
    let mut opts = LdsFitOptions::new(a.states);
    opts.em.max_iter = a.iters;
    opts.em.tol = a.tol;
    opts.em.diagonal_r = a.diagonal_r;
    if a.offsets {
        opts.em.learn = Learn::ALL;
    }
    opts.seed = a.seed;
    opts.input_timing = timing;
    let fit = opts.fit(&trajs, &mut progress_printer("em"))?;
    fit.write(&a.out, a.force)?;
    let ll = &fit.report.loglik;
    println!(
        "fitted {} states to {} trajectories: log-likelihood {:.6} after {} iterations{} → {}, {}",
        a.states,
        trajs.len(),
        ll.last().copied().unwrap_or(f64::NAN),
        ll.len() - 1,
        if fit.report.converged {
            " (converged)"
        } else {
            ""
        },
        a.out.display(),
        states_path.display()
    );
    Ok(())
}

fn molds(a: MoldsArgs) -> Result<()> {
    MoldsRun::check_writable(&a.out, a.force)?;
    let trajs = read_trajectories(&a.y, Some(&a.u), InputTiming::Control)?;
    let opts = MoldsOptions {
        components: a.components,
        n_states: a.states,
        init: match a.init {
            InitArg::TensorEm => MoldsInit::TensorEm,
            InitArg::TensorOnly => MoldsInit::TensorOnly,
            InitArg::RandomEm => MoldsInit::RandomEm {
                restarts: a.restarts,
            },
        },
        tensor: TensorOptions {
            lag: a.lag,
            seed: a.seed,
            ..Default::default()
        },
        em: EmOptions {
            max_iter: a.iters,
            ..Default::default()
        },
        seed: a.seed,
        ..Default::default()
    };
    let truth = a.truth.as_deref().map(MoldsTruth::read).transpose()?;
    let run = MoldsRun::new(
        &trajs,
        &opts,
        truth.as_ref(),
        &mut progress_printer("molds-em"),
    )?;
    run.write(&a.out, a.force)?;
    let fit = &run.fit;
    println!(
        "{} components, log-likelihood {:.6} after {} EM iterations; weights {:?}",
        fit.model.components.len(),
        fit.loglik.last().copied().unwrap_or(f64::NAN),
        fit.loglik.len() - 1,
        fit.model
            .weights
            .iter()
            .map(|w| (w * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
    );
    if let Some(c) = &run.comparison {
        println!("{}", c.to_markdown());
    }
    Ok(())
}
