//! Preprocessing of recordings that are not Spikefinder-ready 100 Hz data (spec §1.2, from the
//! original's `c2s_preprocessing.py`), and the CASCADE noise level.
//!
//! Per neuron: (1) subtract a running 5th-percentile baseline over a 40-s window,
//! (2) normalise `(x − p5)/(p80 − p5)` when `p80 > p5`, (3) FFT-resample to 100 Hz like
//! `scipy.signal.resample` when `|fps − 100| > 0.1` (`num = int(T·100/fps + 0.5)`, periodic
//! signal, Nyquist bin split/merged as SciPy does for even lengths). The network's own
//! z-scoring follows at prediction time.
//!
//! Fixed quirks of the original: it crashed (`NameError`) when no resampling was needed (here
//! the trace is simply kept), mutated its input (here a new array is returned), and had no NaN
//! handling (here NaN frames are filled by linear interpolation for the filters and FFT, and the
//! trailing NaN padding of shorter neurons is kept, rescaled to the new length).

use ndarray::{Array2, ArrayView1};
use realfft::RealFftPlanner;
use rustfft::num_complex::Complex;
use spikelab_core::stats::percentile_of_sorted;
use spikelab_data::CalciumTraces;

use crate::error::{CalciumError, Result};
use crate::network::fill_nan_linear;

/// The network's frame rate.
pub const TARGET_RATE_HZ: f64 = 100.0;

/// Running 5th-percentile baseline as in the original: window length `w = int(fps·40)`,
/// `d = w/2 + 1`, and for each `t` the percentile of `x[max(t−d+1, 0) : t+d]`.
/// Uses an incrementally maintained sorted window (O(n·w) worst case, memmove-fast); each
/// percentile is NumPy's (`spikelab_core::stats::percentile_of_sorted`). `x` must be free of
/// NaN. Errors: `q` outside 0…100.
pub fn running_percentile(x: &[f64], window_len: usize, q: f64) -> Result<Vec<f64>> {
    let n = x.len();
    let d = window_len / 2 + 1;
    let mut out = Vec::with_capacity(n);
    let mut win: Vec<f64> = Vec::new();
    let (mut lo, mut hi) = (0usize, 0usize); // current window x[lo..hi]
    let insert = |w: &mut Vec<f64>, v: f64| {
        let p = w.partition_point(|&a| a < v);
        w.insert(p, v);
    };
    let remove = |w: &mut Vec<f64>, v: f64| {
        let p = w.partition_point(|&a| a < v);
        w.remove(p);
    };
    for t in 0..n {
        let new_lo = (t + 1).saturating_sub(d);
        let new_hi = (t + d).min(n);
        while hi < new_hi {
            insert(&mut win, x[hi]);
            hi += 1;
        }
        while lo < new_lo {
            remove(&mut win, x[lo]);
            lo += 1;
        }
        out.push(percentile_of_sorted(&win, q)?);
    }
    Ok(out)
}

/// `scipy.signal.resample(x, num)` for a real signal: FFT, zero-pad or truncate the spectrum
/// (splitting / merging the Nyquist bin of even lengths as SciPy does), inverse FFT, scaled by
/// `num / n`.
///
/// ```
/// use spikelab_calcium::preprocess::fft_resample;
/// let x: Vec<f64> = (0..8).map(|i| (i as f64 * std::f64::consts::PI / 4.0).sin()).collect();
/// let y = fft_resample(&x, 16);
/// assert_eq!(y.len(), 16);
/// assert!((y[2] - x[1]).abs() < 1e-12); // band-limited signals are interpolated exactly
/// ```
pub fn fft_resample(x: &[f64], num: usize) -> Vec<f64> {
    let n = x.len();
    if n == 0 || num == 0 {
        return vec![0.0; num];
    }
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let mut input = x.to_vec();
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut input, &mut spec)
        .expect("lengths from the plan");
    // New one-sided spectrum of length num/2 + 1.
    let m = num / 2 + 1;
    let mut out_spec = vec![Complex::new(0.0, 0.0); m];
    let keep = (n.min(num)) / 2 + 1; // bins 0..=min(n,num)/2
    let kk = keep.min(spec.len()).min(m);
    out_spec[..kk].copy_from_slice(&spec[..kk]);
    let nmin = n.min(num);
    if nmin.is_multiple_of(2) {
        let k = nmin / 2;
        if num < n {
            // Truncation to an even length: SciPy folds the two ±Nyquist halves, i.e. the
            // new Nyquist bin is 2·Re-symmetric sum of X[k] and X[n−k] = conj(X[k]).
            out_spec[k] = Complex::new(2.0 * spec[k].re, 0.0);
        } else if num > n {
            // Zero-padding from an even length: the old Nyquist bin is split in halves
            // between +k and −k.
            out_spec[k] = spec[k] * 0.5;
        }
    }
    let inv = planner.plan_fft_inverse(num);
    let mut y = inv.make_output_vec();
    // realfft requires the DC (and, for even num, Nyquist) imaginary parts to be zero.
    out_spec[0].im = 0.0;
    if num.is_multiple_of(2) {
        out_spec[m - 1].im = 0.0;
    }
    inv.process(&mut out_spec, &mut y)
        .expect("lengths from the plan");
    // numpy irfft normalises by 1/num; scipy then multiplies by num/n.
    let scale = 1.0 / n as f64;
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

