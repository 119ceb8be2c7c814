//! Ground-truth extracellular recordings: analytic templates injected at Poisson spike times on
//! top of white noise, equivalent to spikeinterface's `generate_ground_truth_recording`
//! (spikeinterface 0.105.3; Buccino et al., *SpikeInterface, a unified framework for spike
//! sorting*, eLife 2020).
//!
//! # Generative model
//!
//! For a probe with contacts at `(x_c, y_c, 0)` µm and sampling rate `fs`:
//!
//! 1. **Spike trains** ([`poisson_spike_vector`]). Unit `u` fires at `r_u` Hz with a refractory
//!    period of `R = ⌊ref_s·fs⌋` frames. Inter-spike intervals are `G + R` frames (the first is
//!    `G` alone), `G ~ Geometric(p)` on `{1, 2, …}` with `p = r′/fs` and the corrected rate
//!    `r′ = r/(1 − r·ref_s)`, so the mean rate stays `r` (Deger et al., J Comput Neurosci 2012).
//!    Frames past `⌊T·fs⌋ − 1` are dropped; the spike vector is sorted by frame, then unit.
//! 2. **Unit positions** ([`unit_locations`]). `x, y ~ U` over the contacts' bounding box grown
//!    by a margin (10 µm), `z ~ U[5, 50]` µm; units closer than 20 µm to another are redrawn
//!    (spikeinterface's rule: after the first round only the units redrawn before that still
//!    conflict), at most 100 times; if that fails (spikeinterface warns and keeps the close
//!    units) all units are drawn again, up to 10 times. Positions are rounded to `f32`, as in
//!    spikeinterface.
//! 3. **Templates** ([`template`], mode "ellipsoid", profile "exponential"). Per unit, ten
//!    parameters are drawn uniformly from [`TemplateRanges`]. The 1-D waveform ([`waveform`])
//!    has `nbefore = round(ms_before·fs/1000)` samples before the trough and `nafter` after it:
//!    three pieces `exp(t/τ)` rescaled to their end points, 0 → −1 over `depolarization_ms`
//!    ending at `nbefore` (τ = 0.2·depolarization), −1 → `positive_amplitude` over
//!    `repolarization_ms` (τ = 0.5·repolarization, time-reversed) and `positive_amplitude` → 0
//!    over `recovery_ms` (τ = 0.5·recovery, time-reversed); then a Gaussian smoothing of σ =
//!    `smooth_ms` (kernel ±4σ, normalised), a rescaling to the pre-smoothing max |·|, and a
//!    shift that puts the minimum exactly at `nbefore`. Channel `c` gets the waveform times
//!    `alpha·exp(−d_c/spatial_decay)`, with `d_c` the distance from the unit in an ellipsoid
//!    metric (contact offset rotated by −`ellipse_angle` about z, its y component divided by
//!    `ellipse_shrink`), delayed by `(d_c − min d)/propagation_speed` through a sub-sample phase
//!    shift of its real FFT.
//! 4. **Noise**: i.i.d. Gaussian, standard deviation `σ_c` on channel `c`.
//! 5. **Injection** ([`inject_templates`]): `trace[f − nbefore + k, c] += a·template[k, c]` for
//!    every spike `(f, u)`, in spike-vector order, in `f32`, clipped at the ends; `a` is 1 or a
//!    per-spike amplitude factor `~ N(1, jitter)` (MEArec's `sdrand`).
//!
//! On top of spikeinterface we add a per-unit **target SNR** (§2.2 of the sort specification):
//! the template is rescaled so that its largest |value| (over samples and channels: the trough on
//! the extremum channel) equals `SNR_u·σ_c` on that channel. SpikeInterface measures the noise
//! level as MAD/0.6745 of the traces (`get_noise_levels(method="mad")`); for Gaussian noise this
//! estimates `σ_c` (within 0.1 % over 10⁷ samples), so the configured `σ_c` is used directly.
//!
//! **Reproducibility.** Distributions are spikeinterface's, random streams are not: NumPy's
//! PCG64 streams (and the per-block seeding of its "on_the_fly" noise) are not reproduced, so
//! only the deterministic parts (waveform, template, injection) match spikeinterface bit for bit
//! or to rounding, and the random parts match in distribution. Every random part has its own
//! ChaCha8 stream of the seed ([`crate::rng`]): unit draws, positions, templates, each unit's
//! spikes, the amplitude factors, and each 1-s noise block (generated in parallel).
//!
//! One difference in the spike trains: spikeinterface draws a fixed number of intervals per unit
//! (mean + 4 s.d. of the count), which can end a very long train early; here intervals are drawn
//! until the end of the recording.
//!
//! # Example
//! ```
//! use spikelab_synth::recording::{GroundTruthParams, UnitCount};
//! let params = GroundTruthParams {
//!     duration_s: 2.0,
//!     n_units: UnitCount::Fixed(3),
//!     ..GroundTruthParams::default() // spikeinterface's defaults: 25 kHz, 2 × 2 probe, 15 Hz
//! };
//! let gt = params.generate(7)?;
//! assert_eq!(gt.recording.n_samples(), 50_000);
//! assert_eq!(gt.recording.n_channels(), 4);
//! assert_eq!(gt.sorting.n_units(), 3);
//! assert_eq!(gt.truth.templates.shape(), &[3, 100, 4]); // [unit, sample, channel]
//! // The trough of every template sits at nbefore.
//! let t = gt.truth.templates.index_axis(ndarray::Axis(0), 0);
//! let c = gt.truth.extremum_channel[0];
//! let trough = (0..100).min_by(|&a, &b| t[[a, c]].total_cmp(&t[[b, c]])).unwrap();
//! assert_eq!(trough, gt.truth.nbefore);
//! # Ok::<(), spikelab_synth::SynthError>(())
//! ```

use ndarray::{Array2, Array3, ArrayView3, Axis};
use rand::Rng;
use rand_distr::{Distribution, Geometric, StandardNormal};
use rayon::prelude::*;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;
use serde::{Deserialize, Serialize};
use spikelab_data::{Probe, Recording, Sorting};

use crate::error::{Result, non_negative, param, positive};
use crate::rng::{self, S_REC_DRAWS, S_REC_JITTER, S_REC_LOC, S_REC_NOISE, S_REC_SPIKES};
use crate::rng::{ChaCha8Rng, S_REC_TEMPLATES};

/// `lo + (hi − lo)·U[0, 1)`, NumPy's `uniform` (also valid for `lo == hi`).
fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Python's `round` for a duration in samples (`ms_to_samples`, halves to even).
fn ms_to_samples(ms: f64, sampling_rate_hz: f64) -> usize {
    rng::round_half_even(ms * sampling_rate_hz / 1000.0) as usize
}

/// Python's `int(ms·fs/1000)` (truncation), the length of a waveform piece.
fn ms_to_len(ms: f64, sampling_rate_hz: f64) -> usize {
    (ms * sampling_rate_hz / 1000.0) as usize
}

