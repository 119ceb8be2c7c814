//! Small numerical helpers that follow NumPy's arithmetic closely.
//!
//! The embedding must reproduce statistics that were computed with NumPy/SciPy to ~1e-14, so
//! sums use NumPy's pairwise summation (blocks of 128, eight accumulators) and percentiles use
//! NumPy's default linear interpolation, including its two-sided `lerp` (both from
//! `spikelab_core::stats`).

use spikelab_core::stats::{self, NanPolicy};

pub(crate) use spikelab_core::stats::numpy_sum as pairwise_sum;

/// Pairwise sum of `f(a[i])` (materialises the mapped values, as NumPy does).
pub(crate) fn pairwise_sum_map(a: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let v: Vec<f64> = a.iter().map(|&x| f(x)).collect();
    pairwise_sum(&v)
}

/// `np.mean`.
pub(crate) fn mean(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// `np.var` (population, ddof 0) given the mean.
pub(crate) fn var_with_mean(a: &[f64], m: f64) -> f64 {
    pairwise_sum_map(a, |x| {
        let d = x - m;
        d * d
    }) / a.len() as f64
}

/// `np.std` (population).
pub(crate) fn std(a: &[f64]) -> f64 {
    var_with_mean(a, mean(a)).sqrt()
}

/// Sorted copy (NaN-free input assumed).
pub(crate) fn sorted(a: &[f64]) -> Vec<f64> {
    let mut v = a.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// `np.median` of NaN-free data; NaN for an empty slice (the callers never pass one).
pub(crate) fn median(a: &[f64]) -> f64 {
    stats::median(a, NanPolicy::Propagate).unwrap_or(f64::NAN)
}

/// `np.percentile(a, q)` (linear) of sorted NaN-free data; NaN for an empty slice.
pub(crate) fn percentile_sorted(s: &[f64], q: f64) -> f64 {
    stats::percentile_of_sorted(s, q).unwrap_or(f64::NAN)
}

/// `np.percentile(a, q)` (linear) of NaN-free data; NaN for an empty slice.
pub(crate) fn percentile(a: &[f64], q: f64) -> f64 {
    stats::percentile(a, q, NanPolicy::Propagate).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentile_follow_numpy() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        // np.percentile([1,2,3,4], 5) == 1.15
        assert!((percentile(&[4.0, 3.0, 2.0, 1.0], 5.0) - 1.15).abs() < 1e-15);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 98.0) - 3.94).abs() < 1e-15);
    }
}
