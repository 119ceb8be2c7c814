//! Free simulation of a (fitted) mesoscopic model, seeded.

use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{NeulvmError, Result};
use crate::model::stationary_survival;
use crate::params::{ModelConfig, Params};
use spikelab_core::fastexp::exp_taylor13;

/// Settings of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimOptions {
    /// Number of simulated bins after the history window (original: 25 000 = 100 s).
    pub n_bins: usize,
    /// Recorded neurons per population (original 3).
    pub n_recorded: usize,
    /// Initial rate A0 per population in Hz (history Z = A0·Δ, I_syn = A0, stationary V and S).
    /// `None` = the original's 1/(A·Δ) (one history spike per recorded neuron in bin A−1).
    pub a0_hz: Option<Vec<f64>>,
    /// RNG seed (ChaCha8).
    pub seed: u64,
}

impl SimOptions {
    /// `n_bins` bins, 3 recorded neurons per population, the original start, the given seed.
    pub fn new(n_bins: usize, seed: u64) -> Self {
        Self {
            n_bins,
            n_recorded: 3,
            a0_hz: None,
            seed,
        }
    }
}

/// Output of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// Sampled latent `[population, bin]`, A history bins + `n_bins`.
    pub z: Array2<f64>,
    /// Expected latent Z̄ `[population, bin]` (history bins: A0·Δ).
    pub z_mean: Array2<f64>,
    /// Recorded spikes `[population, bin, neuron]` (history: one spike in bin A−1).
    pub spikes: Array3<u8>,
    /// Bin width Δ in seconds (of the simulated model).
    pub dt_s: f64,
}

