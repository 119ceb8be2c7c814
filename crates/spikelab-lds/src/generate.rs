//! Seeded synthetic MoLDS data with ground truth (the benchmark of docs/lds.md §9).
//!
//! Lives in this crate rather than `spikelab-synth` because it needs the model type and
//! nalgebra, which the synth crate does not depend on.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{LdsError, Result};
use crate::linalg::dlyap;
use crate::model::{Lds, Trajectory};
use crate::molds::Molds;

/// Settings of the synthetic MoLDS generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoldsSpec {
    /// Mixture weights (one per component; normalised).
    pub weights: Vec<f64>,
    /// Latent states n.
    pub n_states: usize,
    /// Outputs m.
    pub n_outputs: usize,
    /// Inputs p (i.i.d. N(0, I)).
    pub n_inputs: usize,
    /// Number of trajectories.
    pub n_traj: usize,
    /// Steps per trajectory.
    pub t_len: usize,
    /// Output signal-to-noise ratio in dB (R = r I per component, r from the stationary output
    /// variance).
    pub snr_db: f64,
    /// Process noise Q = q_scale·I.
    pub q_scale: f64,
    /// Range of |eigenvalue| of A (uniform; random signs).
    pub eig_range: (f64, f64),
}

impl Default for MoldsSpec {
    /// K 3 (weights 0.5, 0.3, 0.2), n 3, m 2, p 2, 600 × 200, 10 dB, Q = 0.01 I, |λ| ∈ [0.2, 0.8].
    fn default() -> Self {
        Self {
            weights: vec![0.5, 0.3, 0.2],
            n_states: 3,
            n_outputs: 2,
            n_inputs: 2,
            n_traj: 600,
            t_len: 200,
            snr_db: 10.0,
            q_scale: 0.01,
            eig_range: (0.2, 0.8),
        }
    }
}

/// Generated data: trajectories (control-convention inputs), true labels and the true model.
#[derive(Debug, Clone)]
pub struct MoldsData {
    /// The trajectories.
    pub trajs: Vec<Trajectory>,
    /// Component of each trajectory.
    pub labels: Vec<usize>,
    /// The generating mixture.
    pub truth: Molds,
}

impl MoldsSpec {
    fn validate(&self) -> Result<()> {
        let bad =
            |name: &'static str, reason: String| Err(LdsError::InvalidParameter { name, reason });
        if self.weights.is_empty() || self.weights.iter().any(|&w| !(w > 0.0 && w.is_finite())) {
            return bad(
                "weights",
                format!("{:?} (need positive finite weights)", self.weights),
            );
        }
        if self.n_states == 0
            || self.n_outputs == 0
            || self.n_inputs == 0
            || self.n_traj == 0
            || self.t_len < 2
        {
            return bad("sizes", "n, m, p, trajectories ≥ 1 and T ≥ 2".into());
        }
        let (lo, hi) = self.eig_range;
        if !(0.0 <= lo && lo <= hi && hi < 1.0) {
            return bad(
                "eig_range",
                format!("{:?} (need 0 ≤ lo ≤ hi < 1)", self.eig_range),
            );
        }
        if !(self.snr_db.is_finite() && self.q_scale >= 0.0 && self.q_scale.is_finite()) {
            return bad("snr_db/q_scale", "finite, q_scale ≥ 0".into());
        }
        Ok(())
    }

    /// Draws the true mixture and the data for `seed` (ChaCha8).
    ///
    /// ```
    /// let spec = spikelab_lds::MoldsSpec { n_traj: 10, t_len: 50, ..Default::default() };
    /// let data = spec.generate(1)?;
    /// assert_eq!(data.trajs.len(), 10);
    /// assert_eq!(data.truth.components.len(), 3);
    /// # Ok::<(), spikelab_lds::LdsError>(())
    /// ```
    pub fn generate(&self, seed: u64) -> Result<MoldsData> {
        self.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (n, m, p) = (self.n_states, self.n_outputs, self.n_inputs);
        let total: f64 = self.weights.iter().sum();
        let weights: Vec<f64> = self.weights.iter().map(|w| w / total).collect();
        let mut components = Vec::with_capacity(weights.len());
        for _ in 0..weights.len() {
            let a = random_stable(n, self.eig_range, &mut rng);
            let b = randn(n, p, 1.0, &mut rng);
            let c = randn(m, n, 1.0, &mut rng);
            let d = randn(m, p, 1.0, &mut rng);
            let q = DMatrix::identity(n, n) * self.q_scale;
            // Stationary output variance: inputs through B (cov B Bᵀ) plus process noise, and D u.
            let p_inf = dlyap(&a, &(&b * b.transpose() + &q)).expect("A is stable");
            let signal = (&c * &p_inf * c.transpose() + &d * d.transpose()).trace() / m as f64;
            let r = signal / 10f64.powf(self.snr_db / 10.0);
            let lds = Lds::new(
                a,
                q,
                c,
                DMatrix::identity(m, m) * r,
                DVector::zeros(n),
                DMatrix::zeros(n, n),
            )?
            .with_inputs(b, d)?;
            components.push(lds);
        }
        let cum: Vec<f64> = weights
            .iter()
            .scan(0.0, |s, w| {
                *s += w;
                Some(*s)
            })
            .collect();
        let mut trajs = Vec::with_capacity(self.n_traj);
        let mut labels = Vec::with_capacity(self.n_traj);
        for _ in 0..self.n_traj {
            let x: f64 = rng.random();
            let z = cum.iter().position(|&c| x < c).unwrap_or(weights.len() - 1);
            let u = randn(self.t_len, p, 1.0, &mut rng);
            let mut v = DMatrix::zeros(self.t_len, p);
            v.rows_mut(1, self.t_len - 1)
                .copy_from(&u.rows(0, self.t_len - 1));
            let (_, y) = components[z].sample(self.t_len, Some(&v), Some(&u), &mut rng)?;
            trajs.push(Trajectory::new(y)?.with_control_inputs(u)?);
            labels.push(z);
        }
        Ok(MoldsData {
            trajs,
            labels,
            truth: Molds {
                weights,
                components,
            },
        })
    }
}

/// `A = Q diag(λ) Qᵀ`, Q random orthogonal, |λ| uniform in `range`, random signs.
pub fn random_stable<R: Rng + ?Sized>(n: usize, range: (f64, f64), rng: &mut R) -> DMatrix<f64> {
    let q = randn(n, n, 1.0, rng).qr().q();
    let lam = DVector::from_fn(n, |_, _| {
        let mag = range.0 + (range.1 - range.0) * rng.random::<f64>();
        if rng.random::<bool>() { mag } else { -mag }
    });
    &q * DMatrix::from_diagonal(&lam) * q.transpose()
}

pub(crate) fn randn<R: Rng + ?Sized>(r: usize, c: usize, scale: f64, rng: &mut R) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |_, _| {
        scale * Distribution::<f64>::sample(&StandardNormal, rng)
    })
}
