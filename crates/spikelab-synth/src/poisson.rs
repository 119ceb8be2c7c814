//! Poisson and gamma spike-train populations with given rates and a dead time.
//!
//! Each neuron is a renewal process. Its inter-spike intervals are a dead time `t_ref` plus a
//! gamma-distributed interval of shape `k` (`k = 1`: exponential, i.e. a Poisson process with
//! dead time). The gamma part has mean `1/r − t_ref`, so the **mean rate is exactly `r`**
//! (which needs `r·t_ref < 1`).
//!
//! Time-varying rates `r(t)` (piecewise constant on a grid of `step_s`) use time rescaling
//! (Brown et al. 2002, Neural Comput. 14:325): the gamma part of each interval is drawn with
//! unit mean in the operational time `Λ(t) = ∫ λ(t) dt` of the intensity
//! `λ(t) = r(t) / (1 − r(t)·t_ref)`, and mapped back through `Λ⁻¹`. For slowly varying rates
//! the instantaneous rate is then ≈ `r(t)`; with constant rates this is the same process as
//! above.
//!
//! Start: constant-rate trains start stationary (the renewal process is started 10 mean
//! intervals before `t = 0`); time-varying trains start at `t = 0` with a fresh interval.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Exp1, Gamma};
use serde::{Deserialize, Serialize};
use spikelab_data::SpikeTrains;

use crate::error::{Result, non_negative, param, positive};
use crate::rng;

/// The firing rates of a [`PoissonParams`] population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rates {
    /// One constant rate per neuron, in Hz (each > 0).
    ConstantHz(Vec<f64>),
    /// Piecewise-constant rates, **axis order `[neuron, step]`**, in Hz (each ≥ 0), each step
    /// lasting `step_s` seconds. The duration is `n_steps · step_s`.
    TimeVaryingHz {
        /// `[neuron, step]` rates in Hz.
        rates_hz: Array2<f64>,
        /// Step width in seconds.
        step_s: f64,
    },
}

/// Parameters of a population of independent Poisson/gamma renewal processes.
///
/// # Example
/// ```
/// use spikelab_synth::PoissonParams;
/// let p = PoissonParams::constant(vec![5.0; 100], 20.0).with_refractory_s(0.002);
/// let (trains, truth) = p.generate(1)?;
/// assert_eq!(trains.n_units(), 100);
/// let mean: f64 = trains.rates_hz().iter().sum::<f64>() / 100.0;
/// assert!((mean - 5.0).abs() < 0.3);
/// assert_eq!(truth.rates_hz[0], 5.0);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoissonParams {
    /// Rates (constant or time-varying).
    pub rates: Rates,
    /// Duration in seconds (ignored for time-varying rates, whose grid sets it).
    pub duration_s: f64,
    /// Dead time after each spike, in seconds (≥ 0).
    pub refractory_s: f64,
    /// Gamma shape `k` of the interval distribution (≥ 1 is regular-ish; 1 = Poisson).
    pub gamma_shape: f64,
}

/// Ground truth of a Poisson/gamma population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoissonTruth {
    /// The seed.
    pub seed: u64,
    /// Target mean rate per neuron (Hz); for time-varying rates the time average.
    pub rates_hz: Vec<f64>,
    /// Realised rate per neuron (spike count / duration, Hz).
    pub realised_rates_hz: Vec<f64>,
    /// Dead time (s).
    pub refractory_s: f64,
    /// Gamma shape.
    pub gamma_shape: f64,
    /// Duration (s).
    pub duration_s: f64,
}

impl PoissonParams {
    /// Constant rates (Hz, one per neuron) for `duration_s` seconds; Poisson, no dead time.
    pub fn constant(rates_hz: Vec<f64>, duration_s: f64) -> Self {
        PoissonParams {
            rates: Rates::ConstantHz(rates_hz),
            duration_s,
            refractory_s: 0.0,
            gamma_shape: 1.0,
        }
    }

    /// Time-varying rates, `[neuron, step]` in Hz with steps of `step_s` seconds.
    pub fn time_varying(rates_hz: Array2<f64>, step_s: f64) -> Self {
        let duration_s = rates_hz.ncols() as f64 * step_s;
        PoissonParams {
            rates: Rates::TimeVaryingHz { rates_hz, step_s },
            duration_s,
            refractory_s: 0.0,
            gamma_shape: 1.0,
        }
    }

