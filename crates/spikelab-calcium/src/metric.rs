//! The Spikefinder metric (Berens et al. 2018; `spikefinder-python`): per neuron, drop frames
//! where truth or prediction is NaN, sum both over non-overlapping 4-frame (40 ms) windows
//! (an incomplete tail is dropped), and take the Pearson correlation; the per-dataset score is
//! the median over neurons (NaN correlations ignored). Spearman's rank correlation on the same
//! 40-ms sums is the leaderboard's `rank` metric.

use ndarray::ArrayView1;

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

/// Pearson correlation; NaN when fewer than 2 points or a series is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return f64::NAN;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        return f64::NAN;
    }
    sab / (saa * sbb).sqrt()
}

/// Average ranks (1-based, ties share their mean rank), as `scipy.stats.rankdata`.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut k = i;
        while k + 1 < idx.len() && x[idx[k + 1]] == x[idx[i]] {
            k += 1;
        }
        let avg = (i + k) as f64 / 2.0 + 1.0;
        for &t in &idx[i..=k] {
            r[t] = avg;
        }
        i = k + 1;
    }
    r
}

/// Spearman rank correlation (Pearson on average ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Spikefinder correlation of one neuron: `truth` spike counts and `pred` per 10-ms frame,
/// NaN frames dropped, 40-ms sums, Pearson r.
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
    Ok(pearson(&t, &p))
}

/// Spearman rank correlation of one neuron on the same 40-ms sums.
pub fn spikefinder_rank(truth: ArrayView1<'_, f64>, pred: ArrayView1<'_, f64>) -> Result<f64> {
    let (t, p) = binned(truth, pred)?;
    Ok(spearman(&t, &p))
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
    let mut v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
