//! Fixed model settings ([`ModelConfig`], [`Quirks`]), fitted parameters ([`Params`]) and
//! their box constraints ([`Bounds`]).

use serde::{Deserialize, Serialize};

use crate::error::{NeulvmError, Result};

/// Behaviour of the original code that a faithful port keeps by default.
///
/// Every flag defaults to the original behaviour (`true` / the original constant). Setting a
/// flag to `false` applies the fix described on the flag; the golden losses only hold with
/// the defaults. In a model file every flag may be left out (original behaviour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// Checklist item 2. A recorded neuron with no spike in the history window gets age 0
    /// (numpy `argmax` of an all-zero array), i.e. it is refractory in the first step.
    /// Fix (`false`): it gets the oldest age of the window, `A` bins.
    pub silent_history_age_zero: bool,
    /// Checklist item 3. At V == 0 the hazard is 1e-8 Hz, but ln p(y=1) uses
    /// `V − θ + ln Δ = −θ + ln Δ`. Fix (`false`): ln p(y=1) = ln(1e-8·Δ).
    pub refractory_logp_uses_theta: bool,
    /// Checklist item 6. The Gaussian constant is ½·ln(2·3.14). Fix (`false`): ½·ln(2π).
    pub two_pi_as_6_28: bool,
    /// Checklist item 5. Value of the escape rate Λ(t) when Σ v = 0 (0/0) in the M-step
    /// (numpy: 1e5).
    pub lambda_fallback_mstep: f64,
    /// Checklist item 5. Same in the E-step (TensorFlow: 0).
    pub lambda_fallback_estep: f64,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            silent_history_age_zero: true,
            refractory_logp_uses_theta: true,
            two_pi_as_6_28: true,
            lambda_fallback_mstep: 1e5,
            lambda_fallback_estep: 0.0,
        }
    }
}

/// Fixed (not fitted) settings of the mesoscopic model.
///
/// Axis conventions: every per-population vector has length M (population order of the data);
/// `conmat` is row-major `[presynaptic, postsynaptic]`, so that the coupling is
/// `W[β→α] = J_β · conmat[β][α]`.
///
/// Serialised (TOML model files, `fit.json`), `conmat` is written as M rows of M values and
/// read as rows or as one flat row-major list; `eps`, `s0_step_s`, `variance_floor` and
/// `quirks` may be left out (the original's values); unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Population sizes N_α (neurons).
    pub n_neurons: Vec<usize>,
    /// Time bin Δ in seconds.
    pub dt_s: f64,
    /// Age window A in bins (also the length of the history window at the start of the data).
    pub history_bins: usize,
    /// Synaptic rates a_syn,β = 1/τ_syn in s⁻¹.
    pub a_syn_hz: Vec<f64>,
    /// Absolute refractory time in seconds (V is held at 0 for cohorts younger than this).
    pub ref_t_s: f64,
    /// Gain ε of the external input (original: 1).
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Sign/connectivity pattern, row-major M×M, `[pre][post]`.
    #[serde(with = "conmat_rows")]
    pub conmat: Vec<f64>,
    /// Integration step of the stationary survival S0, in seconds (original: 1 ms).
    #[serde(default = "defaults::s0_step_s")]
    pub s0_step_s: f64,
    /// Variance floor factor: σ² = Z̄/N + floor·Δ/N (original: 0.1).
    #[serde(default = "defaults::variance_floor")]
    pub variance_floor: f64,
    /// Behaviour switches (original by default).
    #[serde(default)]
    pub quirks: Quirks,
}

