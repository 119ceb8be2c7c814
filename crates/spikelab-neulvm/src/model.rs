//! The model bound to a recording: losses L_y and L_Z and their exact gradients
//! (hand-written reverse sweep).

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};
use spikelab_core::simd::{self, SimdLevel};
use spikelab_core::smooth::gaussian_filter1d;

use crate::error::{NeulvmError, Result};
use crate::kernels::{self, PopConst};
use crate::params::{ModelConfig, Params};
use spikelab_core::fastexp::exp_taylor13;

/// The value of π in the original Gaussian constant ½·ln(2·3.14) (checklist item 6).
#[allow(clippy::approx_constant)]
const ORIGINAL_PI: f64 = 3.14;

/// Spikes of the recorded neurons and the optional external input.
///
/// `spikes` has axes `[population, bin, neuron]` (the layout of the original pickle and of
/// `spikes_4ms.npy`), values 0/1, over the whole data window: the first `A` bins are the
/// history, the remaining `T` bins are modelled. `i_ext` (if any) has axes `[population, bin]`
/// over the `T` modelled bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    spikes: Array3<u8>,
    i_ext: Option<Array2<f64>>,
}

impl Recording {
    /// Builds from 0/1 spikes `[population, bin, neuron]` without external input.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let rec = spikelab_neulvm::Recording::new(Array3::<u8>::zeros((3, 10, 2)))?;
    /// assert_eq!(rec.n_bins(), 10);
    /// assert!(spikelab_neulvm::Recording::new(Array3::<u8>::from_elem((1, 4, 1), 2)).is_err());
    /// # Ok::<(), spikelab_neulvm::NeulvmError>(())
    /// ```
    pub fn new(spikes: Array3<u8>) -> Result<Self> {
        let (m, b, k) = spikes.dim();
        if m == 0 || b == 0 || k == 0 {
            return Err(NeulvmError::Spikes(format!(
                "spikes [population, bin, neuron] must be non-empty, got shape ({m}, {b}, {k})"
            )));
        }
        if let Some(v) = spikes.iter().find(|v| **v > 1) {
            return Err(NeulvmError::Spikes(format!(
                "values must be 0 or 1, found {v}"
            )));
        }
        Ok(Self {
            spikes,
            i_ext: None,
        })
    }

    /// Builds from any numeric array (e.g. read with `spikelab_data::io::npy::read_any`),
    /// which must be 3-D and hold only 0 and 1.
    pub fn from_f64(spikes: ArrayView3<'_, f64>) -> Result<Self> {
        if let Some(v) = spikes.iter().find(|v| !(**v == 0.0 || **v == 1.0)) {
            return Err(NeulvmError::Spikes(format!(
                "values must be 0 or 1, found {v}"
            )));
        }
        Self::new(spikes.mapv(|v| v as u8))
    }

    /// Reads a `.npy` file of shape `[population, bin, neuron]` with 0/1 values.
    pub fn from_npy(path: &std::path::Path) -> Result<Self> {
        let a = spikelab_data::io::npy::read_any(path)?;
        let shape = a.data.shape().to_vec();
        let a3 = a.data.into_dimensionality::<ndarray::Ix3>().map_err(|_| {
            NeulvmError::Spikes(format!(
                "spikes must be 3-D [population, bin, neuron], got shape {shape:?}"
            ))
        })?;
        Self::from_f64(a3.view())
    }

    /// Adds an external input `[population, bin]` over the modelled bins (checked against the
    /// model in [`NeuLvm::new`]).
    pub fn with_input(mut self, i_ext: Array2<f64>) -> Result<Self> {
        if i_ext.iter().any(|v| !v.is_finite()) {
            return Err(NeulvmError::Spikes("external input must be finite".into()));
        }
        self.i_ext = Some(i_ext);
        Ok(self)
    }

    /// Spikes `[population, bin, neuron]`.
    pub fn spikes(&self) -> ArrayView3<'_, u8> {
        self.spikes.view()
    }

    /// External input `[population, modelled bin]`, if any.
    pub fn input(&self) -> Option<ArrayView2<'_, f64>> {
        self.i_ext.as_ref().map(|a| a.view())
    }

    /// Number of populations.
    pub fn n_populations(&self) -> usize {
        self.spikes.dim().0
    }

    /// Number of bins (history + modelled).
    pub fn n_bins(&self) -> usize {
        self.spikes.dim().1
    }

    /// Recorded neurons per population.
    pub fn n_recorded(&self) -> usize {
        self.spikes.dim().2
    }
}

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

