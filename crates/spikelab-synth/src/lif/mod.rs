//! Microscopic populations of escape-noise leaky integrate-and-fire neurons: the ground-truth
//! simulator of neuLVM (Wang et al., NeurIPS 2022, "Mesoscopic modeling of hidden spiking
//! neurons", arXiv 2205.13493).
//!
//! `M` populations of `N_α` neurons, all-to-all coupled through exponential synapses.
//! Potentials are in units of Δu (so the hazard is `exp(u − θ)` Hz). Per time step `dt`:
//!
//! 1. `I^syn_β ← e_β I^syn_β + (1 − e_β) A_β(s−1)`, `e_β = exp(−dt·a_syn,β)`, with `A` the
//!    population activity in Hz;
//! 2. `input_α = Σ_β I^syn_β W[β→α] + ε·I_ext,α(s)`, `W = diag(J)·conmat` (row = presynaptic);
//! 3. `u ← (1 − e^{−dt·a_mem})·μ + e^{−dt·a_mem}·u + dt·input` (exact leak, Euler input);
//! 4. `u := 0` during the refractory period (`round(t_ref/dt)` steps, the spike step included);
//! 5. hazard `f(u) = exp(u − θ)` (0 when `u == 0`); the neuron fires in the step with
//!    probability `1 − exp(−f·dt)`; then `u := 0`.
//!
//! **Sampling.** Instead of one uniform number per neuron and step, each neuron draws an
//! `Exp(1)` threshold after every spike and fires in the first step where its accumulated
//! hazard `Σ f·dt` exceeds it. The survival over any run of steps is then
//! `exp(−Σ f·dt) = Π (1 − p)`, so the spike trains have exactly the distribution of the
//! per-step Bernoulli draws, at a fraction of the random numbers.
//!
//! **Start (stationary).** Each neuron's age is drawn from `s ∈ {0, δ, …, 0.5 s}`
//! (δ = `dt`) with probability ∝ `A0·S0(s)`, where `S0` is the survival of a neuron driven by
//! the stationary input `h = μ + Σ_β W[β→α] A0_β / a_mem`; then `u = h(1 − e^{−age·a_mem})`,
//! or 0 inside the refractory period. `I^syn` starts at `A0`.
//!
//! **Recording.** `K` neurons per population (the first `K` of a random permutation, sorted)
//! are recorded; the population activity `A_α(s) = count/N_α/dt` (Hz) is stored for every
//! step. [`LifOutput::rebin`] re-bins as neuLVM's preprocessing does (activity averaged,
//! spikes summed then `> 0`; neuLVM's `NeuLvm::initial_latent` computes its data-driven initial
//! latent from the result).

use ndarray::{Array2, Array3};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use spikelab_data::{PopulationActivity, SpikeTrains};

use crate::error::{Result, non_negative, param, positive};
use crate::rng;
use population::Pop;

mod population;
mod step;

/// External input to the populations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExternalInput {
    /// No input.
    None,
    /// A constant input per population (Δu/s, multiplied by `eps`).
    Constant(Vec<f64>),
    /// Input per step, **axis order `[step, population]`** (the original's `I_ext` layout);
    /// must have as many steps as the simulation.
    PerStep(Array2<f64>),
}