/// Free simulation: each step computes Z̄ as in the loss (E-step Λ fallback), samples
/// Z = max(0, Normal(Z̄, √(Z̄/N))) (no floor, no upper clip, as the original) and feeds it
/// back; recorded neurons spike with probability exp(ln p(y=1)).
///
/// ```
/// use spikelab_neulvm::{simulate, ModelConfig, Params, SimOptions};
/// let sim = simulate::simulate(&ModelConfig::winner_take_all(),
///     &Params::winner_take_all_ground_truth(), &SimOptions::new(500, 1))?;
/// assert_eq!(sim.z.dim(), (3, 750));
/// assert!(sim.z.iter().all(|z| z.is_finite() && *z >= 0.0));
/// # Ok::<(), spikelab_neulvm::NeulvmError>(())
/// ```
pub fn simulate(cfg: &ModelConfig, params: &Params, opts: &SimOptions) -> Result<Simulation> {
    cfg.validate()?;
    let m = cfg.n_populations();
    params.validate(m)?;
    if opts.n_bins == 0 || opts.n_recorded == 0 {
        return Err(NeulvmError::Options(
            "n_bins and n_recorded must be >= 1".into(),
        ));
    }
    let a = cfg.history_bins;
    let dt = cfg.dt_s;
    let a0 = match &opts.a0_hz {
        Some(v) if v.len() == m && v.iter().all(|x| x.is_finite() && *x >= 0.0) => v.clone(),
        Some(v) => {
            return Err(NeulvmError::Options(format!(
                "a0_hz must hold {m} finite rates >= 0, got {v:?}"
            )));
        }
        None => vec![1.0 / (a as f64 * dt); m],
    };
    let nb = a + opts.n_bins;
    let k_rec = opts.n_recorded;
    let mut z = Array2::zeros((m, nb));
    let mut z_mean = Array2::zeros((m, nb));
    let mut spikes = Array3::<u8>::zeros((m, nb, k_rec));
    for p in 0..m {
        for b in 0..a {
            z[[p, b]] = a0[p] * dt;
            z_mean[[p, b]] = a0[p] * dt;
        }
        for i in 0..k_rec {
            spikes[[p, a - 1, i]] = 1;
        }
    }
    let w: Vec<f64> = (0..m * m)
        .map(|i| params.j[i / m] * cfg.conmat[i])
        .collect();
    let step_a = (a as f64 * dt) / a as f64;
    let refr: Vec<bool> = (0..a).map(|k| (k as f64 * step_a) < cfg.ref_t_s).collect();
    // Population states.
    let mut vs = vec![vec![0.0; a]; m];
    let mut ss = vec![vec![0.0; a]; m];
    let mut rec_v = vec![vec![0.0; k_rec]; m];
    let mut rec_age = vec![vec![0usize; k_rec]; m];
    for al in 0..m {
        let x: f64 = (0..m).map(|be| w[be * m + al] * a0[be]).sum();
        let h = params.mu[al] + x / params.a_mem_hz[al];
        for k in 0..a {
            let s = k as f64 * step_a;
            vs[al][k] = if refr[k] {
                0.0
            } else {
                h * (1.0 - exp_taylor13::<false>(-s * params.a_mem_hz[al]))
            };
            ss[al][k] = stationary_survival(cfg, s, h, params.a_mem_hz[al], params.theta[al]).0;
        }
    }
    let esyn: Vec<f64> = cfg.a_syn_hz.iter().map(|x| (-dt * x).exp()).collect();
    let mut isyn = a0.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let ln_dt = dt.ln();
    let fallback = cfg.quirks.lambda_fallback_estep;
    for t in a..nb {
        if t > a {
            for be in 0..m {
                isyn[be] = esyn[be] * isyn[be] + (1.0 - esyn[be]) * z[[be, t - 1]] / dt;
            }
        }
        for al in 0..m {
            let am = params.a_mem_hz[al];
            let (mu, th) = (params.mu[al], params.theta[al]);
            let u: f64 = (0..m).map(|be| w[be * m + al] * isyn[be]).sum();
            let (mut smp, mut sm, mut svp, mut sv) = (0.0, 0.0, 0.0, 0.0);
            let mut lam_dt = vec![0.0; a];
            for k in 0..a {
                let vin = vs[al][k];
                let mut v = vin + dt * (mu - vin) * am + dt * u;
                if refr[k] {
                    v = 0.0;
                }
                let lam = if v == 0.0 {
                    1e-8
                } else {
                    exp_taylor13::<false>(v - th)
                };
                let x = lam * dt;
                let p = if x < 0.01 {
                    x
                } else {
                    1.0 - exp_taylor13::<false>(-x)
                };
                let mk = ss[al][k] * z[[al, t - 1 - k]];
                let vk = (1.0 - ss[al][k]) * mk;
                smp += mk * p;
                sm += mk;
                svp += vk * p;
                sv += vk;
                vs[al][k] = v;
                lam_dt[k] = x;
            }
            let mut lt = svp / sv;
            if lt.is_nan() {
                lt = fallback;
            }
            let zb = (smp + lt * (1.0 - sm)).clamp(0.0, 1.0);
            z_mean[[al, t]] = zb;
            let sd = (zb / cfg.n_neurons[al] as f64).sqrt();
            let draw = if sd > 0.0 {
                Normal::new(zb, sd)
                    .map_err(|e| NeulvmError::NonFinite(e.to_string()))?
                    .sample(&mut rng)
            } else {
                zb
            };
            z[[al, t]] = draw.max(0.0);
            // Age shift.
            for k in (1..a).rev() {
                vs[al][k] = vs[al][k - 1];
                let sv = ss[al][k - 1] * exp_taylor13::<false>(-lam_dt[k - 1]);
                ss[al][k] = if sv < 1e-300 { 0.0 } else { sv };
            }
            vs[al][0] = 0.0;
            ss[al][0] = 1.0;
            // Recorded neurons.
            for i in 0..k_rec {
                let vin = rec_v[al][i];
                let mut v = vin + dt * (mu - vin) * am + dt * u;
                if (rec_age[al][i] as f64) * dt < cfg.ref_t_s {
                    v = 0.0;
                }
                let lam = if v == 0.0 {
                    1e-8
                } else {
                    exp_taylor13::<false>(v - th)
                };
                let x = lam * dt;
                let lnp1 = if x < 0.01 {
                    v - th + ln_dt
                } else {
                    (1.0 - (-x).exp()).ln()
                };
                let y = rng.random::<f64>() < lnp1.exp();
                if y {
                    spikes[[al, t, i]] = 1;
                    rec_v[al][i] = 0.0;
                    rec_age[al][i] = 0;
                } else {
                    rec_v[al][i] = v;
                    rec_age[al][i] += 1;
                }
            }
        }
    }
    Ok(Simulation {
        z,
        z_mean,
        spikes,
        dt_s: dt,
    })
}
