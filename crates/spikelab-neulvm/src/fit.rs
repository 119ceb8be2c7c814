//! EM fitting: M-step (argmin L-BFGS on a sigmoid-reparametrised box), E-step (Adam on Z with
//! the original's checkpoint and stopping rules), EM driver with seeded restarts.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient as ArgGradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{NeulvmError, Result};
use crate::model::{LambdaFallback, NeuLvm, Wrt};
use crate::params::{Bounds, ModelConfig, Params};

/// When an E-step checkpoints Z and when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum EStepRule {
    /// The original's rule (default, parity): checkpoint when L_y **and** L_Z are both below
    /// every earlier step of the whole run (all EM iterations); stop after `e_patience` steps
    /// without a checkpoint. In the second EM iteration this usually stops after a handful of
    /// Adam steps (the new parameters rarely lower both terms below the first iteration's).
    #[default]
    Original,
    /// Checkpoint when the total L_y + L_Z (plus the optional smoothness penalty) at this
    /// E-step's parameters is below the best of **this** E-step by more than
    /// `rel_tol`·|best|; stop after `e_patience` steps without a checkpoint (or at
    /// `e_max_iters`); reload the best Z.
    TotalLoss {
        /// Relative improvement that counts (≥ 0; 0 = any decrease).
        rel_tol: f64,
    },
}

/// When the EM loop stops (besides `max_em_iters`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum EmStopRule {
    /// The original's rule (default, parity): stop when not (M_improved and E_improved).
    #[default]
    Original,
    /// Stop when the M-step loss improved by less than `rel_tol`·|loss| over the previous EM
    /// iteration's, or when neither step changed anything (M-step < 2 iterations and no
    /// E-step checkpoint).
    RelativeLoss {
        /// Relative improvement that counts (≥ 0).
        rel_tol: f64,
    },
}

/// Settings of the EM fit (defaults = the original's `arg_parser` / `train_meso.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Box constraints of the parameters (also the uniform prior of the restarts).
    pub bounds: Bounds,
    /// Maximum EM iterations (original 20).
    pub max_em_iters: usize,
    /// Maximum L-BFGS iterations per M-step (original `maxiter` 200).
    pub m_max_iters: u64,
    /// L-BFGS memory (scipy default 10).
    pub m_memory: usize,
    /// Stop the M-step when |Δloss| between iterations is below this (scipy `ftol` 2.22e-9).
    pub m_tol_cost: f64,
    /// Stop the M-step when the gradient norm (in the unconstrained coordinates) is below this.
    pub m_tol_grad: f64,
    /// Maximum Adam steps per E-step (original 200).
    pub e_max_iters: usize,
    /// Adam learning rate (1e-3).
    pub e_lr: f64,
    /// Adam β1 (0.9).
    pub e_beta1: f64,
    /// Adam β2 (0.999).
    pub e_beta2: f64,
    /// Adam ε (Keras 1e-7).
    pub e_epsilon: f64,
    /// E-step patience: stop after this many steps without a checkpoint (original 3).
    pub e_patience: usize,
    /// Clip range of Z after each Adam step (original [1e-5, 1]).
    pub z_clip: (f64, f64),
    /// σ (s) of the Gaussian smoothing of the data-driven initial Z (original 0.4 s).
    pub init_sigma_s: f64,
    /// Number of restarts from the seeded prior (original 5).
    pub restarts: usize,
    /// Seed of the prior draws.
    pub seed: u64,
    /// Worker threads for the restarts (0 = available parallelism).
    pub threads: usize,
    /// E-step checkpoint and stop rule (default: the original's).
    #[serde(default)]
    pub e_rule: EStepRule,
    /// EM stop rule (default: the original's).
    #[serde(default)]
    pub em_rule: EmStopRule,
    /// Reset the Adam moments and step count at the start of every E-step (default false:
    /// one Adam instance for the whole run, as the original).
    #[serde(default)]
    pub e_reset_adam: bool,
    /// Weight λ of an optional temporal smoothness prior added to the E-step objective only:
    /// λ·(1/(M·T)) Σ_α N_α Σ_t (Z_α(t) − Z_α(t−1))² over the modelled bins (default 0 = off;
    /// the reported losses never include it).
    #[serde(default)]
    pub z_smoothness: f64,
}

