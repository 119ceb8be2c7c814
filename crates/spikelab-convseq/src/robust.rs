//! Robust mode ([`Mode::Robust`](crate::Mode::Robust)): coarse-to-fine initialisation,
//! seeded restarts selected on held-out data, and held-out significance.
//!
//! The original learns the filter from random logits by gradient ascent on the projection
//! variance. When the sequence has few members relative to N, large jitter and dropout, filters
//! whose rows each gather chance coincidences reach a larger variance than the planted
//! sequence, so training settles on a filter that is no better than chance (docs/convseq.md,
//! "Robust mode", "Why it fails").
//! The robust mode finds the sequence from statistics that are not blurred by the jitter
//! and only then works at full resolution:
//!
//! 1. **Split.** The first `1 − f` of the recording (f = `heldout_fraction`) is used for
//!    learning, the last `f` for model selection and significance only.
//! 2. **Coarse co-activity (population factor).** Each neuron's activity is coded in
//!    coarse bins of `c` bins (`coarse_bins`) as 1 if it fires within a box of `B` bins
//!    (`smooth_bins`, about the sequence span) around the bin, else 0, and centred per neuron
//!    (bursts count once), giving `Z` (`[N, T/c]`). A rank-1, non-negative, bi-sparse factor
//!    `Z ≈ v uᵀ` is found by the alternating truncated power method (Yuan & Zhang, *JMLR*
//!    14, 2013; the sparse-SVD form of Lee et al., *J. Multivar. Anal.* 101, 2010):
//!    `v ← top_k(max(Z u, 0))`, `u ← top_{k_t}(max(Zᵀ v, 0))`, each normalised, with `k =
//!    top_k` neurons and `k_t = top_time_fraction · T/c` coarse bins. Restart r starts from
//!    a seeded random coarse window; the method has local optima, hence restarts. The
//!    un-truncated `max(Z u, 0)` gives each neuron's loading (an NMF-like rank-1 factor of the
//!    smoothed raster, cf. seqNMF, Mackevicius et al., *eLife* 8:e38471, 2019).
//! 3. **Lags against the factor's time course.** The time course at full resolution,
//!    `h(t) = Σ_n (v_n/σ_n) Σ_s box_B(t − s)`, peaks at the occurrences; its peaks (≥ W
//!    apart, above mean + `centre_sd` sd) are occurrence times. Each neuron's spikes within
//!    ±W/2 of them give a lag histogram, smoothed by a Gaussian of `lag_sigma_bins`; its row
//!    is the mixture `(1 − λ_n)/W + λ_n·hist_n`, with `λ_n` the fraction of its spikes in
//!    the windows beyond those expected from its rate and a 2σ Poisson margin, at least 1 %
//!    (non-members get an almost flat row that keeps their most frequent lag).
//!    The row is a probability over lags, as a softmaxed convSeq row; its logarithm is the
//!    logit. `lag_passes − 1` further passes take the peaks of the filter's
//!    log-likelihood-ratio projection (step 7) as occurrence times (template matching at
//!    full resolution) and rebuild the rows.
//! 4. **Refinement** (optional, `refine_epochs` > 0): Adam on the original objective
//!    (−variance + TV) at full resolution from that filter.
//! 5. **Selection** on the held-out part, by split-half agreement: the correlation between
//!    the log-likelihood-ratio projections of the even- and the odd-indexed neurons' rows. A sequence
//!    makes both halves peak together; rows fitted to one neuron's bursts do not (the
//!    projection skewness, tried first, was driven by such rows).
//! 6. **Held-out significance** ([`heldout_significance`]): the skewness of the winner's
//!    log-likelihood-ratio projection (over the outputs whose window lies inside the part) on
//!    the held-out part is compared with its skewness on `n_surrogates`
//!    rasters in which each neuron of the held-out part is circularly shifted by an
//!    independent random offset (which keeps every neuron's rate and spike-train
//!    autocorrelation and destroys only cross-neuron timing). `p = (1 + #{s_sur ≥ s_obs}) /
//!    (1 + n_surrogates)`; the filter is significant if `p < significance_level`. The
//!    filter was learned without the held-out part, so the test is not biased by the fit.
//!    It was chosen on the held-out part, though (step 5), so by default
//!    (`selection_aware_null`) the selection is repeated on every surrogate: `s_sur` is the
//!    skewness of the restart with the best split-half agreement on that surrogate, and the
//!    p-value is that of the whole procedure (pick the best of R, then test it) rather than
//!    of one fixed filter, which would be too small under the null.
//!    Then `final_passes` template passes on the whole recording give the reported filter,
//!    whose rows have the shape `lag_shape` ([`LagShape::Gaussian`] by default: each neuron's
//!    lag is the mean of an EM fit of a Gaussian plus uniform mixture, a more precise lag
//!    than a histogram's mode; on the hard regime it raised the order ρ of the three
//!    recovered seeds from 0.688 / 0.767 / 0.624 to 0.718 / 0.787 / 0.698).
//!    Per event: `p = (1 + #{null peaks ≥ height}) / (1 + #null peaks)` over the peaks (at
//!    least W apart) of the reported filter's projection on circular-shift surrogates of the
//!    whole recording: the chance that a peak as high arises without cross-neuron timing
//!    (descriptive: that filter saw the events).
//!
//! 7. **Detection** on the whole recording uses the chosen filter's log-likelihood-ratio
//!    projection ([`llr_weights`]: the Poisson matched filter, in which flat rows weigh 0,
//!    while the softmax projection adds every non-member spike with weight 1/W): events are
//!    its peaks, ≥ W apart, above α = mean + `detect_sigmas` × std of the same projection
//!    on circular-shift surrogates. [`Detection::projections`] holds that projection.
//!
//! **K > 1** (`n_filters`): the filters are found one after the other (greedy deflation, as
//! in matching pursuit). Filter k runs steps 1–7 with every window centre within ±W of an
//! event of filters 0..k masked: those coarse bins are zeroed in `Z`, restarts start
//! elsewhere, occurrence times are never taken there, and the held-out selection and
//! significance ignore those outputs (in the data and in every surrogate). So filter k has
//! to explain other times, and a second filter on a raster with one sequence type is tested
//! on data without that type's occurrences. Types whose occurrences come within W of an
//! earlier type's are masked with it: overlapping types are the faithful mode's (joint
//! learning with cross terms).

use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};
use spikelab_data::SparseRaster;

use crate::engine::make_engine;
use crate::error::{ConvSeqError, Result};
use crate::fit::{ConvSeqFit, Detection, Event};
use crate::loss::softmax_rows;
use crate::members::argmax_lags;
use crate::members::participation;
use crate::null::NullStats;
use crate::params::{Backend, ConvSeqParams, NullKind, ThresholdRule};
use crate::peaks::find_peaks;
use crate::sparse::{Csr, scatter_range};