/// The CASCADE noise level of a ΔF/F trace: `ν = median|Δx| / √fps · 100`
/// (% · Hz^−1/2), NaN frames ignored. `NaN` if fewer than two valid frames.
///
/// ```
/// use spikelab_calcium::preprocess::noise_level;
/// let x = [0.0, 0.01, 0.0, 0.01, 0.0];
/// assert!((noise_level(&x, 100.0).unwrap() - 0.1).abs() < 1e-12);
/// assert!(noise_level(&x, 0.0).is_err());
/// ```
pub fn noise_level(trace: &[f64], frame_rate_hz: f64) -> Result<f64> {
    check_fps(frame_rate_hz)?;
    let mut d: Vec<f64> = trace
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|v| v.is_finite())
        .collect();
    if d.is_empty() {
        return Ok(f64::NAN);
    }
    d.sort_by(f64::total_cmp);
    let med = crate::metric::nanmedian(&d);
    Ok(med / frame_rate_hz.sqrt() * 100.0)
}

/// Up to this many differences [`noise_level_bounded`] selects the median from a copy of them
/// (at most 512 KiB, the size of the counting passes' table); beyond, by counting passes.
const SELECT_IN_COPY_MAX: usize = 1 << 16;

/// [`noise_level`] of a trace view without copying it whole: the median is selected from a
/// copy of the differences when there are at most 2¹⁶ of them, else by four counting passes
/// over the 16-bit digits of their bit patterns (a non-negative float's bits order like its
/// value), so the working memory is fixed and the result is the same number.
pub(crate) fn noise_level_bounded(trace: ArrayView1<f64>, frame_rate_hz: f64) -> Result<f64> {
    noise_level_bounded_with(trace, frame_rate_hz, SELECT_IN_COPY_MAX)
}

fn noise_level_bounded_with(
    trace: ArrayView1<f64>,
    frame_rate_hz: f64,
    copy_max: usize,
) -> Result<f64> {
    check_fps(frame_rate_hz)?;
    let diffs = || {
        trace
            .iter()
            .zip(trace.iter().skip(1))
            .map(|(a, b)| (b - a).abs())
            .filter(|v| v.is_finite())
    };
    let m = diffs().count();
    if m == 0 {
        return Ok(f64::NAN);
    }
    let med = if m <= copy_max {
        // The (m/2)-th smallest, and for even m the largest below it.
        let mut d: Vec<f64> = diffs().collect();
        let (below, &mut hi, _) = d.select_nth_unstable_by(m / 2, f64::total_cmp);
        if m % 2 == 1 {
            hi
        } else {
            (below.iter().copied().fold(f64::NEG_INFINITY, f64::max) + hi) / 2.0
        }
    } else if m % 2 == 1 {
        kth_nonnegative(diffs, m / 2)
    } else {
        (kth_nonnegative(diffs, m / 2 - 1) + kth_nonnegative(diffs, m / 2)) / 2.0
    };
    Ok(med / frame_rate_hz.sqrt() * 100.0)
}

/// The `k`-th smallest (0-based, `k` < count) of non-negative finite values, by radix
/// selection on their bit patterns.
fn kth_nonnegative<I: Iterator<Item = f64>>(values: impl Fn() -> I, mut k: usize) -> f64 {
    let mut counts = vec![0usize; 1 << 16];
    let mut prefix = 0u64;
    for pass in 0..4 {
        let shift = 48 - 16 * pass;
        let high = if pass == 0 { 0 } else { !0u64 << (shift + 16) };
        counts.fill(0);
        for v in values() {
            let b = v.to_bits();
            if b & high == prefix {
                counts[((b >> shift) & 0xffff) as usize] += 1;
            }
        }
        let mut d = 0;
        while k >= counts[d] {
            k -= counts[d];
            d += 1;
        }
        prefix |= (d as u64) << shift;
    }
    f64::from_bits(prefix)
}

