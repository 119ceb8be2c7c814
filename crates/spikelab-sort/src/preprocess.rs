//! Preprocessing of `[sample, channel]` recordings before detection: zero-phase band-pass,
//! common-median reference, z-scoring and ZCA (spatial) whitening, as SimSort's chains
//! (specification §3) and spikeinterface's defaults use them.
//!
//! Storage is f32 (as recordings are); every sum (means, variances, covariances, the whitening
//! product) and every filter runs in f64 and is rounded to f32 once at the end of each stage.
//! Sums over samples are taken per block of 16 384 samples in parallel and the block sums are
//! added in block order, so results do not depend on the number of threads. Memory beyond the
//! output is one filtered channel per thread: a 384-channel, 10-min recording (27.6 GB of f32)
//! is processed in place.
//!
//! On a GPU ([`PreprocessPlan::apply_on`] with a CUDA or Metal device) the two O(C²·T) stages,
//! the channel covariance and the product `X Wᵀ`, run as f32 matrix products on the device in
//! blocks of 262 144 samples, with the block covariances added in f64 on the host; they agree
//! with the f64 path to about 1e-6 relative (f32 rounding).
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

use candle_core::Tensor;
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

    /// Runs the chain on `traces` (`[sample, channel]`) on the CPU.
    ///
    /// Errors: [`SortError::NonFinite`] for NaN or infinite samples;
    /// [`SortError::SignalTooShort`] if the recording is shorter than the filter's padding;
    /// [`SortError::InvalidParameter`] for no channel or fewer than 2 samples when whitening.
    pub fn apply(&self, traces: ArrayView2<f32>) -> Result<Preprocessed> {
        self.apply_on(traces, &candle_core::Device::Cpu)
    }

    /// Runs the chain with the whitening's covariance and product on `device` (the f64 CPU
    /// path for [`candle_core::Device::Cpu`], f32 matrix products otherwise; see the module
    /// docs).
    ///
    /// Errors: as [`PreprocessPlan::apply`]; [`SortError::Candle`] from the device.
    pub fn apply_on(
        &self,
        traces: ArrayView2<f32>,
        device: &candle_core::Device,
    ) -> Result<Preprocessed> {
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
            zero_std_channels = zscore_in_place(&mut x).zero_std_channels;
        }
        let mut whitening = None;
        if self.params.whiten {
            let cov = if device.is_cpu() {
                covariance(x.view())?
            } else {
                covariance_on(x.view(), device)?
            };
            let w = zca_from_covariance(&cov, self.params.whiten_eps)?;
            if device.is_cpu() {
                whiten_in_place(&mut x, &w);
            } else {
                whiten_in_place_on(&mut x, &w, device)?;
            }
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
    let (n, c) = traces.dim();
    if c == 0 || n == 0 {
        return Err(SortError::InvalidParameter {
            name: "traces",
            reason: format!(
                "need at least one sample and one channel, got shape {:?}",
                traces.dim()
            ),
        });
    }
    let x = traces.as_standard_layout();
    let data = x.as_slice().expect("standard layout is contiguous");
    let first_bad = data
        .par_chunks(BLOCK_ROWS * c)
        .enumerate()
        .find_map_first(|(b, block)| {
            block
                .iter()
                .position(|v| !v.is_finite())
                .map(|i| b * BLOCK_ROWS * c + i)
        });
    if let Some(i) = first_bad {
        return Err(SortError::NonFinite(format!(
            "traces at sample {}, channel {}",
            i / c,
            i % c
        )));
    }
    Ok(())
}

/// Zero-phase filtering of every channel of `traces` (`[sample, channel]`), in f64, in
/// parallel over channels; memory beyond the output is one channel per thread.
///
/// Errors: [`SortError::SignalTooShort`] if there are too few samples for the padding.
pub fn filter_channels(traces: ArrayView2<f32>, filter: &ZeroPhase) -> Result<Array2<f32>> {
    let (n, c) = traces.dim();
    let mut out = Array2::<f32>::zeros((n, c));
    if n == 0 || c == 0 {
        return Ok(out);
    }
    let x = traces.as_standard_layout();
    let data = x.as_slice().expect("standard layout is contiguous");
    let batch = rayon::current_num_threads().max(1);
    for first in (0..c).step_by(batch) {
        let channels: Vec<usize> = (first..(first + batch).min(c)).collect();
        let nb = channels.len();
        // Gather the batch's columns with one pass over the rows: blocks `[channel, row]`.
        let blocks: Vec<Vec<f32>> = data
            .par_chunks(BLOCK_ROWS * c)
            .map(|block| {
                let rows = block.len() / c;
                let mut t = vec![0.0f32; nb * rows];
                for (i, row) in block.chunks_exact(c).enumerate() {
                    for (k, &ch) in channels.iter().enumerate() {
                        t[k * rows + i] = row[ch];
                    }
                }
                t
            })
            .collect();
        let filtered: Vec<Vec<f32>> = (0..nb)
            .into_par_iter()
            .map(|k| {
                let mut col = Vec::with_capacity(n);
                for b in &blocks {
                    let rows = b.len() / nb;
                    col.extend(b[k * rows..(k + 1) * rows].iter().map(|&v| f64::from(v)));
                }
                Ok(filter.apply(&col)?.into_iter().map(|v| v as f32).collect())
            })
            .collect::<Result<_>>()?;
        drop(blocks);
        let out_rows = out
            .as_slice_mut()
            .expect("a fresh array is contiguous")
            .par_chunks_mut(BLOCK_ROWS * c);
        out_rows.enumerate().for_each(|(b, block)| {
            for (i, row) in block.chunks_exact_mut(c).enumerate() {
                let t = b * BLOCK_ROWS + i;
                for (&ch, f) in channels.iter().zip(&filtered) {
                    row[ch] = f[t];
                }
            }
        });
    }
    Ok(out)
}

