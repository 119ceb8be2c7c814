//! The 18 statistical features of a calcium trace (Spikefinder-Elephant `extract_stats`).

use ndarray::Array2;
use spikelab_data::CalciumTraces;

use super::hurst::generalized_hurst;
use super::numeric::{mean, median, pairwise_sum, std, var_with_mean};
use super::psd::{WELCH_NOVERLAP, WELCH_NPERSEG, welch_spectrum};
use crate::error::{CalciumError, Result};

/// Number of statistical features per neuron.
pub const N_FEATURES: usize = 18;

/// Frame rate the features are defined at (Hz). Traces must be resampled to it first.
pub const FEATURE_RATE_HZ: f64 = 100.0;

/// Largest accepted deviation from [`FEATURE_RATE_HZ`] (the original resamples when
/// `|fps − 100| > 0.1`).
pub const FEATURE_RATE_TOLERANCE_HZ: f64 = 0.1;

/// Shortest trace (non-NaN samples) the features are defined for: one Welch segment.
pub const MIN_FEATURE_SAMPLES: usize = WELCH_NPERSEG;

/// Names of the 18 features, in column order (as in `Parameters174temp`).
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "var_over_mean",
    "kurtosis",
    "skewness",
    "autocorr_0.5s",
    "autocorr_1s",
    "autocorr_2s",
    "hurst_q1",
    "hurst_q2",
    "hurst_q3",
    "hurst_q4",
    "hurst_q5",
    "psd_0.05hz",
    "psd_0.63hz",
    "psd_1.22hz",
    "psd_1.81hz",
    "psd_2.39hz",
    "psd_2.98hz",
    "psd_3.56hz",
];

/// Circular lags (samples at 100 Hz) of the three autocorrelation features: 0.5, 1 and 2 s.
const AUTOCORR_LAGS: [usize; 3] = [50, 100, 200];

/// Pearson correlation of `t` with `np.roll(t, lag)` (circular shift).
fn circular_autocorr(t: &[f64], lag: usize) -> f64 {
    let n = t.len();
    let m = mean(t); // the rolled series has the same mean
    let xm: Vec<f64> = t.iter().map(|v| v - m).collect();
    let prod: Vec<f64> = (0..n).map(|i| xm[i] * xm[(i + n - lag % n) % n]).collect();
    let ss = pairwise_sum(&xm.iter().map(|v| v * v).collect::<Vec<_>>());
    (pairwise_sum(&prod) / ss).clamp(-1.0, 1.0)
}

/// Central moment of order 2, 3 or 4 the way `scipy.stats.moment` evaluates it.
fn central_moment(t: &[f64], m: f64, order: u32) -> f64 {
    let v: Vec<f64> = t
        .iter()
        .map(|x| {
            let d = x - m;
            match order {
                2 => d * d,
                3 => (d * d) * d,
                _ => (d * d) * (d * d),
            }
        })
        .collect();
    mean(&v)
}