/// Parameters of the microscopic LIF network. [`LifParams::default`] is neuLVM's
/// 3-population winner-take-all network (E1, E2, I) with the ground-truth parameters.
///
/// # Example
/// ```
/// use spikelab_synth::LifParams;
/// let p = LifParams { duration_s: 1.0, ..LifParams::default() };
/// let (out, truth) = p.generate(1)?;
/// assert_eq!(out.activity.n_populations(), 3);
/// assert_eq!(out.activity.n_bins(), 5000); // 1 s of 0.2-ms steps
/// assert_eq!(out.recorded.n_units(), 9);   // 3 per population
/// let z = out.rebin(20)?;                  // 4-ms bins as in neuLVM
/// assert_eq!(z.spikes.dim(), (3, 250, 3)); // [population, bin, neuron]
/// assert_eq!(truth.recorded_ids.len(), 3);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifParams {
    /// Time step (s).
    pub dt_s: f64,
    /// Duration (s); the number of steps is `round(duration_s / dt_s)`.
    pub duration_s: f64,
    /// Neurons per population.
    pub n_neurons: Vec<usize>,
    /// Recorded neurons per population.
    pub n_recorded: usize,
    /// Inverse membrane time constant per population (1/s).
    pub a_mem_per_s: Vec<f64>,
    /// Inverse synaptic time constant per (presynaptic) population (1/s).
    pub a_syn_per_s: Vec<f64>,
    /// Coupling strength per presynaptic population.
    pub j: Vec<f64>,
    /// Connectivity signs/pattern, `conmat[β][α]` (row = presynaptic β, column = postsynaptic α).
    pub conmat: Vec<Vec<f64>>,
    /// Resting potential μ per population (Δu units).
    pub mu: Vec<f64>,
    /// Threshold θ per population (Δu units; includes −ln c).
    pub theta: Vec<f64>,
    /// Absolute refractory period (s).
    pub t_ref_s: f64,
    /// Gain of the external input.
    pub eps: f64,
    /// Rates (Hz) defining the stationary start.
    pub a0_hz: Vec<f64>,
    /// External input.
    pub i_ext: ExternalInput,
}

impl Default for LifParams {
    fn default() -> Self {
        LifParams {
            dt_s: 2e-4,
            duration_s: 11.0,
            n_neurons: vec![400, 400, 200],
            n_recorded: 3,
            a_mem_per_s: vec![50.0; 3],
            a_syn_per_s: vec![1000.0 / 3.0, 1000.0 / 3.0, 500.0 / 3.0],
            j: vec![9.984, 9.984, 19.968],
            conmat: vec![
                vec![1.0, 0.0, 1.0],
                vec![0.0, 1.0, 1.0],
                vec![-1.0, -1.0, -1.0],
            ],
            mu: vec![36.0 / 2.5; 3],
            theta: vec![15.0 / 2.5 - 10f64.ln(); 3],
            t_ref_s: 0.004,
            eps: 1.0,
            a0_hz: vec![5.0, 20.0, 25.0],
            i_ext: ExternalInput::None,
        }
    }
}

/// Simulated data: the population activity and the recorded neurons' spikes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifOutput {
    /// Activity `A` in Hz, **axis order `[population, step]`**, bin = `dt_s`.
    pub activity: PopulationActivity,
    /// Spike times (s) of the recorded neurons, population-major (`K` units of population 0,
    /// then population 1, …); unit ids are the neurons' global indices.
    pub recorded: SpikeTrains,
    /// Population of each recorded unit.
    pub recorded_population: Vec<usize>,
    /// Spike steps of each recorded unit (same order as `recorded`).
    pub recorded_steps: Vec<Vec<u64>>,
    /// Time step (s).
    pub dt_s: f64,
}

/// Ground truth of a LIF simulation. Serialisable (serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifTruth {
    /// The seed.
    pub seed: u64,
    /// The parameters.
    pub params: LifParams,
    /// The weight matrix `W[β][α] = J_β·conmat[β][α]`.
    pub weights: Vec<Vec<f64>>,
    /// Recorded neuron ids per population (indices within the population).
    pub recorded_ids: Vec<Vec<usize>>,
    /// Mean population rates over the simulation (Hz).
    pub mean_rates_hz: Vec<f64>,
}

/// Re-binned data, as neuLVM's preprocessing produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rebinned {
    /// Bin width (s).
    pub bin_s: f64,
    /// Activity in Hz averaged over each bin, `[population, bin]`.
    pub activity: PopulationActivity,
    /// `Z = A·Δ`, the fraction of each population firing per bin, `[population, bin]`.
    pub z: Array2<f64>,
    /// Recorded spikes (sum over the bin, then `> 0`), **`[population, bin, neuron]`** (u8 0/1),
    /// the layout of `spikes_4ms.npy`.
    pub spikes: Array3<u8>,
}

