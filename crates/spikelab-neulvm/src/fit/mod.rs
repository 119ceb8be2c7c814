//! EM fitting: M-step (argmin L-BFGS on a sigmoid-reparametrised box), E-step (Adam on Z with
//! the original's checkpoint and stopping rules), EM driver with seeded restarts.
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};

use crate::error::{NeulvmError, Result};
use crate::model::{LambdaFallback, NeuLvm};
use crate::params::{ModelConfig, Params};

mod e_step;
mod m_step;
mod options;

pub use e_step::e_step;
use e_step::e_step_reported;
pub use m_step::{MStepResult, m_step};
pub use options::{EStepRule, EmStopRule, FitOptions};

/// Forwards the progress of every restart thread to the caller's one observer
/// ([`spikelab_core::Observer`]) and remembers a [`Flow::Stop`].
///
/// The reports (stage, step, metrics):
/// * `"m_step"`, step = EM iteration: `restart`, `lbfgs_iters`, `loss` (after the M-step);
/// * `"e_step"`, step = Adam step within the E-step: `restart`, `em_iter`, `loss_y`, `loss_z`
///   (before the update);
/// * `"restart"`, step = restart index: `loss` (its final M-step loss).
///
/// After a [`Flow::Stop`] every restart ends its current E-step normally (the checkpointed Z
/// is reloaded), records that EM iteration and returns; the state is not marked done, so
/// [`run_em`] resumes it.
pub(crate) struct Reporter<'a> {
    observer: Mutex<&'a mut (dyn Observer + Send)>,
    stopped: AtomicBool,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(observer: &'a mut (dyn Observer + Send)) -> Self {
        Self {
            observer: Mutex::new(observer),
            stopped: AtomicBool::new(false),
        }
    }

    pub(crate) fn report(&self, progress: &Progress<'_>) {
        let flow = match self.observer.lock() {
            Ok(mut o) => o.observe(progress),
            Err(_) => Flow::Stop,
        };
        if flow == Flow::Stop {
            self.stopped.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// One EM iteration's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmIteration {
    /// Loss after the M-step (the original's `loss_last`).
    pub m_loss: f64,
    /// L-BFGS iterations of the M-step.
    pub m_iters: u64,
    /// Whether the M-step ran ≥ 2 iterations (original `M_improved`).
    pub m_improved: bool,
    /// Adam steps run in the E-step.
    pub e_steps: usize,
    /// Whether the E-step saved a checkpoint and ran > patience+1 steps (`E_improved`).
    pub e_improved: bool,
    /// Loss at the returned Z and the M-step parameters, with the E-step Λ fallback.
    pub e_loss: f64,
    /// Whether the EM stop rule fired after this iteration.
    #[serde(default)]
    pub stop: bool,
}

/// Adam state on Z, carried across EM iterations as in the original (one optimizer instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    /// First moments `[population, bin]`.
    pub m: Array2<f64>,
    /// Second moments.
    pub v: Array2<f64>,
    /// Steps taken so far.
    pub t: u64,
}

/// Everything needed to continue a restart (serialisable, hence resumable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmState {
    /// Restart index.
    pub restart: usize,
    /// Current parameters.
    pub params: Params,
    /// Current latent `[population, bin]`.
    pub z: Array2<f64>,
    /// Adam moments.
    pub adam: AdamState,
    /// (L_y, L_Z) of every E-step step of the run (checkpoint rule: both at an all-time minimum).
    pub e_history: Vec<(f64, f64)>,
    /// Newest checkpointed Z, if any.
    pub saved_z: Option<Array2<f64>>,
    /// Finished EM iterations.
    pub iterations: Vec<EmIteration>,
    /// Whether the stop rule fired (or the iteration limit was reached).
    pub done: bool,
}

/// Result of a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartResult {
    /// Initial parameters (prior draw).
    pub init: Params,
    /// Final state.
    pub state: EmState,
    /// The final M-step loss (selection criterion of the original).
    pub loss: f64,
}

/// Result of a full fit: the model settings it was fitted with, every restart and the index of
/// the best (lowest final M-step loss). [`write_dir`](Self::write_dir) writes its output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitResult {
    /// The fixed settings of the fitted model.
    pub config: ModelConfig,
    /// All restarts.
    pub restarts: Vec<RestartResult>,
    /// Index of the chosen restart.
    pub best: usize,
}

impl FitResult {
    /// The chosen restart.
    pub fn best(&self) -> &RestartResult {
        &self.restarts[self.best]
    }

    /// JSON serialisation.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| NeulvmError::Serde(e.to_string()))
    }

    /// Parses [`to_json`](Self::to_json) output.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| NeulvmError::Serde(e.to_string()))
    }
}

/// A fresh EM state for a restart: Z from the data-driven init, zero Adam moments.
pub fn new_state(
    model: &NeuLvm,
    restart: usize,
    init: &Params,
    opts: &FitOptions,
) -> Result<EmState> {
    let z = model.initial_latent(opts.init_sigma_s)?;
    let dim = z.dim();
    Ok(EmState {
        restart,
        params: init.clone(),
        z,
        adam: AdamState {
            m: Array2::zeros(dim),
            v: Array2::zeros(dim),
            t: 0,
        },
        e_history: Vec::new(),
        saved_z: None,
        iterations: Vec::new(),
        done: false,
    })
}

/// Runs (or resumes) the EM loop of one restart until the stop rule (`opts.em_rule`; by
/// default the original's not (M_improved and E_improved)), `max_em_iters` or a
/// [`Flow::Stop`] of `observer` (reports: [`fit`]).
pub fn run_em(
    model: &NeuLvm,
    state: &mut EmState,
    opts: &FitOptions,
    observer: &mut (dyn Observer + Send),
) -> Result<()> {
    run_em_reported(model, state, opts, &Reporter::new(observer))
}