/// Options of the robust mode (used when `ConvSeqParams::mode` is
/// [`Mode::Robust`](crate::Mode::Robust)). Bin counts default to fractions of the filter
/// width W (`None`).
///
/// ```
/// use spikelab_convseq::RobustOptions;
/// let o = RobustOptions::default();
/// o.validate()?;
/// assert!(RobustOptions { restarts: 0, ..o.clone() }.validate().is_err());
/// assert!(RobustOptions { heldout_fraction: 1.0, ..o }.validate().is_err());
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RobustOptions {
    /// Number of seeded restarts of the coarse stage (≥ 1).
    pub restarts: usize,
    /// Fraction of the recording (its end) held out for selection and significance, in
    /// (0, 1).
    pub heldout_fraction: f64,
    /// Coarse bin width, bins (`None`: W/8).
    pub coarse_bins: Option<usize>,
    /// Box smoothing width, bins (`None`: 3W/4, about a sequence span).
    pub smooth_bins: Option<usize>,
    /// Truncation of the power method: the number of neurons kept (`None`: N/8, at least 4).
    pub top_k: Option<usize>,
    /// Truncation on the time side: the fraction of coarse bins kept (about the fraction of
    /// time inside occurrences).
    pub top_time_fraction: f64,
    /// Power iterations per restart.
    pub power_iterations: usize,
    /// σ of the Gaussian that smooths the lag histograms, bins (`None`: W/8); with
    /// [`LagShape::Gaussian`], the starting σ of the pooled jitter estimate.
    pub lag_sigma_bins: Option<f64>,
    /// Shape of each neuron's lag distribution in the rows of the reported filter (the
    /// `final_passes` on the whole recording). The restarts and the held-out test always use
    /// [`LagShape::Histogram`].
    pub lag_shape: LagShape,
    /// Occurrence times are the peaks (≥ W apart) of the time course, then of the filter's
    /// projection, above mean + `centre_sd` standard deviations.
    pub centre_sd: f64,
    /// Passes of lag estimation (1: against the factor only; each further pass against the
    /// peaks of the filter's own projection).
    pub lag_passes: usize,
    /// Template passes on the whole recording after the held-out test, from the chosen
    /// filter (0: the reported filter is the one learned on the fit part).
    pub final_passes: usize,
    /// Adam epochs of the original objective after the initialisation (0: none).
    pub refine_epochs: usize,
    /// Adam learning rate of the refinement.
    pub refine_lr: f64,
    /// Number of circular-shift surrogates of the significance test.
    pub n_surrogates: usize,
    /// A filter is significant when its held-out p-value is below this level.
    pub significance_level: f64,
    /// Repeat the restart selection on every surrogate (the null of the chosen filter's
    /// skewness is then that of the filter the selection would pick without cross-neuron
    /// timing). The held-out part both selects the restart and tests it, so without this the
    /// p-value ignores the choice among `restarts` filters and is too small under the null.
    /// Costs `restarts × n_surrogates` projections of the held-out part.
    pub selection_aware_null: bool,
    /// Detection threshold on the whole recording: α = mean + `detect_sigmas` × std of the
    /// log-likelihood-ratio projection on circular-shift surrogates.
    pub detect_sigmas: f64,
}

impl Default for RobustOptions {
    fn default() -> Self {
        RobustOptions {
            restarts: 64,
            heldout_fraction: 0.3,
            coarse_bins: None,
            smooth_bins: None,
            top_k: None,
            top_time_fraction: 0.15,
            power_iterations: 50,
            lag_sigma_bins: None,
            lag_shape: LagShape::Gaussian,
            centre_sd: 1.0,
            lag_passes: 5,
            final_passes: 2,
            refine_epochs: 0,
            refine_lr: 0.01,
            n_surrogates: 200,
            significance_level: 0.01,
            selection_aware_null: true,
            detect_sigmas: 3.0,
        }
    }
}

impl RobustOptions {
    /// Checks the options (not against a raster; see [`RobustOptions::split_bins`]).
    pub fn validate(&self) -> Result<()> {
        if self.restarts == 0 {
            return Err(ConvSeqError::param(
                "robust.restarts",
                "need at least 1 restart",
            ));
        }
        if !(self.heldout_fraction > 0.0 && self.heldout_fraction < 1.0) {
            return Err(ConvSeqError::param(
                "robust.heldout_fraction",
                format!(
                    "must lie in (0, 1) (e.g. 0.3), got {}",
                    self.heldout_fraction
                ),
            ));
        }
        for (name, v) in [
            ("robust.coarse_bins", self.coarse_bins),
            ("robust.smooth_bins", self.smooth_bins),
            ("robust.top_k", self.top_k),
        ] {
            if v == Some(0) {
                return Err(ConvSeqError::param(name, "must be ≥ 1"));
            }
        }
        if !(self.top_time_fraction > 0.0 && self.top_time_fraction <= 1.0) {
            return Err(ConvSeqError::param(
                "robust.top_time_fraction",
                "must lie in (0, 1]",
            ));
        }
        if self.power_iterations == 0 || self.lag_passes == 0 {
            return Err(ConvSeqError::param(
                "robust.power_iterations/lag_passes",
                "must be ≥ 1",
            ));
        }
        if !self.centre_sd.is_finite() {
            return Err(ConvSeqError::param("robust.centre_sd", "must be finite"));
        }
        if let Some(s) = self.lag_sigma_bins
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(ConvSeqError::param(
                "robust.lag_sigma_bins",
                "must be finite and ≥ 0",
            ));
        }
        if !(self.refine_lr.is_finite() && self.refine_lr > 0.0) {
            return Err(ConvSeqError::param("robust.refine_lr", "must be > 0"));
        }
        if self.n_surrogates < 19 {
            return Err(ConvSeqError::param(
                "robust.n_surrogates",
                "need at least 19 surrogates for p < 0.05 to be reachable",
            ));
        }
        if !(self.significance_level > 0.0 && self.significance_level < 1.0) {
            return Err(ConvSeqError::param(
                "robust.significance_level",
                "must lie in (0, 1)",
            ));
        }
        if !self.detect_sigmas.is_finite() {
            return Err(ConvSeqError::param(
                "robust.detect_sigmas",
                "must be finite",
            ));
        }
        Ok(())
    }

    /// The fit part `0..t_fit` and held-out part `t_fit..T` of a recording of `n_bins` bins.
    /// Each part must hold at least 2W bins: otherwise
    /// [`ConvSeqError::InvalidRaster`] says how long the recording must be.
    ///
    /// ```
    /// use spikelab_convseq::RobustOptions;
    /// let o = RobustOptions { heldout_fraction: 0.25, ..Default::default() };
    /// assert_eq!(o.split_bins(4000, 200)?, 3000);
    /// assert!(o.split_bins(1000, 200).is_err());
    /// # Ok::<(), spikelab_convseq::ConvSeqError>(())
    /// ```
    pub fn split_bins(&self, n_bins: usize, width_bins: usize) -> Result<usize> {
        let t_fit = ((1.0 - self.heldout_fraction) * n_bins as f64).round() as usize;
        let need = 2 * width_bins;
        if t_fit < need || n_bins - t_fit < need {
            let min_total =
                (need as f64 / self.heldout_fraction.min(1.0 - self.heldout_fraction)).ceil();
            return Err(ConvSeqError::InvalidRaster(format!(
                "{n_bins} bins are too short for the held-out split: the fit part has {t_fit} bins \
                 and the held-out part {} (fraction {}); each needs ≥ 2W = {need} bins, so the \
                 recording needs ≥ {min_total} bins (or a smaller W)",
                n_bins - t_fit,
                self.heldout_fraction
            )));
        }
        Ok(t_fit)
    }
}