impl FitOptions {
    /// The original's defaults with the given bounds.
    ///
    /// ```
    /// use spikelab_neulvm::{Bounds, FitOptions, Params};
    /// let b = Bounds::relative_to(&Params::winner_take_all_ground_truth(), 0.4, 2.0)?;
    /// let o = FitOptions::new(b);
    /// assert_eq!(o.max_em_iters, 20);
    /// o.validate()?;
    /// # Ok::<(), spikelab_neulvm::NeulvmError>(())
    /// ```
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            max_em_iters: 20,
            m_max_iters: 200,
            m_memory: 10,
            m_tol_cost: 2.22e-9,
            m_tol_grad: 1e-5,
            e_max_iters: 200,
            e_lr: 1e-3,
            e_beta1: 0.9,
            e_beta2: 0.999,
            e_epsilon: 1e-7,
            e_patience: 3,
            z_clip: (1e-5, 1.0),
            init_sigma_s: 0.4,
            restarts: 5,
            seed: 20221011,
            threads: 0,
            e_rule: EStepRule::Original,
            em_rule: EmStopRule::Original,
            e_reset_adam: false,
            z_smoothness: 0.0,
        }
    }

    /// Checks every option.
    pub fn validate(&self) -> Result<()> {
        let bad = |s: &str| Err(NeulvmError::Options(s.into()));
        Bounds::new(self.bounds.lower.clone(), self.bounds.upper.clone())?;
        if self.max_em_iters == 0 || self.e_patience == 0 || self.m_memory == 0 {
            return bad("max_em_iters, e_patience and m_memory must be >= 1");
        }
        if !(self.e_lr > 0.0 && self.e_lr.is_finite()) {
            return bad("e_lr must be > 0");
        }
        if !((0.0..1.0).contains(&self.e_beta1) && (0.0..1.0).contains(&self.e_beta2)) {
            return bad("Adam betas must be in [0, 1)");
        }
        if !(self.e_epsilon > 0.0 && self.m_tol_cost >= 0.0 && self.m_tol_grad >= 0.0) {
            return bad("e_epsilon must be > 0 and tolerances >= 0");
        }
        let (lo, hi) = self.z_clip;
        if !(0.0 <= lo && lo < hi && hi <= 1.0) {
            return bad("z_clip must satisfy 0 <= lo < hi <= 1");
        }
        if !(self.init_sigma_s > 0.0 && self.init_sigma_s.is_finite()) {
            return bad("init_sigma_s must be > 0");
        }
        if self.restarts == 0 {
            return bad("restarts must be >= 1");
        }
        let tol_ok = |t: f64| t >= 0.0 && t.is_finite();
        if let EStepRule::TotalLoss { rel_tol } = self.e_rule
            && !tol_ok(rel_tol)
        {
            return bad("e_rule rel_tol must be finite and >= 0");
        }
        if let EmStopRule::RelativeLoss { rel_tol } = self.em_rule
            && !tol_ok(rel_tol)
        {
            return bad("em_rule rel_tol must be finite and >= 0");
        }
        if !tol_ok(self.z_smoothness) {
            return bad("z_smoothness must be finite and >= 0");
        }
        Ok(())
    }

    /// Draws `n` parameter vectors uniformly inside the bounds (the original's prior),
    /// seeded with `seed` (ChaCha8).
    pub fn draw_prior(&self, n: usize) -> Vec<Params> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        (0..n)
            .map(|_| {
                let x: Vec<f64> = self
                    .bounds
                    .lower
                    .iter()
                    .zip(&self.bounds.upper)
                    .map(|(l, u)| rng.random_range(*l..*u))
                    .collect();
                Params::from_slice(&x).expect("bounds are finite and a_mem bounds positive")
            })
            .collect()
    }
}

/// Progress events, passed to the caller's callback (hook an indicatif bar here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Progress {
    /// An M-step finished.
    MStep {
        /// Restart index.
        restart: usize,
        /// EM iteration.
        em_iter: usize,
        /// L-BFGS iterations.
        iters: u64,
        /// Loss after the M-step.
        loss: f64,
    },
    /// One Adam step of the E-step (loss before the update).
    EStep {
        /// Restart index.
        restart: usize,
        /// EM iteration.
        em_iter: usize,
        /// Adam step within this E-step.
        step: usize,
        /// L_y before the update.
        loss_y: f64,
        /// L_Z before the update.
        loss_z: f64,
    },
    /// A restart finished.
    RestartDone {
        /// Restart index.
        restart: usize,
        /// Its final M-step loss.
        loss: f64,
    },
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

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// (ζ, cost, gradient) of the last evaluation.
type CacheEntry = (Vec<f64>, f64, Vec<f64>);