impl ModelConfig {
    /// The 3-population winner-take-all network of the paper (Fig. 4): E1, E2, I with
    /// N = (400, 400, 200), Δ = 4 ms, A = 250 bins (1 s), τ_syn = (3, 3, 6) ms, t_ref = 4 ms,
    /// ε = 1, conmat = `[[1,0,1],[0,1,1],[−1,−1,−1]]`.
    ///
    /// ```
    /// let cfg = spikelab_neulvm::ModelConfig::winner_take_all();
    /// assert_eq!(cfg.n_populations(), 3);
    /// cfg.validate()?;
    /// # Ok::<(), spikelab_neulvm::NeulvmError>(())
    /// ```
    pub fn winner_take_all() -> Self {
        Self {
            n_neurons: vec![400, 400, 200],
            dt_s: 0.004,
            history_bins: 250,
            a_syn_hz: vec![1000.0 / 3.0, 1000.0 / 3.0, 500.0 / 3.0],
            ref_t_s: 0.004,
            eps: defaults::eps(),
            conmat: vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0, -1.0, -1.0, -1.0],
            s0_step_s: defaults::s0_step_s(),
            variance_floor: defaults::variance_floor(),
            quirks: Quirks::default(),
        }
    }

    /// Number of populations M.
    pub fn n_populations(&self) -> usize {
        self.n_neurons.len()
    }

    /// Checks every setting; returns [`NeulvmError::Config`] on the first problem.
    pub fn validate(&self) -> Result<()> {
        let m = self.n_populations();
        let bad = |s: String| Err(NeulvmError::Config(s));
        if m == 0 {
            return bad("at least one population is needed".into());
        }
        if self.n_neurons.contains(&0) {
            return bad(format!(
                "zero-size population in n_neurons {:?}",
                self.n_neurons
            ));
        }
        if !(self.dt_s.is_finite() && self.dt_s > 0.0) {
            return bad(format!("dt_s must be finite and > 0, got {}", self.dt_s));
        }
        if self.history_bins == 0 {
            return bad("history_bins (age window A) must be at least 1".into());
        }
        if self.a_syn_hz.len() != m || self.a_syn_hz.iter().any(|a| !(a.is_finite() && *a > 0.0)) {
            return bad(format!(
                "a_syn_hz must hold {m} finite rates > 0, got {:?}",
                self.a_syn_hz
            ));
        }
        if !(self.ref_t_s.is_finite() && self.ref_t_s >= 0.0) {
            return bad(format!(
                "ref_t_s must be finite and >= 0, got {}",
                self.ref_t_s
            ));
        }
        if !self.eps.is_finite() {
            return bad("eps must be finite".into());
        }
        if self.conmat.len() != m * m || self.conmat.iter().any(|c| !c.is_finite()) {
            return bad(format!(
                "conmat must hold {} finite entries (row-major [pre][post])",
                m * m
            ));
        }
        if !(self.s0_step_s.is_finite() && self.s0_step_s > 0.0) {
            return bad(format!(
                "s0_step_s must be finite and > 0, got {}",
                self.s0_step_s
            ));
        }
        if !(self.variance_floor.is_finite() && self.variance_floor > 0.0) {
            return bad("variance_floor must be finite and > 0".into());
        }
        let q = &self.quirks;
        if !q.lambda_fallback_mstep.is_finite() || !q.lambda_fallback_estep.is_finite() {
            return bad("Λ fallbacks must be finite".into());
        }
        Ok(())
    }
}

/// The original's values of the settings a model file may leave out.
mod defaults {
    pub(super) fn eps() -> f64 {
        1.0
    }
    pub(super) fn s0_step_s() -> f64 {
        0.001
    }
    pub(super) fn variance_floor() -> f64 {
        0.1
    }
}

/// `conmat` as M rows of M values (a flat row-major list is accepted too).
mod conmat_rows {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let m = v.len().isqrt();
        if m > 0 && m * m == v.len() {
            v.chunks(m).collect::<Vec<_>>().serialize(s)
        } else {
            v.serialize(s)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Rows(Vec<Vec<f64>>),
        Flat(Vec<f64>),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        match Shape::deserialize(d)? {
            Shape::Flat(v) => Ok(v),
            Shape::Rows(rows) => {
                if let Some(r) = rows.iter().find(|r| r.len() != rows.len()) {
                    return Err(D::Error::custom(format!(
                        "conmat must be {m} rows of {m} values ([pre][post]), found a row of {}",
                        r.len(),
                        m = rows.len()
                    )));
                }
                Ok(rows.concat())
            }
        }
    }
}

/// The 4·M fitted parameters. Vector order (as in the original `fast_lossM`):
/// `[a_mem_hz × M, j × M, mu × M, theta × M]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Membrane rate a_mem = 1/τ_m per population, s⁻¹.
    pub a_mem_hz: Vec<f64>,
    /// Coupling strength J_β of each presynaptic population (sign from `conmat`).
    pub j: Vec<f64>,
    /// Resting potential μ (units of Δu).
    pub mu: Vec<f64>,
    /// Threshold θ (units of Δu; absorbs −ln c).
    pub theta: Vec<f64>,
}

impl Params {
    /// Ground truth of the winner-take-all network (a_mem 50 s⁻¹, J = (9.984, 9.984, 19.968),
    /// μ = 14.4, θ = 6 − ln 10).
    ///
    /// ```
    /// let p = spikelab_neulvm::Params::winner_take_all_ground_truth();
    /// assert_eq!(p.to_vec().len(), 12);
    /// ```
    pub fn winner_take_all_ground_truth() -> Self {
        let th = 15.0 / 2.5 - 10f64.ln();
        Self {
            a_mem_hz: vec![50.0; 3],
            j: vec![9.984, 9.984, 19.968],
            mu: vec![14.4; 3],
            theta: vec![th; 3],
        }
    }

    /// Number of populations M.
    pub fn n_populations(&self) -> usize {
        self.a_mem_hz.len()
    }