/// Shape of each neuron's lag distribution in a robust filter row (the row is the mixture
/// `(1 − λ_n)/W + λ_n·k_n` of a flat row and this shape `k_n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LagShape {
    /// The neuron's lag histogram around the occurrence times, smoothed by a Gaussian of
    /// `lag_sigma_bins`.
    Histogram,
    /// A Gaussian `N(μ_n, σ²)` truncated to the window: μ_n by EM for a Gaussian plus
    /// uniform (background) mixture of the neuron's lags, started at the smoothed
    /// histogram's mode; σ, the jitter, pooled over the neurons with excess spikes. This is
    /// the generative model of per-spike jitter, and μ_n, a weighted mean, is a more
    /// precise lag than the histogram's mode.
    Gaussian,
}

/// Held-out significance of one learned filter ([`heldout_significance`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterSignificance {
    /// Filter index.
    pub filter: usize,
    /// Skewness of the filter's log-likelihood-ratio projection on the held-out part.
    pub skewness: f64,
    /// Mean skewness over the circular-shift surrogates.
    pub null_mean: f64,
    /// Std of the skewness over the surrogates.
    pub null_std: f64,
    /// `(1 + #{surrogate skewness ≥ observed}) / (1 + n_surrogates)`.
    pub p_value: f64,
    /// `p_value < significance_level`.
    pub significant: bool,
    /// Per event of this filter (in the order of [`Detection::event_bins`]): the fraction
    /// of surrogate projection peaks at least as high (see the module docs).
    pub event_p_values: Vec<f64>,
    /// Held-out bins `start..end` the test ran on.
    pub heldout_bins: (usize, usize),
}

/// Summary of the robust fit: per-restart selection scores and the significance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustReport {
    /// Per filter, the held-out split-half agreement of each restart (the selection
    /// criterion).
    pub restart_split_half: Vec<Vec<f64>>,
    /// Per filter, the chosen restart.
    pub chosen_restart: Vec<usize>,
    /// Significance of each filter.
    pub significance: Vec<FilterSignificance>,
}

impl RobustReport {
    /// Whether any filter is significant.
    pub fn any_significant(&self) -> bool {
        self.significance.iter().any(|s| s.significant)
    }

    /// One line per filter: its p-value and whether it is significant, or
    /// "no significant sequence".
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for s in &self.significance {
            out.push_str(&format!(
                "filter {}: held-out skewness {:.3} (surrogates {:.3} ± {:.3}), p = {:.4}: {}\n",
                s.filter,
                s.skewness,
                s.null_mean,
                s.null_std,
                s.p_value,
                if s.significant {
                    "significant sequence"
                } else {
                    "not significant"
                }
            ));
        }
        if !self.any_significant() {
            out.push_str("no significant sequence\n");
        }
        out
    }
}

/// Sample skewness `m3 / m2^{3/2}` (biased moments, as `scipy.stats.skew`); 0 for a constant.
pub fn skewness(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 3 {
        return 0.0;
    }
    let mean = x.iter().sum::<f64>() / n;
    let (mut m2, mut m3) = (0.0, 0.0);
    for &v in x {
        let d = v - mean;
        m2 += d * d;
        m3 += d * d * d;
    }
    m2 /= n;
    m3 /= n;
    if m2 <= 1e-300 { 0.0 } else { m3 / m2.powf(1.5) }
}

/// Projection of one softmaxed filter (`[N, W]` row-major) on `csr` of `t` bins.
fn project(csr: &Csr, filter: &[f64], w: usize, t: usize) -> Vec<f64> {
    let p = w / 2;
    let l = t + 2 * p + 1 - w;
    let n = csr.n_neurons();
    let mut rev = vec![0.0; n * w];
    for (dst, src) in rev.chunks_mut(w).zip(filter.chunks(w)) {
        for j in 0..w {
            dst[j] = src[w - 1 - j];
        }
    }
    let mut out = vec![0.0; l];
    scatter_range(csr, &rev, w, p, 0, n, &mut out);
    out
}

/// Random per-neuron circular shifts of `csr` (surrogate `i` of stream `seed`).
fn surrogate(csr: &Csr, t: usize, seed: u64, i: usize) -> Csr {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x726f_6275);
    r.set_stream(i as u64 + 1);
    let shifts: Vec<usize> = (0..csr.n_neurons()).map(|_| r.random_range(0..t)).collect();
    csr.shifted(t, &shifts)
}

/// Held-out significance of filter `filter` (softmaxed, `[N, W]`) on `heldout` and
/// per-event p-values of `event_heights` against surrogate peaks of `whole`
/// (see the module docs). `n_surrogates` ≥ 1.
///
/// ```
/// use spikelab_convseq::robust::heldout_significance;
/// use spikelab_data::SparseRaster;
/// // 6 neurons fire in order every 100 bins: a flat filter sees nothing, an ordered one does.
/// let mut ev = Vec::new();
/// for onset in (10..2000u64).step_by(100) { for n in 0..6 { ev.push((n, onset + 4 * n as u64)); } }
/// for i in 0..300u64 { ev.push(((i % 6) as usize, (i * 7919) % 2000)); }
/// let r = SparseRaster::from_events(6, 2000, 0.01, &ev)?;
/// let w = 40;
/// let mut f = vec![0.5 / w as f64; 6 * w]; // half flat, half on the neuron's lag
/// for n in 0..6 { f[n * w + 10 + 4 * n] += 0.5; }
/// let s = heldout_significance(&r, &f, w, &r, &[], 99, 0.05, 1)?;
/// assert!(s.significant && s.p_value <= 0.01, "{s:?}");
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn heldout_significance(
    heldout: &SparseRaster,
    filter: &[f64],
    width_bins: usize,
    whole: &SparseRaster,
    event_heights: &[f64],
    n_surrogates: usize,
    significance_level: f64,
    seed: u64,
) -> Result<FilterSignificance> {
    if whole.n_neurons() != heldout.n_neurons() {
        return Err(ConvSeqError::Shape {
            what: "filter".into(),
            expected: format!("{} neurons in both rasters", heldout.n_neurons()),
            got: format!("{} in the whole raster", whole.n_neurons()),
        });
    }
    let mut sig = significance_test(
        heldout,
        filter,
        width_bins,
        n_surrogates,
        significance_level,
        seed,
        &[],
    )?;
    let (wcsr, tw) = (Csr::new(whole), whole.n_bins() as usize);
    sig.event_p_values = event_p_values(
        &wcsr,
        tw,
        filter,
        width_bins,
        event_heights,
        n_surrogates,
        seed,
    );
    Ok(sig)
}

/// [`heldout_significance`] without the event p-values and without the held-out outputs
/// whose centre is marked in `skip` (the occurrences of earlier filters), in the data and in
/// every surrogate.
fn significance_test(
    heldout: &SparseRaster,
    filter: &[f64],
    width_bins: usize,
    n_surrogates: usize,
    significance_level: f64,
    seed: u64,
    skip: &[bool],
) -> Result<FilterSignificance> {
    crate::input::check_raster(heldout)?;
    let (n, w, t) = (heldout.n_neurons(), width_bins, heldout.n_bins() as usize);
    if w < 2 || w > t {
        return Err(ConvSeqError::param(
            "width_bins",
            "need 2 ≤ W ≤ held-out bins",
        ));
    }
    if filter.len() != n * w {
        return Err(ConvSeqError::Shape {
            what: "filter".into(),
            expected: format!("N·W = {}", n * w),
            got: filter.len().to_string(),
        });
    }
    if n_surrogates == 0 {
        return Err(ConvSeqError::param("n_surrogates", "must be ≥ 1"));
    }
    let csr = Csr::new(heldout);
    let obs = llr_skewness(&csr, filter, w, t, skip);
    let null: Vec<f64> = (0..n_surrogates)
        .into_par_iter()
        .map(|i| llr_skewness(&surrogate(&csr, t, seed, i), filter, w, t, skip))
        .collect();
    let mut sig = from_null(obs, &null, significance_level);
    sig.heldout_bins = (0, t);
    Ok(sig)
}