struct MProblem<'a> {
    model: &'a NeuLvm,
    z: &'a Array2<f64>,
    lower: Vec<f64>,
    width: Vec<f64>,
    /// Cost scale: L-BFGS's first step is −∇, so the cost is divided by max(1, ‖∇₀‖∞) to keep
    /// that step O(1) in the unconstrained coordinates (else the sigmoid saturates at once).
    scale: f64,
    cache: Mutex<Option<CacheEntry>>,
}

impl MProblem<'_> {
    fn to_x(&self, zz: &[f64]) -> Vec<f64> {
        zz.iter()
            .zip(self.lower.iter().zip(&self.width))
            .map(|(z, (l, w))| l + w * sigmoid(*z))
            .collect()
    }

    fn eval(&self, zz: &[f64]) -> (f64, Vec<f64>) {
        if let Some((p, c, g)) = self.cache.lock().expect("no poisoning").as_ref()
            && p.as_slice() == zz
        {
            return (*c, g.clone());
        }
        let x = self.to_x(zz);
        // Absurd parameters (exp overflow) give a huge finite cost and no gradient, so that
        // the line search backs off; no NaN ever reaches L-BFGS.
        let (c, g) = match Params::from_slice(&x).and_then(|p| {
            self.model
                .gradient(&p, self.z.view(), LambdaFallback::MStep, Wrt::Params)
        }) {
            Ok(gr) => {
                let gx = gr.params.expect("requested");
                let g: Vec<f64> = zz
                    .iter()
                    .zip(gx.iter().zip(&self.width))
                    .map(|(z, (g, w))| {
                        let s = sigmoid(*z);
                        g * w * s * (1.0 - s)
                    })
                    .collect();
                (gr.losses.total(), g)
            }
            Err(_) => (1e30, vec![0.0; zz.len()]),
        };
        *self.cache.lock().expect("no poisoning") = Some((zz.to_vec(), c, g.clone()));
        (c, g)
    }
}

impl CostFunction for MProblem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0 * self.scale)
    }
}

impl ArgGradient for MProblem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(p).1.iter().map(|g| g * self.scale).collect())
    }
}

/// Result of one M-step.
#[derive(Debug, Clone, PartialEq)]
pub struct MStepResult {
    /// Optimised parameters (inside the bounds).
    pub params: Params,
    /// L_y + L_Z at the optimum (M-step Λ fallback).
    pub loss: f64,
    /// L-BFGS iterations.
    pub iters: u64,
}

