//! Multi-session populations of velocity-tuned Poisson units (POYO's synthetic benchmark).
//!
//! One smooth 2-D velocity per session from an Ornstein–Uhlenbeck process
//! dv = −v/τ dt + σ√(2/τ) dW (stationary sd σ per axis), simulated exactly on a `dt_s` grid:
//! v_{t+1} = a v_t + σ√(1 − a²) ξ with a = e^{−dt/τ}. Each unit fires as an inhomogeneous
//! Poisson process with log-linear ("cosine") tuning, rate(t) = exp(β₀ + βᵀ v(t)) Hz, with
//! e^{β₀} ~ U(`base_rate_hz`), a preferred direction uniform on the circle and ‖β‖ chosen so the
//! rate spans `rate_span` between v = −2σ and v = +2σ along the preferred direction, i.e.
//! ‖β‖ = ln(span)/(4σ). A spike falls in a `dt_s` bin with probability 1 − e^{−rate·dt} and is
//! placed at the bin start (times at `dt_s` resolution). Every session has its own units
//! (ids `"{session}/u{k}"`), so a decoder must learn each session's units.
//!
//! The velocity is the target, sampled every `target_dt_s`.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use spikelab_data::SpikeTrains;

use crate::error::{Result, param, positive};
use crate::rng;

/// Named stream of session `i`: `S_MULTISESSION + i`.
const S_MULTISESSION: u64 = rng::NAMED + (1 << 43);

/// Parameters of [`MultiSessionParams::generate`]. The defaults are the POYO CI recipe of the
/// spec (8 sessions × 60–150 units, τ = 0.5 s, σ = 10 cm/s, targets at 100 Hz, 2–20 Hz base
/// rates spanning ×4, 1 ms resolution).
///
/// # Example
/// ```
/// use spikelab_synth::MultiSessionParams;
/// let p = MultiSessionParams { n_sessions: 2, units: (20, 30), duration_s: 5.0, ..Default::default() };
/// let sessions = p.generate(0)?;
/// assert_eq!(sessions.len(), 2);
/// let s = &sessions[0];
/// assert!((20..=30).contains(&s.spikes.n_units()));
/// assert_eq!(s.velocity.dim(), (500, 2));
/// assert_eq!(s.target_times_s.len(), 500);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiSessionParams {
    /// Number of sessions (recordings).
    pub n_sessions: usize,
    /// Inclusive range of the number of units per session.
    pub units: (usize, usize),
    /// Duration of each session in seconds.
    pub duration_s: f64,
    /// OU time constant τ in seconds.
    pub tau_s: f64,
    /// Stationary standard deviation of each velocity axis (cm/s).
    pub velocity_sd: f64,
    /// Simulation and spike-time resolution in seconds.
    pub dt_s: f64,
    /// Target sampling interval in seconds (a multiple of `dt_s`).
    pub target_dt_s: f64,
    /// Range of the base rates e^{β₀} (Hz), drawn uniformly.
    pub base_rate_hz: (f64, f64),
    /// Ratio of the rates at +2σ and −2σ along the preferred direction.
    pub rate_span: f64,
}

impl Default for MultiSessionParams {
    fn default() -> Self {
        Self {
            n_sessions: 8,
            units: (60, 150),
            duration_s: 120.0,
            tau_s: 0.5,
            velocity_sd: 10.0,
            dt_s: 0.001,
            target_dt_s: 0.01,
            base_rate_hz: (2.0, 20.0),
            rate_span: 4.0,
        }
    }
}

/// One generated session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Session id (`"s{i}"`).
    pub id: String,
    /// Spike trains on `[0, duration_s)`.
    pub spikes: SpikeTrains,
    /// Unit ids, one per train (`"{session}/u{k}"`).
    pub unit_ids: Vec<String>,
    /// Target sample times (s), every `target_dt_s` from 0.
    pub target_times_s: Vec<f64>,
    /// Velocity at the target times, `[time, axis]` (cm/s).
    pub velocity: Array2<f64>,
    /// Tuning `[unit, (β₀, β_x, β_y)]`.
    pub tuning: Array2<f64>,
}