/// Filter 0's significance from the observed skewness and its surrogate values:
/// `p = (1 + #{null ≥ obs}) / (1 + #null)`; no event p-values, held-out bins `(0, 0)`.
fn from_null(obs: f64, null: &[f64], significance_level: f64) -> FilterSignificance {
    let ge = null.iter().filter(|&&s| s >= obs).count();
    let p_value = (1 + ge) as f64 / (1 + null.len()) as f64;
    let nm = null.iter().sum::<f64>() / null.len().max(1) as f64;
    let ns = (null.iter().map(|s| (s - nm) * (s - nm)).sum::<f64>()
        / (null.len().max(2) - 1) as f64)
        .sqrt();
    FilterSignificance {
        filter: 0,
        skewness: obs,
        null_mean: nm,
        null_std: ns,
        p_value,
        significant: p_value < significance_level,
        event_p_values: Vec::new(),
        heldout_bins: (0, 0),
    }
}

/// Per-event p-values: `(1 + #{surrogate peaks ≥ height}) / (1 + #surrogate peaks)` over the
/// peaks (≥ W apart) of the log-likelihood-ratio projection of `filter` on `n_surrogates`
/// circular-shift surrogates of `whole`.
fn event_p_values(
    wcsr: &Csr,
    tw: usize,
    filter: &[f64],
    w: usize,
    heights: &[f64],
    n_surrogates: usize,
    seed: u64,
) -> Vec<f64> {
    if heights.is_empty() {
        return Vec::new();
    }
    let llr = llr_weights(filter, w);
    let mut peaks: Vec<f64> = (0..n_surrogates)
        .into_par_iter()
        .map(|i| {
            let x = project(&surrogate(wcsr, tw, seed ^ 0x6576, i), &llr, w, tw);
            find_peaks(&x, f64::NEG_INFINITY, w)
                .into_iter()
                .map(|j| x[j])
                .collect::<Vec<f64>>()
        })
        .flatten()
        .collect();
    peaks.sort_by(|a, b| a.total_cmp(b));
    heights
        .iter()
        .map(|&h| {
            let ge = peaks.len() - peaks.partition_point(|&v| v < h);
            (1 + ge) as f64 / (1 + peaks.len()) as f64
        })
        .collect()
}

/// Centred activity indicators `[N, T/c]` (row-major) of `csr`: 1 if the neuron fires in
/// the box of `box_c` coarse bins around the coarse bin, minus the row mean.
fn coarse_z(csr: &Csr, t: usize, c: usize, box_c: usize) -> (Vec<f64>, usize) {
    let n = csr.n_neurons();
    let tc = t / c;
    let mut z = vec![0.0; n * tc];
    let mut counts = vec![0.0; tc];
    for i in 0..n {
        counts.iter_mut().for_each(|v| *v = 0.0);
        for &s in csr.row(i) {
            let j = s as usize / c;
            if j < tc {
                counts[j] += 1.0;
            }
        }
        // Centred box of box_c coarse bins via prefix sums.
        let mut pre = vec![0.0; tc + 1];
        for j in 0..tc {
            pre[j + 1] = pre[j] + counts[j];
        }
        let half = box_c / 2;
        let row = &mut z[i * tc..(i + 1) * tc];
        for (j, v) in row.iter_mut().enumerate() {
            let a = j.saturating_sub(half);
            let b = (j + box_c - half).min(tc);
            // Active or not in the window: bursts count once.
            *v = if pre[b] - pre[a] > 0.0 { 1.0 } else { 0.0 };
        }
        let mean = row.iter().sum::<f64>() / tc as f64;
        for v in row.iter_mut() {
            *v -= mean;
        }
    }
    (z, tc)
}

fn normalise(v: &mut [f64]) {
    let s = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
}

/// Keeps the `k` largest positive entries of `v`, zeroes the rest.
fn truncate_top(v: &mut [f64], k: usize) {
    let mut sorted: Vec<f64> = v.iter().map(|x| x.max(0.0)).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let thr = sorted[k.min(v.len()) - 1];
    let mut kept = 0;
    for x in v.iter_mut() {
        if *x > 0.0 && *x >= thr && kept < k {
            kept += 1;
        } else {
            *x = 0.0;
        }
    }
}

/// `max(Z u, 0)` for `Z` `[N, T_c]` row-major.
fn z_times_u(z: &[f64], n: usize, tc: usize, u: &[f64]) -> Vec<f64> {
    (0..n)
        .map(|i| {
            z[i * tc..(i + 1) * tc]
                .iter()
                .zip(u)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                .max(0.0)
        })
        .collect()
}

/// `max(Zᵀ v, 0)`.
fn zt_times_v(z: &[f64], n: usize, tc: usize, v: &[f64]) -> Vec<f64> {
    let mut u = vec![0.0; tc];
    for i in 0..n {
        if v[i] == 0.0 {
            continue;
        }
        for (o, &x) in u.iter_mut().zip(&z[i * tc..(i + 1) * tc]) {
            *o += v[i] * x;
        }
    }
    u.iter_mut().for_each(|x| *x = x.max(0.0));
    u
}

/// Non-negative neuron loadings of the rank-1 bi-sparse factor of `Z` found by the
/// alternating truncated power method from the coarse window `start` (± `half`).
#[allow(clippy::too_many_arguments)]
fn loadings(
    z: &[f64],
    n: usize,
    tc: usize,
    start: usize,
    half: usize,
    k_n: usize,
    k_t: usize,
    iters: usize,
) -> Vec<f64> {
    let mut u = vec![0.0; tc];
    for v in &mut u[start.saturating_sub(half)..(start + half + 1).min(tc)] {
        *v = 1.0;
    }
    normalise(&mut u);
    for _ in 0..iters {
        let mut v = z_times_u(z, n, tc, &u);
        truncate_top(&mut v, k_n);
        normalise(&mut v);
        let mut nu = zt_times_v(z, n, tc, &v);
        truncate_top(&mut nu, k_t);
        normalise(&mut nu);
        if nu.iter().all(|&x| x == 0.0) {
            break;
        }
        u = nu;
    }
    let mut full = z_times_u(z, n, tc, &u);
    normalise(&mut full);
    full
}

/// Full-resolution time course `h(t) = Σ_n (w_n/σ_n) Σ_s box_B(t − s)` (length t).
fn time_course(csr: &Csr, weights: &[f64], sd: &[f64], t: usize, b: usize) -> Vec<f64> {
    let mut diff = vec![0.0; t + 1];
    let half = b / 2;
    for (i, (&wi, &si)) in weights.iter().zip(sd).enumerate() {
        if wi <= 0.0 || si <= 0.0 {
            continue;
        }
        let a = wi / si;
        for &s in csr.row(i) {
            let lo = (s as usize).saturating_sub(half);
            let hi = (s as usize + b - half).min(t);
            diff[lo] += a;
            diff[hi] -= a;
        }
    }
    let mut h = vec![0.0; t];
    let mut acc = 0.0;
    for j in 0..t {
        acc += diff[j];
        h[j] = acc;
    }
    h
}