    /// Flattens to `[a_mem, j, mu, theta]`.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = self.a_mem_hz.clone();
        v.extend_from_slice(&self.j);
        v.extend_from_slice(&self.mu);
        v.extend_from_slice(&self.theta);
        v
    }

    /// Builds from `[a_mem, j, mu, theta]` (length 4·M) and validates.
    ///
    /// ```
    /// use spikelab_neulvm::Params;
    /// let p = Params::from_slice(&[50., 50., 50., 10., 10., 20., 14.4, 14.4, 14.4, 3.7, 3.7, 3.7])?;
    /// assert_eq!(p.j, vec![10., 10., 20.]);
    /// assert!(Params::from_slice(&[1.0; 5]).is_err());
    /// # Ok::<(), spikelab_neulvm::NeulvmError>(())
    /// ```
    pub fn from_slice(x: &[f64]) -> Result<Self> {
        if x.is_empty() || !x.len().is_multiple_of(4) {
            return Err(NeulvmError::Params(format!(
                "parameter vector must have length 4·M, got {}",
                x.len()
            )));
        }
        let m = x.len() / 4;
        let p = Self {
            a_mem_hz: x[..m].to_vec(),
            j: x[m..2 * m].to_vec(),
            mu: x[2 * m..3 * m].to_vec(),
            theta: x[3 * m..].to_vec(),
        };
        p.validate(m)?;
        Ok(p)
    }

    /// Checks lengths (M each), finiteness and a_mem > 0.
    pub fn validate(&self, m: usize) -> Result<()> {
        for (name, v) in [
            ("a_mem_hz", &self.a_mem_hz),
            ("j", &self.j),
            ("mu", &self.mu),
            ("theta", &self.theta),
        ] {
            if v.len() != m {
                return Err(NeulvmError::Params(format!(
                    "{name} must have {m} entries, got {}",
                    v.len()
                )));
            }
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return Err(NeulvmError::Params(format!(
                    "{name} has a non-finite entry {x}"
                )));
            }
        }
        if let Some(a) = self.a_mem_hz.iter().find(|a| **a <= 0.0) {
            return Err(NeulvmError::Params(format!(
                "a_mem_hz must be > 0, got {a}"
            )));
        }
        Ok(())
    }
}

/// Box constraints `lower ≤ x ≤ upper` on the parameter vector (order of [`Params::to_vec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Lower bounds.
    pub lower: Vec<f64>,
    /// Upper bounds.
    pub upper: Vec<f64>,
}

impl Bounds {
    /// Explicit bounds; checks finite values and `lower < upper`.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self> {
        if lower.len() != upper.len() || lower.is_empty() || !lower.len().is_multiple_of(4) {
            return Err(NeulvmError::Params(format!(
                "bounds must have equal lengths 4·M, got {} and {}",
                lower.len(),
                upper.len()
            )));
        }
        for (i, (l, u)) in lower.iter().zip(&upper).enumerate() {
            if !(l.is_finite() && u.is_finite() && l < u) {
                return Err(NeulvmError::Params(format!(
                    "bound {i}: need finite lower < upper, got [{l}, {u}]"
                )));
            }
        }
        Ok(Self { lower, upper })
    }

    /// The original's bounds: `[lo·|x|, hi·|x|]` around a reference vector (the ground truth in
    /// the paper, default `lo = 0.4`, `hi = 2.0`).
    ///
    /// ```
    /// use spikelab_neulvm::{Bounds, Params};
    /// let gt = Params::winner_take_all_ground_truth();
    /// let b = Bounds::relative_to(&gt, 0.4, 2.0)?;
    /// assert_eq!(b.lower[0], 20.0);
    /// assert!(b.contains(&gt.to_vec()));
    /// # Ok::<(), spikelab_neulvm::NeulvmError>(())
    /// ```
    pub fn relative_to(reference: &Params, lo: f64, hi: f64) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo < hi) {
            return Err(NeulvmError::Params(format!(
                "need 0 < lo < hi, got lo={lo}, hi={hi}"
            )));
        }
        let x = reference.to_vec();
        Self::new(
            x.iter().map(|v| v.abs() * lo).collect(),
            x.iter().map(|v| v.abs() * hi).collect(),
        )
    }

    /// Whether `x` lies inside the box (inclusive).
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.lower.len()
            && x.iter()
                .zip(self.lower.iter().zip(&self.upper))
                .all(|(v, (l, u))| *l <= *v && *v <= *u)
    }

    /// Checks that `x` is finite and inside the box; typed error otherwise.
    pub fn check(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.lower.len() {
            return Err(NeulvmError::Params(format!(
                "{} parameters for {} bounds",
                x.len(),
                self.lower.len()
            )));
        }
        for (i, v) in x.iter().enumerate() {
            if !v.is_finite() || *v < self.lower[i] || *v > self.upper[i] {
                return Err(NeulvmError::Params(format!(
                    "parameter {i} = {v} outside [{}, {}]",
                    self.lower[i], self.upper[i]
                )));
            }
        }
        Ok(())
    }
}