/// Ranges `(low, high)` of the per-unit template parameters, drawn uniformly. Defaults are
/// spikeinterface's `default_unit_params_range`.
///
/// # Example
/// ```
/// use spikelab_synth::recording::TemplateRanges;
/// let r = TemplateRanges::default();
/// assert_eq!(r.alpha, (100.0, 500.0));
/// let mut g = spikelab_synth::rng::stream(1, 0);
/// let p = r.sample(&mut g);
/// assert!((100.0..500.0).contains(&p.alpha));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemplateRanges {
    /// Amplitude scale (a.u.), default (100, 500).
    pub alpha: (f64, f64),
    /// Depolarisation duration (ms), default (0.09, 0.14).
    pub depolarization_ms: (f64, f64),
    /// Repolarisation duration (ms), default (0.5, 0.8).
    pub repolarization_ms: (f64, f64),
    /// Recovery duration (ms), default (1.0, 1.5).
    pub recovery_ms: (f64, f64),
    /// Height of the positive bump relative to the trough (−1), default (0.1, 0.25).
    pub positive_amplitude: (f64, f64),
    /// Gaussian smoothing σ (ms), default (0.03, 0.07).
    pub smooth_ms: (f64, f64),
    /// Exponential spatial decay length (µm), default (10, 45).
    pub spatial_decay_um: (f64, f64),
    /// Propagation speed (µm/ms) of the channel delays, default (250, 350).
    pub propagation_speed_um_per_ms: (f64, f64),
    /// Shrink factor of the ellipsoid's y axis, default (0.4, 1).
    pub ellipse_shrink: (f64, f64),
    /// Rotation of the ellipsoid about z (rad), default (0, 2π).
    pub ellipse_angle_rad: (f64, f64),
}

impl Default for TemplateRanges {
    fn default() -> Self {
        Self {
            alpha: (100.0, 500.0),
            depolarization_ms: (0.09, 0.14),
            repolarization_ms: (0.5, 0.8),
            recovery_ms: (1.0, 1.5),
            positive_amplitude: (0.1, 0.25),
            smooth_ms: (0.03, 0.07),
            spatial_decay_um: (10.0, 45.0),
            propagation_speed_um_per_ms: (250.0, 350.0),
            ellipse_shrink: (0.4, 1.0),
            ellipse_angle_rad: (0.0, 2.0 * std::f64::consts::PI),
        }
    }
}

impl TemplateRanges {
    fn fields(&self) -> [(&'static str, (f64, f64)); 10] {
        [
            ("alpha", self.alpha),
            ("depolarization_ms", self.depolarization_ms),
            ("repolarization_ms", self.repolarization_ms),
            ("recovery_ms", self.recovery_ms),
            ("positive_amplitude", self.positive_amplitude),
            ("smooth_ms", self.smooth_ms),
            ("spatial_decay_um", self.spatial_decay_um),
            (
                "propagation_speed_um_per_ms",
                self.propagation_speed_um_per_ms,
            ),
            ("ellipse_shrink", self.ellipse_shrink),
            ("ellipse_angle_rad", self.ellipse_angle_rad),
        ]
    }

    /// Checks every range: finite, `low ≤ high`, a positive lower bound (≥ 0 for
    /// `positive_amplitude`, any for the angle), and that the longest waveform fits in
    /// `ms_before` + `ms_after` at `sampling_rate_hz`.
    pub fn validate(&self, sampling_rate_hz: f64, ms_before: f64, ms_after: f64) -> Result<()> {
        for (name, (lo, hi)) in self.fields() {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(param(
                    name,
                    format!("range ({lo}, {hi}) must be finite with low ≤ high"),
                ));
            }
            if name != "ellipse_angle_rad" && name != "positive_amplitude" && lo <= 0.0 {
                return Err(param(name, format!("lower bound must be > 0, got {lo}")));
            }
        }
        if self.positive_amplitude.0 < 0.0 {
            return Err(param("positive_amplitude", "lower bound must be ≥ 0"));
        }
        let worst = UnitTemplateParams {
            alpha: self.alpha.1,
            depolarization_ms: self.depolarization_ms.1,
            repolarization_ms: self.repolarization_ms.1,
            recovery_ms: self.recovery_ms.1,
            positive_amplitude: self.positive_amplitude.1,
            smooth_ms: self.smooth_ms.1,
            spatial_decay_um: self.spatial_decay_um.1,
            propagation_speed_um_per_ms: self.propagation_speed_um_per_ms.1,
            ellipse_shrink: self.ellipse_shrink.1,
            ellipse_angle_rad: self.ellipse_angle_rad.1,
        };
        worst.validate(sampling_rate_hz, ms_before, ms_after)
    }

    /// Draws one unit's parameters, each uniform in its range, in the field order.
    pub fn sample(&self, rng: &mut impl Rng) -> UnitTemplateParams {
        let d = |r: &mut _, (lo, hi): (f64, f64)| uniform(r, lo, hi);
        UnitTemplateParams {
            alpha: d(rng, self.alpha),
            depolarization_ms: d(rng, self.depolarization_ms),
            repolarization_ms: d(rng, self.repolarization_ms),
            recovery_ms: d(rng, self.recovery_ms),
            positive_amplitude: d(rng, self.positive_amplitude),
            smooth_ms: d(rng, self.smooth_ms),
            spatial_decay_um: d(rng, self.spatial_decay_um),
            propagation_speed_um_per_ms: d(rng, self.propagation_speed_um_per_ms),
            ellipse_shrink: d(rng, self.ellipse_shrink),
            ellipse_angle_rad: d(rng, self.ellipse_angle_rad),
        }
    }
}

/// One unit's template parameters (the ranges they are drawn from are [`TemplateRanges`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnitTemplateParams {
    /// Amplitude scale (a.u.; µV when no SNR target rescales the template).
    pub alpha: f64,
    /// Depolarisation duration (ms), ending at the trough.
    pub depolarization_ms: f64,
    /// Repolarisation duration (ms), trough to positive peak.
    pub repolarization_ms: f64,
    /// Recovery duration (ms), positive peak back to 0.
    pub recovery_ms: f64,
    /// Height of the positive peak relative to the trough (−1).
    pub positive_amplitude: f64,
    /// Gaussian smoothing σ (ms).
    pub smooth_ms: f64,
    /// Exponential spatial decay length (µm).
    pub spatial_decay_um: f64,
    /// Propagation speed of the channel delays (µm/ms).
    pub propagation_speed_um_per_ms: f64,
    /// Shrink factor of the ellipsoid's y axis.
    pub ellipse_shrink: f64,
    /// Rotation of the ellipsoid about z (rad).
    pub ellipse_angle_rad: f64,
}

