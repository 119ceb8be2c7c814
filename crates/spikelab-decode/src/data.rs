//! Decoding data: lagged count features from rasters, time-ordered splits, windows.
//!
//! Axis conventions: rasters are `[neuron, frame]` (as `spikelab_data::BinnedRaster`); design
//! matrices and targets are `[frame, feature]` / `[frame, output]`; count windows are
//! `[window, frame, neuron]`.

use std::ops::Range;

use ndarray::{Array2, Array3, ArrayView2, s};
use spikelab_data::{BinnedRaster, SpikeTrains};

use crate::error::{DecodeError, Result};
use crate::sparse::SparseRows;

/// Which past/future frames feed the decoder at frame t: feature block ℓ holds counts(t − ℓ).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Lags {
    /// Only the current frame (ℓ = 0).
    Zero,
    /// The current and `n − 1` past frames (ℓ = 0 … n − 1): the Wiener filter.
    Causal(usize),
    /// Frames t − past … t + future (ℓ = −future … past). The spec's centred set ℓ ∈ −10 … +9
    /// is `Centred { past: 9, future: 10 }` (20 frames including t).
    Centred {
        /// Past frames (t − 1 … t − past).
        past: usize,
        /// Future frames (t + 1 … t + future).
        future: usize,
    },
    /// Any list of offsets ℓ (feature block = counts(t − ℓ)).
    Custom(Vec<i64>),
}

impl Lags {
    /// The offsets ℓ in feature-block order.
    ///
    /// ```
    /// use spikelab_decode::Lags;
    /// assert_eq!(Lags::Causal(3).offsets(), vec![0, 1, 2]);
    /// assert_eq!(Lags::Centred { past: 1, future: 2 }.offsets(), vec![-2, -1, 0, 1]);
    /// ```
    pub fn offsets(&self) -> Vec<i64> {
        match self {
            Lags::Zero => vec![0],
            Lags::Causal(n) => (0..*n as i64).collect(),
            Lags::Centred { past, future } => (-(*future as i64)..=*past as i64).collect(),
            Lags::Custom(v) => v.clone(),
        }
    }
}

/// The offsets of `lags`, checked against a `[neuron, frame]` raster: non-empty, a non-empty
/// raster, and no lag reaching beyond the recording.
fn check_lags(counts: ArrayView2<'_, f64>, lags: &Lags) -> Result<Vec<i64>> {
    let offsets = lags.offsets();
    let (n, t) = counts.dim();
    if offsets.is_empty() {
        return Err(DecodeError::param("lags", "empty lag set"));
    }
    if n == 0 || t == 0 {
        return Err(DecodeError::InvalidData(format!(
            "empty raster ({n} neurons × {t} frames)"
        )));
    }
    if offsets.iter().any(|&l| l.unsigned_abs() as usize >= t) {
        return Err(DecodeError::param(
            "lags",
            format!("a lag of the set {offsets:?} reaches beyond the {t}-frame recording"),
        ));
    }
    Ok(offsets)
}

/// Lagged count features: row t = [counts(t − ℓ) for ℓ in `lags`], each block `n_neurons`
/// wide (lag-major). Frames outside the recording read as 0.
///
/// `counts` is `[neuron, frame]`; the result is `[frame, lag·neuron]` (dense; see
/// [`lagged_features_sparse`] for spike counts, which are mostly zero).
///
/// ```
/// use ndarray::array;
/// use spikelab_decode::{lagged_features, Lags};
/// let counts = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]; // 2 neurons × 3 frames
/// let x = lagged_features(counts.view(), &Lags::Causal(2))?;
/// assert_eq!(x.row(1).to_vec(), vec![2.0, 5.0, 1.0, 4.0]);
/// assert_eq!(x.row(0).to_vec(), vec![1.0, 4.0, 0.0, 0.0]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn lagged_features(counts: ArrayView2<'_, f64>, lags: &Lags) -> Result<Array2<f64>> {
    Ok(lagged_features_sparse(counts, lags)?.to_dense())
}