/// `x` Fourier-resampled to `num` frames with NaN frames kept NaN: NaNs are filled by linear
/// interpolation for the transform, and each new frame is NaN where the input frame it falls
/// into was. An all-NaN trace stays all-NaN.
///
/// ```
/// use spikelab_calcium::preprocess::fft_resample_nan;
/// let x = [0.0, 1.0, f64::NAN, 1.0, 0.0, -1.0, 0.0, -1.0];
/// let y = fft_resample_nan(&x, 16);
/// assert!(y[4].is_nan() && y[5].is_nan() && y.iter().filter(|v| v.is_nan()).count() == 2);
/// ```
pub fn fft_resample_nan(x: &[f64], num: usize) -> Vec<f64> {
    let nan: Vec<bool> = x.iter().map(|v| !v.is_finite()).collect();
    let mut filled = x.to_vec();
    fill_nan_linear(&mut filled);
    let mut y = fft_resample(&filled, num);
    if nan.iter().all(|&b| b) {
        y.iter_mut().for_each(|v| *v = f64::NAN);
    }
    remask_resampled(&mut y, &nan);
    y
}

/// Sets the frames of a resampled trace to NaN where the original frame they fall into
/// (`⌊(i + ½)·n/num⌋`) was NaN.
fn remask_resampled(y: &mut [f64], nan: &[bool]) {
    let (n, num) = (nan.len(), y.len());
    if n == 0 || !nan.iter().any(|&b| b) {
        return;
    }
    for (i, v) in y.iter_mut().enumerate() {
        let src = ((i as f64 + 0.5) * n as f64 / num as f64) as usize;
        if nan[src.min(n - 1)] {
            *v = f64::NAN;
        }
    }
}

fn check_fps(fps: f64) -> Result<()> {
    if !(fps.is_finite() && fps > 0.0) {
        return Err(CalciumError::InvalidParameter {
            name: "frame_rate_hz",
            reason: format!("must be > 0, got {fps}"),
        });
    }
    Ok(())
}

/// The preprocessing of §1.2 with its parameters (defaults = the original's).
///
/// ```
/// use spikelab_calcium::preprocess::Preprocessing;
/// use spikelab_data::CalciumTraces;
/// let x: Vec<f64> = (0..3000).map(|i| (i as f64 * 0.05).sin() + 0.001 * i as f64).collect();
/// let tr = CalciumTraces::from_columns(&[x], 30.0)?;
/// let out = Preprocessing::default().apply(&tr)?;
/// assert_eq!(out.frame_rate_hz(), 100.0);
/// assert_eq!(out.n_frames(), 10000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessing {
    /// Baseline window in seconds (40 s); `0` disables baseline removal.
    pub baseline_window_s: f64,
    /// Baseline percentile (5).
    pub baseline_percentile: f64,
    /// Normalise the dispersion with the 5th/80th percentiles (true).
    pub normalise: bool,
    /// Target rate (100 Hz, the network's).
    pub target_rate_hz: f64,
    /// Resample only if `|fps − target| >` this tolerance (0.1 Hz).
    pub rate_tolerance_hz: f64,
}

impl Default for Preprocessing {
    fn default() -> Self {
        Preprocessing {
            baseline_window_s: 40.0,
            baseline_percentile: 5.0,
            normalise: true,
            target_rate_hz: TARGET_RATE_HZ,
            rate_tolerance_hz: 0.1,
        }
    }
}