impl UnitTemplateParams {
    /// Checks that the values are finite and positive where needed and that the waveform fits:
    /// `ms_before > depolarization_ms`, `ms_after > depolarization_ms + repolarization_ms`, and
    /// the repolarisation and recovery samples fewer than `nafter` (spikeinterface's asserts).
    pub fn validate(&self, sampling_rate_hz: f64, ms_before: f64, ms_after: f64) -> Result<()> {
        positive("sampling_rate_hz", sampling_rate_hz)?;
        positive("alpha", self.alpha)?;
        positive("depolarization_ms", self.depolarization_ms)?;
        positive("repolarization_ms", self.repolarization_ms)?;
        positive("recovery_ms", self.recovery_ms)?;
        non_negative("positive_amplitude", self.positive_amplitude)?;
        positive("smooth_ms", self.smooth_ms)?;
        positive("spatial_decay_um", self.spatial_decay_um)?;
        positive(
            "propagation_speed_um_per_ms",
            self.propagation_speed_um_per_ms,
        )?;
        positive("ellipse_shrink", self.ellipse_shrink)?;
        if !self.ellipse_angle_rad.is_finite() {
            return Err(param("ellipse_angle_rad", "must be finite"));
        }
        if ms_before <= self.depolarization_ms {
            return Err(param(
                "ms_before",
                format!(
                    "must exceed the depolarisation ({} ms); lengthen ms_before",
                    self.depolarization_ms
                ),
            ));
        }
        if ms_after <= self.depolarization_ms + self.repolarization_ms {
            return Err(param(
                "ms_after",
                "must exceed depolarisation + repolarisation; lengthen ms_after",
            ));
        }
        let fs = sampling_rate_hz;
        let nafter = ms_to_samples(ms_after, fs);
        let nbefore = ms_to_samples(ms_before, fs);
        let ndepo = ms_to_len(self.depolarization_ms, fs);
        let nrepol = ms_to_len(self.repolarization_ms, fs);
        let nrec = ms_to_len(self.recovery_ms, fs);
        if ndepo >= nafter || ndepo > nbefore || nrepol + nrec >= nafter {
            return Err(param(
                "ms_after",
                format!(
                    "the waveform ({ndepo} + {nrepol} + {nrec} samples) does not fit in \
                     {nbefore} + {nafter} samples; lengthen ms_before/ms_after"
                ),
            ));
        }
        let n_kernel = 2 * (self.smooth_ms * fs / 1000.0 * 4.0) as usize + 1;
        if n_kernel > nbefore + nafter {
            return Err(param(
                "smooth_ms",
                "the smoothing kernel is longer than the template",
            ));
        }
        Ok(())
    }
}

/// `exp(t/τ)` over `int(duration·fs/1000)` samples, rescaled to go from `start` to `end`;
/// with `flip` the end points are swapped and the result reversed (spikeinterface's
/// `exp_growth`, the last point dropped).
fn exp_growth(
    start: f64,
    end: f64,
    duration_ms: f64,
    tau_ms: f64,
    fs: f64,
    flip: bool,
) -> Vec<f64> {
    let (s, e) = if flip { (end, start) } else { (start, end) };
    let size = ms_to_len(duration_ms, fs);
    if size == 0 {
        return Vec::new();
    }
    let mut y: Vec<f64> = (0..=size)
        .map(|i| (i as f64 / fs * 1000.0 / tau_ms).exp())
        .collect();
    let span = y[size] - y[0];
    for v in &mut y {
        *v = *v / span * (e - s);
    }
    let y0 = y[0];
    for v in &mut y {
        *v = *v - y0 + s;
    }
    if flip {
        y.reverse();
    }
    y.truncate(size);
    y
}