impl LifParams {
    /// Number of populations.
    pub fn n_populations(&self) -> usize {
        self.n_neurons.len()
    }
    /// Number of simulation steps.
    pub fn n_steps(&self) -> usize {
        (self.duration_s / self.dt_s).round() as usize
    }
    /// `W[β][α] = J_β·conmat[β][α]` (row = presynaptic).
    pub fn weights(&self) -> Vec<Vec<f64>> {
        self.conmat
            .iter()
            .zip(&self.j)
            .map(|(row, &j)| row.iter().map(|c| c * j).collect())
            .collect()
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        let m = self.n_populations();
        if m == 0 {
            return Err(param("n_neurons", "no populations"));
        }
        positive("dt_s", self.dt_s)?;
        positive("duration_s", self.duration_s)?;
        if self.n_steps() < 1 {
            return Err(param("duration_s", "shorter than one step"));
        }
        non_negative("t_ref_s", self.t_ref_s)?;
        if !self.eps.is_finite() {
            return Err(param("eps", "must be finite"));
        }
        for (name, v) in [
            ("a_mem_per_s", &self.a_mem_per_s),
            ("a_syn_per_s", &self.a_syn_per_s),
            ("j", &self.j),
            ("mu", &self.mu),
            ("theta", &self.theta),
            ("a0_hz", &self.a0_hz),
        ] {
            if v.len() != m {
                return Err(param(
                    name,
                    format!("{} values for {m} populations", v.len()),
                ));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(param(name, "values must be finite"));
            }
        }
        for &x in &self.a_mem_per_s {
            positive("a_mem_per_s", x)?;
        }
        for &x in &self.a_syn_per_s {
            positive("a_syn_per_s", x)?;
        }
        for &x in &self.a0_hz {
            non_negative("a0_hz", x)?;
        }
        for &n in &self.n_neurons {
            if n == 0 {
                return Err(param("n_neurons", "every population needs ≥ 1 neuron"));
            }
            if self.n_recorded > n {
                return Err(param(
                    "n_recorded",
                    format!("{} recorded of a population of {n}", self.n_recorded),
                ));
            }
        }
        if self.conmat.len() != m
            || self
                .conmat
                .iter()
                .any(|r| r.len() != m || r.iter().any(|x| !x.is_finite()))
        {
            return Err(param(
                "conmat",
                format!("must be a finite {m} × {m} matrix"),
            ));
        }
        match &self.i_ext {
            ExternalInput::None => {}
            ExternalInput::Constant(v) => {
                if v.len() != m || v.iter().any(|x| !x.is_finite()) {
                    return Err(param("i_ext", format!("need {m} finite values")));
                }
            }
            ExternalInput::PerStep(a) => {
                if a.dim() != (self.n_steps(), m) || a.iter().any(|x| !x.is_finite()) {
                    return Err(param(
                        "i_ext",
                        format!(
                            "need a finite [step, population] array of shape ({}, {m}), got {:?}",
                            self.n_steps(),
                            a.dim()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Runs the simulation. Population `α`'s neurons use ChaCha stream `α` of `seed`.
    pub fn generate(&self, seed: u64) -> Result<(LifOutput, LifTruth)> {
        self.generate_with_progress(seed, |_, _| {})
    }

    /// Like [`LifParams::generate`], calling `progress(step, n_steps)` every 1000 steps (hook
    /// a progress bar here).
    pub fn generate_with_progress(
        &self,
        seed: u64,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(LifOutput, LifTruth)> {
        self.validate()?;
        let m = self.n_populations();
        let dt = self.dt_s;
        let steps = self.n_steps();
        let w = self.weights();
        let ref_steps = (self.t_ref_s / dt).round() as u32;
        let mut pops: Vec<Pop> = (0..m).map(|a| Pop::stationary(self, &w, a, seed)).collect();
        let mut recorded_ids = Vec::with_capacity(m);
        let mut gp = rng::stream(seed, rng::S_PERM);
        for &n in &self.n_neurons {
            let mut ids: Vec<usize> = (0..n).collect();
            ids.shuffle(&mut gp);
            let mut k: Vec<usize> = ids[..self.n_recorded].to_vec();
            k.sort_unstable();
            recorded_ids.push(k);
        }
        let mut rec_steps: Vec<Vec<Vec<u64>>> =
            (0..m).map(|_| vec![Vec::new(); self.n_recorded]).collect();
        let mut activity = Array2::<f64>::zeros((m, steps));
        let e_syn: Vec<f64> = self.a_syn_per_s.iter().map(|a| (-dt * a).exp()).collect();
        let mut i_syn: Vec<f64> = self.a0_hz.clone();
        let mut a_prev: Vec<f64> = self.a0_hz.clone();
        let mut input = vec![0.0; m];
        for s in 0..steps {
            if s % 1000 == 0 {
                progress(s, steps);
            }
            for b in 0..m {
                i_syn[b] = e_syn[b] * i_syn[b] + (1.0 - e_syn[b]) * a_prev[b];
            }
            for (a, inp) in input.iter_mut().enumerate() {
                let mut x = 0.0;
                for b in 0..m {
                    x += i_syn[b] * w[b][a];
                }
                x += self.eps
                    * match &self.i_ext {
                        ExternalInput::None => 0.0,
                        ExternalInput::Constant(v) => v[a],
                        ExternalInput::PerStep(arr) => arr[[s, a]],
                    };
                *inp = x;
            }
            for (a, pop) in pops.iter_mut().enumerate() {
                let count = pop.step(input[a], dt, ref_steps);
                let rate = count as f64 / pop.n as f64 / dt;
                activity[[a, s]] = rate;
                a_prev[a] = rate;
                if count > 0 {
                    for (k, &id) in recorded_ids[a].iter().enumerate() {
                        if pop.age[id] == 0.0 {
                            rec_steps[a][k].push(s as u64);
                        }
                    }
                }
            }
        }
        progress(steps, steps);
        let mean_rates_hz = activity
            .rows()
            .into_iter()
            .map(|r| r.sum() / steps as f64)
            .collect();
        let duration = steps as f64 * dt;
        let mut trains = Vec::new();
        let mut ids = Vec::new();
        let mut pop_of = Vec::new();
        let mut steps_out = Vec::new();
        let mut offset = 0usize;
        for a in 0..m {
            for (k, &id) in recorded_ids[a].iter().enumerate() {
                let st = std::mem::take(&mut rec_steps[a][k]);
                trains.push(st.iter().map(|&x| x as f64 * dt).collect());
                ids.push((offset + id) as i64);
                pop_of.push(a);
                steps_out.push(st);
            }
            offset += self.n_neurons[a];
        }
        let recorded = SpikeTrains::with_ids(trains, ids, 0.0, duration)?;
        let out = LifOutput {
            activity: PopulationActivity::new(activity, dt)?,
            recorded,
            recorded_population: pop_of,
            recorded_steps: steps_out,
            dt_s: dt,
        };
        let truth = LifTruth {
            seed,
            params: self.clone(),
            weights: w,
            recorded_ids,
            mean_rates_hz,
        };
        Ok((out, truth))
    }
}

impl LifOutput {
    /// Re-bins by `factor` steps (e.g. 20 × 0.2 ms = 4 ms): activity averaged, recorded spikes
    /// summed then `> 0`; trailing steps that do not fill a bin are dropped.
    pub fn rebin(&self, factor: usize) -> Result<Rebinned> {
        if factor == 0 {
            return Err(param("factor", "must be ≥ 1"));
        }
        let a = self.activity.activity();
        let (m, steps) = a.dim();
        let nb = steps / factor;
        if nb == 0 {
            return Err(param(
                "factor",
                format!("{factor} steps exceed the {steps} simulated"),
            ));
        }
        let bin_s = self.dt_s * factor as f64;
        let mut act = Array2::<f64>::zeros((m, nb));
        for p in 0..m {
            for b in 0..nb {
                let mut s = 0.0;
                for k in 0..factor {
                    s += a[[p, b * factor + k]];
                }
                act[[p, b]] = s / factor as f64;
            }
        }
        let z = act.mapv(|x| x * bin_s);
        let k = self.recorded_population.iter().filter(|&&p| p == 0).count();
        let mut spikes = Array3::<u8>::zeros((m, nb, k));
        let mut slot = vec![0usize; m];
        for (u, steps_u) in self.recorded_steps.iter().enumerate() {
            let p = self.recorded_population[u];
            let i = slot[p];
            slot[p] += 1;
            if i >= k {
                continue;
            }
            for &s in steps_u {
                let b = s as usize / factor;
                if b < nb {
                    spikes[[p, b, i]] = 1;
                }
            }
        }
        Ok(Rebinned {
            bin_s,
            activity: PopulationActivity::new(act, bin_s)?,
            z,
            spikes,
        })
    }
}
