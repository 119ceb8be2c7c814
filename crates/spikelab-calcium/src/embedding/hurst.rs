//! Generalized Hurst exponent H(q) (Di Matteo 2003; T. Aste's `genhurst`, as ported to Python
//! in Spikefinder-Elephant's `utils2.genhurst`).

use super::numeric::{mean, pairwise_sum, pairwise_sum_map};

/// Smallest and largest `Tmax` of the scaling range (inclusive), as in the original.
const TMAX_RANGE: (usize, usize) = (5, 19);

/// `|x|^q` the way NumPy evaluates `np.abs(x)**q` for a small integer `q`.
fn abs_pow(x: f64, q: u32) -> f64 {
    let a = x.abs();
    match q {
        1 => a,
        2 => a * a,
        _ => a.powf(f64::from(q)),
    }
}

/// Detrended increment moment ratio `mcord(τ)` for lags `τ = 1..=max_lag`.
///
/// For lag τ: `dV = S[τ::τ] − S[0:L−τ:τ]`, `VV = S[0::τ]` (length `N = len(dV)+1`), `VV` is
/// detrended against `1..N` by least squares (slope `c1`, intercept `c2`), and
/// `mcord(τ) = mean(|dV − c1|^q) / mean(|VV − c1·(1..N) − c2|^q)`.
fn mcord(s: &[f64], q: u32, max_lag: usize) -> Vec<f64> {
    let l = s.len();
    (1..=max_lag)
        .map(|tt| {
            let vv: Vec<f64> = s.iter().step_by(tt).copied().collect();
            let n = vv.len();
            let dv: Vec<f64> = (1..n).map(|k| s[k * tt] - s[(k - 1) * tt]).collect();
            debug_assert_eq!(dv.len() + 1, n);
            debug_assert!(n == l.div_ceil(tt));
            // X = 1..N as integers: sums are exact.
            let nf = n as f64;
            let sum_x = (n * (n + 1) / 2) as f64;
            let sum_x2 = (n as u128 * (n as u128 + 1) * (2 * n as u128 + 1) / 6) as f64;
            let mx = sum_x / nf;
            let ss_xx = sum_x2 - nf * (mx * mx);
            let my = pairwise_sum(&vv) / nf;
            let xy: Vec<f64> = vv
                .iter()
                .enumerate()
                .map(|(i, &y)| (i + 1) as f64 * y)
                .collect();
            let ss_xy = pairwise_sum(&xy) - nf * mx * my;
            let c1 = ss_xy / ss_xx;
            let c2 = my - c1 * mx;
            let num = pairwise_sum_map(&dv, |d| abs_pow(d - c1, q)) / dv.len() as f64;
            let detr: Vec<f64> = vv
                .iter()
                .enumerate()
                .map(|(i, &y)| abs_pow(y - c1 * (i + 1) as f64 - c2, q))
                .collect();
            let den = pairwise_sum(&detr) / nf;
            num / den
        })
        .collect()
}

/// Generalized Hurst exponent `H(q)` of a series, as Spikefinder-Elephant computes it.
///
/// For each `Tmax = 5..=19`, `H(Tmax)` is the least-squares slope of `log10 mcord(τ)` against
/// `log10 τ` for `τ = 1..=Tmax`; the result is `mean(H(Tmax)) / q`. The series must have at
/// least 2·19 + 1 samples; the caller checks this (the features need far more anyway). The
/// result is NaN or infinite when the series is constant.
///
/// ```
/// use spikelab_calcium::embedding::generalized_hurst;
/// // A random walk has H(1) ≈ 0.5 (this short-range estimator reads ≈ 0.44).
/// let mut x = 0.0f64;
/// let mut state = 12345u64;
/// let walk: Vec<f64> = (0..20_000)
///     .map(|_| {
///         state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
///         x += if (state >> 33) & 1 == 1 { 1.0 } else { -1.0 };
///         x
///     })
///     .collect();
/// let h = generalized_hurst(&walk, 1);
/// assert!((h - 0.5).abs() < 0.1, "H = {h}");
/// ```
pub fn generalized_hurst(series: &[f64], q: u32) -> f64 {
    let (t_lo, t_hi) = TMAX_RANGE;
    let m = mcord(series, q, t_hi);
    let log_m: Vec<f64> = m.iter().map(|v| v.log10()).collect();
    let h: Vec<f64> = (t_lo..=t_hi)
        .map(|tmax| {
            let lx: Vec<f64> = (1..=tmax).map(|x| (x as f64).log10()).collect();
            let tm = tmax as f64;
            let mx = mean(&lx);
            let ss_xx = pairwise_sum_map(&lx, |v| v * v) - tm * (mx * mx);
            let ly = &log_m[..tmax];
            let my = mean(ly);
            let prod: Vec<f64> = lx.iter().zip(ly).map(|(a, b)| a * b).collect();
            let ss_xy = pairwise_sum(&prod) - tm * mx * my;
            ss_xy / ss_xx
        })
        .collect();
    mean(&h) / f64::from(q)
}
