//! `spikelab lds` and `spikelab synth molds`: linear dynamical systems (crate `spikelab-lds`).
//!
//! ```text
//! spikelab lds fit --y Y.npy [--u U.npy] [--input-timing control|same] --states N --out FIT.json
//!     [--iters 100] [--tol 1e-6] [--offsets] [--diagonal-r] [--seed S] [--force]
//! spikelab lds molds --y Y.npy --u U.npy --components K --states N --out DIR
//!     [--init tensor-em|tensor-only|random-em] [--restarts 1] [--lag 10] [--iters 100]
//!     [--truth Y.truth.json] [--seed S] [--force]
//! spikelab synth molds [--trajectories 600] [--steps 200] [--weights 0.5,0.3,0.2] [--states 3]
//!     [--outputs 2] [--inputs 2] [--snr-db 10] [--seed S] --out Y.npy [--force]
//! ```
//!
//! Arrays are `[trajectory, time, channel]` f64 (a 2-D `[time, channel]` array is one
//! trajectory); NaN in Y marks a missing entry, trailing all-NaN rows shorten a trajectory.
//! `lds fit` writes FIT.json (model, log-likelihood trace) and FIT.states.npy (smoothed means
//! `[trajectory, time, state]`). `lds molds` writes DIR/model.json, DIR/fit.json,
//! DIR/responsibilities.npy `[trajectory, component]` and, with `--truth`,
//! DIR/comparison.json. `synth molds` writes Y.npy, Y.u.npy and Y.truth.json (model + labels).
//! Every file is written to a temporary name in its folder and renamed; nothing is overwritten
//! without `--force`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nalgebra::DMatrix;
use ndarray::{Array2, Array3, ArrayD, Axis};
use spikelab_core::{Flow, Progress};
use spikelab_data::io;
use spikelab_lds::eval::{
    adjusted_rand_index, clustering_accuracy, match_components, weight_error,
};
use spikelab_lds::{
    EmOptions, Learn, Molds, MoldsInit, MoldsOptions, MoldsSpec, TensorOptions, Trajectory, fit_em,
    fit_molds, init_from_data, smooth,
};

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
pub enum InputTiming {
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
    pub input_timing: InputTiming,
    /// Number of latent states.
    #[arg(long)]
    pub states: usize,
    /// Output JSON (the smoothed states go to FIT.states.npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Relative log-likelihood tolerance.
    #[arg(long, default_value_t = 1e-6)]
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
    #[arg(long, default_value_t = 10)]
    pub lag: usize,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = 100)]
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

