//! Order statistics and correlations that follow NumPy and SciPy.
//!
//! * [`numpy_sum`]: NumPy's pairwise summation (`np.add.reduce` on a contiguous float64 array:
//!   eight accumulators over blocks of at most 128, split in halves above that), so means and
//!   variances reproduce NumPy's last bits.
//! * [`percentile`], [`percentile_of_sorted`], [`median`]: `np.percentile` with its default
//!   `method="linear"`: for `n` sorted values the virtual index is `i = q/100·(n−1)`, the result
//!   is `lerp(x[⌊i⌋], x[⌊i⌋+1], i−⌊i⌋)` with NumPy's two-sided `lerp` (`a + (b−a)·t` for
//!   `t < 0.5`, `b − (b−a)·(1−t)` otherwise), which gives the same bits as NumPy ≥ 1.22.
//!   `np.median` averages the two middle values.
//! * [`pearson`], [`spearman`], [`rank_average`]: the Pearson correlation
//!   `Σ(a−ā)(b−b̄) / √(Σ(a−ā)² Σ(b−b̄)²)`, and Spearman's ρ as the Pearson correlation of average
//!   ranks (ties share the mean of their 1-based ranks, `scipy.stats.rankdata(method="average")`).
//!   They agree with `scipy.stats.pearsonr` / `spearmanr` to rounding (SciPy normalises before
//!   the dot product, so the last bits can differ).
//!
//! NaN policy ([`NanPolicy`]) is explicit for the order statistics. Correlations propagate NaN
//! (a NaN input gives a NaN result) and are NaN when a side is constant, as SciPy (which also
//! warns); lengths that differ or fewer than two points are errors.
//!
//! ```
//! use spikelab_core::stats::{median, pearson, percentile, spearman, NanPolicy};
//!
//! // np.percentile([1, 2, 3, 4], 5) == 1.15
//! assert!((percentile(&[4.0, 3.0, 2.0, 1.0], 5.0, NanPolicy::Propagate)? - 1.15).abs() < 1e-15);
//! // np.nanmedian([3, nan, 1, 2]) == 2
//! assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0], NanPolicy::Omit)?, 2.0);
//! assert!(median(&[3.0, f64::NAN], NanPolicy::Raise).is_err());
//! // scipy.stats.spearmanr([1, 2, 2, 3], [1, 2, 3, 4]).statistic
//! assert!((spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0])? - 0.9486832980505138).abs() < 1e-15);
//! assert!(pearson(&[1.0, 2.0], &[1.0]).is_err());
//! # Ok::<(), spikelab_core::CoreError>(())
//! ```

use crate::error::{CoreError, Result};

/// What an order statistic does with NaN values (SciPy's `nan_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanPolicy {
    /// A NaN in the data gives a NaN result (`np.percentile`, `np.median`).
    Propagate,
    /// NaN values are left out (`np.nanpercentile`, `np.nanmedian`); an all-NaN input is an
    /// [`CoreError::EmptyInput`] error.
    Omit,
    /// A NaN in the data is a [`CoreError::NanInput`] error.
    Raise,
}

/// NumPy's pairwise sum of a contiguous slice (`np.sum` of a 1-D float64 array), bit for bit.
///
/// ```
/// let v: Vec<f64> = (1..=1000).map(f64::from).collect();
/// assert_eq!(spikelab_core::stats::numpy_sum(&v), 500_500.0);
/// ```
pub fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

fn check_q(q: f64) -> Result<()> {
    if (0.0..=100.0).contains(&q) {
        Ok(())
    } else {
        Err(CoreError::InvalidParameter {
            name: "q",
            reason: format!("percentile must be in 0…100, got {q}"),
        })
    }
}

/// Applies `nan` to `data`: `Ok(None)` when the result is NaN (propagate), else the sorted
/// NaN-free values.
fn sorted_by_policy(data: &[f64], nan: NanPolicy) -> Result<Option<Vec<f64>>> {
    let has_nan = data.iter().any(|v| v.is_nan());
    if has_nan {
        match nan {
            NanPolicy::Propagate => {
                if data.is_empty() {
                    return Err(CoreError::EmptyInput { name: "data" });
                }
                return Ok(None);
            }
            NanPolicy::Raise => return Err(CoreError::NanInput { name: "data" }),
            NanPolicy::Omit => {}
        }
    }
    let mut v: Vec<f64> = data.iter().copied().filter(|v| !v.is_nan()).collect();
    if v.is_empty() {
        return Err(CoreError::EmptyInput { name: "data" });
    }
    v.sort_by(f64::total_cmp);
    Ok(Some(v))
}