/// The 1-D waveform of one unit, `nbefore + nafter` samples with its trough (−1 before
/// smoothing) at `nbefore` (spikeinterface's `generate_single_fake_waveform` with
/// `negative_amplitude = −1`, `dtype = float32`: the three pieces are stored in `f32` before the
/// smoothing, the result is `f64`).
///
/// Errors: [`SynthError::InvalidParameter`](crate::SynthError::InvalidParameter) if the
/// parameters are invalid ([`UnitTemplateParams::validate`]).
///
/// # Example
/// ```
/// use spikelab_synth::recording::{TemplateRanges, waveform};
/// let p = TemplateRanges::default().sample(&mut spikelab_synth::rng::stream(0, 0));
/// let wf = waveform(30_000.0, 1.0, 3.0, &p)?;
/// assert_eq!(wf.len(), 120);
/// let trough = (0..120).min_by(|&a, &b| wf[a].total_cmp(&wf[b])).unwrap();
/// assert_eq!(trough, 30);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
pub fn waveform(
    sampling_rate_hz: f64,
    ms_before: f64,
    ms_after: f64,
    p: &UnitTemplateParams,
) -> Result<Vec<f64>> {
    p.validate(sampling_rate_hz, ms_before, ms_after)?;
    let fs = sampling_rate_hz;
    let nbefore = ms_to_samples(ms_before, fs);
    let nafter = ms_to_samples(ms_after, fs);
    let width = nbefore + nafter;
    let mut wf32 = vec![0f32; width];
    let mut put = |start: usize, vals: Vec<f64>| {
        for (k, v) in vals.into_iter().enumerate() {
            wf32[start + k] = v as f32;
        }
    };
    let depo = exp_growth(
        0.0,
        -1.0,
        p.depolarization_ms,
        p.depolarization_ms * 0.2,
        fs,
        false,
    );
    put(nbefore - depo.len(), depo);
    let repol = exp_growth(
        -1.0,
        p.positive_amplitude,
        p.repolarization_ms,
        p.repolarization_ms * 0.5,
        fs,
        true,
    );
    let nrepol = repol.len();
    put(nbefore, repol);
    let rec = exp_growth(
        p.positive_amplitude,
        0.0,
        p.recovery_ms,
        p.recovery_ms * 0.5,
        fs,
        true,
    );
    put(nbefore + nrepol, rec);

    // Gaussian smoothing, np.convolve(mode="same") with a symmetric kernel.
    let sigma = p.smooth_ms / (1.0 / fs * 1000.0);
    let n = (sigma * 4.0) as usize;
    let mut kernel: Vec<f64> = (0..=2 * n)
        .map(|i| {
            let b = i as f64 - n as f64;
            (-(b * b) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let ksum: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= ksum);
    let old_max = wf32.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let mut wf: Vec<f64> = (0..width)
        .map(|i| {
            // full-convolution index i + n, kernel index j ↔ signal index i + n − j
            (0..=2 * n)
                .filter_map(|j| {
                    let s = (i + n).checked_sub(j)?;
                    (s < width).then(|| wf32[s] as f64 * kernel[j])
                })
                .sum()
        })
        .collect();
    let new_max = wf.iter().fold(0f64, |m, v| m.max(v.abs()));
    let ratio = old_max / new_max;
    wf.iter_mut().for_each(|v| *v *= ratio);

    // Put the minimum exactly at nbefore (the vacated end keeps its old values, as in NumPy).
    let ind = (0..width).fold(0, |b, i| if wf[i] < wf[b] { i } else { b });
    if ind > nbefore {
        let shift = ind - nbefore;
        wf.copy_within(shift.., 0);
    } else if ind < nbefore {
        let shift = nbefore - ind;
        wf.copy_within(..width - shift, shift);
    }
    Ok(wf)
}

/// Distances from a unit at `center` (µm, 3-D) to contacts at `(x, y, 0)` in the ellipsoid
/// metric: offset rotated by −`angle` about z, y divided by `shrink` (spikeinterface's
/// `get_ellipse` with x factor 1 and no x/y rotation).
fn ellipsoid_distances(
    positions: &[[f64; 2]],
    center: [f64; 3],
    shrink: f64,
    angle: f64,
) -> Vec<f64> {
    let (c, s) = ((-angle).cos(), (-angle).sin());
    positions
        .iter()
        .map(|p| {
            let (dx, dy, dz) = (p[0] - center[0], p[1] - center[1], -center[2]);
            let px = c * dx - s * dy;
            let py = s * dx + c * dy;
            (px * px + (py / shrink) * (py / shrink) + dz * dz).sqrt()
        })
        .collect()
}

/// One unit's template, `[sample, channel]`, `f32` (spikeinterface's `generate_templates`,
/// mode "ellipsoid", profile "exponential", no upsampling): the [`waveform`] times
/// `alpha·exp(−d_c/spatial_decay)` on each channel, delayed by `(d_c − min d)/speed` through an
/// FFT phase shift. `location_um` is the unit's `[x, y, z]`; contacts lie at z = 0.
///
/// Errors: as [`waveform`].
///
/// # Example
/// ```
/// use spikelab_synth::recording::{TemplateRanges, template};
/// let probe = spikelab_data::Probe::tetrode(20.0);
/// let p = TemplateRanges::default().sample(&mut spikelab_synth::rng::stream(0, 0));
/// let t = template(probe.positions_um(), [0.0, 0.0, 10.0], &p, 30_000.0, 1.0, 3.0)?;
/// assert_eq!(t.dim(), (120, 4));
/// // Channel 0 sits under the unit: it has the largest trough.
/// assert!(t[[30, 0]] < t[[30, 3]]);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
pub fn template(
    positions_um: &[[f64; 2]],
    location_um: [f64; 3],
    p: &UnitTemplateParams,
    sampling_rate_hz: f64,
    ms_before: f64,
    ms_after: f64,
) -> Result<Array2<f32>> {
    if location_um.iter().any(|v| !v.is_finite()) {
        return Err(param("location_um", "unit location must be finite"));
    }
    let wf = waveform(sampling_rate_hz, ms_before, ms_after, p)?;
    let n = wf.len();
    let d = ellipsoid_distances(
        positions_um,
        location_um,
        p.ellipse_shrink,
        p.ellipse_angle_rad,
    );
    let d_min = d.iter().copied().fold(f64::INFINITY, f64::min);
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let nf = n / 2 + 1;
    // np.linspace(0, stop, nf): k·step, the last point exactly `stop`.
    let stop = if n.is_multiple_of(2) {
        std::f64::consts::PI
    } else {
        std::f64::consts::PI * (n - 1) as f64 / n as f64
    };
    let step = if nf > 1 { stop / (nf - 1) as f64 } else { 0.0 };
    let omega: Vec<f64> = (0..nf)
        .map(|k| if k + 1 == nf { stop } else { k as f64 * step })
        .collect();
    let mut out = Array2::<f32>::zeros((n, positions_um.len()));
    let mut buf = fwd.make_input_vec();
    let mut spec = fwd.make_output_vec();
    let mut scratch_f = fwd.make_scratch_vec();
    let mut scratch_i = inv.make_scratch_vec();
    for (c, &dc) in d.iter().enumerate() {
        let factor = p.alpha * (-dc / p.spatial_decay_um).exp();
        for (b, w) in buf.iter_mut().zip(&wf) {
            *b = w * factor;
        }
        let delay_s = (dc - d_min) / p.propagation_speed_um_per_ms / 1000.0;
        let shift = delay_s * sampling_rate_hz;
        fwd.process_with_scratch(&mut buf, &mut spec, &mut scratch_f)
            .expect("buffer lengths come from the plan");
        for (z, &w) in spec.iter_mut().zip(&omega) {
            let ph = w * shift;
            *z *= Complex::new(ph.cos(), -ph.sin());
        }
        // NumPy's irfft ignores the imaginary parts of the DC and Nyquist bins.
        spec[0].im = 0.0;
        if n.is_multiple_of(2) {
            spec[nf - 1].im = 0.0;
        }
        inv.process_with_scratch(&mut spec, &mut buf, &mut scratch_i)
            .expect("DC and Nyquist bins are real");
        for (t, v) in buf.iter().enumerate() {
            out[[t, c]] = (v / n as f64) as f32;
        }
    }
    Ok(out)
}

/// Where units are placed ([`unit_locations`]); defaults are those of
/// `generate_ground_truth_recording`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocationParams {
    /// Margin added around the contacts' x/y bounding box (µm), default 10.
    pub margin_um: f64,
    /// Lowest depth below the probe plane (µm), default 5.
    pub min_z_um: f64,
    /// Largest depth (µm), default 50.
    pub max_z_um: f64,
    /// Minimum distance between two units (µm; `None` disables the redraws), default 20.
    pub min_distance_um: Option<f64>,
    /// Number of redraw rounds, default 100.
    pub max_iterations: usize,
    /// Fresh draws of all units after `max_iterations` rounds without a solution, default 10
    /// (our addition: spikeinterface stops and warns; with 8 units on the 2 × 2 probe that
    /// happens for about 1 seed in 200).
    pub max_restarts: usize,
}

impl Default for LocationParams {
    fn default() -> Self {
        Self {
            margin_um: 10.0,
            min_z_um: 5.0,
            max_z_um: 50.0,
            min_distance_um: Some(20.0),
            max_iterations: 100,
            max_restarts: 10,
        }
    }
}

impl LocationParams {
    /// Checks margin ≥ 0, `0 ≤ min_z ≤ max_z`, distance ≥ 0 (all finite).
    pub fn validate(&self) -> Result<()> {
        non_negative("margin_um", self.margin_um)?;
        non_negative("min_z_um", self.min_z_um)?;
        non_negative("max_z_um", self.max_z_um)?;
        if self.min_z_um > self.max_z_um {
            return Err(param("min_z_um", "must be ≤ max_z_um"));
        }
        if let Some(d) = self.min_distance_um {
            non_negative("min_distance_um", d)?;
        }
        Ok(())
    }
}

/// Unit positions `[x, y, z]` in µm (rounded to `f32`) and whether the minimum distance was
/// reached (spikeinterface only warns when it is not; so does this function, by the flag).
/// When the redraw rounds end without a solution, all units are drawn afresh (up to
/// `max_restarts` times).
///
/// All x are drawn first, then all y, then all z; each redraw round draws x, y, z of the units
/// to renew the same way.
///
/// Errors: invalid [`LocationParams`].
///
/// # Example
/// ```
/// use spikelab_synth::recording::{LocationParams, unit_locations};
/// let probe = spikelab_data::Probe::tetrode(20.0);
/// let mut g = spikelab_synth::rng::stream(3, 0);
/// let (locs, ok) = unit_locations(&probe, 6, &LocationParams::default(), &mut g)?;
/// assert!(ok);
/// assert!(locs.iter().all(|l| (-10.0..=30.0).contains(&l[0]) && (5.0..=50.0).contains(&l[2])));
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
pub fn unit_locations(
    probe: &Probe,
    n_units: usize,
    params: &LocationParams,
    rng: &mut impl Rng,
) -> Result<(Vec<[f64; 3]>, bool)> {
    params.validate()?;
    let pos = probe.positions_um();
    let lim = |k: usize| {
        let lo = pos.iter().map(|p| p[k]).fold(f64::INFINITY, f64::min);
        let hi = pos.iter().map(|p| p[k]).fold(f64::NEG_INFINITY, f64::max);
        (lo - params.margin_um, hi + params.margin_um)
    };
    let lims = [lim(0), lim(1), (params.min_z_um, params.max_z_um)];
    let mut locs = vec![[0.0; 3]; n_units];
    let draw = |locs: &mut Vec<[f64; 3]>, idx: &[usize], rng: &mut _| {
        for (k, &(lo, hi)) in lims.iter().enumerate() {
            for &u in idx {
                locs[u][k] = uniform(rng, lo, hi) as f32 as f64;
            }
        }
    };
    let all: Vec<usize> = (0..n_units).collect();
    let Some(min_d) = params.min_distance_um else {
        draw(&mut locs, &all, rng);
        return Ok((locs, true));
    };
    for _ in 0..=params.max_restarts {
        draw(&mut locs, &all, rng);
        let mut renew: Option<Vec<usize>> = None;
        for _ in 0..params.max_iterations {
            let bad: Vec<usize> = (0..n_units)
                .filter(|&a| {
                    (0..n_units).any(|b| {
                        b != a && {
                            let d2: f64 = (0..3).map(|k| (locs[a][k] - locs[b][k]).powi(2)).sum();
                            d2.sqrt() < min_d
                        }
                    })
                })
                .collect();
            if bad.is_empty() {
                return Ok((locs, true));
            }
            let idx = match renew.take() {
                None => bad,
                Some(prev) => prev.into_iter().filter(|u| bad.contains(u)).collect(),
            };
            draw(&mut locs, &idx, rng);
            renew = Some(idx);
        }
    }
    Ok((locs, false))
}

/// Poisson spike trains with a refractory period, as a spike vector `(frame, unit)` sorted by
/// frame then unit (spikeinterface's `synthesize_poisson_spike_vector`; see the module docs).
/// Unit `u` draws from stream `u` of its own sub-seed, so units are independent of each other.
///
/// Errors: [`SynthError::InvalidParameter`](crate::SynthError::InvalidParameter) for a
/// non-positive rate, duration or sampling rate, a negative refractory period, or a refractory
/// period ≥ 1/rate.
///
/// # Example
/// ```
/// use spikelab_synth::recording::poisson_spike_vector;
/// let sv = poisson_spike_vector(&[10.0, 20.0], 30_000.0, 100.0, 4.0, 5)?;
/// let n1 = sv.iter().filter(|s| s.1 == 1).count();
/// assert!((1800..2200).contains(&n1));
/// assert!(sv.windows(2).all(|w| w[0] <= w[1]));
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
pub fn poisson_spike_vector(
    rates_hz: &[f64],
    sampling_rate_hz: f64,
    duration_s: f64,
    refractory_ms: f64,
    seed: u64,
) -> Result<Vec<(i64, usize)>> {
    positive("sampling_rate_hz", sampling_rate_hz)?;
    positive("duration_s", duration_s)?;
    non_negative("refractory_ms", refractory_ms)?;
    let ref_s = refractory_ms / 1000.0;
    let ref_frames = (ref_s * sampling_rate_hz) as i64;
    let max_frame = (duration_s * sampling_rate_hz) as i64 - 1;
    let mut sv = Vec::new();
    for (u, &r) in rates_hz.iter().enumerate() {
        positive("rates_hz", r)?;
        if ref_s >= 1.0 / r {
            return Err(param(
                "refractory_ms",
                format!("{refractory_ms} ms is too long for a rate of {r} Hz (needs < 1/rate)"),
            ));
        }
        let rate = r / (1.0 - r * ref_s);
        let p = (rate / sampling_rate_hz).min(1.0);
        let geo = Geometric::new(p).map_err(|e| param("rates_hz", e.to_string()))?;
        let mut g = rng::stream(seed, S_REC_SPIKES + u as u64);
        let mut frame = geo.sample(&mut g) as i64 + 1;
        while frame <= max_frame {
            sv.push((frame, u));
            frame += geo.sample(&mut g) as i64 + 1 + ref_frames;
        }
    }
    sv.sort_unstable();
    Ok(sv)
}

/// Adds the templates at the spikes: `traces[f − nbefore + k, c] += a·templates[u, k, c]` for
/// each spike `(f, u)` in the given order, clipped to the traces, in `f32` (the product with
/// an amplitude factor `a` is taken in `f64` and rounded, as NumPy does). This is
/// spikeinterface's `InjectTemplatesRecording` on a full-length `get_traces` call, bit for bit.
///
/// `traces` is `[sample, channel]`; `templates` is `[unit, sample, channel]`;
/// `amplitude_factors`, when given, has one value per spike.
///
/// Errors: [`SynthError::InvalidParameter`](crate::SynthError::InvalidParameter) when the
/// channel counts differ, `nbefore` is not inside the template, a unit index is out of range or
/// the factors do not match the spikes.
///
/// # Example
/// ```
/// use ndarray::{Array2, Array3};
/// use spikelab_synth::recording::inject_templates;
/// let mut traces = Array2::<f32>::zeros((10, 1));
/// let templates = Array3::from_shape_vec((1, 3, 1), vec![1.0, -2.0, 1.0]).unwrap();
/// inject_templates(&mut traces, &[(0, 0), (4, 0), (5, 0)], templates.view(), 1, None)?;
/// assert_eq!(traces.column(0).to_vec(), [-2.0, 1.0, 0.0, 1.0, -1.0, -1.0, 1.0, 0.0, 0.0, 0.0]);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
pub fn inject_templates(
    traces: &mut Array2<f32>,
    spikes: &[(i64, usize)],
    templates: ArrayView3<f32>,
    nbefore: usize,
    amplitude_factors: Option<&[f64]>,
) -> Result<()> {
    let (n_units, width, n_ch) = templates.dim();
    if n_ch != traces.ncols() {
        return Err(param(
            "templates",
            format!("{n_ch} channels for traces with {}", traces.ncols()),
        ));
    }
    if nbefore >= width {
        return Err(param(
            "nbefore",
            format!("{nbefore} is outside the {width}-sample template"),
        ));
    }
    if let Some(a) = amplitude_factors
        && a.len() != spikes.len()
    {
        return Err(param(
            "amplitude_factors",
            format!("{} factors for {} spikes", a.len(), spikes.len()),
        ));
    }
    if let Some(&(_, u)) = spikes.iter().find(|s| s.1 >= n_units) {
        return Err(param(
            "spikes",
            format!("unit index {u} but {n_units} templates"),
        ));
    }
    let n = traces.nrows() as i64;
    for (i, &(f, u)) in spikes.iter().enumerate() {
        let t0 = f - nbefore as i64;
        let k0 = (-t0).max(0);
        let k1 = (width as i64).min(n - t0);
        let tpl = templates.index_axis(Axis(0), u);
        for k in k0..k1 {
            let row = tpl.row(k as usize);
            let mut out = traces.row_mut((t0 + k) as usize);
            match amplitude_factors {
                None => out.iter_mut().zip(row).for_each(|(o, &v)| *o += v),
                Some(a) => out
                    .iter_mut()
                    .zip(row)
                    .for_each(|(o, &v)| *o += (v as f64 * a[i]) as f32),
            }
        }
    }
    Ok(())
}

/// How many units a recording has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum UnitCount {
    /// Exactly this many.
    Fixed(usize),
    /// Uniform on `min..=max`, drawn per seed.
    Uniform {
        /// Smallest count.
        min: usize,
        /// Largest count (inclusive).
        max: usize,
    },
}

