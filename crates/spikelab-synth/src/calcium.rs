//! Calcium fluorescence traces (ΔF/F) from spike trains, with known ground truth.
//!
//! Model, per neuron, at frame times `t_k = k / frame_rate_hz`:
//!
//! 1. **Calcium kernel.** Either a continuous-time rise/decay kernel
//!    `h(s) = (e^{−s/τ_decay} − e^{−s/τ_rise}) / peak` for `s ≥ 0` (a single exponential when
//!    `τ_rise = 0`), evaluated exactly at each frame for every spike time (sub-frame timing is
//!    kept), or a discrete AR(1)/AR(2) process on spike counts per frame,
//!    `c_k = γ₁ c_{k−1} (+ γ₂ c_{k−2}) + n_k`, rescaled so that one spike peaks at 1.
//!    The linear ΔF/F is `amplitude · Σ_spikes h`.
//! 2. **Saturation** (optional): `F = F_sat · x / (x + F_sat)` where `x` is the linear ΔF/F
//!    (a hyperbolic, Michaelis–Menten-like saturation approaching `F_sat`).
//! 3. **Baseline drift** (optional): a stationary Ornstein–Uhlenbeck process of standard
//!    deviation `drift_std` and time constant `drift_tau_s`, sampled exactly.
//! 4. **Noise**: white Gaussian noise whose standard deviation is chosen, per neuron, so that
//!    the final trace has CASCADE's noise level
//!    `ν = median_k |y_{k+1} − y_k| / √frame_rate_hz · 100` (Rupprecht et al. 2021,
//!    Nat Neurosci 24:1324) equal to the target (found by
//!    bisection on the actual trace, so ν is met to 0.1 %).
//!
//! Indicator presets ([`Indicator`]) give approximate single-spike amplitudes and time
//! constants; see [`Indicator::kinetics`] for the values and where they come from.

use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use spikelab_data::{CalciumTraces, SpikeTrains};

use crate::error::{Result, SynthError, non_negative, param, positive};
use crate::rng;

/// Common calcium indicators with preset kinetics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Indicator {
    /// Oregon Green BAPTA-1 (synthetic dye).
    Ogb1,
    /// GCaMP6s (slow, sensitive).
    Gcamp6s,
    /// GCaMP6f (fast).
    Gcamp6f,
    /// jGCaMP8 (jGCaMP8m-like: fast rise, fast decay).
    Gcamp8,
    /// jRCaMP1a (red, slow).
    Jrcamp1a,
}

impl Indicator {
    /// All presets.
    pub const ALL: [Indicator; 5] = [
        Indicator::Ogb1,
        Indicator::Gcamp6s,
        Indicator::Gcamp6f,
        Indicator::Gcamp8,
        Indicator::Jrcamp1a,
    ];

    /// Approximate single-action-potential kinetics (ΔF/F amplitude at the peak, rise and
    /// decay time constants). These are **rounded, order-of-magnitude values** from the
    /// indicator papers' single-AP in-vivo measurements (cortical pyramidal cells), meant
    /// to make realistic-looking data, not fitted constants; override them for your prep.
    ///
    /// | indicator | amplitude | τ_rise | τ_decay | reference |
    /// | --- | --- | --- | --- | --- |
    /// | OGB-1 | 0.06 | 10 ms | 0.6 s | Chen et al. 2013, Nature 499:295 (comparison with GCaMP6) |
    /// | GCaMP6s | 0.23 | 80 ms | 1.2 s | Chen et al. 2013 |
    /// | GCaMP6f | 0.19 | 25 ms | 0.25 s | Chen et al. 2013 |
    /// | jGCaMP8 | 0.30 | 5 ms | 0.15 s | Zhang et al. 2023, Nature 615:884 |
    /// | jRCaMP1a | 0.06 | 60 ms | 1.0 s | Dana et al. 2016, eLife 5:e12727 |
    ///
    /// # Example
    /// ```
    /// use spikelab_synth::Indicator;
    /// let k = Indicator::Gcamp6f.kinetics();
    /// assert!(k.decay_s > k.rise_s);
    /// ```
    pub fn kinetics(self) -> Kinetics {
        let (amplitude, rise_s, decay_s) = match self {
            Indicator::Ogb1 => (0.06, 0.010, 0.6),
            Indicator::Gcamp6s => (0.23, 0.080, 1.2),
            Indicator::Gcamp6f => (0.19, 0.025, 0.25),
            Indicator::Gcamp8 => (0.30, 0.005, 0.15),
            Indicator::Jrcamp1a => (0.06, 0.060, 1.0),
        };
        Kinetics {
            amplitude,
            model: KernelModel::RiseDecay { rise_s, decay_s },
            rise_s,
            decay_s,
        }
    }