/// [`lagged_features`] in compressed sparse rows: only the non-zero counts are stored, so the
/// 9 040 lagged features of the CA1 raster take ~20 × its 16 982 events instead of
/// 18 137 × 9 040 numbers.
pub fn lagged_features_sparse(counts: ArrayView2<'_, f64>, lags: &Lags) -> Result<SparseRows> {
    let offsets = check_lags(counts, lags)?;
    let (n, t) = counts.dim();
    // The non-zero (neuron, count) of every frame, in neuron order.
    let mut active: Vec<Vec<(usize, f64)>> = vec![Vec::new(); t];
    for (neuron, row) in counts.outer_iter().enumerate() {
        for (frame, &c) in row.iter().enumerate() {
            if c != 0.0 {
                active[frame].push((neuron, c));
            }
        }
    }
    let mut x = SparseRows::new(n * offsets.len());
    for frame in 0..t as i64 {
        let entries = offsets.iter().enumerate().flat_map(|(k, &l)| {
            let src = frame - l;
            let events: &[(usize, f64)] = if (0..t as i64).contains(&src) {
                &active[src as usize]
            } else {
                &[]
            };
            events.iter().map(move |&(neuron, c)| (k * n + neuron, c))
        });
        x.push_row(entries)?;
    }
    Ok(x)
}

/// Counts summed over the frames of a lag set: row t = Σ_ℓ counts(t − ℓ) for ℓ in `lags`
/// (frames outside the recording read as 0). `counts` is `[neuron, frame]`; the result is
/// `[frame, neuron]`.
///
/// ```
/// use ndarray::array;
/// use spikelab_decode::{window_sums, Lags};
/// let counts = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]; // 2 neurons × 3 frames
/// let w = window_sums(counts.view(), &Lags::Causal(2))?;
/// assert_eq!(w.row(0).to_vec(), vec![1.0, 4.0]);
/// assert_eq!(w.row(2).to_vec(), vec![5.0, 11.0]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn window_sums(counts: ArrayView2<'_, f64>, lags: &Lags) -> Result<Array2<f64>> {
    let offsets = check_lags(counts, lags)?;
    let (n, t) = counts.dim();
    let mut w = Array2::<f64>::zeros((t, n));
    for &l in &offsets {
        for frame in 0..t {
            let src = frame as i64 - l;
            if (0..t as i64).contains(&src) {
                w.row_mut(frame)
                    .zip_mut_with(&counts.column(src as usize), |o, &v| *o += v);
            }
        }
    }
    Ok(w)
}

/// Event counts of a raster as `f64`, `[neuron, frame]`.
pub fn raster_counts(raster: &BinnedRaster) -> Array2<f64> {
    raster.counts().mapv(f64::from)
}

/// Bins spike trains at `bin_s` seconds and returns the counts `[neuron, frame]`.
pub fn spike_counts(spikes: &SpikeTrains, bin_s: f64) -> Result<Array2<f64>> {
    Ok(raster_counts(&spikes.bin(bin_s)?))
}

/// Checks a target series `[frame, output]` against the number of frames: same length, at
/// least one column, every value finite.
pub fn check_target(target: ArrayView2<'_, f64>, n_frames: usize) -> Result<()> {
    if target.nrows() != n_frames {
        return Err(DecodeError::Shape(format!(
            "target has {} frames, the features {n_frames}",
            target.nrows()
        )));
    }
    if target.ncols() == 0 {
        return Err(DecodeError::Shape("target has no columns".into()));
    }
    if let Some(i) = target.iter().position(|v| !v.is_finite()) {
        return Err(DecodeError::InvalidData(format!(
            "target value {} (frame {}, column {}) is not finite",
            target.iter().nth(i).copied().unwrap_or(f64::NAN),
            i / target.ncols(),
            i % target.ncols()
        )));
    }
    Ok(())
}

/// A time-ordered split of `n` frames: train = first `train_fraction`, validation = last
/// `val_fraction` *of the training frames* (used only to choose hyper-parameters; the final
/// model is refitted on all training frames), test = the rest. No shuffling: decoding time
/// series with random splits leaks neighbouring frames into the test set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeSplit {
    /// The training frames in use (fit + validation); all frames before `test` unless built
    /// by [`TimeSplit::with_used`].
    pub train: Range<usize>,
    /// Frames that fit the model while choosing hyper-parameters.
    pub fit: Range<usize>,
    /// Frames that score hyper-parameters.
    pub val: Range<usize>,
    /// Held-out frames.
    pub test: Range<usize>,
}