/// Firing rate of each unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FiringRates {
    /// The same rate (Hz) for every unit.
    Constant(f64),
    /// Uniform on `[min_hz, max_hz)`, drawn per unit.
    Uniform {
        /// Lower bound (Hz).
        min_hz: f64,
        /// Upper bound (Hz).
        max_hz: f64,
    },
    /// One rate per unit (requires [`UnitCount::Fixed`] with the same count).
    PerUnit(Vec<f64>),
}

/// Target signal-to-noise ratio of each unit (peak |template| / noise level on the extremum
/// channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TargetSnr {
    /// Uniform on `[min, max)`, drawn per unit.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// One SNR per unit (requires [`UnitCount::Fixed`] with the same count).
    PerUnit(Vec<f64>),
}

/// Standard deviation of the white noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NoiseLevels {
    /// The same σ on every channel.
    Constant(f64),
    /// One σ per channel.
    PerChannel(Vec<f64>),
}

/// Parameters of [`GroundTruthParams::generate`]. [`Default`] gives spikeinterface's
/// `generate_ground_truth_recording` defaults (10 s, 25 kHz, 2 × 2 probe with 20-µm pitch and
/// 6-µm contacts, 10 units at 15 Hz, refractory 4 ms, 1 + 3 ms templates, σ = 5);
/// [`GroundTruthParams::tetrode_benchmark`] the sorting acceptance protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruthParams {
    /// Duration (s); the recording has `⌊duration_s·sampling_rate_hz⌋` samples.
    pub duration_s: f64,
    /// Sampling rate (Hz).
    pub sampling_rate_hz: f64,
    /// Probe (contact positions in µm, z = 0): e.g. [`Probe::tetrode`], a linear probe from
    /// [`Probe::multi_column`] with one column, or MEAutility's `tetrode` (2 × 2, 16-µm pitch,
    /// 8-µm contacts) through [`Probe::new`].
    pub probe: Probe,
    /// Number of units.
    pub n_units: UnitCount,
    /// Firing rates.
    pub firing_rates: FiringRates,
    /// Refractory period (ms).
    pub refractory_ms: f64,
    /// Template length before the trough (ms).
    pub ms_before: f64,
    /// Template length after the trough (ms).
    pub ms_after: f64,
    /// Unit placement.
    pub locations: LocationParams,
    /// Ranges of the per-unit template parameters.
    pub templates: TemplateRanges,
    /// Noise σ per channel (0 gives noise-free traces).
    pub noise_levels: NoiseLevels,
    /// Rescale templates to these SNRs (`None`: keep spikeinterface's amplitudes, `alpha`).
    pub target_snr: Option<TargetSnr>,
    /// Standard deviation of the per-spike amplitude factor `~ N(1, jitter)` (0: none).
    pub amplitude_jitter: f64,
}