    /// Parses a name (`ogb1`, `ogb-1`, `gcamp6s`, `gcamp6f`, `gcamp8`, `jrcamp1a`; case-insensitive).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "ogb1" => Ok(Indicator::Ogb1),
            "gcamp6s" => Ok(Indicator::Gcamp6s),
            "gcamp6f" => Ok(Indicator::Gcamp6f),
            "gcamp8" | "jgcamp8" | "jgcamp8m" => Ok(Indicator::Gcamp8),
            "jrcamp1a" => Ok(Indicator::Jrcamp1a),
            _ => Err(param(
                "indicator",
                format!("unknown indicator {name:?} (ogb1, gcamp6s, gcamp6f, gcamp8, jrcamp1a)"),
            )),
        }
    }
}

/// How spikes are turned into calcium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KernelModel {
    /// Continuous-time difference of exponentials (τ_rise = 0: instantaneous rise).
    RiseDecay {
        /// Rise time constant (s, ≥ 0, < decay).
        rise_s: f64,
        /// Decay time constant (s, > 0).
        decay_s: f64,
    },
    /// Discrete AR(p) on spike counts per frame, p = 1 or 2: `c_k = Σ γ_i c_{k−i} + n_k`.
    Ar {
        /// `[γ₁]` or `[γ₁, γ₂]`; the process must be stable with a positive impulse response.
        gamma: Vec<f64>,
    },
}

/// Spike-to-fluorescence kinetics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kinetics {
    /// ΔF/F at the peak of a single spike's response.
    pub amplitude: f64,
    /// The kernel.
    pub model: KernelModel,
    /// Rise time constant (s; informational for AR models).
    pub rise_s: f64,
    /// Decay time constant (s; informational for AR models).
    pub decay_s: f64,
}

impl Kinetics {
    /// AR(2) (or AR(1) when `rise_s = 0`) coefficients of the rise/decay kernel sampled at
    /// `frame_rate_hz`: `γ₁ = d + r`, `γ₂ = −d·r` with `d = e^{−Δ/τ_decay}`,
    /// `r = e^{−Δ/τ_rise}` (OASIS's convention).
    pub fn ar_coefficients(rise_s: f64, decay_s: f64, frame_rate_hz: f64) -> Vec<f64> {
        let dt = 1.0 / frame_rate_hz;
        let d = (-dt / decay_s).exp();
        if rise_s <= 0.0 {
            vec![d]
        } else {
            let r = (-dt / rise_s).exp();
            vec![d + r, -d * r]
        }
    }
}

/// Parameters of the calcium generator.
///
/// # Example
/// ```
/// use spikelab_synth::{CalciumParams, Indicator, PoissonParams};
/// let spikes = PoissonParams::constant(vec![2.0; 4], 60.0).generate(1)?.0;
/// let p = CalciumParams::new(30.0, Indicator::Gcamp6f).with_noise_level(2.0);
/// let (traces, truth) = p.generate(&spikes, 5)?;
/// assert_eq!(traces.data().dim(), (1800, 4)); // [time, neuron]
/// for nu in &truth.noise_level {
///     assert!((nu - 2.0).abs() < 0.01);
/// }
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalciumParams {
    /// Frame rate in Hz.
    pub frame_rate_hz: f64,
    /// Kinetics (from an [`Indicator`] or custom).
    pub kinetics: Kinetics,
    /// Saturation level `F_sat` of ΔF/F (`None`: linear).
    pub saturation: Option<f64>,
    /// Standard deviation of the slow baseline drift (ΔF/F; 0 = none).
    pub drift_std: f64,
    /// Time constant of the drift (s).
    pub drift_tau_s: f64,
    /// Target CASCADE noise level ν (% Hz^-1/2); 0 = no noise.
    pub noise_level: f64,
}