/// Stationary survival S0(s) of the original (`LIFmesoCell.S0`, numpy grid quirks included),
/// and Σ f·dr. S0(0) := 0.
pub(crate) fn stationary_survival(
    cfg: &ModelConfig,
    s: f64,
    h: f64,
    am: f64,
    th: f64,
) -> (f64, f64) {
    if s <= 0.0 {
        return (0.0, f64::INFINITY);
    }
    let n = (s / cfg.s0_step_s) as usize + 1;
    let jf: Vec<f64> = (0..n).map(|j| j as f64).collect();
    let mut buf = vec![0.0; n];
    let sum = kernels::s0_sum(s, cfg.s0_step_s, cfg.ref_t_s, h, am, th, &jf, &mut buf);
    let sv = (-sum).exp();
    // Flush to 0 below 1e-300 (no subnormals in the inner loops).
    (if sv < kernels::FLUSH { 0.0 } else { sv }, sum)
}

/// Scratch memory of one population sweep (tape of the forward pass, adjoint buffers),
/// reused across evaluations so that a call does not allocate and page-fault ~20 MB.
#[derive(Default)]
struct Workspace {
    tv: Vec<f64>,
    tl: Vec<f64>,
    te: Vec<f64>,
    ts: Vec<f64>,
    zbar: Vec<f64>,
    zpre: Vec<f64>,
    lamt: Vec<f64>,
    sumv: Vec<f64>,
    messv: Vec<f64>,
    lvalid: Vec<bool>,
    zr: Vec<f64>,
    dzr: Vec<f64>,
    vinit: Vec<f64>,
    ones: Vec<f64>,
    tmp: Vec<f64>,
    g: [Vec<f64>; 4],
}

/// Resizes `v` to `n` without caring about its contents (every element is written before it
/// is read).
fn scratch<T: Clone + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    if v.len() < n {
        v.resize(n, T::default());
    }
    &mut v[..n]
}

/// Pool of [`Workspace`]s shared by the threads of a model (a clone starts an empty pool).
#[derive(Default)]
struct WorkspacePool(std::sync::Mutex<Vec<Workspace>>);

impl WorkspacePool {
    fn take(&self) -> Workspace {
        self.0
            .lock()
            .map(|mut p| p.pop().unwrap_or_default())
            .unwrap_or_default()
    }
    fn put(&self, ws: Workspace) {
        if let Ok(mut p) = self.0.lock() {
            p.push(ws);
        }
    }
}

impl Clone for WorkspacePool {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for WorkspacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkspacePool")
    }
}

/// Initial condition of one population for (h, a_mem, θ): stationary survival S0 of every
/// age and (for a parameter gradient) ∂Σ_k/∂(h, a_mem, θ) of its exponent.
struct S0Table {
    s0: Vec<f64>,
    jac: Option<Vec<[f64; 3]>>,
}

