//! Mixtures of linear dynamical systems (MoLDS): responsibilities, weighted EM, and the
//! Tensor-EM pipeline (tensor stage → Ho–Kalman → noise initialisation → EM).
//!
//! Each trajectory i draws a component z_i ~ Cat(p) once and follows it for its whole length.
//! E-step: for every (i, k) a Kalman filter gives ℓ_ik = log p(y_i | u_i, θ_k) and the RTS
//! smoother the statistics; γ_ik = softmax_k(log p_k + ℓ_ik). M-step: p_k = mean_i γ_ik and the
//! LDS regressions with every trajectory's statistics weighted by γ_ik.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};

use crate::em::{EmOptions, Shared, SuffStats, check_data, full_flags, m_step};
use crate::error::{LdsError, Result};
use crate::generate::{randn, random_stable};
use crate::hokalman::{Order, ho_kalman};
use crate::linalg::{dlyap, spectral_radius};
use crate::model::{Lds, Trajectory};
use crate::tensor::{TensorOptions, lag_vector, split_markov, tensor_stage};

/// A mixture of LDS components with weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Molds {
    /// Mixture weights p_k (sum 1).
    pub weights: Vec<f64>,
    /// Component models (control convention: v_t = u_{t−1}).
    pub components: Vec<Lds>,
}

/// How the mixture EM is started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MoldsInit {
    /// Tensor stage, then EM (the MoLDS method).
    TensorEm,
    /// Tensor stage only (no EM).
    TensorOnly,
    /// EM from random parameters; the restart with the best final log-likelihood is kept.
    RandomEm {
        /// Number of random starts (≥ 1).
        restarts: usize,
    },
}

/// Options of [`fit_molds`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoldsOptions {
    /// Number of components K.
    pub components: usize,
    /// Latent states n per component.
    pub n_states: usize,
    /// Initialisation.
    pub init: MoldsInit,
    /// Tensor stage options (lag window L, slices, seed).
    pub tensor: TensorOptions,
    /// EM options (iterations, tolerance, learned parameters, floors, jitter).
    pub em: EmOptions,
    /// A component whose responsibility mass Σ_i γ_ik falls below `min_mass·N` is dropped
    /// (default 1e-3).
    pub min_mass: f64,
    /// Seed of the random initialisation.
    pub seed: u64,
}

impl Default for MoldsOptions {
    fn default() -> Self {
        Self {
            components: 3,
            n_states: 3,
            init: MoldsInit::TensorEm,
            tensor: TensorOptions::default(),
            em: EmOptions::default(),
            min_mass: 1e-3,
            seed: 0,
        }
    }
}

impl MoldsOptions {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        self.em.validate()?;
        if self.components == 0 || self.n_states == 0 {
            return Err(LdsError::InvalidParameter {
                name: "components/n_states",
                reason: "both must be ≥ 1".into(),
            });
        }
        if let MoldsInit::RandomEm { restarts: 0 } = self.init {
            return Err(LdsError::InvalidParameter {
                name: "restarts",
                reason: "0 (need ≥ 1)".into(),
            });
        }
        if !(0.0..1.0).contains(&self.min_mass) {
            return Err(LdsError::InvalidParameter {
                name: "min_mass",
                reason: format!("{} (must be in [0, 1))", self.min_mass),
            });
        }
        Ok(())
    }
}

/// Result of a mixture fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoldsFit {
    /// The fitted mixture (dropped components removed).
    pub model: Molds,
    /// Responsibilities γ (trajectories × components) under `model`.
    pub responsibilities: Vec<Vec<f64>>,
    /// Per-trajectory log-likelihood log Σ_k p_k p(y_i | θ_k) under `model`.
    pub traj_loglik: Vec<f64>,
    /// Total log-likelihood after each E-step (the last one is that of `model`).
    pub loglik: Vec<f64>,
    /// Indices (in the initial numbering) of components dropped for lack of mass.
    pub dropped: Vec<usize>,
    /// Whether EM met its tolerance.
    pub converged: bool,
}

impl MoldsFit {
    /// argmax_k γ_ik per trajectory.
    pub fn labels(&self) -> Vec<usize> {
        self.responsibilities
            .iter()
            .map(|g| {
                (0..g.len())
                    .max_by(|&a, &b| g[a].total_cmp(&g[b]))
                    .unwrap_or(0)
            })
            .collect()
    }
}