impl Default for GroundTruthParams {
    fn default() -> Self {
        Self {
            duration_s: 10.0,
            sampling_rate_hz: 25_000.0,
            probe: Probe::tetrode(20.0),
            n_units: UnitCount::Fixed(10),
            firing_rates: FiringRates::Constant(15.0),
            refractory_ms: 4.0,
            ms_before: 1.0,
            ms_after: 3.0,
            locations: LocationParams::default(),
            templates: TemplateRanges::default(),
            noise_levels: NoiseLevels::Constant(5.0),
            target_snr: None,
            amplitude_jitter: 0.0,
        }
    }
}

/// A generated recording with its ground truth.
#[derive(Debug, Clone)]
pub struct GroundTruthRecording {
    /// Traces `[sample, channel]` in µV (gain 1, offset 0) with the probe.
    pub recording: Recording,
    /// Ground-truth spikes (unit ids `0..n_units`, frames at the trough).
    pub sorting: Sorting,
    /// Everything else that was drawn.
    pub truth: RecordingTruth,
}

impl GroundTruthRecording {
    /// Writes a spikelab recording folder (`spikelab_data::io::raw::folder`: float32
    /// `recording.dat`, `recording.json`, `ground_truth/frames.npy` and `labels.npy`) plus
    /// `ground_truth/truth.json` (this [`RecordingTruth`]), atomically; an existing `dir` is an
    /// error unless `overwrite`. spikeinterface reads the folder with `read_binary` and
    /// `NumpySorting.from_samples_and_labels`.
    ///
    /// Errors: [`SynthError::Data`](crate::SynthError::Data) from the writers.
    pub fn write_folder(&self, dir: &std::path::Path, overwrite: bool) -> Result<()> {
        spikelab_data::io::write_dir_atomic(dir, overwrite, |tmp| {
            spikelab_data::io::raw::folder::write_files(tmp, &self.recording, Some(&self.sorting))?;
            spikelab_data::io::write_json(
                &tmp.join("ground_truth").join("truth.json"),
                &self.truth,
                false,
            )
        })?;
        Ok(())
    }
}

/// The ground truth of a generated recording besides its spikes (serde-serialisable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingTruth {
    /// Seed given to `generate`.
    pub seed: u64,
    /// Sampling rate (Hz).
    pub sampling_rate_hz: f64,
    /// Template samples before the trough; a spike at frame `f` covers `f − nbefore ..`.
    pub nbefore: usize,
    /// Injected (mean) templates `[unit, sample, channel]`, after any SNR rescaling.
    pub templates: Array3<f32>,
    /// Unit positions `[x, y, z]` (µm).
    pub unit_locations_um: Vec<[f64; 3]>,
    /// Whether every pair of units is at least the minimum distance apart.
    pub locations_resolved: bool,
    /// Template parameters drawn per unit.
    pub unit_params: Vec<UnitTemplateParams>,
    /// Firing rate per unit (Hz).
    pub rates_hz: Vec<f64>,
    /// Noise σ per channel.
    pub noise_levels: Vec<f64>,
    /// Channel with the largest |template| per unit.
    pub extremum_channel: Vec<usize>,
    /// Contact nearest to the unit in x/y (spikeinterface's `main_channel_id`).
    pub main_channel: Vec<usize>,
    /// Peak |template| / σ on the extremum channel (equals the target when one is set;
    /// infinite with zero noise, which JSON stores as `null`).
    pub snr: Vec<f64>,
    /// Factor applied to spikeinterface's template to reach the target SNR (1 without).
    pub template_scale: Vec<f64>,
    /// Per-spike amplitude factors in spike-vector order (`None` without jitter).
    pub amplitude_factors: Option<Vec<f64>>,
}