/// Row `prev` (shared) and row `cur` (mutable) of a row-major buffer with rows of `a`.
fn two_rows(buf: &mut [f64], a: usize, prev: usize, cur: usize) -> (&[f64], &mut [f64]) {
    if prev < cur {
        let (lo, hi) = buf.split_at_mut(cur * a);
        (&lo[prev * a..prev * a + a], &mut hi[..a])
    } else {
        let (lo, hi) = buf.split_at_mut(prev * a);
        (&hi[..a], &mut lo[cur * a..cur * a + a])
    }
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

struct PopGrad {
    /// Whether the parameter gradient is wanted (else the initial condition's is skipped).
    gp: bool,
    da: f64,
    dmu: f64,
    dth: f64,
    dh: f64,
    du: Vec<f64>,
    dz: Vec<f64>,
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

    fn evaluate(
        &self,
        params: &Params,
        z: ArrayView2<'_, f64>,
        fallback: LambdaFallback,
        wrt: Option<Wrt>,
    ) -> Result<Gradient> {
        let (gp, gz) = wrt.map_or((false, false), |w| (w.params(), w.latent()));
        let m = self.cfg.n_populations();
        params.validate(m)?;
        self.check_latent(z)?;
        let a = self.cfg.history_bins;
        let nb = self.rec.n_bins();
        let t_len = nb - a;
        let dt = self.cfg.dt_s;
        let grad = gp || gz;
        let fallback = fallback.value(&self.cfg.quirks);
        // Latent with the history overwritten by A0·Δ (checklist item 4).
        let mut zc = vec![0.0; m * nb];
        for p in 0..m {
            for b in 0..nb {
                zc[p * nb + b] = if b < a { self.a0_hz[p] * dt } else { z[[p, b]] };
            }
        }
        // Coupling W[β→α] = J_β·conmat[β][α].
        let w: Vec<f64> = (0..m * m)
            .map(|i| params.j[i / m] * self.cfg.conmat[i])
            .collect();
        // Synaptic currents I_β(s), s = 0..T-1.
        let esyn: Vec<f64> = self
            .cfg
            .a_syn_hz
            .iter()
            .map(|&as_| (-dt * as_).exp())
            .collect();
        let mut isyn = vec![0.0; m * t_len];
        for p in 0..m {
            let mut cur = self.a0_hz[p];
            for s in 0..t_len {
                if s > 0 {
                    cur = esyn[p] * cur + (1.0 - esyn[p]) * zc[p * nb + a + s - 1] / dt;
                }
                isyn[p * t_len + s] = cur;
            }
        }
        // Drive u_α(s) and initial mean potential h_α.
        let mut u = vec![0.0; m * t_len];
        let mut h = vec![0.0; m];
        for al in 0..m {
            let mut x = 0.0;
            for be in 0..m {
                x += w[be * m + al] * self.a0_hz[be];
            }
            h[al] = params.mu[al] + x / params.a_mem_hz[al];
            for s in 0..t_len {
                let mut acc = 0.0;
                for be in 0..m {
                    acc += w[be * m + al] * isyn[be * t_len + s];
                }
                if let Some(ie) = &self.rec.i_ext {
                    acc += ie[[al, s]] * self.cfg.eps;
                }
                u[al * t_len + s] = acc;
            }
        }
        let scale = 1.0 / (m * t_len) as f64;
        let mut nll_sum = 0.0;
        let mut lny_sum = 0.0;
        let run_pop = |al: usize| -> (f64, f64, PopGrad) {
            let mut pg = PopGrad {
                gp,
                da: 0.0,
                dmu: 0.0,
                dth: 0.0,
                dh: 0.0,
                du: if grad { vec![0.0; t_len] } else { Vec::new() },
                dz: if gz { vec![0.0; nb] } else { Vec::new() },
            };
            let ua = &u[al * t_len..(al + 1) * t_len];
            let za = &zc[al * nb..(al + 1) * nb];
            let nll = self.pop_latent(
                al, params, h[al], ua, za, fallback, grad, gz, scale, &mut pg,
            );
            let lny = self.pop_recorded(al, params, h[al], ua, grad, scale, &mut pg);
            (nll, lny, pg)
        };
        // Given Z, the populations are independent: evaluate them on separate threads.
        let outs: Vec<(f64, f64, PopGrad)> = if self.parallel && m > 1 {
            std::thread::scope(|sc| {
                let hs: Vec<_> = (1..m).map(|al| sc.spawn(move || run_pop(al))).collect();
                let mut v = vec![run_pop(0)];
                v.extend(
                    hs.into_iter()
                        .map(|h| h.join().expect("population worker panicked")),
                );
                v
            })
        } else {
            (0..m).map(run_pop).collect()
        };
        let mut pgs = Vec::with_capacity(m);
        for (nll, lny, pg) in outs {
            nll_sum += nll;
            lny_sum += lny;
            pgs.push(pg);
        }
        let losses = Losses {
            loss_y: -lny_sum * scale,
            loss_z: nll_sum * scale,
        };
        if !(losses.loss_y.is_finite() && losses.loss_z.is_finite()) {
            return Err(NeulvmError::NonFinite(format!(
                "L_y = {}, L_Z = {} (exp overflow or p = 0 for these parameters)",
                losses.loss_y, losses.loss_z
            )));
        }
        if !grad {
            return Ok(Gradient {
                losses,
                params: None,
                latent: None,
            });
        }
        // Combine: du → dW, dI; dh → dμ, dW, da.
        let mut dw = vec![0.0; m * m];
        let mut di = vec![0.0; m * t_len];
        let mut da = vec![0.0; m];
        let mut dmu = vec![0.0; m];
        let mut dth = vec![0.0; m];
        for al in 0..m {
            let pg = &pgs[al];
            da[al] += pg.da;
            dmu[al] += pg.dmu + pg.dh;
            dth[al] += pg.dth;
            let am = params.a_mem_hz[al];
            let mut x = 0.0;
            for be in 0..m {
                x += w[be * m + al] * self.a0_hz[be];
                dw[be * m + al] += pg.dh * self.a0_hz[be] / am;
                let mut acc = 0.0;
                for s in 0..t_len {
                    acc += pg.du[s] * isyn[be * t_len + s];
                }
                dw[be * m + al] += acc;
                if gz {
                    let wba = w[be * m + al];
                    for s in 0..t_len {
                        di[be * t_len + s] += pg.du[s] * wba;
                    }
                }
            }
            da[al] -= pg.dh * x / (am * am);
        }
        let params_grad = if gp {
            let mut dj = vec![0.0; m];
            for i in 0..m * m {
                dj[i / m] += dw[i] * self.cfg.conmat[i];
            }
            let mut g = da;
            g.extend_from_slice(&dj);
            g.extend_from_slice(&dmu);
            g.extend_from_slice(&dth);
            Some(g)
        } else {
            None
        };
        let latent = if gz {
            let mut out = Array2::zeros((m, nb));
            for p in 0..m {
                let pg = &pgs[p];
                for b in a..nb {
                    out[[p, b]] = pg.dz[b];
                }
                // Reverse of I(s) = e·I(s−1) + (1−e)·Z(A+s−1)/Δ.
                let mut carry = 0.0;
                for s in (1..t_len).rev() {
                    let g = di[p * t_len + s] + carry;
                    out[[p, a + s - 1]] += g * (1.0 - esyn[p]) / dt;
                    carry = g * esyn[p];
                }
            }
            Some(out)
        } else {
            None
        };
        let g = Gradient {
            losses,
            params: params_grad,
            latent,
        };
        let finite = g
            .params
            .as_ref()
            .is_none_or(|v| v.iter().all(|x| x.is_finite()))
            && g.latent
                .as_ref()
                .is_none_or(|v| v.iter().all(|x| x.is_finite()));
        if !finite {
            return Err(NeulvmError::NonFinite("gradient".into()));
        }
        Ok(g)
    }

    /// S0 of every age (and the Jacobian of its exponent) for one population; inlined into
    /// the dispatched population sweep so that it is vectorised with it. `buf`: scratch of at
    /// least 5·(A·Δ/dr + 3).
    ///
    /// The grid of age s is r_j = j·(s/n), n = int(s/dr). Where s/n == dr exactly (every age
    /// of the paper's configuration: s = 4k ms, dr = 1 ms), the grid is the common grid j·dr
    /// cut at n, so Σ_j f(r_j)·dr is a prefix sum of one table of f over the longest grid,
    /// accumulated in the same sequential order as the original's loop; only the end point
    /// f(s) is per age. Other ages are summed directly ([`kernels::s0_sum`]).
    #[inline(always)]
    fn s0_table(&self, h: f64, am: f64, th: f64, jac: bool, buf: &mut [f64]) -> S0Table {
        let a = self.cfg.history_bins;
        let (dr, rt) = (self.cfg.s0_step_s, self.cfg.ref_t_s);
        let nmax = (self.age_grid[a - 1] / dr) as usize + 2;
        let (jf, buf) = buf.split_at_mut(nmax);
        for (j, x) in jf.iter_mut().enumerate() {
            *x = j as f64;
        }
        let jf = &*jf;
        // Per-point values on the common grid, then in-place prefix sums P[m] = Σ_{j<m}.
        let (pf, buf) = buf.split_at_mut(nmax + 1);
        let (pj0, buf) = buf.split_at_mut(nmax + 1);
        let (pj1, buf) = buf.split_at_mut(nmax + 1);
        let pj2 = &mut buf[..nmax + 1];
        kernels::s0_grid_values(dr, rt, h, am, th, jf, &mut pf[1..]);
        if jac {
            kernels::s0_grid_jacobian(
                dr,
                rt,
                h,
                am,
                th,
                jf,
                [&mut pj0[1..], &mut pj1[1..], &mut pj2[1..]],
            );
        }
        for p in [&mut *pf, &mut *pj0, &mut *pj1, &mut *pj2] {
            p[0] = 0.0;
            for m in 1..p.len() {
                p[m] += p[m - 1];
            }
        }
        let mut s0 = vec![0.0; a];
        let mut jv = if jac { vec![[0.0; 3]; a] } else { Vec::new() };
        let mut direct: Vec<f64> = Vec::new();
        for k in 1..a {
            let s = self.age_grid[k];
            if s <= 0.0 {
                continue;
            }
            let (n, step) = kernels::s0_grid(s, dr);
            let common = n > 0 && n < nmax && step == dr;
            let sum = if common {
                pf[n] + kernels::s0_point(s, rt, h, am, th) * dr
            } else {
                direct.resize(4 * (n + 1), 0.0);
                kernels::s0_sum(s, dr, rt, h, am, th, jf, &mut direct)
            };
            let sv = (-sum).exp();
            s0[k] = if sv < kernels::FLUSH { 0.0 } else { sv };
            if jac {
                jv[k] = if common {
                    let e = kernels::s0_point_backward(s, rt, h, am, th, dr);
                    [pj0[n] + e.0, pj1[n] + e.1, pj2[n] + e.2]
                } else {
                    direct.resize(4 * (n + 1), 0.0);
                    kernels::s0_sum_jacobian(s, dr, rt, h, am, th, jf, &mut direct)
                };
            }
        }
        S0Table {
            s0,
            jac: jac.then_some(jv),
        }
    }

    /// Latent part of one population: returns Σ_t nll; accumulates gradients. Runs the
    /// AVX-512, AVX2 or portable build of the same code, as chosen by the model's
    /// [`SimdLevel`] (see [`NeuLvm::with_simd_level`]).
    #[allow(clippy::too_many_arguments)]
    fn pop_latent(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
    ) -> f64 {
        let mut ws = self.pool.take();
        let out = match self.simd {
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => {
                // SAFETY: `self.simd` is only ever a supported level (`with_simd_level` checks,
                // `simd::active` never exceeds the detected one), and Avx512 means AVX-512F,
                // AVX2 and FMA.
                unsafe {
                    self.pop_latent_avx512(
                        al, params, h, u, z, fallback, grad, gz, scale, pg, &mut ws,
                    )
                }
            }
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => {
                // SAFETY: as above; Avx2 means AVX2 and FMA.
                unsafe {
                    self.pop_latent_avx2(
                        al, params, h, u, z, fallback, grad, gz, scale, pg, &mut ws,
                    )
                }
            }
            _ => self.pop_latent_impl::<false>(
                al, params, h, u, z, fallback, grad, gz, scale, pg, &mut ws,
            ),
        };
        self.pool.put(ws);
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments)]
    fn pop_latent_avx512(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
        ws: &mut Workspace,
    ) -> f64 {
        self.pop_latent_impl::<true>(al, params, h, u, z, fallback, grad, gz, scale, pg, ws)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    fn pop_latent_avx2(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
        ws: &mut Workspace,
    ) -> f64 {
        self.pop_latent_impl::<true>(al, params, h, u, z, fallback, grad, gz, scale, pg, ws)
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn pop_latent_impl<const F: bool>(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
        ws: &mut Workspace,
    ) -> f64 {
        let a = self.cfg.history_bins;
        let t_len = u.len();
        let dt = self.cfg.dt_s;
        let am = params.a_mem_hz[al];
        let mu = params.mu[al];
        let th = params.theta[al];
        let c = PopConst { dt, mu, am, th };
        let nn = self.cfg.n_neurons[al] as f64;
        let floor = self.cfg.variance_floor * dt / nn;
        let c2pi = if self.cfg.quirks.two_pi_as_6_28 {
            0.5 * (2.0f64 * ORIGINAL_PI).ln()
        } else {
            0.5 * (2.0 * std::f64::consts::PI).ln()
        };
        let refr = &self.refr;
        // Ages below k0 (age 0 and the refractory ones) are done one by one; the rest are
        // non-refractory and go through the vectorised kernels.
        let k0 = self.n_refr.max(1);
        let Workspace {
            tv,
            tl,
            te,
            ts,
            zbar,
            zpre,
            lamt,
            sumv,
            messv,
            lvalid,
            zr,
            dzr,
            vinit,
            ones,
            tmp,
            g,
        } = ws;
        let ns0 = (self.age_grid[a - 1] / self.cfg.s0_step_s) as usize + 2;
        let tmp = scratch(tmp, (4 * a).max(5 * (ns0 + 1)));
        let vinit = scratch(vinit, a);
        let ones = scratch(ones, a);
        ones.fill(1.0);
        for k in 0..a {
            let s = self.age_grid[k];
            vinit[k] = if refr[k] {
                0.0
            } else {
                h * (1.0 - exp_taylor13::<false>(-s * am))
            };
        }
        let table = self.s0_table(h, am, th, grad && pg.gp, tmp);
        let sinit = &table.s0[..];
        let (vinit, ones) = (&*vinit, &*ones);
        // The tape: every step when differentiating, else two alternating rows.
        let rows = if grad { t_len.max(2) } else { 2 };
        let tv = scratch(tv, rows * a);
        let tl = scratch(tl, rows * a);
        let te = scratch(te, rows * a);
        let ts = scratch(ts, rows * a);
        let srow = if grad { t_len } else { 0 };
        let zbar = scratch(zbar, srow);
        let zpre = scratch(zpre, srow);
        let lamt = scratch(lamt, srow);
        let sumv = scratch(sumv, srow);
        let messv = scratch(messv, srow);
        let lvalid = scratch(lvalid, srow);
        // z reversed, so that Z(t−1−k) = zr[nb − t + k] is a forward, contiguous read.
        let nb = z.len();
        let zr = scratch(zr, nb);
        for (d, s) in zr.iter_mut().zip(z.iter().rev()) {
            *d = *s;
        }
        let zr = &*zr;
        let row_of = |s: usize| if grad { s } else { s % 2 };
        let mut nll = 0.0;
        for s in 0..t_len {
            let t = a + s;
            let cur = row_of(s);
            let prev = if s == 0 { row_of(1) } else { row_of(s - 1) };
            let (pv, cv) = two_rows(tv, a, prev, cur);
            let (pl, cl) = two_rows(tl, a, prev, cur);
            let (pe, ce) = two_rows(te, a, prev, cur);
            let (ps, cs) = two_rows(ts, a, prev, cur);
            let _ = pl;
            let du = dt * u[s];
            let zs = &zr[nb - t..nb - t + a];
            // Age shift: the cohort of age k−1 becomes age k; its survival decays by
            // e^{−λΔ}. Survivals below 1e-300 are flushed to 0 (they contribute < 1e-300 to
            // every sum, and subnormal arithmetic is ~100× slower). At s = 0 the inputs are
            // the stationary initial condition.
            let (vsrc, ssrc, esrc): (&[f64], &[f64], &[f64]) = if s == 0 {
                (&vinit[1..], &sinit[1..], ones)
            } else {
                (pv, ps, pe)
            };
            let mut pre = [0.0; 4];
            for k in 0..k0.min(a) {
                let (vi, sv) = if s == 0 {
                    (vinit[k], sinit[k])
                } else if k == 0 {
                    (0.0, 1.0)
                } else {
                    let sv = ps[k - 1] * pe[k - 1];
                    (pv[k - 1], if sv < kernels::FLUSH { 0.0 } else { sv })
                };
                let (vk, lk, e, p) = kernels::cohort(vi, du, refr[k], c);
                cv[k] = vk;
                cl[k] = lk;
                ce[k] = e;
                cs[k] = sv;
                let mk = sv * zs[k];
                let vv = (1.0 - sv) * mk;
                pre[0] += mk * p;
                pre[1] += mk;
                pre[2] += vv * p;
                pre[3] += vv;
            }
            let mut acc = [[0.0; kernels::LANES]; 4];
            kernels::forward_ages::<F>(
                k0,
                vsrc,
                ssrc,
                esrc,
                zs,
                du,
                c,
                [cv, cl, ce, cs],
                &mut tmp[..],
                &mut acc,
            );
            let s_mp = pre[0] + kernels::lane_sum(&acc[0]);
            let s_m = pre[1] + kernels::lane_sum(&acc[1]);
            let s_vp = pre[2] + kernels::lane_sum(&acc[2]);
            let s_v = pre[3] + kernels::lane_sum(&acc[3]);
            let mess = 1.0 - s_m;
            let mut lt = s_vp / s_v;
            let valid = !lt.is_nan();
            if !valid {
                lt = fallback;
            }
            let zp = s_mp + lt * mess;
            let zb = zp.clamp(0.0, 1.0);
            let var = zb / nn + floor;
            let d = z[t] - zb;
            nll += 0.5 * d * d / var + 0.5 * var.ln() + c2pi;
            if grad {
                zbar[s] = zb;
                zpre[s] = zp;
                lamt[s] = lt;
                sumv[s] = s_v;
                messv[s] = mess;
                lvalid[s] = valid;
            }
        }
        if !grad {
            return nll;
        }
        // Reverse sweep. g_v / g_s: adjoints of V_post(s)[k] and S(s+1)[k] from step s+1
        // (read at k+1); n_v / n_s: those of step s.
        let [g_v, g_s, n_v, n_s] = g;
        let mut g_v = &mut scratch(g_v, a + 1)[..];
        let mut g_s = &mut scratch(g_s, a + 1)[..];
        let mut n_v = &mut scratch(n_v, a + 1)[..];
        let mut n_s = &mut scratch(n_s, a + 1)[..];
        for b in [&mut g_v, &mut g_s, &mut n_v, &mut n_s] {
            b.fill(0.0);
        }
        let dzr = scratch(dzr, if gz { nb } else { 0 });
        dzr.fill(0.0);
        let mut acc: kernels::AdjAcc = [[0.0; kernels::LANES]; 4];
        let (tv, tl, te, ts) = (&*tv, &*tl, &*te, &*ts);
        for s in (0..t_len).rev() {
            let t = a + s;
            let zb = zbar[s];
            let var = zb / nn + floor;
            let d = z[t] - zb;
            if gz {
                pg.dz[t] += scale * d / var;
            }
            let dzb = -d / var + (-0.5 * d * d / (var * var) + 0.5 / var) / nn;
            let gpre = if (0.0..=1.0).contains(&zpre[s]) {
                scale * dzb
            } else {
                0.0
            };
            let lt = lamt[s];
            let dmess = gpre * lt;
            let dlam_t = gpre * messv[s];
            let (dnv, ddv) = if lvalid[s] {
                (dlam_t / sumv[s], -dlam_t * lt / sumv[s])
            } else {
                (0.0, 0.0)
            };
            let st = kernels::AdjStep {
                gpre,
                dmess,
                dnv,
                ddv,
            };
            let cur = s * a..s * a + a;
            let tape = [
                &tv[cur.clone()],
                &tl[cur.clone()],
                &te[cur.clone()],
                &ts[cur],
            ];
            let vsrc: &[f64] = if s == 0 {
                &vinit[1..]
            } else {
                &tv[(s - 1) * a..s * a]
            };
            let zs = &zr[nb - t..nb - t + a];
            for k in 0..k0.min(a) {
                let vin = if s == 0 {
                    vinit[k]
                } else if k == 0 {
                    0.0
                } else {
                    vsrc[k - 1]
                };
                let (gv, gs, dzk) = kernels::cohort_adjoint(
                    (tape[0][k], tape[1][k], tape[2][k], tape[3][k]),
                    vin,
                    zs[k],
                    g_v[k + 1],
                    g_s[k + 1],
                    refr[k],
                    st,
                    c,
                    &mut acc,
                    k % kernels::LANES,
                );
                n_v[k] = gv;
                n_s[k] = gs;
                if gz {
                    dzr[nb - t + k] += dzk;
                }
            }
            let dzs = if gz {
                Some(&mut dzr[nb - t..nb - t + a])
            } else {
                None
            };
            kernels::adjoint_ages(
                k0,
                tape,
                vsrc,
                zs,
                [&*g_v, &*g_s],
                [&mut *n_v, &mut *n_s],
                dzs,
                &mut tmp[..],
                st,
                c,
                &mut acc,
            );
            pg.du[s] += kernels::lane_sum(&acc[3]);
            acc[3] = [0.0; kernels::LANES];
            std::mem::swap(&mut g_v, &mut n_v);
            std::mem::swap(&mut g_s, &mut n_s);
        }
        if gz {
            // dzr[nb − t + k] holds ∂Z(t−1−k); the history bins are dropped by the caller.
            for (b, d) in pg.dz.iter_mut().enumerate() {
                *d += dzr[nb - 1 - b];
            }
        }
        let mut dth = kernels::lane_sum(&acc[0]);
        let dmu = kernels::lane_sum(&acc[1]);
        let mut dam = kernels::lane_sum(&acc[2]);
        // g_v[k], g_s[k] now hold the adjoints of the initial V_k and S_k.
        let mut dh = 0.0;
        if let Some(jac) = table.jac.as_ref().filter(|_| pg.gp) {
            let mut d0 = [0.0; 3];
            for k in 0..a {
                let s = self.age_grid[k];
                if !refr[k] {
                    let e = exp_taylor13::<false>(-s * am);
                    dh += g_v[k] * (1.0 - e);
                    dam += g_v[k] * h * s * e;
                }
                if k > 0 {
                    // S = exp(−Σ): dΣ = −S·dS.
                    let dsum = -sinit[k] * g_s[k];
                    for (d, j) in d0.iter_mut().zip(jac[k]) {
                        *d += dsum * j;
                    }
                }
            }
            dh += d0[0];
            dam += d0[1];
            dth += d0[2];
        }
        pg.da += dam;
        pg.dmu += dmu;
        pg.dth += dth;
        pg.dh += dh;
        nll
    }

    /// Recorded neurons of one population: returns Σ ln p(y); accumulates gradients.
    #[allow(clippy::too_many_arguments)]
    fn pop_recorded(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        grad: bool,
        scale: f64,
        pg: &mut PopGrad,
    ) -> f64 {
        let a = self.cfg.history_bins;
        let t_len = u.len();
        let dt = self.cfg.dt_s;
        let ln_dt = dt.ln();
        let am = params.a_mem_hz[al];
        let mu = params.mu[al];
        let th = params.theta[al];
        let quirk3 = self.cfg.quirks.refractory_logp_uses_theta;
        let k_rec = self.rec.n_recorded();
        let spikes = self.rec.spikes.slice(ndarray::s![al, .., ..]);
        let mut total = 0.0;
        let w = -scale; // d(L)/d(ln p)
        for i in 0..k_rec {
            let age0 = self.rec_age0[al][i];
            let age0_s = dt * age0 as f64;
            let r0 = age0_s < self.cfg.ref_t_s;
            let vinit = if r0 {
                0.0
            } else {
                h * (1.0 - exp_taylor13::<false>(-age0_s * am))
            };
            let mut vin = vinit;
            let mut age = age0;
            let mut tape_v = if grad {
                Vec::with_capacity(t_len)
            } else {
                Vec::new()
            };
            let mut tape_vin = if grad {
                Vec::with_capacity(t_len)
            } else {
                Vec::new()
            };
            let mut tape_r = if grad {
                Vec::with_capacity(t_len)
            } else {
                Vec::new()
            };
            for s in 0..t_len {
                let refr = (age as f64) * dt < self.cfg.ref_t_s;
                let mut v = vin + dt * (mu - vin) * am + dt * u[s];
                if refr {
                    v = 0.0;
                }
                let lam = if v == 0.0 {
                    1e-8
                } else {
                    exp_taylor13::<false>(v - th)
                };
                let x = lam * dt;
                let y = spikes[[a + s, i]] == 1;
                if y {
                    total += if x < 0.01 {
                        if v == 0.0 && !quirk3 {
                            (1e-8 * dt).ln()
                        } else {
                            v - th + ln_dt
                        }
                    } else {
                        (1.0 - (-x).exp()).ln()
                    };
                } else {
                    total -= x;
                }
                if grad {
                    tape_v.push(v);
                    tape_vin.push(vin);
                    tape_r.push(refr);
                }
                if y {
                    age = 0;
                    vin = 0.0;
                } else {
                    age += 1;
                    vin = v;
                }
            }
            if !grad {
                continue;
            }
            let mut gnext = 0.0; // adjoint of V_post(s) from step s+1
            for s in (0..t_len).rev() {
                let v = tape_v[s];
                let y = spikes[[a + s, i]] == 1;
                let lam = if v == 0.0 {
                    1e-8
                } else {
                    exp_taylor13::<false>(v - th)
                };
                let x = lam * dt;
                let mut dv = gnext;
                let mut gx = 0.0;
                if y {
                    if x < 0.01 {
                        if v != 0.0 || quirk3 {
                            dv += w;
                            pg.dth -= w;
                        }
                    } else {
                        let e = (-x).exp();
                        gx += w * e / (1.0 - e);
                    }
                } else {
                    gx -= w;
                }
                if v != 0.0 {
                    dv += gx * x;
                    pg.dth -= gx * x;
                }
                let dvin = if tape_r[s] {
                    0.0
                } else {
                    pg.dmu += dv * dt * am;
                    pg.da += dv * dt * (mu - tape_vin[s]);
                    pg.du[s] += dv * dt;
                    dv * (1.0 - dt * am)
                };
                gnext = if s > 0 && spikes[[a + s - 1, i]] == 1 {
                    0.0
                } else {
                    dvin
                };
                if s == 0 && !r0 {
                    let e = exp_taylor13::<false>(-age0_s * am);
                    pg.dh += dvin * (1.0 - e);
                    pg.da += dvin * h * age0_s * e;
                }
            }
        }
        total
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