/// Filter rows (`[N, W]` softmaxed) from the spikes around `centres`: each row is the
/// mixture `(1 − λ_n)/W + λ_n·k_n` of a flat row and the neuron's lag shape `k_n`
/// ([`LagShape`]), with `λ_n = max(0.01, (c_n − e_n − 2√e_n)/c_n)`: the fraction of its `c_n`
/// spikes in the windows beyond the `e_n` expected from its rate (with a 2σ Poisson margin).
/// `sigma` is the histogram smoothing σ and the Gaussian shape's starting jitter.
fn rows_from_centres(
    csr: &Csr,
    t: usize,
    centres: &[usize],
    w: usize,
    sigma: f64,
    shape: LagShape,
) -> Vec<f64> {
    let n = csr.n_neurons();
    let p = w / 2;
    let mut filt = vec![1.0 / w as f64; n * w];
    let kernel: Vec<f64> = if sigma > 0.0 {
        let r = (3.0 * sigma).ceil() as isize;
        (-r..=r)
            .map(|d| (-(d as f64).powi(2) / (2.0 * sigma * sigma)).exp())
            .collect()
    } else {
        vec![1.0]
    };
    let kr = (kernel.len() / 2) as isize;
    // Per neuron with spikes in the windows: its lags, λ_n and the smoothed histogram.
    let mut fitted: Vec<(usize, Vec<f64>, f64, Vec<f64>)> = Vec::new();
    for i in 0..n {
        let row = csr.row(i);
        let mut lags = Vec::new();
        for &c in centres {
            let lo = c as i64 - p as i64;
            let a = row.partition_point(|&s| (s as i64) < lo);
            for &s in &row[a..] {
                let d = s as i64 - lo;
                if d >= w as i64 {
                    break;
                }
                lags.push(d as f64);
            }
        }
        let count = lags.len() as f64;
        let expected = row.len() as f64 / t as f64 * (w * centres.len()) as f64;
        if count <= 0.0 {
            continue;
        }
        // Excess beyond a 2σ Poisson margin; chance excesses get a faint row (λ = 1 %) that
        // keeps the neuron's most frequent lag for the order read-out and weighs ~0 in the
        // log-likelihood ratio.
        let excess = count - expected - 2.0 * expected.sqrt();
        let lambda = (excess / count).max(0.01);
        let mut sm = vec![0.0; w];
        for &d in &lags {
            for (o, &kv) in kernel.iter().enumerate() {
                let jj = d as isize + o as isize - kr;
                if jj >= 0 && (jj as usize) < w {
                    sm[jj as usize] += kv;
                }
            }
        }
        let total: f64 = sm.iter().sum();
        if total <= 0.0 {
            continue;
        }
        sm.iter_mut().for_each(|v| *v /= total);
        fitted.push((i, lags, lambda, sm));
    }
    let shapes: Vec<Vec<f64>> = match shape {
        LagShape::Histogram => fitted.iter().map(|f| f.3.clone()).collect(),
        LagShape::Gaussian => {
            let modes: Vec<f64> = fitted.iter().map(|f| argmax(&f.3) as f64).collect();
            // σ pooled over the neurons with excess spikes, alternating with the means.
            let mut s = sigma.max(1.0);
            let mut mus = modes.clone();
            for round in 0..4 {
                let (mut ss, mut rs) = (0.0, 0.0);
                for (k, f) in fitted.iter().enumerate() {
                    let (mu, ssk, rsk) = em_gaussian_mean(&f.1, w as f64, s, modes[k]);
                    mus[k] = mu;
                    if f.2 > 0.01 {
                        ss += ssk;
                        rs += rsk;
                    }
                }
                if round == 3 || rs <= 0.0 {
                    break;
                }
                s = (ss / rs).sqrt().clamp(1.0, w as f64 / 4.0);
            }
            mus.iter().map(|&mu| gaussian_row(mu, s, w)).collect()
        }
    };
    for ((i, _, lambda, _), k) in fitted.iter().zip(&shapes) {
        let dst = &mut filt[i * w..(i + 1) * w];
        for j in 0..w {
            dst[j] = (1.0 - lambda) / w as f64 + lambda * k[j];
        }
    }
    filt
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (j, &x)| if x > b.1 { (j, x) } else { b },
        )
        .0
}

/// EM for the mean of a Gaussian (σ `s`) plus uniform-on-`[0, w)` mixture of the lags `d`,
/// from `mu0`. Returns μ, `Σ r(d − μ)²` and `Σ r` (r: the Gaussian's responsibilities).
fn em_gaussian_mean(d: &[f64], w: f64, s: f64, mu0: f64) -> (f64, f64, f64) {
    let norm = 1.0 / (s * (2.0 * std::f64::consts::PI).sqrt());
    let resp = |x: f64, mu: f64, pi: f64| {
        let g = pi * norm * (-(x - mu) * (x - mu) / (2.0 * s * s)).exp();
        g / (g + (1.0 - pi) / w)
    };
    let (mut mu, mut pi) = (mu0, 0.5);
    for _ in 0..50 {
        let (mut sr, mut srd) = (0.0, 0.0);
        for &x in d {
            let r = resp(x, mu, pi);
            sr += r;
            srd += r * x;
        }
        if sr <= 1e-12 {
            break;
        }
        let next = srd / sr;
        pi = (sr / d.len() as f64).clamp(1e-3, 1.0 - 1e-3);
        let done = (next - mu).abs() < 1e-6;
        mu = next;
        if done {
            break;
        }
    }
    let (mut ss, mut sr) = (0.0, 0.0);
    for &x in d {
        let r = resp(x, mu, pi);
        ss += r * (x - mu) * (x - mu);
        sr += r;
    }
    (mu, ss, sr)
}