fn run_em_reported(
    model: &NeuLvm,
    state: &mut EmState,
    opts: &FitOptions,
    rep: &Reporter<'_>,
) -> Result<()> {
    opts.validate()?;
    model.check_latent(state.z.view())?;
    while !state.done && !rep.stopped() && state.iterations.len() < opts.max_em_iters {
        let e = state.iterations.len();
        let ms = m_step(model, &state.z, &state.params, opts)?;
        state.params = ms.params;
        rep.report(
            &Progress::new("m_step", e)
                .with_metric("restart", state.restart as f64)
                .with_metric("lbfgs_iters", ms.iters as f64)
                .with_metric("loss", ms.loss),
        );
        let params = state.params.clone();
        let (steps, saved) = e_step_reported(model, &params, state, opts, e, rep)?;
        let e_improved = saved && steps > opts.e_patience.saturating_add(1);
        let m_improved = ms.iters >= 2;
        let e_loss = model
            .loss_with(&state.params, state.z.view(), LambdaFallback::EStep)?
            .total();
        // An E-step cut short by the observer says nothing about convergence.
        let stop = !rep.stopped()
            && match opts.em_rule {
                EmStopRule::Original => !(m_improved && e_improved),
                EmStopRule::RelativeLoss { rel_tol } => {
                    let small = state
                        .iterations
                        .last()
                        .is_some_and(|prev| prev.m_loss - ms.loss < rel_tol * ms.loss.abs());
                    small || (!m_improved && !saved)
                }
            };
        state.iterations.push(EmIteration {
            m_loss: ms.loss,
            m_iters: ms.iters,
            m_improved,
            e_steps: steps,
            e_improved,
            e_loss,
            stop,
        });
        if stop {
            state.done = true;
        }
    }
    if state.iterations.len() >= opts.max_em_iters {
        state.done = true;
    }
    Ok(())
}

/// Full fit: `opts.restarts` restarts from the seeded prior, run in parallel threads; the
/// restart with the lowest final M-step loss is chosen (as the original).
///
/// `observer` gets the reports of every restart (stages `"m_step"`, `"e_step"`, `"restart"`
/// with the metrics `restart`, `em_iter`, `lbfgs_iters`, `loss`, `loss_y`, `loss_z`); a
/// [`Flow::Stop`] ends every restart after its current E-step and returns what was reached.
///
/// ```no_run
/// use spikelab_neulvm::{fit, Bounds, FitOptions, ModelConfig, NeuLvm, Params, Recording};
/// use spikelab_datasets as datasets;
/// let model = NeuLvm::new(ModelConfig::winner_take_all(),
///     Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?)?;
/// let opts = FitOptions::new(Bounds::relative_to(&Params::winner_take_all_ground_truth(), 0.4, 2.0)?);
/// let res = fit::fit(&model, &opts, &mut |p: &spikelab_core::Progress<'_>| {
///     eprintln!("{} {}: {:?}", p.stage, p.step, p.metric("loss"));
///     spikelab_core::Flow::Continue
/// })?;
/// println!("best loss {}", res.best().loss);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fit(
    model: &NeuLvm,
    opts: &FitOptions,
    observer: &mut (dyn Observer + Send),
) -> Result<FitResult> {
    opts.validate()?;
    let inits = opts.draw_prior(opts.restarts);
    fit_from(model, &inits, opts, observer)
}

/// One restart from `init`: a fresh state, the EM loop, the final M-step loss.
fn run_restart(
    model: &NeuLvm,
    restart: usize,
    init: &Params,
    opts: &FitOptions,
    rep: &Reporter<'_>,
) -> Result<RestartResult> {
    let mut state = new_state(model, restart, init, opts)?;
    run_em_reported(model, &mut state, opts, rep)?;
    let loss = state
        .iterations
        .last()
        .map(|it| it.m_loss)
        .unwrap_or(f64::INFINITY);
    rep.report(&Progress::new("restart", restart).with_metric("loss", loss));
    Ok(RestartResult {
        init: init.clone(),
        state,
        loss,
    })
}

/// Like [`fit`] from given initial parameters (one restart each).
pub fn fit_from(
    model: &NeuLvm,
    inits: &[Params],
    opts: &FitOptions,
    observer: &mut (dyn Observer + Send),
) -> Result<FitResult> {
    let rep = Reporter::new(observer);
    opts.validate()?;
    if inits.is_empty() {
        return Err(NeulvmError::Options("no initial parameters".into()));
    }
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        opts.threads
    }
    .min(inits.len());
    let serial_model;
    let model = if threads > 1 {
        serial_model = model.clone().with_parallel_populations(false);
        &serial_model
    } else {
        model
    };
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<RestartResult>>>> = Mutex::new(Vec::new());
    results
        .lock()
        .expect("fresh")
        .resize_with(inits.len(), || None);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no poisoning");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= inits.len() {
                        break;
                    }
                    let r = run_restart(model, i, &inits[i], opts, &rep);
                    results.lock().expect("no poisoning")[i] = Some(r);
                }
            });
        }
    });
    let mut restarts = Vec::with_capacity(inits.len());
    for r in results.into_inner().expect("no poisoning") {
        restarts.push(r.expect("every restart ran")?);
    }
    let best = restarts
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.loss.total_cmp(&b.1.loss))
        .map(|(i, _)| i)
        .expect("at least one restart");
    Ok(FitResult {
        config: model.config().clone(),
        restarts,
        best,
    })
}