/// M-step: minimise L_y + L_Z over the parameters at fixed Z with argmin's L-BFGS
/// (More–Thuente line search, exact gradient), bounds enforced by
/// x = lower + (upper − lower)·sigmoid(ζ).
///
/// ```
/// use spikelab_neulvm::{fit, Bounds, FitOptions, ModelConfig, NeuLvm, Params, Recording};
/// use spikelab_data::io::npy;
/// use spikelab_datasets as datasets;
/// let model = NeuLvm::new(ModelConfig::winner_take_all(),
///     Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?)?;
/// let z = npy::read_typed::<f64, ndarray::Ix2>(&datasets::neulvm("Z_init_4ms.npy")?)?;
/// let gt = Params::winner_take_all_ground_truth();
/// let mut opts = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0)?);
/// opts.m_max_iters = 3;
/// let before = model.loss(&gt, z.view())?.total();
/// let r = fit::m_step(&model, &z, &gt, &opts)?;
/// assert!(r.loss <= before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn m_step(
    model: &NeuLvm,
    z: &Array2<f64>,
    x0: &Params,
    opts: &FitOptions,
) -> Result<MStepResult> {
    let b = &opts.bounds;
    let x0v = x0.to_vec();
    if x0v.len() != b.lower.len() {
        return Err(NeulvmError::Params("x0 and bounds differ in length".into()));
    }
    let width: Vec<f64> = b.upper.iter().zip(&b.lower).map(|(u, l)| u - l).collect();
    let zeta0: Vec<f64> = x0v
        .iter()
        .zip(b.lower.iter().zip(&width))
        .map(|(x, (l, w))| {
            let q = ((x - l) / w).clamp(1e-9, 1.0 - 1e-9);
            (q / (1.0 - q)).ln()
        })
        .collect();
    let mut prob = MProblem {
        model,
        z,
        lower: b.lower.clone(),
        width,
        scale: 1.0,
        cache: Mutex::new(None),
    };
    let (c0, g0) = prob.eval(&zeta0);
    let scale = 1.0 / g0.iter().fold(1.0f64, |a, g| a.max(g.abs()));
    prob.scale = scale;
    let ls = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(ls, opts.m_memory)
        .with_tolerance_cost(opts.m_tol_cost * scale)
        .and_then(|s| s.with_tolerance_grad(opts.m_tol_grad * scale))
        .map_err(|e| NeulvmError::Optimizer(e.to_string()))?;
    let res = Executor::new(prob, solver)
        .configure(|st| st.param(zeta0.clone()).max_iters(opts.m_max_iters))
        .run();
    let (zbest, iters) = match res {
        Ok(r) => {
            let st = r.state();
            let it = st.get_iter();
            let best = st.get_best_param().cloned().unwrap_or(zeta0.clone());
            (best, it)
        }
        Err(e) => return Err(NeulvmError::Optimizer(e.to_string())),
    };
    let prob = MProblem {
        model,
        z,
        lower: b.lower.clone(),
        width: b.upper.iter().zip(&b.lower).map(|(u, l)| u - l).collect(),
        scale: 1.0,
        cache: Mutex::new(None),
    };
    let (cb, _) = prob.eval(&zbest);
    let (zeta, loss) = if cb <= c0 { (zbest, cb) } else { (zeta0, c0) };
    let x: Vec<f64> = prob
        .to_x(&zeta)
        .iter()
        .zip(b.lower.iter().zip(&b.upper))
        .map(|(v, (l, u))| v.clamp(*l, *u))
        .collect();
    Ok(MStepResult {
        params: Params::from_slice(&x)?,
        loss,
        iters,
    })
}

/// The optional smoothness penalty λ·(1/(M·T)) Σ_α N_α Σ_t (Z_α(t) − Z_α(t−1))² over the
/// modelled bins t ≥ A+1, and its gradient added into `grad`.
fn smoothness_penalty(model: &NeuLvm, z: &Array2<f64>, lambda: f64, grad: &mut Array2<f64>) -> f64 {
    if lambda == 0.0 {
        return 0.0;
    }
    let cfg = model.config();
    let a = cfg.history_bins;
    let (m, nb) = z.dim();
    let scale = lambda / (m * (nb - a)) as f64;
    let mut pen = 0.0;
    for p in 0..m {
        let w = scale * cfg.n_neurons[p] as f64;
        for t in (a + 1)..nb {
            let d = z[[p, t]] - z[[p, t - 1]];
            pen += w * d * d;
            grad[[p, t]] += 2.0 * w * d;
            grad[[p, t - 1]] -= 2.0 * w * d;
        }
    }
    pen
}