/// `np.percentile(sorted, q)` (linear interpolation, `q` in 0…100) of values already sorted in
/// ascending order and free of NaN (not checked: this is the inner call of running
/// percentiles). Errors: empty input, `q` outside 0…100.
///
/// ```
/// use spikelab_core::stats::percentile_of_sorted;
/// assert!((percentile_of_sorted(&[1.0, 2.0, 3.0, 4.0], 98.0)? - 3.94).abs() < 1e-15);
/// # Ok::<(), spikelab_core::CoreError>(())
/// ```
pub fn percentile_of_sorted(sorted: &[f64], q: f64) -> Result<f64> {
    check_q(q)?;
    let n = sorted.len();
    if n == 0 {
        return Err(CoreError::EmptyInput { name: "sorted" });
    }
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "input not sorted");
    let virtual_index = q / 100.0 * (n - 1) as f64;
    let lo = virtual_index.floor();
    let t = virtual_index - lo;
    let lo = lo as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    // NumPy's `_lerp`.
    Ok(if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    })
}

/// `np.percentile(data, q)` (linear interpolation, `q` in 0…100) under the NaN policy `nan`.
/// Errors: empty input (or all NaN with [`NanPolicy::Omit`]), `q` outside 0…100, NaN with
/// [`NanPolicy::Raise`].
pub fn percentile(data: &[f64], q: f64, nan: NanPolicy) -> Result<f64> {
    check_q(q)?;
    match sorted_by_policy(data, nan)? {
        None => Ok(f64::NAN),
        Some(s) => percentile_of_sorted(&s, q),
    }
}

/// `np.median(data)` (mean of the two middle values for an even count) under the NaN policy
/// `nan`. Errors as [`percentile`].
pub fn median(data: &[f64], nan: NanPolicy) -> Result<f64> {
    Ok(match sorted_by_policy(data, nan)? {
        None => f64::NAN,
        Some(s) => {
            let n = s.len();
            if n % 2 == 1 {
                s[n / 2]
            } else {
                (s[n / 2 - 1] + s[n / 2]) / 2.0
            }
        }
    })
}

/// Average ranks, 1-based, ties sharing the mean of their ranks
/// (`scipy.stats.rankdata(x, method="average")`). NaN values rank above every number (they are
/// compared with [`f64::total_cmp`]); [`spearman`] turns them into a NaN result.
///
/// ```
/// assert_eq!(spikelab_core::stats::rank_average(&[10.0, 30.0, 20.0, 20.0]), [1.0, 4.0, 2.5, 2.5]);
/// ```
pub fn rank_average(x: &[f64]) -> Vec<f64> {
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

fn check_pair(a: &[f64], b: &[f64]) -> Result<()> {
    if a.len() != b.len() {
        return Err(CoreError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    if a.len() < 2 {
        return Err(CoreError::InvalidParameter {
            name: "len",
            reason: format!("a correlation needs at least 2 points, got {}", a.len()),
        });
    }
    Ok(())
}

/// Pearson correlation of two series of equal length ≥ 2; NaN when a side is constant or holds
/// a NaN (as SciPy).
pub fn pearson(a: &[f64], b: &[f64]) -> Result<f64> {
    check_pair(a, b)?;
    let n = a.len();
    let ma = a.iter().sum::<f64>() / n as f64;
    let mb = b.iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x - ma, y - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        return Ok(f64::NAN);
    }
    Ok(sab / (saa * sbb).sqrt())
}

/// Spearman's ρ: [`pearson`] of the [`rank_average`] ranks; NaN when a side is constant or holds
/// a NaN (as SciPy's default `nan_policy="propagate"`).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64> {
    check_pair(a, b)?;
    if a.iter().chain(b).any(|v| v.is_nan()) {
        return Ok(f64::NAN);
    }
    pearson(&rank_average(a), &rank_average(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_sum_of_short_and_long_slices_is_exact_on_integers() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(numpy_sum(&v[..5]), 15.0);
        assert_eq!(numpy_sum(&v[..100]), 5050.0);
        assert_eq!(numpy_sum(&v), 500_500.0);
        assert_eq!(numpy_sum(&[]), 0.0);
    }

    #[test]
    fn bad_input_gets_typed_errors() {
        assert!(matches!(
            percentile(&[], 5.0, NanPolicy::Propagate),
            Err(CoreError::EmptyInput { .. })
        ));
        assert!(matches!(
            percentile(&[1.0], 101.0, NanPolicy::Propagate),
            Err(CoreError::InvalidParameter { name: "q", .. })
        ));
        assert!(percentile(&[1.0], f64::NAN, NanPolicy::Propagate).is_err());
        assert!(matches!(
            median(&[f64::NAN], NanPolicy::Omit),
            Err(CoreError::EmptyInput { .. })
        ));
        assert!(matches!(
            median(&[1.0, f64::NAN], NanPolicy::Raise),
            Err(CoreError::NanInput { .. })
        ));
        assert!(
            median(&[1.0, f64::NAN], NanPolicy::Propagate)
                .unwrap()
                .is_nan()
        );
        assert!(matches!(
            pearson(&[1.0, 2.0], &[1.0, 2.0, 3.0]),
            Err(CoreError::LengthMismatch { left: 2, right: 3 })
        ));
        assert!(spearman(&[1.0], &[1.0]).is_err());
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).unwrap().is_nan());
        assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).unwrap().is_nan());
    }
}