impl MultiSessionParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        if self.n_sessions == 0 {
            return Err(param("n_sessions", "must be ≥ 1"));
        }
        if self.units.0 == 0 || self.units.0 > self.units.1 {
            return Err(param(
                "units",
                format!("need 1 ≤ min ≤ max, got {:?}", self.units),
            ));
        }
        positive("duration_s", self.duration_s)?;
        positive("tau_s", self.tau_s)?;
        positive("velocity_sd", self.velocity_sd)?;
        positive("dt_s", self.dt_s)?;
        positive("target_dt_s", self.target_dt_s)?;
        let ratio = self.target_dt_s / self.dt_s;
        if ratio < 1.0 - 1e-9 || (ratio - ratio.round()).abs() > 1e-6 {
            return Err(param("target_dt_s", "must be a whole multiple of dt_s"));
        }
        positive("base_rate_hz.0", self.base_rate_hz.0)?;
        if self.base_rate_hz.1 < self.base_rate_hz.0 || !self.base_rate_hz.1.is_finite() {
            return Err(param("base_rate_hz", "need min ≤ max"));
        }
        if !(self.rate_span.is_finite() && self.rate_span >= 1.0) {
            return Err(param("rate_span", "must be finite and ≥ 1"));
        }
        if self.duration_s / self.dt_s > 1e9 {
            return Err(param("duration_s", "more than 1e9 simulation steps"));
        }
        Ok(())
    }

    /// Generates the sessions; session `i` uses its own ChaCha stream of `seed`.
    pub fn generate(&self, seed: u64) -> Result<Vec<Session>> {
        self.validate()?;
        (0..self.n_sessions)
            .map(|i| self.session(seed, i))
            .collect()
    }

    fn session(&self, seed: u64, i: usize) -> Result<Session> {
        let mut r = rng::stream(seed, S_MULTISESSION + i as u64);
        let n_units = r.random_range(self.units.0..=self.units.1);
        let n_steps = (self.duration_s / self.dt_s).round() as usize;
        let every = (self.target_dt_s / self.dt_s).round() as usize;
        let a = (-self.dt_s / self.tau_s).exp();
        let kick = self.velocity_sd * (1.0 - a * a).sqrt();
        let norm_beta = self.rate_span.ln() / (4.0 * self.velocity_sd);
        let mut tuning = Array2::zeros((n_units, 3));
        for u in 0..n_units {
            let base = r.random_range(self.base_rate_hz.0..=self.base_rate_hz.1);
            let phi = r.random_range(0.0..std::f64::consts::TAU);
            tuning[[u, 0]] = base.ln();
            tuning[[u, 1]] = norm_beta * phi.cos();
            tuning[[u, 2]] = norm_beta * phi.sin();
        }
        let (z0, z1): (f64, f64) = (StandardNormal.sample(&mut r), StandardNormal.sample(&mut r));
        let mut v = [self.velocity_sd * z0, self.velocity_sd * z1];
        let n_targets = n_steps.div_ceil(every);
        let mut velocity = Array2::zeros((n_targets, 2));
        let mut target_times_s = Vec::with_capacity(n_targets);
        let mut trains = vec![Vec::new(); n_units];
        for step in 0..n_steps {
            if step % every == 0 {
                let k = step / every;
                velocity[[k, 0]] = v[0];
                velocity[[k, 1]] = v[1];
                target_times_s.push(step as f64 * self.dt_s);
            }
            let t = step as f64 * self.dt_s;
            for (u, train) in trains.iter_mut().enumerate() {
                let rate = (tuning[[u, 0]] + tuning[[u, 1]] * v[0] + tuning[[u, 2]] * v[1]).exp();
                if r.random::<f64>() < 1.0 - (-rate * self.dt_s).exp() {
                    train.push(t);
                }
            }
            for x in &mut v {
                let z: f64 = StandardNormal.sample(&mut r);
                *x = a * *x + kick * z;
            }
        }
        let id = format!("s{i}");
        let unit_ids = (0..n_units).map(|k| format!("{id}/u{k}")).collect();
        let spikes = SpikeTrains::new(trains, 0.0, n_steps as f64 * self.dt_s)?;
        Ok(Session {
            id,
            spikes,
            unit_ids,
            target_times_s,
            velocity,
            tuning,
        })
    }
}