/// `N(mu, s²)` on lags `0..w`, normalised to sum 1.
fn gaussian_row(mu: f64, s: f64, w: usize) -> Vec<f64> {
    let mut k: Vec<f64> = (0..w)
        .map(|j| (-(j as f64 - mu).powi(2) / (2.0 * s * s)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= total);
    k
}

/// Poisson log-likelihood-ratio weights `log(W·S[n, w])` of a softmaxed filter: a spike at
/// lag w is `W·S` times likelier under "an occurrence is centred here" than under the flat
/// background, so the projection with these weights is the matched filter (log-likelihood
/// ratio up to a constant, Cox & Isham, *Point Processes*, 1980); flat rows weigh 0.
pub fn llr_weights(filter: &[f64], w: usize) -> Vec<f64> {
    filter
        .iter()
        .map(|&v| (w as f64 * v).max(1e-300).ln())
        .collect()
}

/// The log-likelihood-ratio weights ([`llr_weights`]) of `filter` with each row reversed, as
/// the scatter takes them.
fn reversed_llr(filter: &[f64], w: usize) -> Vec<f64> {
    let mut rev = vec![0.0; filter.len()];
    for (dst, src) in rev.chunks_mut(w).zip(filter.chunks(w)) {
        for j in 0..w {
            dst[j] = (w as f64 * src[w - 1 - j]).max(1e-300).ln();
        }
    }
    rev
}

/// Split-half agreement on held-out data, the selection criterion: the Pearson correlation
/// between the LLR projections of the even-indexed and the odd-indexed neurons' rows (a
/// sequence makes both halves peak together; a row that fits one neuron's bursts does not);
/// and the skewness of the whole LLR projection (the sum of the two halves), the test
/// statistic. One pass over the spikes; `rev` from [`reversed_llr`].
fn split_half_and_skewness(
    csr: &Csr,
    rev: &[f64],
    w: usize,
    t: usize,
    skip: &[bool],
) -> (f64, f64) {
    let n = csr.n_neurons();
    let p = w / 2;
    let l = t + 2 * p + 1 - w;
    let (mut even, mut odd) = (vec![0.0; l], vec![0.0; l]);
    for i in 0..n {
        let out = if i % 2 == 0 { &mut even } else { &mut odd };
        scatter_range(csr, rev, w, p, i, i + 1, out);
    }
    let (even, odd) = (inside(&even, w, skip), inside(&odd, w, skip));
    let sum: Vec<f64> = even.iter().zip(&odd).map(|(a, b)| a + b).collect();
    (
        spikelab_core::stats::pearson(&even, &odd).unwrap_or(0.0),
        skewness(&sum),
    )
}

/// Skewness of the log-likelihood-ratio projection ([`llr_weights`]; flat rows contribute
/// nothing) over the outputs whose window lies inside the recording.
fn llr_skewness(csr: &Csr, filter: &[f64], w: usize, t: usize, skip: &[bool]) -> f64 {
    let c = llr_weights(filter, w);
    skewness(&inside(&project(csr, &c, w, t), w, skip))
}

/// The outputs of a projection whose window lies inside the recording, without those whose
/// centre is marked in `skip` (indexed by centre bin; shorter than `x` is fine).
fn inside(x: &[f64], w: usize, skip: &[bool]) -> Vec<f64> {
    (w / 2..x.len() - (w - w / 2 - 1))
        .filter(|&i| !skip.get(i).copied().unwrap_or(false))
        .map(|i| x[i])
        .collect()
}

/// Peaks (≥ `w` apart) of `x` above its mean + `k_sd` sd, none at a centre marked in `skip`
/// (the occurrences of earlier filters; the moments are over all of `x`).
fn peaks_above(x: &[f64], k_sd: f64, w: usize, skip: &[bool]) -> Vec<usize> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    if skip.iter().any(|&b| b) {
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if skip.get(i).copied().unwrap_or(false) {
                    f64::NEG_INFINITY
                } else {
                    v
                }
            })
            .collect();
        find_peaks(&y, mean + k_sd * sd, w)
    } else {
        find_peaks(x, mean + k_sd * sd, w)
    }
}

/// One restart's filter (`[N, W]` softmaxed) learned on `train`.
#[allow(clippy::too_many_arguments)]
fn restart_filter(
    csr: &Csr,
    t: usize,
    coarse: (&[f64], usize, usize),
    sd: &[f64],
    start: usize,
    w: usize,
    o: &RobustOptions,
    (k_n, k_t): (usize, usize),
    skip: &[bool],
) -> Vec<f64> {
    let n = csr.n_neurons();
    let (z, tc, half) = coarse;
    let b = o.smooth_bins.unwrap_or((3 * w / 4).max(1));
    let sigma = o.lag_sigma_bins.unwrap_or(w as f64 / 8.0);
    let load = loadings(z, n, tc, start, half, k_n, k_t, o.power_iterations);
    let h = time_course(csr, &load, sd, t, b);
    let mut centres = peaks_above(&h, o.centre_sd, w, skip);
    let mut filt = rows_from_centres(csr, t, &centres, w, sigma, LagShape::Histogram);
    for _ in 1..o.lag_passes {
        // The projection index is the window centre: output t ↔ centre bin t.
        let x = project(csr, &llr_weights(&filt, w), w, t);
        centres = peaks_above(&x, o.centre_sd, w, skip);
        filt = rows_from_centres(csr, t, &centres, w, sigma, LagShape::Histogram);
    }
    filt
}

/// Detection with the log-likelihood-ratio projection of `filter` (`[N, W]` softmaxed) on
/// the whole recording: α = mean + `detect_sigmas` × std of that projection on per-neuron
/// circular-shift surrogates (averaged over `n_surrogates`), or `p.alpha.fixed`; events are
/// its peaks above α, at least W apart; members as in the faithful mode.
fn llr_detection(
    raster: &SparseRaster,
    csr: &Csr,
    p: &ConvSeqParams,
    filter: &[f64],
    seed: u64,
) -> Result<Detection> {
    let o = &p.robust;
    let (w, t) = (p.width_bins, raster.n_bins() as usize);
    let llr = llr_weights(filter, w);
    let x = project(csr, &llr, w, t);
    let l = x.len();
    let moments = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        (m, sd)
    };
    let per: Vec<(f64, f64)> = (0..o.n_surrogates)
        .into_par_iter()
        .map(|i| moments(&project(&surrogate(csr, t, seed ^ 0x646574, i), &llr, w, t)))
        .collect();
    let ns = per.len() as f64;
    let mean = per.iter().map(|a| a.0).sum::<f64>() / ns;
    let std = per.iter().map(|a| a.1).sum::<f64>() / ns;
    let alpha = p.alpha.fixed.unwrap_or(mean + o.detect_sigmas * std);
    let peaks = find_peaks(&x, alpha, w);
    let events: Vec<Event> = peaks
        .iter()
        .map(|&b| Event {
            filter: 0,
            bin: b,
            time_s: b as f64 * raster.bin_s(),
            height: x[b],
        })
        .collect();
    let h = p.members.half_window_bins.unwrap_or((w / 20).max(1));
    let members = participation(
        raster,
        filter,
        w,
        &peaks,
        l,
        h,
        p.members.n_shuffles,
        p.members.z_threshold,
        seed,
    );
    Ok(Detection {
        bin_s: raster.bin_s(),
        null: vec![NullStats {
            null: NullKind::CircularShift,
            rule: ThresholdRule::MeanSigma {
                sigmas: o.detect_sigmas,
            },
            n_samples: o.n_surrogates,
            mean,
            std,
            alpha,
        }],
        alpha: vec![alpha],
        projections: Array2::from_shape_vec((1, l), x)
            .map_err(|e| ConvSeqError::param("projections", e.to_string()))?,
        events,
        members: vec![members],
    })
}

/// The fit and held-out parts of the recording, with the sparse form of each and of the
/// whole recording (built once for all filters).
struct Parts {
    train: SparseRaster,
    held: SparseRaster,
    t_fit: usize,
    fit: Csr,
    heldout: Csr,
    whole: Csr,
}

/// One filter found by the robust mode, before the filters are put together.
struct Found {
    filter: Vec<f64>,
    logits: Vec<f64>,
    history: Vec<crate::loss::LossTerms>,
    scores: Vec<f64>,
    chosen: usize,
    significance: FilterSignificance,
    detection: Detection,
}

/// Marks `±W` around each event bin in `mask` (indexed by centre bin): every window centre
/// whose window overlaps the event's window.
fn mark_windows(mask: &mut [bool], events: &[usize], w: usize) {
    for &e in events {
        let lo = e.saturating_sub(w);
        let hi = (e + w + 1).min(mask.len());
        for m in &mut mask[lo.min(hi)..hi] {
            *m = true;
        }
    }
}