impl GroundTruthParams {
    /// The acceptance-protocol preset (sort specification §11): 2 × 2 tetrode (20-µm pitch,
    /// 6-µm contacts), 30 kHz, 600 s, σ = 10 on every channel, 5–8 units (uniform), rates
    /// U[2, 15] Hz, refractory 4 ms, SNR U[3, 15], amplitude jitter 5 %, no drift. Training
    /// recordings use seeds 1–200, held-out test recordings 1001–1005.
    ///
    /// # Example
    /// ```
    /// use spikelab_synth::recording::GroundTruthParams;
    /// let p = GroundTruthParams { duration_s: 5.0, ..GroundTruthParams::tetrode_benchmark() };
    /// let gt = p.generate(1001)?;
    /// assert!((5..=8).contains(&gt.sorting.n_units()));
    /// assert!(gt.truth.snr.iter().all(|s| (3.0..15.0).contains(s)));
    /// # Ok::<(), spikelab_synth::SynthError>(())
    /// ```
    pub fn tetrode_benchmark() -> Self {
        Self {
            duration_s: 600.0,
            sampling_rate_hz: 30_000.0,
            probe: Probe::tetrode(20.0),
            n_units: UnitCount::Uniform { min: 5, max: 8 },
            firing_rates: FiringRates::Uniform {
                min_hz: 2.0,
                max_hz: 15.0,
            },
            refractory_ms: 4.0,
            noise_levels: NoiseLevels::Constant(10.0),
            target_snr: Some(TargetSnr::Uniform {
                min: 3.0,
                max: 15.0,
            }),
            amplitude_jitter: 0.05,
            ..Self::default()
        }
    }

    /// A dense-probe preset for scale runs: 384 contacts in 4 columns (16-µm column pitch,
    /// 20-µm row pitch, 6-µm contacts; 1 900 µm long, a Neuropixels-sized shank without the
    /// stagger), 30 kHz, 600 s, `n_units` units over the shank, otherwise as
    /// [`GroundTruthParams::tetrode_benchmark`] (σ = 10, rates U[2, 15] Hz, SNR U[3, 15],
    /// 5 % amplitude jitter). 600 s is 6.9·10⁹ samples, 27.6 GB as f32.
    ///
    /// # Example
    /// ```
    /// use spikelab_synth::recording::GroundTruthParams;
    /// let p = GroundTruthParams { duration_s: 0.5, ..GroundTruthParams::probe_benchmark(40) };
    /// let gt = p.generate(2001)?;
    /// assert_eq!((gt.recording.n_channels(), gt.sorting.n_units()), (384, 40));
    /// # Ok::<(), spikelab_synth::SynthError>(())
    /// ```
    pub fn probe_benchmark(n_units: usize) -> Self {
        Self {
            probe: Probe::multi_column(384, 4, 16.0, 20.0, 6.0)
                .expect("384 contacts fill 4 columns"),
            n_units: UnitCount::Fixed(n_units),
            ..Self::tetrode_benchmark()
        }
    }

    /// Template samples before the trough, `round(ms_before·fs/1000)`.
    pub fn nbefore(&self) -> usize {
        ms_to_samples(self.ms_before, self.sampling_rate_hz)
    }

    /// Checks every parameter once; [`GroundTruthParams::generate`] calls it.
    ///
    /// Errors: [`SynthError::InvalidParameter`](crate::SynthError::InvalidParameter) naming the
    /// parameter (non-positive duration or rates, refractory ≥ 1/rate, a per-unit or
    /// per-channel list of the wrong length, waveforms that do not fit `ms_before`/`ms_after`,
    /// a target SNR with zero noise, …).
    pub fn validate(&self) -> Result<()> {
        positive("duration_s", self.duration_s)?;
        positive("sampling_rate_hz", self.sampling_rate_hz)?;
        if (self.duration_s * self.sampling_rate_hz) < 1.0 {
            return Err(param("duration_s", "the recording has no sample"));
        }
        non_negative("refractory_ms", self.refractory_ms)?;
        positive("ms_before", self.ms_before)?;
        positive("ms_after", self.ms_after)?;
        self.locations.validate()?;
        self.templates
            .validate(self.sampling_rate_hz, self.ms_before, self.ms_after)?;
        let (n_min, n_max) = match self.n_units {
            UnitCount::Fixed(n) => (n, n),
            UnitCount::Uniform { min, max } => (min, max),
        };
        if n_min == 0 || n_min > n_max {
            return Err(param(
                "n_units",
                format!("need 1 ≤ min ≤ max, got {n_min}..={n_max}"),
            ));
        }
        let per_unit = |name, len: usize| -> Result<()> {
            if matches!(self.n_units, UnitCount::Fixed(n) if n == len) {
                Ok(())
            } else {
                Err(param(
                    name,
                    format!("{len} values need n_units = UnitCount::Fixed({len})"),
                ))
            }
        };
        let max_rate = match &self.firing_rates {
            FiringRates::Constant(r) => {
                positive("firing_rates", *r)?;
                *r
            }
            FiringRates::Uniform { min_hz, max_hz } => {
                positive("firing_rates", *min_hz)?;
                if !(max_hz.is_finite() && max_hz >= min_hz) {
                    return Err(param("firing_rates", "need min_hz ≤ max_hz"));
                }
                *max_hz
            }
            FiringRates::PerUnit(v) => {
                per_unit("firing_rates", v.len())?;
                for &r in v {
                    positive("firing_rates", r)?;
                }
                v.iter().copied().fold(0.0, f64::max)
            }
        };
        if self.refractory_ms / 1000.0 >= 1.0 / max_rate {
            return Err(param(
                "refractory_ms",
                format!("{} ms is too long for {max_rate} Hz", self.refractory_ms),
            ));
        }
        let sigmas = self.channel_noise()?;
        if let Some(snr) = &self.target_snr {
            match snr {
                TargetSnr::Uniform { min, max } => {
                    positive("target_snr", *min)?;
                    if !(max.is_finite() && max >= min) {
                        return Err(param("target_snr", "need min ≤ max"));
                    }
                }
                TargetSnr::PerUnit(v) => {
                    per_unit("target_snr", v.len())?;
                    for &s in v {
                        positive("target_snr", s)?;
                    }
                }
            }
            if sigmas.iter().any(|&s| s <= 0.0) {
                return Err(param(
                    "target_snr",
                    "an SNR target needs positive noise levels on every channel",
                ));
            }
        }
        non_negative("amplitude_jitter", self.amplitude_jitter)?;
        Ok(())
    }

    fn channel_noise(&self) -> Result<Vec<f64>> {
        let c = self.probe.n_channels();
        let v = match &self.noise_levels {
            NoiseLevels::Constant(s) => vec![*s; c],
            NoiseLevels::PerChannel(v) => {
                if v.len() != c {
                    return Err(param(
                        "noise_levels",
                        format!("{} values for a {c}-channel probe", v.len()),
                    ));
                }
                v.clone()
            }
        };
        for &s in &v {
            non_negative("noise_levels", s)?;
        }
        Ok(v)
    }

