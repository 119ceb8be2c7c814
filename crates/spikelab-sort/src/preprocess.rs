//! Preprocessing of `[sample, channel]` recordings before detection: zero-phase band-pass,
//! common-median reference, z-scoring and ZCA (spatial) whitening, as SimSort's chains
//! (specification §3) and spikeinterface's defaults use them.
//!
//! Storage is f32 (as recordings are); every sum (means, variances, covariances, the whitening
//! product) and every filter runs in f64 and is rounded to f32 once at the end of each stage.
//!
//! * **Band-pass**: [`crate::filter::filtfilt`] (ba form, as SimSort) or
//!   [`crate::filter::sosfiltfilt`] (sos form, better conditioned) along time, channel by
//!   channel, in parallel over channels (rayon).
//! * **Common-median reference**: `x[t, c] ← x[t, c] − median_c' x[t, c']` (the mean of the
//!   two middle values for an even channel count, as `np.median`).
//! * **Z-score**: `x[t, c] ← (x[t, c] − μ_c)/σ_c` with the population standard deviation
//!   (`np.std`, ddof 0); a channel with `σ_c = 0` is divided by 1 (as SimSort) and reported.
//! * **ZCA whitening** (Bell & Sejnowski, "The 'independent components' of natural scenes are
//!   edge filters", Vision Res. 37 (1997) 3327–3338; Kessy, Lewin & Strimmer, "Optimal
//!   whitening and decorrelation", Am. Stat. 72 (2018) 309–314): with the channel covariance
//!   `C = cov(X)` (ddof 1, means removed) and its eigen decomposition `C = E Λ Eᵀ`,
//!   `W = E Λ^{-1/2} Eᵀ` and `X ← X Wᵀ` (rows are samples; the means are not removed in this
//!   product, as in SimSort, which whitens z-scored data). `W` is the symmetric whitening
//!   matrix closest to the identity, so each whitened channel stays tied to its contact.
//!   Eigenvalues below `eps·λ_max` are raised to it (a flat or duplicated channel would
//!   otherwise divide by zero).
//!
//! # Example
//! ```
//! use ndarray::Array2;
//! use spikelab_sort::preprocess::Preprocess;
//! let x = Array2::from_shape_fn((3000, 4), |(t, c)| ((t * (c + 3)) as f32 * 0.37).sin());
//! let plan = Preprocess::simsort_test().validate(30_000.0)?;
//! let out = plan.apply(x.view())?;
//! assert_eq!(out.traces.dim(), (3000, 4));
//! assert!(out.zero_std_channels.is_empty());
//! # Ok::<(), spikelab_sort::SortError>(())
//! ```

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_data::Recording;

use crate::error::{Result, SortError};
use crate::filter::{Ba, Band, Sos, butter_ba, butter_sos, filtfilt, sosfiltfilt};

/// Which representation of the zero-phase filter to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterForm {
    /// Transfer function with `filtfilt` (SimSort's choice; ill-conditioned for low or narrow
    /// bands).
    Ba,
    /// Second-order sections with `sosfiltfilt` (spikeinterface's choice).
    Sos,
}

/// A Butterworth zero-phase filter specification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FilterSpec {
    /// Filter order (1..=64; the zero-phase response has twice this order).
    pub order: usize,
    /// The band.
    pub band: Band,
    /// Representation.
    pub form: FilterForm,
}

/// A designed zero-phase filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ZeroPhase {
    /// Transfer function, run with [`filtfilt`].
    Ba(Ba),
    /// Second-order sections, run with [`sosfiltfilt`].
    Sos(Sos),
}

impl FilterSpec {
    /// Designs the filter for `sampling_rate_hz`. Errors as [`crate::filter::butter_zpk`].
    pub fn design(&self, sampling_rate_hz: f64) -> Result<ZeroPhase> {
        Ok(match self.form {
            FilterForm::Ba => ZeroPhase::Ba(butter_ba(self.order, self.band, sampling_rate_hz)?),
            FilterForm::Sos => ZeroPhase::Sos(butter_sos(self.order, self.band, sampling_rate_hz)?),
        })
    }
}