fn log_sum_exp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Responsibilities and per-trajectory mixture log-likelihoods (filter only).
pub fn responsibilities(
    model: &Molds,
    trajs: &[Trajectory],
    em: &EmOptions,
) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
    em.filter.check()?;
    for c in &model.components {
        for tr in trajs {
            tr.check_against(c)?;
        }
    }
    let full = full_flags(trajs);
    let rows = mixture_e_step(model, trajs, &full, em, false)?;
    Ok(rows.into_iter().map(|(_, g, l)| (g, l)).unzip())
}

/// One trajectory's E-step: its statistics under every component (empty when only scoring),
/// its responsibilities and log Σ_k p_k p(y_i | θ_k).
type EStepRow = (Vec<SuffStats>, Vec<f64>, f64);

/// Per trajectory: the statistics under every component (when `stats`), the responsibilities
/// and log Σ_k p_k p(y_i | θ_k). In parallel over trajectories, in their order.
fn mixture_e_step(
    model: &Molds,
    trajs: &[Trajectory],
    full: &[bool],
    em: &EmOptions,
    stats: bool,
) -> Result<Vec<EStepRow>> {
    let shared = model
        .components
        .par_iter()
        .map(|c| Shared::new(c, trajs, full, &em.filter, stats))
        .collect::<Result<Vec<_>>>()?;
    (0..trajs.len())
        .into_par_iter()
        .map(|i| {
            let (tr, f) = (&trajs[i], full[i]);
            let mut per = Vec::with_capacity(shared.len());
            let mut lls = Vec::with_capacity(shared.len());
            for sh in &shared {
                if stats {
                    let (s, l) = sh.stats(tr, f)?;
                    per.push(s);
                    lls.push(l);
                } else {
                    lls.push(sh.loglik(tr, f)?);
                }
            }
            let (gamma, lse) = posterior(&model.weights, &lls);
            Ok((per, gamma, lse))
        })
        .collect()
}

fn posterior(weights: &[f64], lls: &[f64]) -> (Vec<f64>, f64) {
    let joint: Vec<f64> = weights.iter().zip(lls).map(|(p, l)| p.ln() + l).collect();
    let lse = log_sum_exp(&joint);
    (joint.iter().map(|j| (j - lse).exp()).collect(), lse)
}

/// Log-likelihood per observed output entry of held-out trajectories under a mixture.
pub fn heldout_loglik_per_step(model: &Molds, trajs: &[Trajectory], em: &EmOptions) -> Result<f64> {
    let (_, ll) = responsibilities(model, trajs, em)?;
    let steps: usize = trajs.iter().map(|t| t.len()).sum();
    Ok(ll.iter().sum::<f64>() / steps.max(1) as f64)
}

