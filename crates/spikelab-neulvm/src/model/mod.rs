//! The model bound to a recording: losses L_y and L_Z and their exact gradients
//! (hand-written reverse sweep).
//!
//! `NeuLvm::evaluate` runs, for given parameters and latent: the synaptic drive of
//! every population from the latent (`evaluate`), then per population the latent's loss L_Z
//! over the age-structured cohorts with its reverse sweep (`latent`, vectorised per SIMD
//! level) and the recorded neurons' loss L_y (`recorded`), then the chain rule back through
//! the drive to the parameters and the latent.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use spikelab_core::simd::{self, SimdLevel};
use spikelab_core::smooth::gaussian_filter1d;

use crate::error::{NeulvmError, Result};
use crate::params::{ModelConfig, Params};

mod evaluate;
mod latent;
mod recorded;
mod recording;
mod workspace;

pub(crate) use latent::stationary_survival;
pub use recording::Recording;
use workspace::WorkspacePool;

/// The two loss terms (means as in the original).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    /// L_y = −(1/(M·T)) Σ ln p(y | Z, θ): recorded spikes given the latent.
    pub loss_y: f64,
    /// L_Z = mean over (population, bin) of the Gaussian transition NLL of Z.
    pub loss_z: f64,
}

impl Losses {
    /// L_y + L_Z.
    pub fn total(&self) -> f64 {
        self.loss_y + self.loss_z
    }
}

/// The value the escape rate Λ(t) = Σ P v / Σ v takes where Σ v = 0 (0/0, checklist item 5):
/// the original's M-step (numpy) and E-step (TensorFlow) code differ there, so every
/// evaluation names the one it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LambdaFallback {
    /// The M-step's: `quirks.lambda_fallback_mstep` (numpy: 1e5).
    MStep,
    /// The E-step's: `quirks.lambda_fallback_estep` (TensorFlow: 0).
    EStep,
}

impl LambdaFallback {
    /// The value of Λ where Σ v = 0 under `quirks`.
    pub fn value(self, quirks: &crate::params::Quirks) -> f64 {
        match self {
            Self::MStep => quirks.lambda_fallback_mstep,
            Self::EStep => quirks.lambda_fallback_estep,
        }
    }
}

/// What [`NeuLvm::gradient`] differentiates L_y + L_Z with respect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wrt {
    /// The 4·M parameters (the M-step's gradient).
    Params,
    /// The latent Z (the E-step's gradient).
    Latent,
    /// Both.
    Both,
}

impl Wrt {
    /// Whether the parameter gradient is wanted.
    pub fn params(self) -> bool {
        matches!(self, Self::Params | Self::Both)
    }

    /// Whether the latent gradient is wanted.
    pub fn latent(self) -> bool {
        matches!(self, Self::Latent | Self::Both)
    }
}

/// Exact gradients of L_y + L_Z.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// The losses at the evaluation point.
    pub losses: Losses,
    /// ∂(L_y+L_Z)/∂x in the order of [`Params::to_vec`], if requested.
    pub params: Option<Vec<f64>>,
    /// ∂(L_y+L_Z)/∂Z `[population, bin]`, if requested (0 on the history bins, which are
    /// overwritten by A0·Δ on every evaluation).
    pub latent: Option<Array2<f64>>,
}

/// The mesoscopic model bound to a recording: evaluates losses and gradients.
#[derive(Debug, Clone)]
pub struct NeuLvm {
    cfg: ModelConfig,
    rec: Recording,
    /// Initial rate per population from the history spikes (Hz).
    a0_hz: Vec<f64>,
    /// Initial age (bins) of each recorded neuron `[pop][neuron]`.
    rec_age0: Vec<Vec<usize>>,
    /// Whether cohort k of the age grid is refractory.
    refr: Vec<bool>,
    /// Age grid a_k (s), as numpy `linspace(0, A·Δ, A+1)[:-1]`.
    age_grid: Vec<f64>,
    /// Number of leading refractory ages (the refractory ages are a prefix of the grid).
    n_refr: usize,
    /// Evaluate populations on separate threads.
    parallel: bool,
    /// Which build of the population sweep runs (always one this CPU supports).
    simd: SimdLevel,
    /// Reused scratch memory.
    pool: WorkspacePool,
}