/// The robust fit (see the module docs); called by [`ConvSeq::fit_with`](crate::ConvSeq::fit_with)
/// for [`Mode::Robust`](crate::Mode::Robust). With K > 1 filters are found one after the
/// other: filter k is learned, selected and tested with the occurrences of filters 0..k
/// (their detected events, ±W) masked, so that it has to explain other times.
pub(crate) fn fit(
    raster: &SparseRaster,
    p: &ConvSeqParams,
    observer: &mut impl Observer,
) -> Result<ConvSeqFit> {
    let o = &p.robust;
    o.validate()?;
    let (n, w, t) = (raster.n_neurons(), p.width_bins, raster.n_bins() as usize);
    let t_fit = o.split_bins(t, w)?;
    let train = raster.slice_bins(0, t_fit as u64)?;
    let held = raster.slice_bins(t_fit as u64, t as u64)?;
    crate::input::check_raster(&train)?;
    crate::input::check_raster(&held)?;
    let parts = Parts {
        fit: Csr::new(&train),
        heldout: Csr::new(&held),
        whole: Csr::new(raster),
        train,
        held,
        t_fit,
    };
    let c = o.coarse_bins.unwrap_or((w / 8).max(1));
    let b = o.smooth_bins.unwrap_or((3 * w / 4).max(1));
    let box_c = (b / c).max(1);
    let (z, tc) = coarse_z(&parts.fit, t_fit, c, box_c);
    if tc < 2 {
        return Err(ConvSeqError::param(
            "robust.coarse_bins",
            format!("coarse bins of {c} leave fewer than 2 in the fit part ({t_fit} bins)"),
        ));
    }
    let mut mask = vec![false; t + 1];
    let mut found: Vec<Found> = Vec::with_capacity(p.n_filters);
    for k in 0..p.n_filters {
        // Coarse bins touching an earlier filter's occurrence carry no information (Z is
        // centred, so 0 is the neuron's mean); restarts start in the others.
        let blocked: Vec<bool> = (0..tc)
            .map(|j| mask[j * c..((j + 1) * c).min(t_fit)].iter().any(|&m| m))
            .collect();
        let zk: std::borrow::Cow<'_, [f64]> = if blocked.iter().any(|&x| x) {
            let mut zk = z.clone();
            for j in (0..tc).filter(|&j| blocked[j]) {
                for i in 0..n {
                    zk[i * tc + j] = 0.0;
                }
            }
            zk.into()
        } else {
            (&z[..]).into()
        };
        let open: Vec<usize> = (0..tc).filter(|&j| !blocked[j]).collect();
        let f = one_filter(
            raster,
            p,
            k,
            &parts,
            (&zk, tc, box_c, &open),
            &mask,
            observer,
        )?;
        let Some(f) = f else { break };
        mark_windows(&mut mask, &f.detection.event_bins(0), w);
        found.push(f);
    }
    if found.is_empty() {
        return Err(ConvSeqError::param("robust.restarts", "no restart ran"));
    }
    assemble(raster, p, found)
}

/// Learns, selects, tests and detects filter `k` (see [`fit`]); `None` when the observer
/// stopped before any restart finished.
#[allow(clippy::too_many_arguments)]
fn one_filter(
    raster: &SparseRaster,
    p: &ConvSeqParams,
    k: usize,
    parts: &Parts,
    (z, tc, box_c, open): (&[f64], usize, usize, &[usize]),
    mask: &[bool],
    observer: &mut impl Observer,
) -> Result<Option<Found>> {
    let o = &p.robust;
    let (n, w, t) = (raster.n_neurons(), p.width_bins, raster.n_bins() as usize);
    let (csr, hcsr, t_fit) = (&parts.fit, &parts.heldout, parts.t_fit);
    let b = o.smooth_bins.unwrap_or((3 * w / 4).max(1));
    let (fit_mask, held_mask) = (&mask[..t_fit], &mask[t_fit..]);
    // Full-resolution sd of each neuron's box-smoothed train (for the time course).
    let sd: Vec<f64> = (0..n)
        .map(|i| {
            let r = csr.row(i).len() as f64 / t_fit as f64;
            (r * b as f64).sqrt()
        })
        .collect();
    let k_n = o.top_k.unwrap_or((n / 8).max(4)).min(n);
    let k_t = ((o.top_time_fraction * tc as f64).round() as usize).clamp(1, tc);
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0x7374_6172);
    if k > 0 {
        rng.set_stream(k as u64);
    }
    // Starts in `open` coarse bins (any if none is).
    let starts: Vec<usize> = (0..o.restarts)
        .map(|_| {
            if open.is_empty() {
                rng.random_range(0..tc)
            } else {
                open[rng.random_range(0..open.len())]
            }
        })
        .collect();
    let (th, sur_seed) = (t - t_fit, p.seed ^ k as u64);
    // Selection-aware null: every restart is scored on every surrogate of the held-out part
    // too, so that the selection can be repeated there.
    let surrogates: Vec<Csr> = if o.selection_aware_null {
        (0..o.n_surrogates)
            .into_par_iter()
            .map(|i| surrogate(hcsr, th, sur_seed, i))
            .collect()
    } else {
        Vec::new()
    };
    let mut on_surrogates: Vec<Vec<(f64, f64)>> = Vec::new();
    // (split-half, restart, filter, held-out skewness) of the best restart so far.
    let mut best: Option<(f64, usize, Vec<f64>, f64)> = None;
    let mut scores = Vec::with_capacity(o.restarts);
    for (r, &start) in starts.iter().enumerate() {
        let filt = restart_filter(
            csr,
            t_fit,
            (z, tc, box_c / 2),
            &sd,
            start,
            w,
            o,
            (k_n, k_t),
            fit_mask,
        );
        let rev = reversed_llr(&filt, w);
        let (s, skew) = split_half_and_skewness(hcsr, &rev, w, th, held_mask);
        scores.push(s);
        if o.selection_aware_null {
            on_surrogates.push(
                surrogates
                    .par_iter()
                    .map(|c| split_half_and_skewness(c, &rev, w, th, held_mask))
                    .collect(),
            );
        }
        if best.as_ref().is_none_or(|b| s > b.0) {
            best = Some((s, r, filt, skew));
        }
        let flow = observer.observe(
            &Progress::new("restart", r)
                .with_total(o.restarts)
                .with_metric("filter", k as f64)
                .with_metric("heldout_split_half", s),
        );
        if flow == Flow::Stop {
            break;
        }
    }
    let Some((_, chosen, train_filt, obs)) = best else {
        return Ok(None);
    };
    // Significance of the filter learned without the held-out part.
    let mut sig = if o.selection_aware_null {
        // On each surrogate: the skewness of the restart that the selection picks there.
        let null: Vec<f64> = (0..surrogates.len())
            .map(|i| {
                let mut pick = (f64::NEG_INFINITY, 0.0);
                for per in &on_surrogates {
                    if per[i].0 > pick.0 {
                        pick = per[i];
                    }
                }
                pick.1
            })
            .collect();
        from_null(obs, &null, o.significance_level)
    } else {
        significance_test(
            &parts.held,
            &train_filt,
            w,
            o.n_surrogates,
            o.significance_level,
            sur_seed,
            held_mask,
        )?
    };
    sig.filter = k;
    sig.heldout_bins = (t_fit, t);
    // Final rows from the whole recording (template passes from the chosen filter).
    let wcsr = &parts.whole;
    let sigma = o.lag_sigma_bins.unwrap_or(w as f64 / 8.0);
    let mut filt = train_filt;
    for _ in 0..o.final_passes {
        let x = project(wcsr, &llr_weights(&filt, w), w, t);
        let centres = peaks_above(&x, o.centre_sd, w, mask);
        filt = rows_from_centres(wcsr, t, &centres, w, sigma, o.lag_shape);
    }
    let mut logits: Vec<f64> = filt.iter().map(|v| v.ln()).collect();
    let mut history = Vec::new();
    if o.refine_epochs > 0 {
        let rp = ConvSeqParams {
            lr: o.refine_lr,
            backend: Backend::Sparse,
            n_filters: 1,
            ..p.clone()
        };
        let mut engine = make_engine(&parts.train, &rp, logits)?;
        for ep in 0..o.refine_epochs {
            let tl = engine.step()?;
            let flow = observer.observe(
                &Progress::new("epoch", ep)
                    .with_total(o.refine_epochs)
                    .with_metric("filter", k as f64)
                    .with_metric("loss", tl.total),
            );
            history.push(tl);
            if flow == Flow::Stop {
                break;
            }
        }
        logits = engine.logits()?.iter().copied().collect();
    }
    let mut s = vec![0.0; logits.len()];
    softmax_rows(&logits, w, &mut s);
    let detection = llr_detection(raster, wcsr, p, &s, sur_seed)?;
    let heights: Vec<f64> = detection.events.iter().map(|e| e.height).collect();
    sig.event_p_values = event_p_values(wcsr, t, &s, w, &heights, o.n_surrogates, sur_seed);
    Ok(Some(Found {
        filter: s,
        logits,
        history,
        scores,
        chosen,
        significance: sig,
        detection,
    }))
}