/// Mixture EM from `init`. Reports `Progress::new("molds-em", k)` with metrics `loglik` and
/// `components`; [`Flow::Stop`] returns the current mixture.
pub fn molds_em(
    init: &Molds,
    trajs: &[Trajectory],
    opts: &MoldsOptions,
    observer: &mut dyn Observer,
) -> Result<MoldsFit> {
    opts.validate()?;
    if init.components.is_empty() || init.components.len() != init.weights.len() {
        return Err(LdsError::InvalidParameter {
            name: "init",
            reason: "need one weight per component and at least one component".into(),
        });
    }
    for c in &init.components {
        c.validate()?;
        check_data(c, trajs)?;
    }
    let n_traj = trajs.len() as f64;
    let full = full_flags(trajs);
    let mut model = init.clone();
    let mut alive: Vec<usize> = (0..model.components.len()).collect();
    let mut dropped = Vec::new();
    let mut trace = Vec::new();
    let mut converged = false;
    let mut iter = 0;
    loop {
        // E-step: per trajectory, every component; the last one only scores.
        let per = mixture_e_step(&model, trajs, &full, &opts.em, iter < opts.em.max_iter)?;
        let ll: f64 = per.iter().map(|p| p.2).sum();
        if !ll.is_finite() {
            return Err(LdsError::NonFinite("mixture log-likelihood".into()));
        }
        trace.push(ll);
        if iter > 0 {
            let prev = trace[iter - 1];
            converged = (ll - prev).abs() < opts.em.tol * prev.abs();
        }
        let flow = observer.observe(
            &Progress::new("molds-em", iter)
                .with_total(opts.em.max_iter)
                .with_metric("loglik", ll)
                .with_metric("components", model.components.len() as f64),
        );
        let gammas: Vec<Vec<f64>> = per.iter().map(|p| p.1.clone()).collect();
        if converged || iter == opts.em.max_iter || flow == Flow::Stop {
            return Ok(MoldsFit {
                model,
                responsibilities: gammas,
                traj_loglik: per.iter().map(|p| p.2).collect(),
                loglik: trace,
                dropped,
                converged,
            });
        }
        // M-step.
        let k = model.components.len();
        let mut next = Vec::with_capacity(k);
        let mut weights = Vec::with_capacity(k);
        let mut keep = Vec::with_capacity(k);
        for c in 0..k {
            let mass: f64 = gammas.iter().map(|g| g[c]).sum();
            if mass < opts.min_mass * n_traj {
                dropped.push(alive[c]);
                continue;
            }
            let comp = &model.components[c];
            let mut s = SuffStats::zeros(
                comp.n_states(),
                comp.n_outputs(),
                comp.n_dyn_inputs(),
                comp.n_emis_inputs(),
            );
            for (p, g) in per.iter().zip(&gammas) {
                s.add_scaled(&p.0[c], g[c]);
            }
            next.push(m_step(comp, &s, &opts.em)?);
            weights.push(mass / n_traj);
            keep.push(alive[c]);
        }
        if next.is_empty() {
            return Err(LdsError::InsufficientData(
                "every component lost its responsibility mass".into(),
            ));
        }
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        model = Molds {
            weights,
            components: next,
        };
        alive = keep;
        iter += 1;
    }
}

/// Tensor-stage initialisation: weights and Markov parameters from the moments, (A, B, C)
/// by Ho–Kalman, D = G_0, and the noise by the residual rule of docs/lds.md §7.2 step 8.
pub fn tensor_init(trajs: &[Trajectory], opts: &MoldsOptions) -> Result<Molds> {
    let k = opts.components;
    let est = tensor_stage(trajs, k, &opts.tensor)?;
    let first = &trajs[0];
    let (m, p) = (first.y.ncols(), first.u.ncols());
    let lag = opts.tensor.lag;
    let r = lag / 2;
    // Assign trajectories by impulse-response residual; residual covariance per component.
    let mut res_cov = vec![DMatrix::<f64>::zeros(m, m); k];
    let mut res_n = vec![0.0; k];
    for tr in trajs {
        let mut errs = vec![0.0; k];
        let mut covs = vec![DMatrix::<f64>::zeros(m, m); k];
        let mut cnt = 0.0;
        for t in (lag - 1)..tr.len() {
            if (0..m).any(|c| tr.y[(t, c)].is_nan()) {
                continue;
            }
            let phi = lag_vector(&tr.u, t, lag);
            let y = tr.y.row(t).transpose();
            for c in 0..k {
                let e = &y - &est.theta[c] * &phi;
                errs[c] += e.norm_squared();
                covs[c] += &e * e.transpose();
            }
            cnt += 1.0;
        }
        if cnt == 0.0 {
            continue;
        }
        let best = (0..k)
            .min_by(|&a, &b| errs[a].total_cmp(&errs[b]))
            .unwrap_or(0);
        res_cov[best] += &covs[best];
        res_n[best] += cnt;
    }
    let mut components = Vec::with_capacity(k);
    for c in 0..k {
        let g = split_markov(&est.theta[c], p);
        let real = ho_kalman(&g, Order::Fixed(opts.n_states), r)?;
        let mut a = real.a;
        let rho = spectral_radius(&a);
        if rho >= 0.99 {
            a *= 0.99 / rho;
        }
        let n = a.nrows();
        let sigma_e = if res_n[c] > 0.0 {
            &res_cov[c] / res_n[c]
        } else {
            DMatrix::identity(m, m)
        };
        let half = 0.5 * sigma_e.trace();
        let mut rmat = sigma_e * 0.5;
        crate::linalg::floor_psd(&mut rmat, 1e-6, crate::em::ABS_COV_FLOOR);
        let p1 = dlyap(&a, &DMatrix::identity(n, n)).unwrap_or_else(|| DMatrix::identity(n, n));
        let s2 = (half / (&real.c * &p1 * real.c.transpose()).trace().max(1e-300)).clamp(1e-8, 1e8);
        let lds = Lds::new(
            a,
            DMatrix::identity(n, n) * s2,
            real.c,
            rmat,
            nalgebra::DVector::zeros(n),
            &p1 * s2,
        )?
        .with_inputs(real.b, real.d)?;
        components.push(lds);
    }
    Ok(Molds {
        weights: est.weights,
        components,
    })
}