/// The 18 features of one neuron's trace sampled at 100 Hz.
///
/// NaN samples are dropped first (as the original does). With `x` the remaining raw trace and
/// `t = (x − median x) / std x` (population std), the columns are:
///
/// | # | feature |
/// |---|---|
/// | 0 | `var(x)/mean(x)` of the **raw** trace (population variance; not scale-invariant) |
/// | 1 | Pearson kurtosis of `t` (biased, not excess) |
/// | 2 | skewness of `t` (biased) |
/// | 3–5 | Pearson correlation of `t` with itself circularly shifted by 0.5, 1, 2 s |
/// | 6–10 | generalized Hurst exponents H(1)…H(5) of `t` ([`generalized_hurst`](super::generalized_hurst)) |
/// | 11–17 | `−(ln P[6k] + ln P[6k+1])/2`, k = 0…6, of the normalised Welch spectrum of `t` |
///
/// The Welch spectrum uses a 1024-sample periodic Hamming window with 512 overlap, constant
/// detrending and `scaling='spectrum'` (SciPy's defaults), and is divided by the sum of its
/// bins below the first bin with power < 1e-4 (all bins but the last two when there is none;
/// the original's quirk). The bin pairs sit at 0/0.1, 0.59/0.68, … 3.52/3.61 Hz.
///
/// Errors ([`CalciumError::InvalidInput`]): `frame_rate_hz` not within 0.1 Hz of 100 Hz
/// (resample first), fewer than [`MIN_FEATURE_SAMPLES`] non-NaN samples, an infinite sample,
/// or a trace whose statistics are not finite (constant trace, zero mean, empty spectrum bins).
///
/// ```
/// use spikelab_calcium::embedding::{features, FEATURE_NAMES};
/// // A slow oscillation with fast jitter, 60 s at 100 Hz.
/// let x: Vec<f64> = (0..6000)
///     .map(|i| 2.0 + (i as f64 * 0.01).sin() + 0.1 * ((i * 7919 % 101) as f64 / 101.0))
///     .collect();
/// let f = features(&x, 100.0)?;
/// assert_eq!(f.len(), FEATURE_NAMES.len());
/// assert!(f[3] > 0.0, "the oscillation has a positive 0.5-s autocorrelation");
/// // Bad input is a typed error, not a NaN.
/// assert!(features(&x, 30.0).is_err());
/// assert!(features(&vec![1.0; 6000], 100.0).is_err());
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn features(trace: &[f64], frame_rate_hz: f64) -> Result<[f64; N_FEATURES]> {
    check_rate(frame_rate_hz)?;
    let invalid = |reason: String| CalciumError::InvalidInput {
        what: "calcium trace".into(),
        reason,
    };
    if trace.iter().any(|v| v.is_infinite()) {
        return Err(invalid("contains an infinite sample".into()));
    }
    let x: Vec<f64> = trace.iter().copied().filter(|v| !v.is_nan()).collect();
    if x.len() < MIN_FEATURE_SAMPLES {
        return Err(invalid(format!(
            "{} non-NaN samples; the statistical features need at least {MIN_FEATURE_SAMPLES} \
             (one 1024-sample Welch segment)",
            x.len()
        )));
    }
    let mut f = [0.0; N_FEATURES];
    let mx = mean(&x);
    f[0] = var_with_mean(&x, mx) / mx;
    let sd = std(&x);
    if sd.is_nan() || sd <= 0.0 {
        return Err(invalid("constant trace (standard deviation 0)".into()));
    }
    let med = median(&x);
    let t: Vec<f64> = x.iter().map(|v| (v - med) / sd).collect();
    let mt = mean(&t);
    let m2 = central_moment(&t, mt, 2);
    f[1] = central_moment(&t, mt, 4) / (m2 * m2);
    f[2] = central_moment(&t, mt, 3) / m2.powf(1.5);
    for (k, &lag) in AUTOCORR_LAGS.iter().enumerate() {
        f[3 + k] = circular_autocorr(&t, lag);
    }
    for q in 1..=5u32 {
        f[5 + q as usize] = generalized_hurst(&t, q);
    }
    let p = welch_spectrum(&t, WELCH_NPERSEG, WELCH_NOVERLAP);
    // First bin with |P| < 1e-4, or -1 (the original searched a byte string for "\x01").
    let m: isize = p
        .iter()
        .position(|v| v.abs() < 1e-4)
        .map_or(-1, |i| i as isize);
    // Python slice end `m - 1`, negative values counting from the end.
    let end = m - 1;
    let end = if end < 0 { p.len() as isize + end } else { end } as usize;
    let norm = pairwise_sum(&p[..end]);
    for k in 0..7 {
        let a = p[6 * k] / norm;
        let b = p[6 * k + 1] / norm;
        f[11 + k] = (-a.ln() - b.ln()) / 2.0;
    }
    if let Some(i) = f.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!(
            "feature {} ({}) is not finite ({})",
            i, FEATURE_NAMES[i], f[i]
        )));
    }
    Ok(f)
}

fn check_rate(frame_rate_hz: f64) -> Result<()> {
    if (frame_rate_hz - FEATURE_RATE_HZ).abs().is_nan()
        || (frame_rate_hz - FEATURE_RATE_HZ).abs() > FEATURE_RATE_TOLERANCE_HZ
    {
        return Err(CalciumError::InvalidInput {
            what: "frame_rate_hz".into(),
            reason: format!(
                "the statistical features are defined at {FEATURE_RATE_HZ} Hz, got \
                 {frame_rate_hz} Hz; resample the traces to 100 Hz first"
            ),
        });
    }
    Ok(())
}

/// Features of every neuron of a recording: a `[neuron, feature]` array (18 columns).
///
/// The traces must be at 100 Hz (see [`features`]). Each neuron's NaNs are dropped. An
/// unusable neuron makes the whole call fail with an error naming it; use [`features`] per
/// neuron to skip such neurons instead.
///
/// ```
/// use spikelab_calcium::embedding::features_of_traces;
/// use spikelab_data::CalciumTraces;
/// let a: Vec<f64> = (0..3000).map(|i| 1.0 + (i as f64 * 0.03).sin().abs()).collect();
/// let b: Vec<f64> = (0..2500).map(|i| 2.0 + (i as f64 * 0.011).cos().powi(2)).collect();
/// let traces = CalciumTraces::from_columns(&[a, b], 100.0)?;
/// let f = features_of_traces(&traces)?;
/// assert_eq!(f.dim(), (2, 18));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn features_of_traces(traces: &CalciumTraces) -> Result<Array2<f64>> {
    check_rate(traces.frame_rate_hz())?;
    let mut out = Array2::zeros((traces.n_neurons(), N_FEATURES));
    for j in 0..traces.n_neurons() {
        let tr = traces.trace(j).to_vec();
        let f = features(&tr, traces.frame_rate_hz()).map_err(|e| match e {
            CalciumError::InvalidInput { reason, .. } => CalciumError::InvalidInput {
                what: format!("neuron {j}"),
                reason,
            },
            other => other,
        })?;
        out.row_mut(j).assign(&ndarray::ArrayView1::from(&f[..]));
    }
    Ok(out)
}