    /// Generates the recording, its ground-truth sorting and metadata for `seed`.
    ///
    /// Errors: invalid parameters ([`GroundTruthParams::validate`]).
    pub fn generate(&self, seed: u64) -> Result<GroundTruthRecording> {
        self.validate()?;
        let fs = self.sampling_rate_hz;
        let n_ch = self.probe.n_channels();
        let n_samples = (self.duration_s * fs) as usize;
        let sigmas = self.channel_noise()?;

        let mut g = rng::stream(seed, S_REC_DRAWS);
        let n_units = match self.n_units {
            UnitCount::Fixed(n) => n,
            UnitCount::Uniform { min, max } => g.random_range(min..=max),
        };
        let rates_hz: Vec<f64> = match &self.firing_rates {
            FiringRates::Constant(r) => vec![*r; n_units],
            FiringRates::Uniform { min_hz, max_hz } => (0..n_units)
                .map(|_| uniform(&mut g, *min_hz, *max_hz))
                .collect(),
            FiringRates::PerUnit(v) => v.clone(),
        };
        let target: Option<Vec<f64>> = self.target_snr.as_ref().map(|s| match s {
            TargetSnr::Uniform { min, max } => {
                (0..n_units).map(|_| uniform(&mut g, *min, *max)).collect()
            }
            TargetSnr::PerUnit(v) => v.clone(),
        });

        let (locs, resolved) = unit_locations(
            &self.probe,
            n_units,
            &self.locations,
            &mut rng::stream(seed, S_REC_LOC),
        )?;
        let mut gt = rng::stream(seed, S_REC_TEMPLATES);
        let unit_params: Vec<UnitTemplateParams> = (0..n_units)
            .map(|_| self.templates.sample(&mut gt))
            .collect();
        let nbefore = self.nbefore();
        let width = nbefore + ms_to_samples(self.ms_after, fs);
        let mut templates = Array3::<f32>::zeros((n_units, width, n_ch));
        let mut extremum_channel = Vec::with_capacity(n_units);
        let mut snr = Vec::with_capacity(n_units);
        let mut template_scale = Vec::with_capacity(n_units);
        for u in 0..n_units {
            let mut t = template(
                self.probe.positions_um(),
                locs[u],
                &unit_params[u],
                fs,
                self.ms_before,
                self.ms_after,
            )?;
            let (c_ext, peak) = extremum(&t);
            let scale = match &target {
                Some(s) => s[u] * sigmas[c_ext] / peak,
                None => 1.0,
            };
            if scale != 1.0 {
                t.mapv_inplace(|v| (v as f64 * scale) as f32);
            }
            let (c_ext, peak) = extremum(&t);
            extremum_channel.push(c_ext);
            snr.push(match &target {
                Some(s) => s[u],
                None => peak / sigmas[c_ext],
            });
            template_scale.push(scale);
            templates.index_axis_mut(Axis(0), u).assign(&t);
        }
        let main_channel = locs
            .iter()
            .map(|l| {
                let d = |c: &[f64; 2]| (c[0] - l[0]).hypot(c[1] - l[1]);
                (0..n_ch)
                    .min_by(|&a, &b| {
                        d(&self.probe.position_um(a)).total_cmp(&d(&self.probe.position_um(b)))
                    })
                    .unwrap_or(0)
            })
            .collect();

        let spikes =
            poisson_spike_vector(&rates_hz, fs, self.duration_s, self.refractory_ms, seed)?;
        let amplitude_factors = (self.amplitude_jitter > 0.0).then(|| {
            let mut gj = rng::stream(seed, S_REC_JITTER);
            spikes
                .iter()
                .map(|_| {
                    1.0 + self.amplitude_jitter
                        * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut gj)
                })
                .collect::<Vec<f64>>()
        });

        let mut traces = white_noise(n_samples, &sigmas, fs, seed);
        inject_templates(
            &mut traces,
            &spikes,
            templates.view(),
            nbefore,
            amplitude_factors.as_deref(),
        )?;

        let frames: Vec<i64> = spikes.iter().map(|s| s.0).collect();
        let labels: Vec<i64> = spikes.iter().map(|s| s.1 as i64).collect();
        let mut sorting_frames = vec![Vec::new(); n_units];
        for (&f, &l) in frames.iter().zip(&labels) {
            sorting_frames[l as usize].push(f);
        }
        let sorting = Sorting::new(
            (0..n_units as i64).collect(),
            sorting_frames,
            fs,
            n_samples as i64,
        )?;
        let recording = Recording::new(traces, fs, self.probe.clone())?;
        Ok(GroundTruthRecording {
            recording,
            sorting,
            truth: RecordingTruth {
                seed,
                sampling_rate_hz: fs,
                nbefore,
                templates,
                unit_locations_um: locs,
                locations_resolved: resolved,
                unit_params,
                rates_hz,
                noise_levels: sigmas,
                extremum_channel,
                main_channel,
                snr,
                template_scale,
                amplitude_factors,
            },
        })
    }
}

/// Channel with the largest |value| of a `[sample, channel]` template, and that value.
fn extremum(t: &Array2<f32>) -> (usize, f64) {
    let mut best = (0, 0.0);
    for ((_, c), &v) in t.indexed_iter() {
        let a = (v as f64).abs();
        if a > best.1 {
            best = (c, a);
        }
    }
    best
}

/// White Gaussian noise `[sample, channel]`, σ per channel, generated in blocks of
/// `round(fs)` samples (one ChaCha stream per block, in parallel).
fn white_noise(n_samples: usize, sigmas: &[f64], fs: f64, seed: u64) -> Array2<f32> {
    let n_ch = sigmas.len();
    let mut traces = Array2::<f32>::zeros((n_samples, n_ch));
    if sigmas.iter().all(|&s| s == 0.0) || n_samples == 0 {
        return traces;
    }
    let block = (fs.round() as usize).max(1);
    let sig32: Vec<f32> = sigmas.iter().map(|&s| s as f32).collect();
    traces
        .as_slice_mut()
        .expect("a fresh array is contiguous")
        .par_chunks_mut(block * n_ch)
        .enumerate()
        .for_each(|(b, chunk)| {
            let mut g: ChaCha8Rng = rng::stream(seed, S_REC_NOISE + b as u64);
            for row in chunk.chunks_exact_mut(n_ch) {
                for (v, &s) in row.iter_mut().zip(&sig32) {
                    let z: f32 = StandardNormal.sample(&mut g);
                    *v = z * s;
                }
            }
        });
    traces
}

/// The acceptance-protocol recording for `seed` ([`GroundTruthParams::tetrode_benchmark`]:
/// 600 s, 4 channels at 30 kHz). Training seeds are 1–200, held-out test seeds 1001–1005.
///
/// Errors: none in practice (the preset is valid); the signature keeps the crate's `Result`.
///
/// # Example
/// ```no_run
/// let gt = spikelab_synth::recording::tetrode_benchmark(1001)?;
/// assert_eq!(gt.recording.n_samples(), 18_000_000);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
pub fn tetrode_benchmark(seed: u64) -> Result<GroundTruthRecording> {
    GroundTruthParams::tetrode_benchmark().generate(seed)
}