/// Random initialisation: A random stable (|λ| ∈ [0.2, 0.8]), B, C, D ~ N(0, 0.1²),
/// Q = R = Σ0 = I, μ0 = 0, uniform weights.
pub fn random_init(m: usize, p: usize, opts: &MoldsOptions, seed: u64) -> Result<Molds> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = opts.n_states;
    let k = opts.components;
    let components = (0..k)
        .map(|_| {
            Lds::new(
                random_stable(n, (0.2, 0.8), &mut rng),
                DMatrix::identity(n, n),
                randn(m, n, 0.1, &mut rng),
                DMatrix::identity(m, m),
                nalgebra::DVector::zeros(n),
                DMatrix::identity(n, n),
            )?
            .with_inputs(randn(n, p, 0.1, &mut rng), randn(m, p, 0.1, &mut rng))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Molds {
        weights: vec![1.0 / k as f64; k],
        components,
    })
}

/// Fits a mixture of LDS to trajectories with inputs in the control convention
/// ([`Trajectory::with_control_inputs`]; the tensor stage assumes i.i.d. N(0, I) inputs).
///
/// ```
/// use spikelab_core::Silent;
/// use spikelab_lds::{fit_molds, EmOptions, MoldsOptions, MoldsSpec};
/// let data = MoldsSpec { n_traj: 60, t_len: 100, weights: vec![0.6, 0.4], ..Default::default() }.generate(0)?;
/// let em = EmOptions { max_iter: 10, ..Default::default() };
/// let opts = MoldsOptions { components: 2, em, ..Default::default() };
/// let fit = fit_molds(&data.trajs, &opts, &mut Silent)?;
/// assert_eq!(fit.model.components.len(), 2);
/// assert!(fit.loglik.windows(2).all(|w| w[1] >= w[0] - 1e-9 * w[0].abs()));
/// # Ok::<(), spikelab_lds::LdsError>(())
/// ```
pub fn fit_molds(
    trajs: &[Trajectory],
    opts: &MoldsOptions,
    observer: &mut dyn Observer,
) -> Result<MoldsFit> {
    opts.validate()?;
    if trajs.is_empty() {
        return Err(LdsError::InsufficientData("no trajectories".into()));
    }
    if opts.components > trajs.len() {
        return Err(LdsError::InsufficientData(format!(
            "{} components for {} trajectories",
            opts.components,
            trajs.len()
        )));
    }
    let (m, p) = (trajs[0].y.ncols(), trajs[0].u.ncols());
    match opts.init {
        MoldsInit::TensorEm => {
            let init = tensor_init(trajs, opts)?;
            molds_em(&init, trajs, opts, observer)
        }
        MoldsInit::TensorOnly => {
            let init = tensor_init(trajs, opts)?;
            let only = MoldsOptions {
                em: EmOptions {
                    max_iter: 0,
                    ..opts.em
                },
                ..*opts
            };
            molds_em(&init, trajs, &only, observer)
        }
        MoldsInit::RandomEm { restarts } => {
            let mut best: Option<MoldsFit> = None;
            for s in 0..restarts {
                let init = random_init(m, p, opts, opts.seed.wrapping_add(s as u64))?;
                let fit = molds_em(&init, trajs, opts, observer)?;
                let better = best
                    .as_ref()
                    .is_none_or(|b| fit.loglik.last() > b.loglik.last());
                if better {
                    best = Some(fit);
                }
            }
            Ok(best.expect("restarts ≥ 1"))
        }
    }
}
