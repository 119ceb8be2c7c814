//! Small numerical helpers that follow NumPy's arithmetic closely.
//!
//! The embedding must reproduce statistics that were computed with NumPy/SciPy to ~1e-14, so
//! sums use NumPy's pairwise summation (blocks of 128, eight accumulators) and percentiles use
//! NumPy's default linear interpolation, including its two-sided `lerp`.

/// NumPy's pairwise summation of a contiguous slice (`np.add.reduce` on a 1-D float64 array).
pub(crate) fn pairwise_sum(a: &[f64]) -> f64 {
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
            for j in 0..8 {
                r[j] += a[i + j];
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
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

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

/// `np.median`: middle value, or the mean of the two middle values.
pub(crate) fn median(a: &[f64]) -> f64 {
    let s = sorted(a);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `np.percentile(a, q)` with the default `linear` method, on an already sorted slice.
pub(crate) fn percentile_sorted(s: &[f64], q: f64) -> f64 {
    let n = s.len();
    let virtual_index = q / 100.0 * (n - 1) as f64;
    let lo = virtual_index.floor();
    let t = virtual_index - lo;
    let lo = lo as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (s[lo], s[hi]);
    let diff = b - a;
    // NumPy's `_lerp`: a + diff*t, but b - diff*(1-t) where t >= 0.5.
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// `np.percentile(a, q)` (linear interpolation).
pub(crate) fn percentile(a: &[f64], q: f64) -> f64 {
    percentile_sorted(&sorted(a), q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_matches_exact_sum_of_integers() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(pairwise_sum(&v), 500_500.0);
        assert_eq!(pairwise_sum(&v[..5]), 15.0);
        assert_eq!(pairwise_sum(&v[..100]), 5050.0);
    }

    #[test]
    fn median_and_percentile_follow_numpy() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        // np.percentile([1,2,3,4], 5) == 1.15
        assert!((percentile(&[4.0, 3.0, 2.0, 1.0], 5.0) - 1.15).abs() < 1e-15);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 98.0) - 3.94).abs() < 1e-15);
    }
}