impl ZeroPhase {
    /// Filters one signal forwards and backwards.
    pub fn apply(&self, x: &[f64]) -> Result<Vec<f64>> {
        match self {
            ZeroPhase::Ba(ba) => filtfilt(ba, x),
            ZeroPhase::Sos(sos) => sosfiltfilt(sos, x),
        }
    }
}

/// Preprocessing parameters, applied in the order filter → common-median reference → z-score
/// → whitening. Validate with [`Preprocess::validate`] against a sampling rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Zero-phase band-pass (or other band); `None` skips filtering.
    pub filter: Option<FilterSpec>,
    /// Subtract the per-sample median across channels.
    pub common_median_reference: bool,
    /// Z-score each channel.
    pub zscore: bool,
    /// ZCA-whiten across channels.
    pub whiten: bool,
    /// Relative eigenvalue floor of the whitening (`λ ← max(λ, eps·λ_max)`), in (0, 1).
    pub whiten_eps: f64,
}

impl Preprocess {
    /// SimSort's test chain (Hybrid Janelia, 30 kHz): band-pass 300–10 000 Hz, Butterworth
    /// order 4, ba form, z-score, ZCA whitening.
    pub fn simsort_test() -> Self {
        Self {
            filter: Some(FilterSpec {
                order: 4,
                band: Band::Bandpass {
                    low_hz: 300.0,
                    high_hz: 10_000.0,
                },
                form: FilterForm::Ba,
            }),
            common_median_reference: false,
            zscore: true,
            whiten: true,
            whiten_eps: 1e-8,
        }
    }

    /// SimSort's training chain (simulation at 10 kHz): band-pass 300–3 000 Hz, order 4,
    /// ba form, z-score, no whitening.
    pub fn simsort_training() -> Self {
        Self {
            filter: Some(FilterSpec {
                order: 4,
                band: Band::Bandpass {
                    low_hz: 300.0,
                    high_hz: 3000.0,
                },
                form: FilterForm::Ba,
            }),
            whiten: false,
            ..Self::simsort_test()
        }
    }

    /// A spikeinterface-like chain (MountainSort 5's defaults): band-pass 300–6 000 Hz,
    /// order 4 in sos form, common-median reference, z-score, whitening.
    pub fn spikeinterface_like() -> Self {
        Self {
            filter: Some(FilterSpec {
                order: 4,
                band: Band::Bandpass {
                    low_hz: 300.0,
                    high_hz: 6000.0,
                },
                form: FilterForm::Sos,
            }),
            common_median_reference: true,
            ..Self::simsort_test()
        }
    }

    /// Checks the parameters for `sampling_rate_hz` and designs the filter.
    ///
    /// Errors: [`SortError::InvalidParameter`] for a bad band or order (see
    /// [`crate::filter::butter_zpk`]) or `whiten_eps` outside (0, 1).
    pub fn validate(&self, sampling_rate_hz: f64) -> Result<PreprocessPlan> {
        if !(self.whiten_eps > 0.0 && self.whiten_eps < 1.0) {
            return Err(SortError::InvalidParameter {
                name: "whiten_eps",
                reason: format!(
                    "the relative eigenvalue floor must lie in (0, 1), got {}; 1e-8 is usual",
                    self.whiten_eps
                ),
            });
        }
        let filter = self
            .filter
            .map(|f| f.design(sampling_rate_hz))
            .transpose()?;
        Ok(PreprocessPlan {
            params: self.clone(),
            sampling_rate_hz,
            filter,
        })
    }
}

/// Validated preprocessing with its filter designed.
#[derive(Debug, Clone)]
pub struct PreprocessPlan {
    params: Preprocess,
    sampling_rate_hz: f64,
    filter: Option<ZeroPhase>,
}

/// The output of [`PreprocessPlan::apply`].
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// Processed traces `[sample, channel]`.
    pub traces: Array2<f32>,
    /// Channels whose standard deviation was 0 at the z-score (left at 0 after centring).
    pub zero_std_channels: Vec<usize>,
    /// The whitening matrix `W` (`[channel, channel]`), if whitening ran.
    pub whitening: Option<Array2<f64>>,
}

impl PreprocessPlan {
    /// The parameters.
    pub fn params(&self) -> &Preprocess {
        &self.params
    }