/// Samples per block of the parallel sums (fixed, so results do not depend on the thread
/// count).
const BLOCK_ROWS: usize = 16_384;

/// Samples per block moved to the device by [`covariance_on`] and [`whiten_in_place_on`].
const DEVICE_BLOCK_ROWS: usize = 262_144;

/// The samples of `x` as one row-major slice (converted first if `x` is not in standard
/// layout).
fn standard_slice(x: &mut Array2<f32>) -> &mut [f32] {
    if !x.is_standard_layout() {
        *x = x.as_standard_layout().into_owned();
    }
    x.as_slice_mut().expect("standard layout is contiguous")
}

/// Per-channel f64 sums of `f(x[t, c], c)` over samples, in parallel blocks added in order.
fn channel_sums(x: ArrayView2<f32>, f: impl Fn(f32, usize) -> f64 + Sync) -> Vec<f64> {
    let c = x.ncols();
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout is contiguous");
    let partial: Vec<Vec<f64>> = data
        .par_chunks(BLOCK_ROWS * c.max(1))
        .map(|block| {
            let mut s = vec![0.0; c];
            for row in block.chunks_exact(c) {
                for (k, (a, &v)) in s.iter_mut().zip(row).enumerate() {
                    *a += f(v, k);
                }
            }
            s
        })
        .collect();
    let mut total = vec![0.0; c];
    for p in &partial {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// Median of `v` (the mean of the two middle values for an even length), reordering `v`;
/// O(n) by selection.
pub(crate) fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (left, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        let below = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + mid) / 2.0
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
    let mut out = traces.to_owned();
    let ZScoreStats {
        means,
        stds,
        zero_std_channels,
    } = zscore_in_place(&mut out);
    ZScore {
        traces: out,
        means,
        stds,
        zero_std_channels,
    }
}

/// The statistics of [`zscore_in_place`] (those of [`ZScore`] without the traces).
#[derive(Debug, Clone)]
pub struct ZScoreStats {
    /// Channel means μ.
    pub means: Vec<f64>,
    /// Channel population standard deviations σ (0 where the channel is constant).
    pub stds: Vec<f64>,
    /// Channels with σ = 0 (divided by 1 instead).
    pub zero_std_channels: Vec<usize>,
}

/// [`zscore`] in place.
pub fn zscore_in_place(x: &mut Array2<f32>) -> ZScoreStats {
    let n = x.nrows() as f64;
    let means: Vec<f64> = channel_sums(x.view(), |v, _| f64::from(v))
        .into_iter()
        .map(|s| s / n)
        .collect();
    let stds: Vec<f64> = channel_sums(x.view(), |v, k| (f64::from(v) - means[k]).powi(2))
        .into_iter()
        .map(|s| (s / n).sqrt())
        .collect();
    let zero: Vec<usize> = (0..stds.len()).filter(|&k| stds[k] == 0.0).collect();
    let div: Vec<f64> = stds
        .iter()
        .map(|&s| if s == 0.0 { 1.0 } else { s })
        .collect();
    let c = x.ncols();
    if c > 0 {
        standard_slice(x)
            .par_chunks_mut(BLOCK_ROWS * c)
            .for_each(|block| {
                for row in block.chunks_exact_mut(c) {
                    for (k, v) in row.iter_mut().enumerate() {
                        *v = ((f64::from(*v) - means[k]) / div[k]) as f32;
                    }
                }
            });
    }
    ZScoreStats {
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
    let means = covariance_means(traces)?;
    let x = traces.as_standard_layout();
    let data = x.as_slice().expect("standard layout is contiguous");
    let mut sum = Array2::<f64>::zeros((c, c));
    // Blocks are summed in groups so at most 64 partial matrices are alive at once.
    for group in data.chunks(64 * BLOCK_ROWS * c) {
        let partial: Vec<Array2<f64>> = group
            .par_chunks(BLOCK_ROWS * c)
            .map(|block| {
                let rows = block.len() / c;
                let z = Array2::from_shape_fn((rows, c), |(t, k)| {
                    f64::from(block[t * c + k]) - means[k]
                });
                z.t().dot(&z)
            })
            .collect();
        for p in &partial {
            sum += p;
        }
    }
    let upper = sum.as_slice().expect("a fresh array is contiguous");
    Ok(symmetric_from_upper(upper, c, n))
}

/// Channel means for a covariance; errors for fewer than 2 samples.
fn covariance_means(traces: ArrayView2<f32>) -> Result<Vec<f64>> {
    let n = traces.nrows();
    if n < 2 {
        return Err(SortError::InvalidParameter {
            name: "traces",
            reason: format!("a covariance needs at least 2 samples, got {n}"),
        });
    }
    Ok(channel_sums(traces, |v, _| f64::from(v))
        .into_iter()
        .map(|s| s / n as f64)
        .collect())
}

/// The `c × c` covariance (divided by `n − 1`) from the upper triangle of a sum of products.
fn symmetric_from_upper(upper: &[f64], c: usize, n: usize) -> Array2<f64> {
    let mut cov = Array2::<f64>::zeros((c, c));
    for i in 0..c {
        for j in i..c {
            let v = upper[i * c + j] / (n as f64 - 1.0);
            cov[(i, j)] = v;
            cov[(j, i)] = v;
        }
    }
    cov
}

/// [`covariance`] with the products taken in f32 on `device` (any candle device; blocks of
/// 262 144 samples, block sums added in f64 on the host).
///
/// ```
/// use ndarray::Array2;
/// use spikelab_sort::preprocess::{covariance, covariance_on};
/// let x = Array2::from_shape_fn((5000, 3), |(t, c)| ((t * (c + 2)) as f32 * 0.11).sin());
/// let (a, b) = (covariance(x.view())?, covariance_on(x.view(), &candle_core::Device::Cpu)?);
/// assert!(a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-5));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: fewer than 2 samples; [`SortError::Candle`] from the device.
pub fn covariance_on(traces: ArrayView2<f32>, device: &candle_core::Device) -> Result<Array2<f64>> {
    let (n, c) = traces.dim();
    let means = covariance_means(traces)?;
    let means32: Vec<f32> = means.iter().map(|&m| m as f32).collect();
    let mean_row = Tensor::from_slice(&means32, (1, c), device)?;
    let x = traces.as_standard_layout();
    let data = x.as_slice().expect("standard layout is contiguous");
    let mut upper = vec![0.0; c * c];
    for block in data.chunks(DEVICE_BLOCK_ROWS * c) {
        let rows = block.len() / c;
        let z = Tensor::from_slice(block, (rows, c), device)?.broadcast_sub(&mean_row)?;
        let prod: Vec<f32> = z.t()?.matmul(&z)?.flatten_all()?.to_vec1()?;
        for (u, &v) in upper.iter_mut().zip(&prod) {
            *u += f64::from(v);
        }
    }
    Ok(symmetric_from_upper(&upper, c, n))
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
    let mut out = traces.as_standard_layout().into_owned();
    whiten_in_place(&mut out, w);
    out
}

/// [`apply_whitening`] in place, in parallel over blocks of samples.
pub fn whiten_in_place(x: &mut Array2<f32>, w: &Array2<f64>) {
    let c = x.ncols();
    if c == 0 {
        return;
    }
    let wt = w.t();
    standard_slice(x)
        .par_chunks_mut(BLOCK_ROWS * c)
        .for_each(|block| {
            let rows = block.len() / c;
            let x64 = Array2::from_shape_fn((rows, c), |(t, k)| f64::from(block[t * c + k]));
            for (o, v) in block.iter_mut().zip(x64.dot(&wt)) {
                *o = v as f32;
            }
        });
}

/// [`whiten_in_place`] as f32 matrix products on `device` (any candle device), in blocks of
/// 262 144 samples.
///
/// ```
/// use ndarray::{Array2, array};
/// use spikelab_sort::preprocess::{apply_whitening, whiten_in_place_on};
/// let x = Array2::from_shape_fn((1000, 2), |(t, c)| (t as f32 * 0.1 + c as f32).cos());
/// let w = array![[2.0, 0.5], [0.5, 1.0]];
/// let mut y = x.clone();
/// whiten_in_place_on(&mut y, &w, &candle_core::Device::Cpu)?;
/// let r = apply_whitening(x.view(), &w);
/// assert!(y.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-5));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: [`SortError::Candle`] from the device; [`SortError::Dimension`] if `w` is not
/// `channels × channels`.
pub fn whiten_in_place_on(
    x: &mut Array2<f32>,
    w: &Array2<f64>,
    device: &candle_core::Device,
) -> Result<()> {
    let c = x.ncols();
    if w.dim() != (c, c) {
        return Err(SortError::Dimension {
            what: "whitening matrix".into(),
            expected: format!("{c} × {c}"),
            got: format!("{:?}", w.dim()),
        });
    }
    if c == 0 {
        return Ok(());
    }
    let wt: Vec<f32> = w.t().iter().map(|&v| v as f32).collect();
    let wt = Tensor::from_slice(&wt, (c, c), device)?;
    for block in standard_slice(x).chunks_mut(DEVICE_BLOCK_ROWS * c) {
        let rows = block.len() / c;
        let y: Vec<f32> = Tensor::from_slice(block, (rows, c), device)?
            .matmul(&wt)?
            .flatten_all()?
            .to_vec1()?;
        block.copy_from_slice(&y);
    }
    Ok(())
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