impl TimeSplit {
    /// The split ⌊train_fraction·n⌋ / rest, with validation = the last ⌊val_fraction·train⌋
    /// training frames. The spec's recipe is `TimeSplit::new(n, 0.8, 0.125)`.
    ///
    /// ```
    /// let s = spikelab_decode::TimeSplit::new(100, 0.8, 0.125)?;
    /// assert_eq!((s.train, s.fit, s.val, s.test), (0..80, 0..70, 70..80, 80..100));
    /// assert!(spikelab_decode::TimeSplit::new(4, 1.0, 0.125).is_err()); // no test frames
    /// # Ok::<(), spikelab_decode::DecodeError>(())
    /// ```
    pub fn new(n: usize, train_fraction: f64, val_fraction: f64) -> Result<Self> {
        Self::with_used(n, train_fraction, val_fraction, 1.0)
    }

    /// As [`TimeSplit::new`], but only the first ⌊`used_fraction`·n_train⌋ training frames fit
    /// and validate (validation = the last `val_fraction` of them); the test frames stay the
    /// last 1 − `train_fraction` of the recording. For learning curves at a fixed test set.
    ///
    /// ```
    /// let s = spikelab_decode::TimeSplit::with_used(100, 0.8, 0.125, 0.5)?;
    /// assert_eq!((s.train, s.fit, s.val, s.test), (0..40, 0..35, 35..40, 80..100));
    /// # Ok::<(), spikelab_decode::DecodeError>(())
    /// ```
    pub fn with_used(
        n: usize,
        train_fraction: f64,
        val_fraction: f64,
        used_fraction: f64,
    ) -> Result<Self> {
        if !(used_fraction > 0.0 && used_fraction <= 1.0) {
            return Err(DecodeError::param(
                "used_fraction",
                format!("{used_fraction} not in (0, 1]"),
            ));
        }
        if !(train_fraction > 0.0 && train_fraction <= 1.0) {
            return Err(DecodeError::param(
                "train_fraction",
                format!("{train_fraction} not in (0, 1]"),
            ));
        }
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(DecodeError::param(
                "val_fraction",
                format!("{val_fraction} not in [0, 1)"),
            ));
        }
        let n_train = (train_fraction * n as f64).floor() as usize;
        let n_used = (used_fraction * n_train as f64).floor() as usize;
        let n_val = (val_fraction * n_used as f64).floor() as usize;
        let split = Self {
            train: 0..n_used,
            fit: 0..n_used - n_val,
            val: n_used - n_val..n_used,
            test: n_train..n,
        };
        if split.test.is_empty() {
            return Err(DecodeError::InvalidData(format!(
                "the test split of {n} frames at train fraction {train_fraction} is empty"
            )));
        }
        if split.fit.len() < 2 || (val_fraction > 0.0 && split.val.len() < 2) {
            return Err(DecodeError::InvalidData(format!(
                "{n} frames leave too few training/validation frames ({} / {})",
                split.fit.len(),
                split.val.len()
            )));
        }
        Ok(split)
    }
}

/// Rows `range` of a `[frame, …]` matrix, copied.
pub fn rows(a: ArrayView2<'_, f64>, range: Range<usize>) -> Array2<f64> {
    a.slice(s![range, ..]).to_owned()
}

/// Non-overlapping-or-strided windows of binned counts for sequence models: window k covers
/// frames `k·stride … k·stride + len − 1`. `counts` is `[neuron, frame]`; the result is
/// `[window, frame, neuron]` together with each window's first frame.
///
/// ```
/// let counts = ndarray::Array2::<f64>::ones((3, 10));
/// let (w, starts) = spikelab_decode::count_windows(counts.view(), 4, 3)?;
/// assert_eq!(w.dim(), (3, 4, 3));
/// assert_eq!(starts, vec![0, 3, 6]);
/// assert!(spikelab_decode::count_windows(counts.view(), 11, 1).is_err());
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn count_windows(
    counts: ArrayView2<'_, f64>,
    len: usize,
    stride: usize,
) -> Result<(Array3<f64>, Vec<usize>)> {
    let (n, t) = counts.dim();
    if len == 0 || stride == 0 {
        return Err(DecodeError::param(
            "window",
            "length and stride must be ≥ 1",
        ));
    }
    if len > t {
        return Err(DecodeError::param(
            "window",
            format!("window of {len} frames is longer than the {t}-frame recording"),
        ));
    }
    let starts: Vec<usize> = (0..=t - len).step_by(stride).collect();
    let mut w = Array3::<f64>::zeros((starts.len(), len, n));
    for (k, &s0) in starts.iter().enumerate() {
        w.slice_mut(s![k, .., ..])
            .assign(&counts.slice(s![.., s0..s0 + len]).t());
    }
    Ok((w, starts))
}
