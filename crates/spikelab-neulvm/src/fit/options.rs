//! Settings of the EM fit and its stop rules.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{NeulvmError, Result};
use crate::params::{Bounds, Params};

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