impl Preprocessing {
    fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(CalciumError::InvalidParameter { name, reason });
        if !(self.baseline_window_s >= 0.0 && self.baseline_window_s.is_finite()) {
            return bad(
                "baseline_window_s",
                format!("must be ≥ 0, got {}", self.baseline_window_s),
            );
        }
        if !(0.0..=100.0).contains(&self.baseline_percentile) {
            return bad(
                "baseline_percentile",
                format!("must be in 0…100, got {}", self.baseline_percentile),
            );
        }
        if !(self.target_rate_hz > 0.0 && self.target_rate_hz.is_finite()) {
            return bad(
                "target_rate_hz",
                format!("must be > 0, got {}", self.target_rate_hz),
            );
        }
        if self.rate_tolerance_hz.is_nan() || self.rate_tolerance_hz < 0.0 {
            return bad(
                "rate_tolerance_hz",
                format!("must be ≥ 0, got {}", self.rate_tolerance_hz),
            );
        }
        Ok(())
    }

    /// Preprocesses one trace recorded at `frame_rate_hz`; returns the new trace and its rate.
    /// NaN frames are interpolated for the computation and NaN again in the output (mapped to
    /// the nearest new frame); an all-NaN trace stays all-NaN.
    pub fn apply_trace(&self, trace: &[f64], frame_rate_hz: f64) -> Result<(Vec<f64>, f64)> {
        self.validate()?;
        check_fps(frame_rate_hz)?;
        let nan: Vec<bool> = trace.iter().map(|v| !v.is_finite()).collect();
        let resample = (frame_rate_hz - self.target_rate_hz).abs() > self.rate_tolerance_hz;
        let n = trace.len();
        let num = if resample {
            (n as f64 * self.target_rate_hz / frame_rate_hz + 0.5) as usize
        } else {
            n
        };
        let out_rate = if resample {
            self.target_rate_hz
        } else {
            frame_rate_hz
        };
        if nan.iter().all(|&b| b) {
            return Ok((vec![f64::NAN; num], out_rate));
        }
        let mut x = trace.to_vec();
        fill_nan_linear(&mut x);
        if self.baseline_window_s > 0.0 {
            let w = (frame_rate_hz * self.baseline_window_s) as usize;
            let base = running_percentile(&x, w, self.baseline_percentile)?;
            x.iter_mut().zip(&base).for_each(|(v, b)| *v -= b);
        }
        if self.normalise {
            let mut s = x.clone();
            s.sort_by(f64::total_cmp);
            let p5 = percentile_of_sorted(&s, 5.0)?;
            let p80 = percentile_of_sorted(&s, 80.0)?;
            if p80 > p5 {
                x.iter_mut().for_each(|v| *v = (*v - p5) / (p80 - p5));
            }
        }
        if resample {
            x = fft_resample(&x, num);
            remask_resampled(&mut x, &nan);
        } else {
            for (v, &b) in x.iter_mut().zip(&nan) {
                if b {
                    *v = f64::NAN;
                }
            }
        }
        Ok((x, out_rate))
    }

    /// Preprocesses every neuron (its valid part; trailing padding is kept proportionally).
    pub fn apply(&self, traces: &CalciumTraces) -> Result<CalciumTraces> {
        let fps = traces.frame_rate_hz();
        let mut cols = Vec::with_capacity(traces.n_neurons());
        let mut rate = fps;
        for j in 0..traces.n_neurons() {
            let (c, r) = self.apply_trace(&traces.trace(j).to_vec(), fps)?;
            rate = r;
            cols.push(c);
        }
        if traces.n_neurons() == 0 {
            return Ok(CalciumTraces::new(Array2::zeros((0, 0)), fps)?);
        }
        Ok(CalciumTraces::from_columns(&cols, rate)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_noise_level_is_the_sorted_median() {
        let mut x: Vec<f64> = (0..2001)
            .map(|i| ((i * 7919) % 113) as f64 * 0.013)
            .collect();
        for n in [2usize, 3, 4, 50, 2000, 2001] {
            for nan in [false, true] {
                let mut t = x[..n].to_vec();
                if nan && n > 3 {
                    t[1] = f64::NAN;
                    t[n - 1] = f64::NAN;
                }
                let a = noise_level(&t, 30.0).unwrap();
                let b = noise_level_bounded(ArrayView1::from(&t[..]), 30.0).unwrap();
                assert_eq!(a.to_bits(), b.to_bits(), "n {n}, nan {nan}");
                // The counting passes (the path of more than 2¹⁶ differences).
                let c = noise_level_bounded_with(ArrayView1::from(&t[..]), 30.0, 0).unwrap();
                assert_eq!(a.to_bits(), c.to_bits(), "n {n}, nan {nan}, counting");
            }
        }
        x.fill(f64::NAN);
        assert!(
            noise_level_bounded(ArrayView1::from(&x[..]), 30.0)
                .unwrap()
                .is_nan()
        );
        assert!(noise_level_bounded(ArrayView1::from(&x[..]), 0.0).is_err());
    }
}
