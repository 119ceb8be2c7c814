//! Parameters (defaults = the original's `configs/config_demo.yaml` + `demo.py`).

use serde::{Deserialize, Serialize};

use spikelab_core::{CoreError, Device};

use crate::error::{ConvSeqError, Result};

/// The candle device for `device`. A GPU that this build has no backend for (the crate's
/// `cuda`/`metal` feature is off) or that the driver refuses is a
/// [`ConvSeqError::DeviceUnavailable`].
///
/// ```
/// use spikelab_convseq::{ConvSeqError, Device, params::candle_device};
/// assert!(candle_device(Device::Cpu)?.is_cpu());
/// # #[cfg(not(feature = "cuda"))]
/// assert!(matches!(candle_device(Device::Cuda(0)), Err(ConvSeqError::DeviceUnavailable { .. })));
/// # Ok::<(), ConvSeqError>(())
/// ```
pub fn candle_device(device: Device) -> Result<candle_core::Device> {
    device.to_candle().map_err(|e| match e {
        CoreError::DeviceUnavailable { device, reason } => {
            ConvSeqError::DeviceUnavailable { device, reason }
        }
        other => ConvSeqError::param("device", other.to_string()),
    })
}

/// Floating-point type of the dense path. f32 is what the original (PyTorch, GPU) uses and
/// is the fast choice on GPUs; f64 on the CPU reproduces the sparse path to ~1e-12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DenseDType {
    /// 32-bit floats (the original's dtype).
    #[default]
    F32,
    /// 64-bit floats.
    F64,
}

impl DenseDType {
    pub(crate) fn candle(self) -> candle_core::DType {
        match self {
            DenseDType::F32 => candle_core::DType::F32,
            DenseDType::F64 => candle_core::DType::F64,
        }
    }
}

/// Which compute path trains the filters. Both give the same loss and gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Backend {
    /// Event-driven CPU path in f64: scatter each spike's filter row into the projection,
    /// gather the gradient over the same spikes. Work ∝ spikes × W, memory ∝ spikes.
    #[default]
    Sparse,
    /// Dense candle path (a GEMM + diagonal-sum cross-correlation with autograd) on any
    /// candle device. Memory ∝ N × T.
    Dense {
        /// Device.
        device: Device,
        /// Float type.
        dtype: DenseDType,
    },
    /// The event-driven path on an NVIDIA GPU in f64 (feature `cuda`; K > 1 pair terms not
    /// supported): the sparse path's maths as five CUDA kernels per epoch, memory ∝ spikes.
    SparseCuda {
        /// CUDA device ordinal.
        ordinal: usize,
    },
}

/// The rule that turns null projections into the significance threshold α.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ThresholdRule {
    /// α = mean(null means) + `sigmas` × mean(null stds): the original's rule (`q_99`).
    MeanSigma {
        /// k in mean + k·σ (original: 5).
        sigmas: f64,
    },
    /// α = the empirical `q`-quantile of the per-null-sample maxima of the projection
    /// (a family-wise rule: the chance that a null projection crosses α anywhere is 1 − q).
    MaxQuantile {
        /// Quantile in (0, 1).
        q: f64,
    },
}

/// Which null distribution α is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NullKind {
    /// The original: random softmax filters (i.i.d. N(0,1) logits) on the **same** data,
    /// computed once before training.
    RandomFilters,
    /// seqNMF-style surrogate data: the **learned** filter on rasters whose neurons were
    /// circularly shifted by independent random offsets (tests the data, not the filter);
    /// computed after training, one α per filter.
    CircularShift,
    /// The original's random-filter statistic from `n_samples` filters with the exact
    /// moments as control variates ([`crate::null::alpha_control_variate`]): 300 filters give
    /// what plain sampling gives with 15 000 (demo: 1.531600 vs 1.531618, spread 2.6e-6 vs the
    /// Monte-Carlo's standard error 3.9e-5), in well under a second on 2 CPU cores. Needs the
    /// mean + k·σ rule and ≥ 3 samples.
    RandomFiltersControlVariate,
}

/// Options of the significance threshold α (spec §1.6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlphaOptions {
    /// Null distribution.
    pub null: NullKind,
    /// Threshold rule.
    pub rule: ThresholdRule,
    /// Number of null samples: random filters (original: `niter` 50 × `numsamples` 300 =
    /// 15 000) or circular-shift surrogates.
    pub n_samples: usize,
    /// Use this α instead of estimating one.
    pub fixed: Option<f64>,
}