/// Ground truth of generated calcium traces. Serialisable (serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalciumTruth {
    /// The seed.
    pub seed: u64,
    /// Spike times per neuron (s, relative to the first frame).
    pub spike_times_s: Vec<Vec<f64>>,
    /// Spike counts per frame, **`[time, neuron]`**.
    pub spike_counts: Array2<u32>,
    /// Noise-free ΔF/F (kernel + saturation, no drift, no noise), **`[time, neuron]`**.
    pub clean: Array2<f64>,
    /// Baseline drift added, **`[time, neuron]`**.
    pub drift: Array2<f64>,
    /// Noise standard deviation used per neuron (ΔF/F).
    pub noise_sigma: Vec<f64>,
    /// Realised ν of each final trace (% Hz^-1/2).
    pub noise_level: Vec<f64>,
    /// The parameters.
    pub params: CalciumParams,
}

/// CASCADE's noise level of a trace: `median |Δy| / √frame_rate_hz · 100` (% Hz^-1/2).
/// NaNs are skipped; returns 0 for fewer than two frames.
///
/// # Example
/// ```
/// let y = [0.0, 0.1, 0.0, 0.1, 0.0];
/// let nu = spikelab_synth::calcium::noise_level(&y, 100.0);
/// assert!((nu - 1.0).abs() < 1e-12);
/// ```
pub fn noise_level(trace: &[f64], frame_rate_hz: f64) -> f64 {
    let d: Vec<f64> = trace.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let med =
        spikelab_core::stats::median(&d, spikelab_core::stats::NanPolicy::Omit).unwrap_or(0.0);
    med / frame_rate_hz.sqrt() * 100.0
}