/// E-step (one call = one EM iteration's E-step). With the default
/// [`EStepRule::Original`] it follows the original: at most `e_max_iters` Adam steps on Z;
/// each step's (L_y, L_Z) is recorded before the update; if both are at their all-time minimum
/// over the run, Z is checkpointed; stop after `e_patience` steps without a checkpoint; then
/// reload the newest checkpoint. [`EStepRule::TotalLoss`], `e_reset_adam` and `z_smoothness`
/// change this as documented on [`FitOptions`].
/// Returns (steps run, whether this iteration checkpointed).
pub fn e_step(
    model: &NeuLvm,
    params: &Params,
    state: &mut EmState,
    opts: &FitOptions,
    em_iter: usize,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(usize, bool)> {
    let mut last_improvement = 0;
    let mut saved_now = false;
    let mut steps = 0;
    let mut best_total = f64::INFINITY;
    let (lo, hi) = opts.z_clip;
    if opts.e_reset_adam {
        state.adam.m.fill(0.0);
        state.adam.v.fill(0.0);
        state.adam.t = 0;
    }
    while steps < opts.e_max_iters {
        let g = model.gradient(params, state.z.view(), LambdaFallback::EStep, Wrt::Latent)?;
        let (ly, lz) = (g.losses.loss_y, g.losses.loss_z);
        let mut gz = g.latent.expect("requested");
        let pen = smoothness_penalty(model, &state.z, opts.z_smoothness, &mut gz);
        progress(&Progress::EStep {
            restart: state.restart,
            em_iter,
            step: steps,
            loss_y: ly,
            loss_z: lz,
        });
        let newsave = match opts.e_rule {
            EStepRule::Original => state.e_history.iter().all(|(y, z)| ly < *y && lz < *z),
            EStepRule::TotalLoss { rel_tol } => {
                let total = ly + lz + pen;
                let better = total < best_total - rel_tol * best_total.abs();
                if total < best_total {
                    best_total = total;
                }
                better
            }
        };
        state.e_history.push((ly, lz));
        if newsave {
            state.saved_z = Some(state.z.clone());
            saved_now = true;
            last_improvement = 0;
        } else {
            last_improvement += 1;
        }
        // Adam update (Keras form), then the constraint clip.
        let ad = &mut state.adam;
        ad.t += 1;
        let t = ad.t as f64;
        let lr_t = opts.e_lr * (1.0 - opts.e_beta2.powf(t)).sqrt() / (1.0 - opts.e_beta1.powf(t));
        ndarray::Zip::from(&mut state.z)
            .and(&mut ad.m)
            .and(&mut ad.v)
            .and(&gz)
            .for_each(|z, m, v, &gr| {
                let gr = if gr.is_finite() { gr } else { 0.0 };
                *m = opts.e_beta1 * *m + (1.0 - opts.e_beta1) * gr;
                *v = opts.e_beta2 * *v + (1.0 - opts.e_beta2) * gr * gr;
                *z = (*z - lr_t * *m / (v.sqrt() + opts.e_epsilon)).clamp(lo, hi);
            });
        steps += 1;
        if last_improvement >= opts.e_patience {
            break;
        }
    }
    if let Some(s) = &state.saved_z {
        state.z = s.clone();
    }
    Ok((steps, saved_now))
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
/// default the original's not (M_improved and E_improved)) or `max_em_iters`.
pub fn run_em(
    model: &NeuLvm,
    state: &mut EmState,
    opts: &FitOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<()> {
    opts.validate()?;
    model.check_latent(state.z.view())?;
    while !state.done && state.iterations.len() < opts.max_em_iters {
        let e = state.iterations.len();
        let ms = m_step(model, &state.z, &state.params, opts)?;
        state.params = ms.params;
        progress(&Progress::MStep {
            restart: state.restart,
            em_iter: e,
            iters: ms.iters,
            loss: ms.loss,
        });
        let params = state.params.clone();
        let (steps, saved) = e_step(model, &params, state, opts, e, progress)?;
        let e_improved = saved && steps > opts.e_patience.saturating_add(1);
        let m_improved = ms.iters >= 2;
        let e_loss = model
            .loss_with(&state.params, state.z.view(), LambdaFallback::EStep)?
            .total();
        let stop = match opts.em_rule {
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
/// ```no_run
/// use spikelab_neulvm::{fit, Bounds, FitOptions, ModelConfig, NeuLvm, Params, Recording};
/// use spikelab_datasets as datasets;
/// let model = NeuLvm::new(ModelConfig::winner_take_all(),
///     Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?)?;
/// let opts = FitOptions::new(Bounds::relative_to(&Params::winner_take_all_ground_truth(), 0.4, 2.0)?);
/// let res = fit::fit(&model, &opts, &|p| eprintln!("{p:?}"))?;
/// println!("best loss {}", res.best().loss);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fit(
    model: &NeuLvm,
    opts: &FitOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<FitResult> {
    opts.validate()?;
    let inits = opts.draw_prior(opts.restarts);
    fit_from(model, &inits, opts, progress)
}

/// Like [`fit`] from given initial parameters (one restart each).
pub fn fit_from(
    model: &NeuLvm,
    inits: &[Params],
    opts: &FitOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<FitResult> {
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
                    let r = (|| {
                        let mut st = new_state(model, i, &inits[i], opts)?;
                        run_em(model, &mut st, opts, progress)?;
                        let loss = st
                            .iterations
                            .last()
                            .map(|it| it.m_loss)
                            .unwrap_or(f64::INFINITY);
                        progress(&Progress::RestartDone { restart: i, loss });
                        Ok(RestartResult {
                            init: inits[i].clone(),
                            state: st,
                            loss,
                        })
                    })();
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