/// Arguments of `spikelab synth molds`.
#[derive(clap::Args, Debug)]
pub struct SynthMoldsArgs {
    /// Number of trajectories.
    #[arg(long, default_value_t = 600)]
    pub trajectories: usize,
    /// Steps per trajectory.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Mixture weights (comma separated; their count is K).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.3,0.2")]
    pub weights: Vec<f64>,
    /// Latent states.
    #[arg(long, default_value_t = 3)]
    pub states: usize,
    /// Outputs.
    #[arg(long, default_value_t = 2)]
    pub outputs: usize,
    /// Inputs (i.i.d. N(0, I)).
    #[arg(long, default_value_t = 2)]
    pub inputs: usize,
    /// Output SNR in dB.
    #[arg(long, default_value_t = 10.0)]
    pub snr_db: f64,
    /// Seed of the ChaCha8 generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output `.npy` (inputs go to `.u.npy`, the truth to `.truth.json`).
    #[arg(long)]
    pub out: PathBuf,
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

/// Writes through a temporary file in the same folder, then renames; refuses an existing
/// target unless `force`.
fn atomic(path: &Path, force: bool, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    io::check_writable(path, force)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("output path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T, force: bool) -> Result<()> {
    atomic(path, force, |tmp| {
        let f =
            std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(f), value)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    })
}

fn write_npy(path: &Path, array: &ArrayD<f64>, force: bool) -> Result<()> {
    atomic(path, force, |tmp| Ok(io::npy::write_dyn(tmp, array, true)?))
}

/// Reads `[trajectory, time, channel]` (or `[time, channel]`) as per-trajectory T × c matrices.
fn read_3d(path: &Path, what: &str) -> Result<Vec<DMatrix<f64>>> {
    let a = io::npy::read_any(path)?.data;
    let a3: Array3<f64> = match a.ndim() {
        2 => a
            .into_dimensionality::<ndarray::Ix2>()?
            .insert_axis(Axis(0)),
        3 => a.into_dimensionality::<ndarray::Ix3>()?,
        d => bail!(
            "{what} {}: expected [trajectory, time, channel], got {d} dimensions",
            path.display()
        ),
    };
    Ok(a3
        .outer_iter()
        .map(|m| DMatrix::from_fn(m.nrows(), m.ncols(), |i, j| m[[i, j]]))
        .collect())
}

/// Trajectories from Y (trailing all-NaN rows dropped) and optional U.
fn trajectories(y: &Path, u: Option<&Path>, timing: InputTiming) -> Result<Vec<Trajectory>> {
    let ys = read_3d(y, "Y")?;
    let us = u.map(|p| read_3d(p, "U")).transpose()?;
    if let Some(us) = &us
        && us.len() != ys.len()
    {
        bail!("U has {} trajectories, Y has {}", us.len(), ys.len());
    }
    let mut out = Vec::with_capacity(ys.len());
    for (i, y) in ys.into_iter().enumerate() {
        let len = (0..y.nrows())
            .rev()
            .find(|&t| y.row(t).iter().any(|v| !v.is_nan()))
            .map_or(0, |t| t + 1);
        if len == 0 {
            bail!("trajectory {i} of Y is entirely missing");
        }
        let tr = Trajectory::new(y.rows(0, len).into_owned())?;
        let tr = match &us {
            None => tr,
            Some(us) => {
                let u = &us[i];
                if u.nrows() < len {
                    bail!("trajectory {i}: U has {} steps, Y has {len}", u.nrows());
                }
                let u = u.rows(0, len).into_owned();
                match timing {
                    InputTiming::Control => tr.with_control_inputs(u)?,
                    InputTiming::Same => tr.with_inputs(u)?,
                }
            }
        };
        out.push(tr);
    }
    Ok(out)
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
    let states_path = a.out.with_extension("states.npy");
    io::check_writable(&a.out, a.force)?;
    io::check_writable(&states_path, a.force)?;
    let trajs = trajectories(&a.y, a.u.as_deref(), a.input_timing)?;
    let init = init_from_data(&trajs, a.states, a.seed)?;
    let opts = EmOptions {
        max_iter: a.iters,
        tol: a.tol,
        learn: if a.offsets {
            Learn::ALL
        } else {
            Learn::NO_OFFSETS
        },
        diagonal_r: a.diagonal_r,
        ..Default::default()
    };
    let fit = fit_em(&init, &trajs, &opts, &mut progress_printer("em"))?;
    let t_max = trajs.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut states = Array3::from_elem((trajs.len(), t_max, a.states), f64::NAN);
    for (i, tr) in trajs.iter().enumerate() {
        let sm = smooth(&fit.lds, tr, &opts.filter)?;
        for (t, m) in sm.means.iter().enumerate() {
            for k in 0..a.states {
                states[[i, t, k]] = m[k];
            }
        }
    }
    let report = serde_json::json!({
        "model": fit.lds,
        "loglik": fit.loglik,
        "converged": fit.converged,
        "options": opts,
        "input_timing": format!("{:?}", a.input_timing).to_lowercase(),
        "trajectories": trajs.len(),
    });
    write_json(&a.out, &report, a.force)?;
    write_npy(&states_path, &states.into_dyn(), a.force)?;
    println!(
        "fitted {} states to {} trajectories: log-likelihood {:.6} after {} iterations{} → {}, {}",
        a.states,
        trajs.len(),
        fit.loglik.last().copied().unwrap_or(f64::NAN),
        fit.loglik.len() - 1,
        if fit.converged { " (converged)" } else { "" },
        a.out.display(),
        states_path.display()
    );
    Ok(())
}

/// Ground truth file of `spikelab synth molds`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Truth {
    spec: MoldsSpec,
    seed: u64,
    model: Molds,
    labels: Vec<usize>,
}