    /// The sampling rate the filter was designed for (Hz).
    pub fn sampling_rate_hz(&self) -> f64 {
        self.sampling_rate_hz
    }

    /// Runs the chain on `traces` (`[sample, channel]`).
    ///
    /// Errors: [`SortError::NonFinite`] for NaN or infinite samples;
    /// [`SortError::SignalTooShort`] if the recording is shorter than the filter's padding;
    /// [`SortError::InvalidParameter`] for no channel or fewer than 2 samples when whitening.
    pub fn apply(&self, traces: ArrayView2<f32>) -> Result<Preprocessed> {
        check_traces(traces)?;
        let mut x = match &self.filter {
            Some(f) => filter_channels(traces, f)?,
            None => traces.to_owned(),
        };
        if self.params.common_median_reference {
            x = common_median_reference(x.view());
        }
        let mut zero_std_channels = Vec::new();
        if self.params.zscore {
            let z = zscore(x.view());
            zero_std_channels = z.zero_std_channels;
            x = z.traces;
        }
        let mut whitening = None;
        if self.params.whiten {
            let w = zca_whitening_matrix(x.view(), self.params.whiten_eps)?;
            x = apply_whitening(x.view(), &w);
            whitening = Some(w);
        }
        Ok(Preprocessed {
            traces: x,
            zero_std_channels,
            whitening,
        })
    }

    /// Runs the chain on a recording's traces in µV (gains and offsets applied); the result has
    /// gain 1 and the same probe and sampling rate.
    ///
    /// Errors: as [`PreprocessPlan::apply`]; [`SortError::InvalidParameter`] if the recording's
    /// sampling rate differs from the plan's.
    pub fn apply_recording(&self, recording: &Recording) -> Result<(Recording, Preprocessed)> {
        if recording.sampling_rate_hz() != self.sampling_rate_hz {
            return Err(SortError::InvalidParameter {
                name: "sampling_rate_hz",
                reason: format!(
                    "the plan was designed for {} Hz but the recording is at {} Hz; validate \
                     the parameters with the recording's rate",
                    self.sampling_rate_hz,
                    recording.sampling_rate_hz()
                ),
            });
        }
        let out = self.apply(recording.traces_uv().view())?;
        let rec = Recording::new(
            out.traces.clone(),
            recording.sampling_rate_hz(),
            recording.probe().clone(),
        )?;
        Ok((rec, out))
    }
}

fn check_traces(traces: ArrayView2<f32>) -> Result<()> {
    if traces.ncols() == 0 || traces.nrows() == 0 {
        return Err(SortError::InvalidParameter {
            name: "traces",
            reason: format!(
                "need at least one sample and one channel, got shape {:?}",
                traces.dim()
            ),
        });
    }
    if let Some(((t, c), _)) = traces.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(SortError::NonFinite(format!(
            "traces at sample {t}, channel {c}"
        )));
    }
    Ok(())
}

