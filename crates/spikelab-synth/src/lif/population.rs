//! One population of the microscopic simulator: its stationary start and its step.

use rand_distr::{Distribution, Exp1};

use super::LifParams;
use super::step::{Consts, PAD, step_pass};
use crate::rng;

/// State of one population. The state vectors are padded to a multiple of [`PAD`] with
/// inert neurons (threshold NaN: `acc ≥ NaN` is never true, so they never fire and draw no
/// random number), so the step runs in whole vectors with no scalar remainder.
pub(super) struct Pop {
    /// Number of real neurons (the first `n` entries of each vector).
    pub(super) n: usize,
    pub(super) u: Vec<f64>,
    /// Steps since the last spike (0 in the spike step), as f64 so the step loop vectorises
    /// (exact for any realistic count, < 2^53).
    pub(super) age: Vec<f64>,
    pub(super) acc: Vec<f64>,
    pub(super) thr: Vec<f64>,
    /// Indices of the neurons that fired in the current step (scratch).
    pub(super) spiked: Vec<u32>,
    pub(super) e_mem: f64,
    pub(super) mu: f64,
    pub(super) theta: f64,
    pub(super) rng: rng::ChaCha8Rng,
}

impl Pop {
    pub(super) fn stationary(p: &LifParams, w: &[Vec<f64>], a: usize, seed: u64) -> Pop {
        let dt = p.dt_s;
        let a_mem = p.a_mem_per_s[a];
        let h = p.mu[a]
            + (0..p.n_populations())
                .map(|b| w[b][a] * p.a0_hz[b])
                .sum::<f64>()
                / a_mem;
        let theta = p.theta[a];
        // Age grid 0..0.5 s in steps of dt, survival S0 by a left Riemann sum of the hazard.
        let n_grid = (0.5 / dt).round() as usize + 1;
        let v_of = |age: f64| -> f64 {
            if age < p.t_ref_s - 1e-12 {
                0.0
            } else {
                h * (1.0 - (-age * a_mem).exp())
            }
        };
        let mut weights = Vec::with_capacity(n_grid);
        let mut log_s = 0.0f64;
        for i in 0..n_grid {
            let age = i as f64 * dt;
            weights.push(log_s.exp());
            let v = v_of(age);
            let f = if v == 0.0 { 0.0 } else { (v - theta).exp() };
            log_s -= f * dt;
        }
        let total: f64 = weights.iter().sum();
        let mut cdf = Vec::with_capacity(n_grid);
        let mut c = 0.0;
        for x in &weights {
            c += x / total;
            cdf.push(c);
        }
        let mut g = rng::stream(seed, a as u64);
        let n = p.n_neurons[a];
        let ref_steps = (p.t_ref_s / dt).round() as u32;
        let mut u = Vec::with_capacity(n);
        let mut age = Vec::with_capacity(n);
        let mut thr = Vec::with_capacity(n);
        for _ in 0..n {
            let x: f64 = rand::Rng::random(&mut g);
            let i = cdf.partition_point(|&c| c < x).min(n_grid - 1);
            let ag = i as u32;
            age.push(i as f64);
            u.push(if ag < ref_steps {
                0.0
            } else {
                v_of(i as f64 * dt)
            });
            thr.push(Exp1.sample(&mut g));
        }
        let padded = n.div_ceil(PAD) * PAD;
        u.resize(padded, 0.0);
        age.resize(padded, 0.0);
        thr.resize(padded, f64::NAN);
        Pop {
            n,
            u,
            age,
            acc: vec![0.0; padded],
            thr,
            spiked: Vec::with_capacity(n),
            e_mem: (-dt * a_mem).exp(),
            mu: p.mu[a],
            theta,
            rng: g,
        }
    }

    /// One step; returns the number of spikes.
    ///
    /// One fused pass ([`step_pass`]: potential, hazard, threshold crossing and reset,
    /// vectorised, with a polynomial `exp`), then a fresh `Exp(1)` threshold for each neuron
    /// that fired, in neuron order.
    #[inline]
    pub(super) fn step(&mut self, input: f64, dt: f64, ref_steps: u32) -> usize {
        let c = (1.0 - self.e_mem) * self.mu + dt * input;
        let n = self.u.len();
        self.spiked.clear();
        step_pass(
            &mut self.u[..n],
            &mut self.age[..n],
            &mut self.acc[..n],
            &self.thr[..n],
            &mut self.spiked,
            Consts {
                c,
                e: self.e_mem,
                th: self.theta,
                dt,
                refs: ref_steps as f64,
            },
        );
        for &i in &self.spiked {
            self.thr[i as usize] = Exp1.sample(&mut self.rng);
        }
        self.spiked.len()
    }
}