fn molds(a: MoldsArgs) -> Result<()> {
    let paths = [
        "model.json",
        "fit.json",
        "responsibilities.npy",
        "comparison.json",
    ]
    .map(|f| a.out.join(f));
    for p in &paths {
        io::check_writable(p, a.force)?;
    }
    let trajs = trajectories(&a.y, Some(&a.u), InputTiming::Control)?;
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
    let truth: Option<Truth> = a
        .truth
        .as_ref()
        .map(|p| -> Result<Truth> {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        })
        .transpose()?;
    let fit = fit_molds(&trajs, &opts, &mut progress_printer("molds-em"))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write_json(&paths[0], &fit.model, a.force)?;
    write_json(
        &paths[1],
        &serde_json::json!({
            "loglik": fit.loglik, "converged": fit.converged, "dropped": fit.dropped,
            "labels": fit.labels(), "traj_loglik": fit.traj_loglik, "options": opts,
        }),
        a.force,
    )?;
    let k = fit.model.components.len();
    let gamma = Array2::from_shape_fn((trajs.len(), k), |(i, c)| fit.responsibilities[i][c]);
    write_npy(&paths[2], &gamma.into_dyn(), a.force)?;
    println!(
        "{} components, log-likelihood {:.6} after {} EM iterations; weights {:?}",
        k,
        fit.loglik.last().copied().unwrap_or(f64::NAN),
        fit.loglik.len() - 1,
        fit.model
            .weights
            .iter()
            .map(|w| (w * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
    );
    if let Some(t) = truth {
        if t.labels.len() != trajs.len() {
            bail!(
                "truth has {} labels, Y has {} trajectories",
                t.labels.len(),
                trajs.len()
            );
        }
        let (perm, errs) = match_components(&fit.model.components, &t.model.components, 20);
        let labels = fit.labels();
        let cmp = serde_json::json!({
            "markov_error": errs,
            "matching": perm,
            "weight_error": weight_error(&fit.model.weights, &t.model.weights, &perm),
            "accuracy": clustering_accuracy(&labels, &t.labels, &perm),
            "ari": adjusted_rand_index(&labels, &t.labels),
        });
        println!("| component | Markov error |\n| ---: | ---: |");
        for (c, e) in errs.iter().enumerate() {
            println!("| {c} | {e:.4} |");
        }
        println!(
            "weight error {:.4}, accuracy {:.4}, ARI {:.4}",
            cmp["weight_error"].as_f64().unwrap_or(f64::NAN),
            cmp["accuracy"].as_f64().unwrap_or(f64::NAN),
            cmp["ari"].as_f64().unwrap_or(f64::NAN)
        );
        write_json(&paths[3], &cmp, a.force)?;
    }
    Ok(())
}

/// Runs `spikelab synth molds`.
pub fn synth_molds(a: SynthMoldsArgs) -> Result<()> {
    let u_path = a.out.with_extension("u.npy");
    let t_path = a.out.with_extension("truth.json");
    for p in [&a.out, &u_path, &t_path] {
        io::check_writable(p, a.force)?;
    }
    let spec = MoldsSpec {
        weights: a.weights.clone(),
        n_states: a.states,
        n_outputs: a.outputs,
        n_inputs: a.inputs,
        n_traj: a.trajectories,
        t_len: a.steps,
        snr_db: a.snr_db,
        ..Default::default()
    };
    let data = spec.generate(a.seed)?;
    let (n, t) = (data.trajs.len(), a.steps);
    let y = Array3::from_shape_fn((n, t, a.outputs), |(i, s, c)| data.trajs[i].y[(s, c)]);
    let u = Array3::from_shape_fn((n, t, a.inputs), |(i, s, c)| data.trajs[i].u[(s, c)]);
    write_npy(&a.out, &y.into_dyn(), a.force)?;
    write_npy(&u_path, &u.into_dyn(), a.force)?;
    let truth = Truth {
        spec,
        seed: a.seed,
        model: data.truth,
        labels: data.labels,
    };
    write_json(&t_path, &truth, a.force)?;
    println!(
        "wrote {} ({n} × {t} × {}), {}, {}",
        a.out.display(),
        a.outputs,
        u_path.display(),
        t_path.display()
    );
    Ok(())
}