    /// Sets the dead time in seconds.
    pub fn with_refractory_s(mut self, refractory_s: f64) -> Self {
        self.refractory_s = refractory_s;
        self
    }

    /// Sets the gamma shape (1 = Poisson).
    pub fn with_gamma_shape(mut self, shape: f64) -> Self {
        self.gamma_shape = shape;
        self
    }

    /// Number of neurons.
    pub fn n_neurons(&self) -> usize {
        match &self.rates {
            Rates::ConstantHz(r) => r.len(),
            Rates::TimeVaryingHz { rates_hz, .. } => rates_hz.nrows(),
        }
    }

    /// Checks every parameter; [`PoissonParams::generate`] calls it.
    pub fn validate(&self) -> Result<()> {
        non_negative("refractory_s", self.refractory_s)?;
        positive("gamma_shape", self.gamma_shape)?;
        if self.n_neurons() == 0 {
            return Err(param("rates", "no neurons"));
        }
        match &self.rates {
            Rates::ConstantHz(r) => {
                positive("duration_s", self.duration_s)?;
                for (i, &x) in r.iter().enumerate() {
                    if !(x.is_finite() && x > 0.0) {
                        return Err(param(
                            "rates_hz",
                            format!("neuron {i}: rate must be finite and > 0 Hz, got {x}"),
                        ));
                    }
                    if x * self.refractory_s >= 1.0 {
                        return Err(param(
                            "rates_hz",
                            format!(
                                "neuron {i}: rate {x} Hz × dead time {} s ≥ 1 cannot be reached",
                                self.refractory_s
                            ),
                        ));
                    }
                }
            }
            Rates::TimeVaryingHz { rates_hz, step_s } => {
                positive("step_s", *step_s)?;
                if rates_hz.ncols() == 0 {
                    return Err(param("rates_hz", "no time steps"));
                }
                if let Some(((i, s), x)) = rates_hz
                    .indexed_iter()
                    .find(|(_, x)| !(x.is_finite() && **x >= 0.0 && **x * self.refractory_s < 1.0))
                {
                    return Err(param(
                        "rates_hz",
                        format!(
                            "[{i}, {s}] = {x} Hz: rates must be finite, ≥ 0 and below 1/dead time"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Generates the spike trains (times in seconds in `[0, duration_s)`) and their truth.
    ///
    /// Neuron `i` draws from ChaCha stream `i` of `seed` (see [`crate::rng`]).
    pub fn generate(&self, seed: u64) -> Result<(SpikeTrains, PoissonTruth)> {
        self.validate()?;
        let n = self.n_neurons();
        let (trains, duration_s, target): (Vec<Vec<f64>>, f64, Vec<f64>) = match &self.rates {
            Rates::ConstantHz(r) => {
                let trains = r
                    .iter()
                    .enumerate()
                    .map(|(i, &rate)| {
                        let mut g = rng::stream(seed, i as u64);
                        renewal_constant(
                            &mut g,
                            rate,
                            self.refractory_s,
                            self.gamma_shape,
                            self.duration_s,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                (trains, self.duration_s, r.clone())
            }
            Rates::TimeVaryingHz { rates_hz, step_s } => {
                let dur = rates_hz.ncols() as f64 * step_s;
                let mut trains = Vec::with_capacity(n);
                let mut target = Vec::with_capacity(n);
                for (i, row) in rates_hz.rows().into_iter().enumerate() {
                    let mut g = rng::stream(seed, i as u64);
                    let row = row.to_vec();
                    target.push(row.iter().sum::<f64>() / row.len() as f64);
                    trains.push(renewal_varying(
                        &mut g,
                        &row,
                        *step_s,
                        self.refractory_s,
                        self.gamma_shape,
                    )?);
                }
                (trains, dur, target)
            }
        };
        let realised = trains.iter().map(|t| t.len() as f64 / duration_s).collect();
        let st = SpikeTrains::new(trains, 0.0, duration_s)?;
        Ok((
            st,
            PoissonTruth {
                seed,
                rates_hz: target,
                realised_rates_hz: realised,
                refractory_s: self.refractory_s,
                gamma_shape: self.gamma_shape,
                duration_s,
            },
        ))
    }
}

/// Unit-mean interval sampler: exponential for shape 1, gamma otherwise.
pub(crate) enum UnitInterval {
    Exp,
    Gamma(Gamma<f64>),
}

impl UnitInterval {
    pub(crate) fn new(shape: f64) -> Result<Self> {
        if shape == 1.0 {
            Ok(UnitInterval::Exp)
        } else {
            Gamma::new(shape, 1.0 / shape)
                .map(UnitInterval::Gamma)
                .map_err(|e| param("gamma_shape", e.to_string()))
        }
    }
    #[inline]
    pub(crate) fn sample<R: Rng + ?Sized>(&self, g: &mut R) -> f64 {
        match self {
            UnitInterval::Exp => Exp1.sample(g),
            UnitInterval::Gamma(d) => d.sample(g),
        }
    }
}

/// One constant-rate renewal train in `[0, dur)`, started 10 mean intervals early.
fn renewal_constant(
    g: &mut rng::ChaCha8Rng,
    rate: f64,
    t_ref: f64,
    shape: f64,
    dur: f64,
) -> Result<Vec<f64>> {
    let unit = UnitInterval::new(shape)?;
    let mean_free = 1.0 / rate - t_ref;
    let mut out = Vec::with_capacity((rate * dur * 1.1 + 8.0) as usize);
    let mut t = -10.0 / rate;
    match unit {
        UnitInterval::Exp => loop {
            let x: f64 = Exp1.sample(g);
            t += t_ref + x * mean_free;
            if t >= dur {
                break;
            }
            if t >= 0.0 {
                out.push(t);
            }
        },
        UnitInterval::Gamma(_) => loop {
            t += t_ref + unit.sample(g) * mean_free;
            if t >= dur {
                break;
            }
            if t >= 0.0 {
                out.push(t);
            }
        },
    }
    Ok(out)
}

/// One time-rescaled renewal train on a piecewise-constant rate grid.
fn renewal_varying(
    g: &mut rng::ChaCha8Rng,
    rates: &[f64],
    step_s: f64,
    t_ref: f64,
    shape: f64,
) -> Result<Vec<f64>> {
    let unit = UnitInterval::new(shape)?;
    let n = rates.len();
    let dur = n as f64 * step_s;
    // Intensity and cumulative operational time at step edges.
    let lam: Vec<f64> = rates.iter().map(|&r| r / (1.0 - r * t_ref)).collect();
    let mut cum = Vec::with_capacity(n + 1);
    cum.push(0.0);
    for &l in &lam {
        let last = *cum.last().unwrap_or(&0.0);
        cum.push(last + l * step_s);
    }
    let lambda_at = |t: f64| -> f64 {
        let i = ((t / step_s) as usize).min(n - 1);
        cum[i] + (t - i as f64 * step_s) * lam[i]
    };
    let mut out = Vec::new();
    let mut start = 0.0f64;
    let mut idx = 0usize; // step containing the search point
    loop {
        if start >= dur {
            break;
        }
        let target = lambda_at(start) + unit.sample(g);
        idx = idx.max((start / step_s) as usize).min(n - 1);
        while idx < n && cum[idx + 1] < target {
            idx += 1;
        }
        if idx >= n {
            break;
        }
        // lam[idx] > 0 here because cum[idx + 1] ≥ target > cum[idx] (or start inside the step).
        let t0 = idx as f64 * step_s;
        let t = if lam[idx] > 0.0 {
            (t0 + (target - cum[idx]) / lam[idx]).max(start)
        } else {
            start
        };
        if t >= dur {
            break;
        }
        out.push(t);
        start = t + t_ref;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varying_matches_constant_rate() {
        let rates = Array2::from_elem((20, 100), 8.0);
        let (st, truth) = PoissonParams::time_varying(rates, 0.1)
            .with_refractory_s(0.003)
            .generate(3)
            .unwrap();
        let mean: f64 = truth.realised_rates_hz.iter().sum::<f64>() / 20.0;
        assert!((mean - 8.0).abs() < 0.5, "{mean}");
        // Dead time respected.
        for tr in st.trains() {
            for w in tr.windows(2) {
                assert!(w[1] - w[0] >= 0.003 - 1e-12);
            }
        }
    }
}