/// Puts the filters found one by one into one fit (filter k's events, null and members
/// under index k).
fn assemble(raster: &SparseRaster, p: &ConvSeqParams, found: Vec<Found>) -> Result<ConvSeqFit> {
    let (n, w) = (raster.n_neurons(), p.width_bins);
    let k_found = found.len();
    let l = found[0].detection.projections.ncols();
    let mut logits = Vec::with_capacity(k_found * n * w);
    let mut filters = Vec::with_capacity(k_found * n * w);
    let mut projections = Vec::with_capacity(k_found * l);
    let mut det = Detection {
        bin_s: raster.bin_s(),
        null: Vec::new(),
        alpha: Vec::new(),
        projections: Array2::zeros((0, 0)),
        events: Vec::new(),
        members: Vec::new(),
    };
    let mut history = Vec::new();
    let mut report = RobustReport {
        restart_split_half: Vec::new(),
        chosen_restart: Vec::new(),
        significance: Vec::new(),
    };
    for (k, f) in found.into_iter().enumerate() {
        logits.extend(f.logits);
        filters.extend(f.filter);
        projections.extend(f.detection.projections.iter().copied());
        det.null.extend(f.detection.null);
        det.alpha.extend(f.detection.alpha);
        det.events.extend(
            f.detection
                .events
                .into_iter()
                .map(|e| Event { filter: k, ..e }),
        );
        det.members.extend(f.detection.members);
        history.extend(f.history);
        report.restart_split_half.push(f.scores);
        report.chosen_restart.push(f.chosen);
        report.significance.push(f.significance);
    }
    det.projections = Array2::from_shape_vec((k_found, l), projections)
        .map_err(|e| ConvSeqError::param("projections", e.to_string()))?;
    let logits = Array3::from_shape_vec((k_found, n, w), logits)
        .map_err(|e| ConvSeqError::param("logits", e.to_string()))?;
    let filters = Array3::from_shape_vec((k_found, n, w), filters)
        .map_err(|e| ConvSeqError::param("filters", e.to_string()))?;
    let lags = argmax_lags(&filters);
    let orders = (0..k_found)
        .map(|k| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| lags[[k, i]]);
            order
        })
        .collect();
    Ok(ConvSeqFit {
        params: p.clone(),
        bin_s: raster.bin_s(),
        logits,
        filters,
        lags,
        orders,
        loss_history: history,
        detection: det,
        robust: Some(report),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// Lags of one member: `m` Gaussian spikes around `mu` (σ `s`) plus `b` uniform
    /// background spikes in `[0, w)`.
    fn lags(mu: f64, s: f64, m: usize, b: usize, w: usize, seed: u64) -> Vec<f64> {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let g = Normal::new(mu, s).unwrap();
        let mut d: Vec<f64> = (0..m)
            .map(|_| g.sample(&mut r).round().clamp(0.0, w as f64 - 1.0))
            .collect();
        d.extend((0..b).map(|_| r.random_range(0..w) as f64));
        d
    }

    #[test]
    fn em_mean_ignores_uniform_background() {
        // 40 spikes at lag 120 ± 20 and 40 uniform ones on [0, 200): the plain mean is
        // pulled towards 100, the EM mean is not.
        let d = lags(120.0, 20.0, 40, 40, 200, 3);
        let plain = d.iter().sum::<f64>() / d.len() as f64;
        let (mu, ss, sr) = em_gaussian_mean(&d, 200.0, 20.0, 110.0);
        assert!((mu - 120.0).abs() < 6.0, "EM mean {mu}");
        assert!(
            (mu - 120.0).abs() < (plain - 120.0).abs(),
            "{mu} vs plain {plain}"
        );
        // Responsibilities sum to about the 40 Gaussian spikes; their spread is about σ.
        assert!((30.0..55.0).contains(&sr), "Σr {sr}");
        assert!(
            ((ss / sr).sqrt() - 20.0).abs() < 7.0,
            "σ {}",
            (ss / sr).sqrt()
        );
    }

    #[test]
    fn em_mean_is_more_precise_than_the_smoothed_mode() {
        // Over 200 draws of a member with 9 jittered and 8 background spikes (the hard
        // regime of issue #20), the EM mean's squared error is smaller than the histogram
        // mode's (0.87× with these seeds: RMSE 12.4 vs 13.3 bins).
        let (w, mu, s) = (200usize, 90.0, 25.0);
        let (mut e_em, mut e_mode) = (0.0, 0.0);
        for seed in 0..200 {
            let d = lags(mu, s, 9, 8, w, seed);
            let kernel: Vec<f64> = (-75..=75)
                .map(|k: i32| (-(k as f64).powi(2) / (2.0 * s * s)).exp())
                .collect();
            let mut sm = vec![0.0; w];
            for &x in &d {
                for (o, kv) in kernel.iter().enumerate() {
                    let j = x as isize + o as isize - 75;
                    if (0..w as isize).contains(&j) {
                        sm[j as usize] += kv;
                    }
                }
            }
            let mode = argmax(&sm) as f64;
            let (m, _, _) = em_gaussian_mean(&d, w as f64, s, mode);
            e_em += (m - mu).powi(2);
            e_mode += (mode - mu).powi(2);
        }
        assert!(e_em < 0.95 * e_mode, "EM MSE {e_em} vs mode {e_mode}");
    }

    #[test]
    fn gaussian_row_is_a_distribution_peaking_at_the_mean() {
        let k = gaussian_row(57.4, 12.0, 200);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(argmax(&k), 57);
    }
}
