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
use rand_distr::{Distribution, Exp1};
use serde::{Deserialize, Serialize};
use spikelab_core::fastexp::{
    EXP_LN2_16_HI, EXP_LN2_16_LO, EXP_MAGIC, EXP_N_LOG2E, EXP_POLY, EXP2_J16, exp_table16,
};
use spikelab_core::simd::{self, SimdLevel};
use spikelab_data::{PopulationActivity, SpikeTrains};

use crate::error::{Result, non_negative, param, positive};
use crate::rng;

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

/// State of one population. The state vectors are padded to a multiple of [`PAD`] with
/// inert neurons (threshold NaN: `acc ≥ NaN` is never true, so they never fire and draw no
/// random number), so the step runs in whole vectors with no scalar remainder.
struct Pop {
    /// Number of real neurons (the first `n` entries of each vector).
    n: usize,
    u: Vec<f64>,
    /// Steps since the last spike (0 in the spike step), as f64 so the step loop vectorises
    /// (exact for any realistic count, < 2^53).
    age: Vec<f64>,
    acc: Vec<f64>,
    thr: Vec<f64>,
    /// Indices of the neurons that fired in the current step (scratch).
    spiked: Vec<u32>,
    e_mem: f64,
    mu: f64,
    theta: f64,
    rng: rng::ChaCha8Rng,
}

