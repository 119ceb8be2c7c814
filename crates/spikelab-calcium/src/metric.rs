//! The Spikefinder metric (Berens et al. 2018; `spikefinder-python`): per neuron, drop frames
//! where truth or prediction is NaN, sum both over non-overlapping 4-frame (40 ms) windows
//! (an incomplete tail is dropped), and take the Pearson correlation; the per-dataset score is
//! the median over neurons (NaN correlations ignored). Spearman's rank correlation on the same
//! 40-ms sums is the leaderboard's `rank` metric.

use ndarray::ArrayView1;
use spikelab_core::stats::{self, NanPolicy};

use crate::error::{CalciumError, Result};

/// Frames per metric bin (4 × 10 ms = 40 ms, i.e. 25 Hz).
pub const METRIC_BIN_FRAMES: usize = 4;

/// Drops NaN pairs and sums both series over non-overlapping `METRIC_BIN_FRAMES` windows.
fn binned(truth: ArrayView1<'_, f64>, pred: ArrayView1<'_, f64>) -> Result<(Vec<f64>, Vec<f64>)> {
    if truth.len() != pred.len() {
        return Err(CalciumError::InvalidInput {
            what: "metric".into(),
            reason: format!(
                "truth has {} frames, prediction {}",
                truth.len(),
                pred.len()
            ),
        });
    }
    let (t, p): (Vec<f64>, Vec<f64>) = truth
        .iter()
        .zip(pred.iter())
        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
        .map(|(a, b)| (*a, *b))
        .unzip();
    let sum = |x: &[f64]| -> Vec<f64> {
        x.chunks_exact(METRIC_BIN_FRAMES)
            .map(|c| c.iter().sum())
            .collect()
    };
    Ok((sum(&t), sum(&p)))
}

/// Spikefinder correlation of one neuron: `truth` spike counts and `pred` per 10-ms frame,
/// NaN frames dropped, 40-ms sums, Pearson r (`spikelab_core::stats::pearson`); NaN when fewer
/// than 2 sums remain or a side is constant.
///
/// ```
/// use ndarray::array;
/// use spikelab_calcium::metric::spikefinder_corr;
/// let truth = array![0., 1., 0., 0., 2., 0., 0., 0., 0., 0., 1., 0.];
/// let pred = array![0.1, 0.8, 0.2, 0.0, 1.5, 0.3, f64::NAN, 0.0, 0.1, 0.0, 0.9, 0.0, 0.0];
/// // Lengths must match:
/// assert!(spikefinder_corr(truth.view(), pred.view()).is_err());
/// let r = spikefinder_corr(truth.view(), pred.slice(ndarray::s![..12])).unwrap();
/// assert!(r > 0.9);
/// ```
pub fn spikefinder_corr(truth: ArrayView1<'_, f64>, pred: ArrayView1<'_, f64>) -> Result<f64> {
    let (t, p) = binned(truth, pred)?;
    Ok(stats::pearson(&t, &p).unwrap_or(f64::NAN))
}

/// Spearman rank correlation of one neuron on the same 40-ms sums.
pub fn spikefinder_rank(truth: ArrayView1<'_, f64>, pred: ArrayView1<'_, f64>) -> Result<f64> {
    let (t, p) = binned(truth, pred)?;
    Ok(stats::spearman(&t, &p).unwrap_or(f64::NAN))
}

/// Median ignoring NaN (`np.nanmedian`); NaN if nothing is left.
///
/// ```
/// use spikelab_calcium::metric::nanmedian;
/// assert_eq!(nanmedian(&[3.0, f64::NAN, 1.0, 2.0]), 2.0);
/// assert_eq!(nanmedian(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// assert!(nanmedian(&[f64::NAN]).is_nan());
/// ```
pub fn nanmedian(x: &[f64]) -> f64 {
    stats::median(x, NanPolicy::Omit).unwrap_or(f64::NAN)
}