impl NeuLvm {
    /// Binds a configuration to a recording. Checks the configuration, that the recording has
    /// M populations and more than A bins (the first A are the history), and the input shape.
    ///
    /// ```
    /// use spikelab_neulvm::{ModelConfig, NeuLvm, Recording};
    /// use spikelab_datasets as datasets;
    /// let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?;
    /// let model = NeuLvm::new(ModelConfig::winner_take_all(), rec)?;
    /// assert_eq!(model.initial_rate_hz(), &[15.0, 10.0, 25.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(cfg: ModelConfig, rec: Recording) -> Result<Self> {
        cfg.validate()?;
        let m = cfg.n_populations();
        let a = cfg.history_bins;
        if rec.n_populations() != m {
            return Err(NeulvmError::Spikes(format!(
                "spikes have {} populations, the model {m}",
                rec.n_populations()
            )));
        }
        if rec.n_bins() <= a {
            return Err(NeulvmError::Spikes(format!(
                "need more bins than the history window A = {a}, got {}",
                rec.n_bins()
            )));
        }
        let t = rec.n_bins() - a;
        if let Some(i) = &rec.i_ext
            && i.dim() != (m, t)
        {
            return Err(NeulvmError::Spikes(format!(
                "external input must be [population, modelled bin] = ({m}, {t}), got {:?}",
                i.dim()
            )));
        }
        let k = rec.n_recorded();
        let dt = cfg.dt_s;
        let mut a0_hz = Vec::with_capacity(m);
        let mut rec_age0 = Vec::with_capacity(m);
        for p in 0..m {
            let hist = rec.spikes.slice(ndarray::s![p, ..a, ..]);
            let count: f64 = hist.iter().map(|&v| v as f64).sum();
            a0_hz.push(count / (a * k) as f64 / dt);
            let mut ages = Vec::with_capacity(k);
            for i in 0..k {
                let last = (0..a).rev().find(|&b| hist[[b, i]] == 1);
                ages.push(match last {
                    Some(b) => a - 1 - b,
                    None if cfg.quirks.silent_history_age_zero => 0,
                    None => a,
                });
            }
            rec_age0.push(ages);
        }
        let step = (a as f64 * dt) / a as f64;
        let age_grid: Vec<f64> = (0..a).map(|i| i as f64 * step).collect();
        let refr: Vec<bool> = age_grid.iter().map(|&s| s < cfg.ref_t_s).collect();
        let n_refr = refr.iter().take_while(|&&r| r).count();
        Ok(Self {
            cfg,
            rec,
            a0_hz,
            rec_age0,
            refr,
            age_grid,
            n_refr,
            parallel: true,
            simd: simd::active(),
            pool: WorkspacePool::default(),
        })
    }

    /// Whether one evaluation runs the M populations on separate threads (default `true`;
    /// the EM driver turns it off when it runs restarts in parallel).
    pub fn with_parallel_populations(mut self, on: bool) -> Self {
        self.parallel = on;
        self
    }

    /// Runs the population sweep at `level` instead of [`simd::active`] (the CPU's best level,
    /// or `SPIKELAB_SIMD`). The portable level computes its exponentials without fused
    /// multiply-adds, the AVX levels with them: losses agree to ~1e-15 relative, not bit for
    /// bit. Errors: a level this CPU cannot run.
    ///
    /// ```
    /// use spikelab_core::simd::SimdLevel;
    /// use spikelab_neulvm::{ModelConfig, NeuLvm, Params, Recording};
    /// use spikelab_datasets as datasets;
    /// let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?;
    /// let model = NeuLvm::new(ModelConfig::winner_take_all(), rec)?;
    /// let z = model.initial_latent(0.4)?;
    /// let x = Params::winner_take_all_ground_truth();
    /// let best = model.loss(&x, z.view())?.loss_y;
    /// let portable = model.with_simd_level(SimdLevel::Scalar)?.loss(&x, z.view())?.loss_y;
    /// assert!((best - portable).abs() <= 1e-12 * best.abs());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_simd_level(mut self, level: SimdLevel) -> Result<Self> {
        if !level.is_supported() {
            return Err(NeulvmError::Options(format!(
                "SIMD level {level} is not supported by this CPU (best: {})",
                simd::detected()
            )));
        }
        self.simd = level;
        Ok(self)
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The recording.
    pub fn recording(&self) -> &Recording {
        &self.rec
    }

    /// A0 per population (Hz): rate of the recorded neurons over the history window.
    pub fn initial_rate_hz(&self) -> &[f64] {
        &self.a0_hz
    }

    /// Number of modelled bins T.
    pub fn n_modelled_bins(&self) -> usize {
        self.rec.n_bins() - self.cfg.history_bins
    }

    /// Checks a latent `[population, bin]`: shape (M, A+T), finite, within [0, 1].
    pub fn check_latent(&self, z: ArrayView2<'_, f64>) -> Result<()> {
        let want = (self.cfg.n_populations(), self.rec.n_bins());
        if z.dim() != want {
            return Err(NeulvmError::Latent(format!(
                "Z must be [population, bin] = {want:?}, got {:?}",
                z.dim()
            )));
        }
        if let Some(v) = z
            .iter()
            .find(|v| !(v.is_finite() && (0.0..=1.0).contains(*v)))
        {
            return Err(NeulvmError::Latent(format!(
                "Z must be finite and inside [0, 1], found {v}"
            )));
        }
        Ok(())
    }

    /// Data-driven initial latent (the original's init): the mean of the recorded spikes of
    /// each population smoothed by a Gaussian of standard deviation `sigma_s` (original
    /// 0.4 s), mode 'reflect', truncated at 4 σ, over all bins (scipy `gaussian_filter1d`, as
    /// `spikelab_core::smooth::gaussian_filter1d`).
    ///
    /// ```
    /// # use spikelab_neulvm::{ModelConfig, NeuLvm, Recording};
    /// # use spikelab_datasets as datasets;
    /// # let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?;
    /// # let model = NeuLvm::new(ModelConfig::winner_take_all(), rec)?;
    /// let z0 = model.initial_latent(0.4)?;
    /// let stored = spikelab_data::io::npy::read_any(&datasets::neulvm("Z_init_4ms.npy")?)?;
    /// let err = z0.iter().zip(stored.data.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    /// assert!(err < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initial_latent(&self, sigma_s: f64) -> Result<Array2<f64>> {
        if !(sigma_s.is_finite() && sigma_s > 0.0) {
            return Err(NeulvmError::Options(format!(
                "sigma_s must be > 0, got {sigma_s}"
            )));
        }
        let (m, nb, k) = self.rec.spikes.dim();
        let mut out = Array2::zeros((m, nb));
        for p in 0..m {
            let mean: Vec<f64> = (0..nb)
                .map(|b| {
                    (0..k)
                        .map(|i| self.rec.spikes[[p, b, i]] as f64)
                        .sum::<f64>()
                        / k as f64
                })
                .collect();
            let smooth = gaussian_filter1d(&mean, sigma_s / self.cfg.dt_s)
                .map_err(|e| NeulvmError::Options(e.to_string()))?;
            out.row_mut(p).assign(&ndarray::ArrayView1::from(&smooth));
        }
        Ok(out)
    }

    /// L_y and L_Z at `params`, `z` (`[population, bin]`, A+T bins), with the M-step Λ
    /// fallback, as the original `fast_lossy` / `fast_lossZ`.
    ///
    /// ```
    /// use spikelab_neulvm::{ModelConfig, NeuLvm, Params, Recording};
    /// use spikelab_data::io::npy;
    /// use spikelab_datasets as datasets;
    /// let model = NeuLvm::new(ModelConfig::winner_take_all(),
    ///     Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?)?;
    /// let z_gt = npy::read_typed::<f64, ndarray::Ix2>(&datasets::neulvm("Z_gt_4ms.npy")?)?;
    /// let l = model.loss(&Params::winner_take_all_ground_truth(), z_gt.view())?;
    /// assert!((l.loss_y - 0.5588289437118972).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loss(&self, params: &Params, z: ArrayView2<'_, f64>) -> Result<Losses> {
        self.loss_with(params, z, LambdaFallback::MStep)
    }

    /// Like [`loss`](Self::loss) with the given Λ fallback.
    pub fn loss_with(
        &self,
        params: &Params,
        z: ArrayView2<'_, f64>,
        fallback: LambdaFallback,
    ) -> Result<Losses> {
        Ok(self.evaluate(params, z, fallback, None)?.losses)
    }

    /// Exact gradient of L_y + L_Z with respect to the parameters and/or the latent (`wrt`),
    /// with the given Λ fallback.
    ///
    /// ```
    /// use spikelab_neulvm::{LambdaFallback, ModelConfig, NeuLvm, Params, Recording, Wrt};
    /// use spikelab_data::io::npy;
    /// use spikelab_datasets as datasets;
    /// let model = NeuLvm::new(ModelConfig::winner_take_all(),
    ///     Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?)?;
    /// let z = npy::read_typed::<f64, ndarray::Ix2>(&datasets::neulvm("Z_init_4ms.npy")?)?;
    /// let g = model.gradient(&Params::winner_take_all_ground_truth(), z.view(), LambdaFallback::MStep, Wrt::Params)?;
    /// assert_eq!(g.params.unwrap().len(), 12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn gradient(
        &self,
        params: &Params,
        z: ArrayView2<'_, f64>,
        fallback: LambdaFallback,
        wrt: Wrt,
    ) -> Result<Gradient> {
        self.evaluate(params, z, fallback, Some(wrt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_datasets as datasets;

    fn model() -> NeuLvm {
        let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy").expect("data"))
            .expect("spikes");
        NeuLvm::new(ModelConfig::winner_take_all(), rec).expect("model")
    }

    /// Same bits whatever the threading and however often the workspaces were reused.
    #[test]
    fn deterministic_across_threads_and_reuse() {
        let m = model();
        let z = m.initial_latent(0.4).expect("z");
        let p = Params::winner_take_all_ground_truth();
        let serial = m.clone().with_parallel_populations(false);
        let a = m
            .gradient(&p, z.view(), LambdaFallback::MStep, Wrt::Both)
            .expect("g");
        let b = serial
            .gradient(&p, z.view(), LambdaFallback::MStep, Wrt::Both)
            .expect("g");
        let _ = serial.loss(&p, z.view()).expect("loss");
        let c = serial
            .gradient(&p, z.view(), LambdaFallback::MStep, Wrt::Both)
            .expect("g");
        for g in [&b, &c] {
            assert_eq!(a.losses.loss_y.to_bits(), g.losses.loss_y.to_bits());
            assert_eq!(a.losses.loss_z.to_bits(), g.losses.loss_z.to_bits());
            let (pa, pg) = (a.params.as_ref().unwrap(), g.params.as_ref().unwrap());
            assert!(pa.iter().zip(pg).all(|(x, y)| x.to_bits() == y.to_bits()));
            let (la, lg) = (a.latent.as_ref().unwrap(), g.latent.as_ref().unwrap());
            assert!(la.iter().zip(lg).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        // The loss of a gradient call equals the loss-only path.
        let l = serial.loss(&p, z.view()).expect("loss");
        assert_eq!(l.loss_z.to_bits(), a.losses.loss_z.to_bits());
    }

    /// One modelled bin (T = 1): the tape still has two rows.
    #[test]
    fn single_modelled_bin() {
        let mut spikes = ndarray::Array3::<u8>::zeros((3, 251, 2));
        spikes[[0, 100, 0]] = 1;
        let m = NeuLvm::new(
            ModelConfig::winner_take_all(),
            Recording::new(spikes).expect("rec"),
        )
        .expect("model");
        let z = Array2::from_elem((3, 251), 0.01);
        let p = Params::winner_take_all_ground_truth();
        let g = m
            .gradient(&p, z.view(), LambdaFallback::EStep, Wrt::Both)
            .expect("g");
        assert!(g.losses.total().is_finite());
    }
}