impl Pop {
    fn stationary(p: &LifParams, w: &[Vec<f64>], a: usize, seed: u64) -> Pop {
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
    fn step(&mut self, input: f64, dt: f64, ref_steps: u32) -> usize {
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

/// Per-step constants of a population's update.
#[derive(Clone, Copy)]
struct Consts {
    /// `(1 − e)·μ + dt·input`.
    c: f64,
    /// `exp(−dt·a_mem)`.
    e: f64,
    /// Threshold θ.
    th: f64,
    /// Time step (s).
    dt: f64,
    /// Refractory steps (as f64).
    refs: f64,
}

/// One step of a population: potential update, refractoriness, hazard accumulation, threshold
/// crossing (`acc ≥ thr`) and reset (`u = age = acc = 0`); the indices of the neurons that
/// fired are appended to `spiked` in increasing order.
///
/// Multiply-adds are written as `mul_add` (fused, one rounding) everywhere, so the result is
/// the same bit for bit on every machine and at every SIMD level. The level comes from
/// `spikelab_core::simd::active` (override: `SPIKELAB_SIMD`): hand-written AVX-512 intrinsics
/// (`step_pass_avx512`: the same operations, in the same order, on 8 lanes; the `exp` table
/// read is a two-register permute), an AVX2+FMA build of the portable code
/// (`step_pass_generic`, auto-vectorised, the table read a gather), or the portable build,
/// which on x86-64 (no `fma` target feature) goes through the correctly rounded software `fma`
/// of the C library: the same bits, but a library call per multiply-add (far slower). The
/// exponential is `spikelab_core::fastexp::exp_table16`. A unit test checks every level this
/// CPU supports against a plain one-neuron-at-a-time step bit for bit.
#[inline]
fn step_pass(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    step_pass_at(simd::active(), u, age, acc, thr, spiked, k)
}

/// [`step_pass`] at a given level, which must be one this CPU supports (levels above the
/// detected one run the portable build).
#[inline]
fn step_pass_at(
    level: SimdLevel,
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    match level {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 if level.is_supported() => {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { step_pass_avx512(u, age, acc, thr, spiked, k) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 if level.is_supported() => {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { step_pass_avx2(u, age, acc, thr, spiked, k) }
        }
        _ => step_pass_generic(u, age, acc, thr, spiked, k),
    }
}

/// [`step_pass_generic`] in AVX-512 intrinsics, bit-identical. Safety: the CPU must support
/// AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn step_pass_avx512(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    use std::arch::x86_64::*;
    let n = u.len();
    assert!(age.len() == n && acc.len() == n && thr.len() == n);
    let blocks = n / 8 * 8;
    let one = _mm512_set1_pd(1.0);
    let zero = _mm512_setzero_pd();
    let refs = _mm512_set1_pd(k.refs);
    let c = _mm512_set1_pd(k.c);
    let e = _mm512_set1_pd(k.e);
    let th = _mm512_set1_pd(k.th);
    let dt = _mm512_set1_pd(k.dt);
    let lo = _mm512_set1_pd(-700.0);
    let hi = _mm512_set1_pd(700.0);
    let nlog2e = _mm512_set1_pd(EXP_N_LOG2E);
    let magic = _mm512_set1_pd(EXP_MAGIC);
    let ln2_hi = _mm512_set1_pd(EXP_LN2_16_HI);
    let ln2_lo = _mm512_set1_pd(EXP_LN2_16_LO);
    let poly = EXP_POLY.map(|x| _mm512_set1_pd(x));
    // SAFETY: EXP2_J16 holds 16 u64 = two unaligned 8-lane loads.
    let (tab_lo, tab_hi) = unsafe {
        (
            _mm512_loadu_pd(EXP2_J16.as_ptr() as *const f64),
            _mm512_loadu_pd(EXP2_J16.as_ptr().add(8) as *const f64),
        )
    };
    let (pu, pg, pa, pt) = (
        u.as_mut_ptr(),
        age.as_mut_ptr(),
        acc.as_mut_ptr(),
        thr.as_ptr(),
    );
    // One 8-lane vector; four per block so that independent polynomial chains overlap.
    let vec8 = |o: usize| -> u8 {
        // SAFETY: o + 8 ≤ blocks ≤ n, the length of all four slices (asserted above).
        let (uu, g, a, t) = unsafe {
            (
                _mm512_loadu_pd(pu.add(o)),
                _mm512_loadu_pd(pg.add(o)),
                _mm512_loadu_pd(pa.add(o)),
                _mm512_loadu_pd(pt.add(o)),
            )
        };
        // advance(): age, potential (0 while refractory), hazard only where u ≠ 0.
        let ag = _mm512_add_pd(g, one);
        let refractory = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(ag, refs);
        let un = _mm512_maskz_fmadd_pd(!refractory, e, uu, c);
        let live = _mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(un, zero);
        // exp_table16(un − θ), operation for operation.
        let x = _mm512_min_pd(_mm512_max_pd(_mm512_sub_pd(un, th), lo), hi);
        let tt = _mm512_fmadd_pd(x, nlog2e, magic);
        let kk = _mm512_sub_pd(tt, magic);
        let r = _mm512_fnmadd_pd(kk, ln2_hi, x);
        let r = _mm512_fnmadd_pd(kk, ln2_lo, r);
        let mut p = poly[0];
        for &cf in &poly[1..] {
            p = _mm512_fmadd_pd(p, r, cf);
        }
        let tb = _mm512_castpd_si512(tt);
        // The permute reads the low 4 bits of each index lane: the table entry j.
        let tab = _mm512_permutex2var_pd(tab_lo, tb, tab_hi);
        let scale = _mm512_castsi512_pd(_mm512_add_epi64(
            _mm512_castpd_si512(tab),
            _mm512_slli_epi64::<48>(tb),
        ));
        let f = _mm512_mul_pd(p, scale);
        // Accumulate (fma(f, dt, acc) where u ≠ 0, else acc unchanged = fma(f, 0, acc)),
        // threshold test; the rare resets are done below.
        let an = _mm512_mask3_fmadd_pd(f, dt, a, live);
        let fired = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(an, t);
        // SAFETY: as for the loads.
        unsafe {
            _mm512_storeu_pd(pa.add(o), an);
            _mm512_storeu_pd(pu.add(o), un);
            _mm512_storeu_pd(pg.add(o), ag);
        }
        fired
    };
    let mut reset = |fired: u64, base: usize| {
        let mut fired = fired;
        while fired != 0 {
            let i = base + fired.trailing_zeros() as usize;
            // SAFETY: i < base + 32 ≤ blocks ≤ n; through the same raw pointers.
            unsafe {
                *pu.add(i) = 0.0;
                *pg.add(i) = 0.0;
                *pa.add(i) = 0.0;
            }
            spiked.push(i as u32);
            fired &= fired - 1;
        }
    };
    let wide = blocks / LANES * LANES;
    for b in (0..wide).step_by(LANES) {
        let mut fired = 0u64;
        for v in 0..LANES / 8 {
            fired |= (vec8(b + 8 * v) as u64) << (8 * v);
        }
        reset(fired, b);
    }
    for o in (wide..blocks).step_by(8) {
        reset(vec8(o) as u64, o);
    }
    if blocks < n {
        let first = spiked.len();
        step_pass_generic(
            &mut u[blocks..],
            &mut age[blocks..],
            &mut acc[blocks..],
            &thr[blocks..],
            spiked,
            k,
        );
        for i in &mut spiked[first..] {
            *i += blocks as u32;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn step_pass_avx2(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    step_pass_generic(u, age, acc, thr, spiked, k)
}

/// Updates one neuron's age and potential; returns `(age, u, exp argument, hazard weight)`
/// where the weight is `dt`, or 0 when `u == 0` (refractory: no hazard).
#[inline(always)]
fn advance(age: f64, u: f64, k: Consts) -> (f64, f64, f64, f64) {
    let ag = age + 1.0;
    let un = if ag < k.refs {
        0.0
    } else {
        k.e.mul_add(u, k.c)
    };
    let live = if un == 0.0 { 0.0 } else { k.dt };
    (ag, un, un - k.th, live)
}

#[inline(always)]
fn step_pass_generic(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    // Blocks of LANES independent lanes (the polynomial chains overlap and vectorise), then
    // blocks of 8, then single neurons.
    let n = u.len();
    let b_wide = n / LANES * LANES;
    let b_8 = n / 8 * 8;
    let mut s = State { u, age, acc, thr };
    step_blocks::<LANES>(s.range(0, b_wide), spiked, k, 0);
    step_blocks::<8>(s.range(b_wide, b_8), spiked, k, b_wide);
    let State { u, age, acc, thr } = s.range(b_8, n);
    for (i, (((ui, gi), ai), &ti)) in u
        .iter_mut()
        .zip(age.iter_mut())
        .zip(acc.iter_mut())
        .zip(thr)
        .enumerate()
    {
        let (ag, un, x, live) = advance(*gi, *ui, k);
        let a = exp_table16(x).mul_add(live, *ai);
        if a >= ti {
            *ai = 0.0;
            *ui = 0.0;
            *gi = 0.0;
            spiked.push((b_8 + i) as u32);
        } else {
            *ai = a;
            *ui = un;
            *gi = ag;
        }
    }
}

/// The state vectors of a population (or of a range of its neurons).
struct State<'a> {
    u: &'a mut [f64],
    age: &'a mut [f64],
    acc: &'a mut [f64],
    thr: &'a [f64],
}

impl State<'_> {
    fn range(&mut self, from: usize, to: usize) -> State<'_> {
        State {
            u: &mut self.u[from..to],
            age: &mut self.age[from..to],
            acc: &mut self.acc[from..to],
            thr: &self.thr[from..to],
        }
    }
}

/// The step on whole blocks of `L` neurons (`s.u.len()` a multiple of `L`); spike indices
/// are offset by `base`.
#[inline(always)]
fn step_blocks<const L: usize>(s: State<'_>, spiked: &mut Vec<u32>, k: Consts, base: usize) {
    for (b, (((uc, gc), ac), tc)) in
        s.u.chunks_exact_mut(L)
            .zip(s.age.chunks_exact_mut(L))
            .zip(s.acc.chunks_exact_mut(L))
            .zip(s.thr.chunks_exact(L))
            .enumerate()
    {
        let mut x = [0.0f64; L];
        let mut live = [0.0f64; L];
        let mut ag = [0.0f64; L];
        let mut un = [0.0f64; L];
        for i in 0..L {
            (ag[i], un[i], x[i], live[i]) = advance(gc[i], uc[i], k);
        }
        let f = exp_fast_lanes(x);
        let mut fired = 0u64;
        for i in 0..L {
            let a = f[i].mul_add(live[i], ac[i]);
            let s = a >= tc[i];
            fired |= (s as u64) << i;
            ac[i] = if s { 0.0 } else { a };
            uc[i] = if s { 0.0 } else { un[i] };
            gc[i] = if s { 0.0 } else { ag[i] };
        }
        while fired != 0 {
            spiked.push((base + b * L) as u32 + fired.trailing_zeros());
            fired &= fired - 1;
        }
    }
}

/// Lanes processed together in the portable (and AVX2) step: 4 AVX-512 or 8 AVX2 vectors,
/// so that independent polynomial chains hide the multiply-add latency (faster than 16
/// lanes, measured). At most 64 (the spike mask is a `u64`).
const LANES: usize = 32;

/// Populations are padded to a multiple of this many neurons (one AVX-512 vector).
const PAD: usize = 8;

/// [`exp_table16`] on `L` independent lanes.
#[inline(always)]
fn exp_fast_lanes<const L: usize>(x: [f64; L]) -> [f64; L] {
    let mut out = [0.0; L];
    for k in 0..L {
        out[k] = exp_table16(x[k]);
    }
    out
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

#[cfg(test)]
mod tests {
    /// The step written plainly, one neuron at a time: potential, hazard, then the threshold
    /// test and reset (the definition the fused, vectorised pass must reproduce bit for bit).
    fn reference_step(
        u: &mut [f64],
        age: &mut [f64],
        acc: &mut [f64],
        thr: &[f64],
        k: super::Consts,
    ) -> Vec<u32> {
        let mut spiked = Vec::new();
        for i in 0..u.len() {
            age[i] += 1.0;
            u[i] = if age[i] < k.refs {
                0.0
            } else {
                k.e.mul_add(u[i], k.c)
            };
            let live = if u[i] == 0.0 { 0.0 } else { k.dt };
            acc[i] = spikelab_core::fastexp::exp_table16(u[i] - k.th).mul_add(live, acc[i]);
        }
        for i in 0..u.len() {
            if acc[i] >= thr[i] {
                u[i] = 0.0;
                age[i] = 0.0;
                acc[i] = 0.0;
                spiked.push(i as u32);
            }
        }
        spiked
    }

    #[test]
    fn fused_simd_pass_is_bit_identical_to_the_plain_step() {
        let n = 1003; // 31 blocks of 32 and a remainder of 11
        let u0: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37) % 20.0).collect();
        let g0: Vec<f64> = (0..n).map(|i| (i % 40) as f64).collect();
        let a0: Vec<f64> = (0..n).map(|i| (i as f64).sin().abs()).collect();
        // The last 8 are inert padding (threshold NaN): they must never fire.
        let thr: Vec<f64> = (0..n)
            .map(|i| {
                if i < n - 8 {
                    0.5 + (i as f64 * 0.71).cos().abs()
                } else {
                    f64::NAN
                }
            })
            .collect();
        let k = super::Consts {
            c: 0.3,
            e: 0.99,
            th: 3.7,
            dt: 2e-4,
            refs: 20.0,
        };
        let mut total = 0;
        let levels = spikelab_core::simd::SimdLevel::supported();
        for path in 0..=levels.len() {
            let (mut u1, mut g1, mut a1) = (u0.clone(), g0.clone(), a0.clone());
            let (mut u2, mut g2, mut a2) = (u0.clone(), g0.clone(), a0.clone());
            for _ in 0..200 {
                let mut s1 = Vec::new();
                if let Some(&level) = levels.get(path) {
                    super::step_pass_at(level, &mut u1, &mut g1, &mut a1, &thr, &mut s1, k);
                } else {
                    super::step_pass(&mut u1, &mut g1, &mut a1, &thr, &mut s1, k);
                }
                let s2 = reference_step(&mut u2, &mut g2, &mut a2, &thr, k);
                assert_eq!(s1, s2);
                assert!(s1.iter().all(|&i| (i as usize) < n - 8));
                total += s1.len();
            }
            assert_eq!(u1, u2);
            assert_eq!(a1, a2);
            assert_eq!(g1, g2);
        }
        assert!(total > 100, "{total} spikes: the test must exercise resets");
    }
}