impl Default for AlphaOptions {
    fn default() -> Self {
        AlphaOptions {
            null: NullKind::RandomFilters,
            rule: ThresholdRule::MeanSigma { sigmas: 5.0 },
            n_samples: 15_000,
            fixed: None,
        }
    }
}

/// Options of the per-neuron participation read-out (beyond the original).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemberOptions {
    /// Half-width, in bins, of the window around each neuron's expected spike time
    /// (event bin + learned lag − W/2). `None`: max(1, W/20).
    pub half_window_bins: Option<usize>,
    /// Number of shuffled-event baselines (random event times).
    pub n_shuffles: usize,
    /// z-score above which a neuron is called a member.
    pub z_threshold: f64,
}

impl Default for MemberOptions {
    fn default() -> Self {
        MemberOptions {
            half_window_bins: None,
            n_shuffles: 200,
            z_threshold: 3.0,
        }
    }
}

/// How the filters are learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    /// The original: random logits, Adam on −variance + TV (spec §1).
    #[default]
    Faithful,
    /// Coarse-to-fine initialisation, restarts selected on held-out data and held-out
    /// significance ([`crate::robust`], options in [`ConvSeqParams::robust`]).
    Robust,
}

/// All convSeq parameters. `Default` = the original demo (`config_demo.yaml`, Adam lr 0.1,
/// 4000 epochs as in its README), plus a seed (the original has none).
///
/// # Example
/// ```
/// use spikelab_convseq::ConvSeqParams;
/// let p = ConvSeqParams { n_filters: 2, epochs: 100, ..Default::default() };
/// p.validate()?;
/// assert_eq!(p.padding(), 100);
/// assert!(ConvSeqParams { n_filters: 0, ..Default::default() }.validate().is_err());
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvSeqParams {
    /// Number of filters K (`K`: 1).
    pub n_filters: usize,
    /// Filter width W in bins (`W`: 200).
    pub width_bins: usize,
    /// Time padding P; only `None` or `Some(W / 2)` are accepted (the output index is then
    /// the window centre).
    pub padding_bins: Option<usize>,
    /// Weight of the projection's total variation (`TV_l`: 200).
    pub tv_l: f64,
    /// Weight of the filters' total variation along taps (`filt_TV_l`: 0).
    pub filt_tv_l: f64,
    /// K > 1: weight of the projection cross-correlation penalty (`proj_xcorr_l`: 0).
    pub proj_xcorr_l: f64,
    /// Lag range ± of that penalty (`xcorr_padding`: 100).
    pub xcorr_padding_bins: usize,
    /// K > 1: weight of the smoothed-projection cosine similarity (`proj_sim_cos_l`: 0).
    pub proj_sim_cos_l: f64,
    /// Box-kernel width for that term (`proj_smoothing_kerwidth`: 100).
    pub proj_smoothing_kerwidth: usize,
    /// Power applied before the cosine similarity (`simpow`: 2).
    pub simpow: u32,
    /// K > 1: weight of the filter cross-correlation penalty (`filt_xcor_l`: 0).
    pub filt_xcor_l: f64,
    /// K > 1: weight of the power-imbalance term (`imbalance_l`; absent from the config: 0).
    pub imbalance_l: f64,
    /// Adam learning rate (0.1, hard-coded in `demo.py`).
    pub lr: f64,
    /// Adam β₁ (0.9).
    pub beta1: f64,
    /// Adam β₂ (0.999).
    pub beta2: f64,
    /// Adam ε (1e-8).
    pub eps: f64,
    /// Number of full-batch epochs (README: 4000).
    pub epochs: usize,
    /// Seed of the filter initialisation and of the null filters.
    pub seed: u64,
    /// Compute path.
    pub backend: Backend,
    /// Significance threshold options.
    pub alpha: AlphaOptions,
    /// Participation read-out options.
    pub members: MemberOptions,
    /// Learning mode (default: the original's).
    #[serde(default)]
    pub mode: Mode,
    /// Options of [`Mode::Robust`] (ignored in the faithful mode).
    #[serde(default)]
    pub robust: crate::robust::RobustOptions,
}