impl CalciumParams {
    /// Indicator preset at a frame rate, no saturation, no drift, no noise.
    pub fn new(frame_rate_hz: f64, indicator: Indicator) -> Self {
        CalciumParams {
            frame_rate_hz,
            kinetics: indicator.kinetics(),
            saturation: None,
            drift_std: 0.0,
            drift_tau_s: 30.0,
            noise_level: 0.0,
        }
    }
    /// Sets the target noise level ν (% Hz^-1/2).
    pub fn with_noise_level(mut self, nu: f64) -> Self {
        self.noise_level = nu;
        self
    }
    /// Sets the saturation level of ΔF/F.
    pub fn with_saturation(mut self, f_sat: f64) -> Self {
        self.saturation = Some(f_sat);
        self
    }
    /// Sets the drift standard deviation (ΔF/F) and time constant (s).
    pub fn with_drift(mut self, std: f64, tau_s: f64) -> Self {
        self.drift_std = std;
        self.drift_tau_s = tau_s;
        self
    }
    /// Replaces the kernel by a discrete AR(p) model with the given coefficients.
    pub fn with_ar(mut self, gamma: Vec<f64>) -> Self {
        self.kinetics.model = KernelModel::Ar { gamma };
        self
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        positive("frame_rate_hz", self.frame_rate_hz)?;
        positive("amplitude", self.kinetics.amplitude)?;
        non_negative("noise_level", self.noise_level)?;
        non_negative("drift_std", self.drift_std)?;
        if self.drift_std > 0.0 {
            positive("drift_tau_s", self.drift_tau_s)?;
        }
        if let Some(s) = self.saturation {
            positive("saturation", s)?;
        }
        match &self.kinetics.model {
            KernelModel::RiseDecay { rise_s, decay_s } => {
                positive("decay_s", *decay_s)?;
                non_negative("rise_s", *rise_s)?;
                if rise_s >= decay_s {
                    return Err(param(
                        "rise_s",
                        format!("rise {rise_s} s must be shorter than decay {decay_s} s"),
                    ));
                }
            }
            KernelModel::Ar { gamma } => {
                if gamma.is_empty() || gamma.len() > 2 || gamma.iter().any(|g| !g.is_finite()) {
                    return Err(param(
                        "gamma",
                        "AR(1) or AR(2): one or two finite coefficients",
                    ));
                }
                let h = ar_impulse(gamma, 4096);
                let stable = h.last().is_some_and(|x| x.abs() < 1e-3 * peak(&h));
                if !stable || h.iter().any(|&x| x < -1e-12) {
                    return Err(param(
                        "gamma",
                        format!(
                            "{gamma:?}: AR process must be stable with a non-negative impulse response"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Generates `[time, neuron]` ΔF/F traces for `spikes`, with frames covering
    /// `[t_start_s, t_stop_s)` (`⌊duration · frame_rate⌋` frames), and the ground truth.
    pub fn generate(
        &self,
        spikes: &SpikeTrains,
        seed: u64,
    ) -> Result<(CalciumTraces, CalciumTruth)> {
        self.validate()?;
        let fps = self.frame_rate_hz;
        let n_frames = (spikes.duration_s() * fps + 1e-9).floor() as usize;
        if n_frames < 2 {
            return Err(param(
                "frame_rate_hz",
                format!(
                    "{} s at {fps} Hz gives {n_frames} frames; need at least 2",
                    spikes.duration_s()
                ),
            ));
        }
        let n = spikes.n_units();
        let t0 = spikes.t_start_s();
        let mut counts = Array2::<u32>::zeros((n_frames, n));
        let mut clean = Array2::<f64>::zeros((n_frames, n));
        let mut drift = Array2::<f64>::zeros((n_frames, n));
        let mut data = Array2::<f64>::zeros((n_frames, n));
        let mut sigmas = Vec::with_capacity(n);
        let mut nus = Vec::with_capacity(n);
        let mut times_out = Vec::with_capacity(n);
        let amp = self.kinetics.amplitude;
        for (j, train) in spikes.trains().iter().enumerate() {
            let rel: Vec<f64> = train.iter().map(|&s| s - t0).collect();
            for &s in &rel {
                let k = (s * fps).floor() as usize;
                if k < n_frames {
                    counts[[k, j]] += 1;
                }
            }
            // 1. Linear calcium.
            let lin: Vec<f64> = match &self.kinetics.model {
                KernelModel::RiseDecay { rise_s, decay_s } => {
                    rise_decay(&rel, n_frames, fps, *rise_s, *decay_s)
                }
                KernelModel::Ar { gamma } => {
                    let scale = 1.0 / peak(&ar_impulse(gamma, 4096));
                    let mut c = vec![0.0; n_frames];
                    for k in 0..n_frames {
                        let mut v = counts[[k, j]] as f64;
                        if k >= 1 {
                            v += gamma[0] * c[k - 1];
                        }
                        if k >= 2 && gamma.len() == 2 {
                            v += gamma[1] * c[k - 2];
                        }
                        c[k] = v;
                    }
                    c.iter().map(|x| x * scale).collect()
                }
            };
            // 2. Saturation.
            let f: Vec<f64> = lin
                .iter()
                .map(|&x| {
                    let x = amp * x;
                    match self.saturation {
                        Some(fs) => fs * x / (x + fs),
                        None => x,
                    }
                })
                .collect();
            // 3. Drift (OU, exact).
            let mut dr = vec![0.0; n_frames];
            if self.drift_std > 0.0 {
                let mut g = rng::stream(seed, rng::S_DRIFT + j as u64);
                let a = (-1.0 / (fps * self.drift_tau_s)).exp();
                let b = self.drift_std * (1.0 - a * a).sqrt();
                let z: f64 = StandardNormal.sample(&mut g);
                let mut x = self.drift_std * z;
                for v in dr.iter_mut() {
                    *v = x;
                    let z: f64 = StandardNormal.sample(&mut g);
                    x = a * x + b * z;
                }
            }
            let base: Vec<f64> = f.iter().zip(&dr).map(|(a, b)| a + b).collect();
            // 4. Noise calibrated to ν.
            let (sigma, y) = if self.noise_level > 0.0 {
                let mut g = rng::stream(seed, rng::S_NOISE + j as u64);
                let eps: Vec<f64> = (0..n_frames)
                    .map(|_| StandardNormal.sample(&mut g))
                    .collect();
                calibrate_noise(&base, &eps, fps, self.noise_level, j)?
            } else {
                (0.0, base.clone())
            };
            nus.push(noise_level(&y, fps));
            sigmas.push(sigma);
            for k in 0..n_frames {
                clean[[k, j]] = f[k];
                drift[[k, j]] = dr[k];
                data[[k, j]] = y[k];
            }
            times_out.push(rel);
        }
        let traces = CalciumTraces::new(data, fps)?;
        Ok((
            traces,
            CalciumTruth {
                seed,
                spike_times_s: times_out,
                spike_counts: counts,
                clean,
                drift,
                noise_sigma: sigmas,
                noise_level: nus,
                params: self.clone(),
            },
        ))
    }
}

/// Impulse response of an AR(1)/AR(2) process, `len` samples.
fn ar_impulse(gamma: &[f64], len: usize) -> Vec<f64> {
    let mut h = vec![0.0; len];
    for k in 0..len {
        let mut v = if k == 0 { 1.0 } else { 0.0 };
        if k >= 1 {
            v += gamma[0] * h[k - 1];
        }
        if k >= 2 && gamma.len() == 2 {
            v += gamma[1] * h[k - 2];
        }
        h[k] = v;
    }
    h
}

fn peak(h: &[f64]) -> f64 {
    h.iter().cloned().fold(f64::MIN, f64::max)
}

/// Exact continuous-time difference-of-exponentials response at frames `k / fps`,
/// normalised to a unit peak.
fn rise_decay(spikes: &[f64], n_frames: usize, fps: f64, rise_s: f64, decay_s: f64) -> Vec<f64> {
    let dt = 1.0 / fps;
    let norm = if rise_s > 0.0 {
        let t_peak = (decay_s * rise_s / (decay_s - rise_s)) * (decay_s / rise_s).ln();
        1.0 / ((-t_peak / decay_s).exp() - (-t_peak / rise_s).exp())
    } else {
        1.0
    };
    let (ad, ar) = (
        (-dt / decay_s).exp(),
        if rise_s > 0.0 {
            (-dt / rise_s).exp()
        } else {
            0.0
        },
    );
    let (mut sd, mut sr) = (0.0f64, 0.0f64);
    let mut out = vec![0.0; n_frames];
    let mut i = 0usize;
    for (k, o) in out.iter_mut().enumerate() {
        let tk = k as f64 * dt;
        sd *= ad;
        sr *= ar;
        while i < spikes.len() && spikes[i] <= tk {
            let s = tk - spikes[i];
            sd += (-s / decay_s).exp();
            if rise_s > 0.0 {
                sr += (-s / rise_s).exp();
            }
            i += 1;
        }
        *o = norm * (sd - sr);
    }
    out
}

/// Finds σ such that `noise_level(base + σ·eps) = target` by bisection.
fn calibrate_noise(
    base: &[f64],
    eps: &[f64],
    fps: f64,
    target: f64,
    neuron: usize,
) -> Result<(f64, Vec<f64>)> {
    let make = |s: f64| -> Vec<f64> { base.iter().zip(eps).map(|(b, e)| b + s * e).collect() };
    let nu0 = noise_level(base, fps);
    if nu0 >= target {
        return Err(SynthError::NoiseLevelUnreachable {
            neuron,
            target,
            clean: nu0,
        });
    }
    // Pure-noise guess: median |N(0, 2σ²)| = √2 σ · 0.67449.
    let guess = target / 100.0 * fps.sqrt() / (std::f64::consts::SQRT_2 * 0.674_489_750_196_081_7);
    let (mut lo, mut hi) = (0.0, guess);
    let mut tries = 0;
    while noise_level(&make(hi), fps) < target {
        lo = hi;
        hi *= 2.0;
        tries += 1;
        if tries > 60 {
            return Err(param("noise_level", "could not bracket the noise level"));
        }
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if noise_level(&make(mid), fps) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-6 * hi {
            break;
        }
    }
    let y = make(hi);
    Ok((hi, y))
}