/// Zero-phase filtering of every channel of `traces` (`[sample, channel]`), in f64, in
/// parallel over channels.
///
/// Errors: [`SortError::SignalTooShort`] if there are too few samples for the padding.
pub fn filter_channels(traces: ArrayView2<f32>, filter: &ZeroPhase) -> Result<Array2<f32>> {
    let columns: Vec<Vec<f64>> = traces
        .axis_iter(Axis(1))
        .map(|c| c.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let filtered: Vec<Vec<f64>> = columns
        .par_iter()
        .map(|c| filter.apply(c))
        .collect::<Result<_>>()?;
    let mut out = Array2::<f32>::zeros(traces.dim());
    for (mut col, f) in out.axis_iter_mut(Axis(1)).zip(&filtered) {
        for (o, v) in col.iter_mut().zip(f) {
            *o = *v as f32;
        }
    }
    Ok(out)
}

pub(crate) fn median_in_place(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Common-median reference: subtracts from every sample the median across channels at that
/// sample (`x − np.median(x, axis=1, keepdims=True)`).
///
/// ```
/// use ndarray::array;
/// use spikelab_sort::preprocess::common_median_reference;
/// let x = array![[1.0f32, 2.0, 10.0], [0.0, 0.0, 3.0]];
/// assert_eq!(common_median_reference(x.view()), array![[-1.0f32, 0.0, 8.0], [0.0, 0.0, 3.0]]);
/// ```
pub fn common_median_reference(traces: ArrayView2<f32>) -> Array2<f32> {
    let mut out = traces.to_owned();
    let mut buf = Vec::with_capacity(traces.ncols());
    for mut row in out.axis_iter_mut(Axis(0)) {
        buf.clear();
        buf.extend(row.iter().map(|&v| f64::from(v)));
        let m = median_in_place(&mut buf);
        row.mapv_inplace(|v| (f64::from(v) - m) as f32);
    }
    out
}

/// The result of [`zscore`].
#[derive(Debug, Clone)]
pub struct ZScore {
    /// `(x − μ)/σ` per channel.
    pub traces: Array2<f32>,
    /// Channel means μ.
    pub means: Vec<f64>,
    /// Channel population standard deviations σ (0 where the channel is constant).
    pub stds: Vec<f64>,
    /// Channels with σ = 0 (divided by 1 instead).
    pub zero_std_channels: Vec<usize>,
}

/// Z-scores each channel with its mean and population standard deviation (ddof 0), both
/// accumulated in f64; a constant channel is only centred and listed in `zero_std_channels`.
///
/// ```
/// use ndarray::array;
/// use spikelab_sort::preprocess::zscore;
/// let z = zscore(array![[1.0f32, 5.0], [3.0, 5.0]].view());
/// assert_eq!(z.traces, array![[-1.0f32, 0.0], [1.0, 0.0]]);
/// assert_eq!(z.zero_std_channels, vec![1]);
/// ```
pub fn zscore(traces: ArrayView2<f32>) -> ZScore {
    let n = traces.nrows() as f64;
    let mut out = traces.to_owned();
    let mut means = Vec::new();
    let mut stds = Vec::new();
    let mut zero = Vec::new();
    for (c, mut col) in out.axis_iter_mut(Axis(1)).enumerate() {
        let mean = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = col
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = var.sqrt();
        let div = if std == 0.0 {
            zero.push(c);
            1.0
        } else {
            std
        };
        col.mapv_inplace(|v| ((f64::from(v) - mean) / div) as f32);
        means.push(mean);
        stds.push(std);
    }
    ZScore {
        traces: out,
        means,
        stds,
        zero_std_channels: zero,
    }
}

/// Channel covariance `[channel, channel]` with ddof 1 (`np.cov(x.T)`), in f64.
///
/// Errors: [`SortError::InvalidParameter`] for fewer than 2 samples.
pub fn covariance(traces: ArrayView2<f32>) -> Result<Array2<f64>> {
    let (n, c) = traces.dim();
    if n < 2 {
        return Err(SortError::InvalidParameter {
            name: "traces",
            reason: format!("a covariance needs at least 2 samples, got {n}"),
        });
    }
    let means: Vec<f64> = traces
        .axis_iter(Axis(1))
        .map(|col| col.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64)
        .collect();
    let mut cov = Array2::<f64>::zeros((c, c));
    let mut centred = vec![0.0; c];
    for row in traces.axis_iter(Axis(0)) {
        for (k, (&v, m)) in row.iter().zip(&means).enumerate() {
            centred[k] = f64::from(v) - m;
        }
        for i in 0..c {
            for j in i..c {
                cov[(i, j)] += centred[i] * centred[j];
            }
        }
    }
    for i in 0..c {
        for j in i..c {
            let v = cov[(i, j)] / (n as f64 - 1.0);
            cov[(i, j)] = v;
            cov[(j, i)] = v;
        }
    }
    Ok(cov)
}

/// The ZCA whitening matrix `W = E Λ^{-1/2} Eᵀ` of a covariance matrix (symmetric eigen
/// decomposition), with eigenvalues floored at `eps·λ_max`.
///
/// ```
/// use ndarray::array;
/// use spikelab_sort::preprocess::zca_from_covariance;
/// let w = zca_from_covariance(&array![[4.0, 0.0], [0.0, 0.25]], 1e-8)?;
/// assert!((w[(0, 0)] - 0.5).abs() < 1e-12 && (w[(1, 1)] - 2.0).abs() < 1e-12);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: [`SortError::Dimension`] for a non-square matrix; [`SortError::NonFinite`];
/// [`SortError::InvalidParameter`] if every eigenvalue is ≤ 0 (no signal).
pub fn zca_from_covariance(cov: &Array2<f64>, eps: f64) -> Result<Array2<f64>> {
    let (r, c) = cov.dim();
    if r != c || r == 0 {
        return Err(SortError::Dimension {
            what: "covariance matrix".into(),
            expected: "square, non-empty".into(),
            got: format!("{r} × {c}"),
        });
    }
    if cov.iter().any(|v| !v.is_finite()) {
        return Err(SortError::NonFinite("covariance matrix".into()));
    }
    let m = nalgebra::DMatrix::from_fn(r, r, |i, j| 0.5 * (cov[(i, j)] + cov[(j, i)]));
    let eig = nalgebra::SymmetricEigen::new(m);
    let lmax = eig.eigenvalues.iter().copied().fold(f64::MIN, f64::max);
    if lmax <= 0.0 {
        return Err(SortError::InvalidParameter {
            name: "traces",
            reason: "the channel covariance has no positive eigenvalue (all channels constant); \
                     whitening needs signal"
                .into(),
        });
    }
    let floor = eps * lmax;
    let e = &eig.eigenvectors;
    let inv: Vec<f64> = eig
        .eigenvalues
        .iter()
        .map(|&l| 1.0 / l.max(floor).sqrt())
        .collect();
    Ok(Array2::from_shape_fn((r, r), |(i, j)| {
        (0..r).map(|k| e[(i, k)] * inv[k] * e[(j, k)]).sum()
    }))
}

/// The ZCA whitening matrix of `traces` ([`covariance`] then [`zca_from_covariance`]).
///
/// Errors: as those two.
pub fn zca_whitening_matrix(traces: ArrayView2<f32>, eps: f64) -> Result<Array2<f64>> {
    zca_from_covariance(&covariance(traces)?, eps)
}

/// `X Wᵀ` (each sample row multiplied by `Wᵀ`), accumulated in f64.
pub fn apply_whitening(traces: ArrayView2<f32>, w: &Array2<f64>) -> Array2<f32> {
    let c = traces.ncols();
    let mut out = Array2::<f32>::zeros(traces.dim());
    for (row, mut o) in traces.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        for i in 0..c {
            let mut s = 0.0;
            for (j, &v) in row.iter().enumerate() {
                s += f64::from(v) * w[(i, j)];
            }
            o[i] = s as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for p in [
            Preprocess::simsort_test(),
            Preprocess::spikeinterface_like(),
        ] {
            assert!(p.validate(30_000.0).is_ok());
        }
        assert!(Preprocess::simsort_training().validate(10_000.0).is_ok());
        // 10 kHz cut-off above Nyquist at 10 kHz.
        assert!(Preprocess::simsort_test().validate(10_000.0).is_err());
        let mut p = Preprocess::simsort_test();
        p.whiten_eps = 0.0;
        assert!(p.validate(30_000.0).is_err());
    }

    #[test]
    fn bad_traces_are_errors() {
        let plan = Preprocess::simsort_test().validate(30_000.0).unwrap();
        let mut x = Array2::<f32>::zeros((100, 2));
        x[(5, 1)] = f32::NAN;
        assert!(matches!(plan.apply(x.view()), Err(SortError::NonFinite(_))));
        let short = Array2::<f32>::ones((20, 2));
        assert!(matches!(
            plan.apply(short.view()),
            Err(SortError::SignalTooShort { .. })
        ));
    }

    #[test]
    fn constant_channel_is_reported_and_whitening_survives_it() {
        let mut x = Array2::from_shape_fn((500, 3), |(t, c)| ((t * (c + 2)) as f32 * 0.7).sin());
        x.column_mut(1).fill(2.0);
        let p = Preprocess {
            filter: None,
            ..Preprocess::simsort_test()
        };
        let out = p.validate(30_000.0).unwrap().apply(x.view()).unwrap();
        assert_eq!(out.zero_std_channels, vec![1]);
        assert!(out.traces.iter().all(|v| v.is_finite()));
        let worst = out
            .traces
            .column(1)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(worst < 1e-6, "{worst:e}");
    }
}