impl Default for ConvSeqParams {
    fn default() -> Self {
        ConvSeqParams {
            n_filters: 1,
            width_bins: 200,
            padding_bins: None,
            tv_l: 200.0,
            filt_tv_l: 0.0,
            proj_xcorr_l: 0.0,
            xcorr_padding_bins: 100,
            proj_sim_cos_l: 0.0,
            proj_smoothing_kerwidth: 100,
            simpow: 2,
            filt_xcor_l: 0.0,
            imbalance_l: 0.0,
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            epochs: 4000,
            seed: 0,
            backend: Backend::Sparse,
            alpha: AlphaOptions::default(),
            members: MemberOptions::default(),
            mode: Mode::Faithful,
            robust: crate::robust::RobustOptions::default(),
        }
    }
}

impl ConvSeqParams {
    /// The time padding P = W / 2.
    pub fn padding(&self) -> usize {
        self.width_bins / 2
    }

    /// Whether any K > 1 term is active.
    pub fn has_pair_terms(&self) -> bool {
        self.n_filters > 1
            && (self.proj_xcorr_l != 0.0
                || self.proj_sim_cos_l != 0.0
                || self.filt_xcor_l != 0.0
                || self.imbalance_l != 0.0)
    }

    /// Checks every parameter (not the raster; see [`ConvSeqParams::validate_for`]).
    pub fn validate(&self) -> Result<()> {
        let p = |n: &'static str, r: String| ConvSeqError::param(n, r);
        if self.n_filters == 0 {
            return Err(p("n_filters", "K must be ≥ 1".into()));
        }
        if self.width_bins < 2 {
            return Err(p(
                "width_bins",
                format!("W must be ≥ 2, got {}", self.width_bins),
            ));
        }
        if let Some(pad) = self.padding_bins
            && pad != self.padding()
        {
            return Err(p(
                "padding_bins",
                format!(
                    "padding must be W/2 = {} so that the output index is the window centre, got {pad}",
                    self.padding()
                ),
            ));
        }
        for (name, v) in [
            ("tv_l", self.tv_l),
            ("filt_tv_l", self.filt_tv_l),
            ("proj_xcorr_l", self.proj_xcorr_l),
            ("proj_sim_cos_l", self.proj_sim_cos_l),
            ("filt_xcor_l", self.filt_xcor_l),
            ("imbalance_l", self.imbalance_l),
        ] {
            if !v.is_finite() {
                return Err(p(name, format!("must be finite, got {v}")));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(p("lr", format!("must be > 0, got {}", self.lr)));
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return Err(p("beta1/beta2", "must lie in [0, 1)".into()));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(p("eps", "must be > 0".into()));
        }
        if self.proj_smoothing_kerwidth == 0 {
            return Err(p("proj_smoothing_kerwidth", "must be ≥ 1".into()));
        }
        if self.simpow == 0 {
            return Err(p("simpow", "must be ≥ 1".into()));
        }
        if self.alpha.fixed.is_none() {
            if self.alpha.n_samples < 2 {
                return Err(p("alpha.n_samples", "need at least 2 null samples".into()));
            }
            match self.alpha.rule {
                ThresholdRule::MeanSigma { sigmas } if !sigmas.is_finite() => {
                    return Err(p("alpha.rule.sigmas", "must be finite".into()));
                }
                ThresholdRule::MaxQuantile { q } if !(q > 0.0 && q < 1.0) => {
                    return Err(p("alpha.rule.q", format!("must lie in (0, 1), got {q}")));
                }
                _ => {}
            }
        } else if let Some(a) = self.alpha.fixed
            && !a.is_finite()
        {
            return Err(p("alpha.fixed", "must be finite".into()));
        }
        if !self.members.z_threshold.is_finite() {
            return Err(p("members.z_threshold", "must be finite".into()));
        }
        if self.mode == Mode::Robust {
            self.robust.validate()?;
        }
        Ok(())
    }

    /// Checks the parameters against a raster: it must hold spikes and be longer than the
    /// filter (W ≤ T).
    pub fn validate_for(&self, raster: &spikelab_data::SparseRaster) -> Result<()> {
        self.validate()?;
        crate::input::check_raster(raster)?;
        if self.width_bins as u64 > raster.n_bins() {
            return Err(ConvSeqError::param(
                "width_bins",
                format!(
                    "W = {} is wider than the recording (T = {} bins)",
                    self.width_bins,
                    raster.n_bins()
                ),
            ));
        }
        Ok(())
    }

    /// Length of the projection, T + 2P − W + 1 (T + 1 for even W).
    pub fn output_len(&self, n_bins: usize) -> usize {
        n_bins + 2 * self.padding() + 1 - self.width_bins
    }
}
