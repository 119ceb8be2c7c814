//! Gaussian smoothing with `scipy.ndimage.gaussian_filter1d` semantics.
//!
//! For a standard deviation `σ` (in samples) and `truncate = 4`, the kernel has radius
//! `r = ⌊4σ + 0.5⌋` and weights `w_j = exp(−j²/(2σ²)) / Σ_k exp(−k²/(2σ²))`, `j = −r…r`
//! (computed as SciPy's `_gaussian_kernel1d`: `exp(-0.5/σ² · j²)`, normalised by their sum
//! taken in order). The output is `y_i = Σ_j w_j x_{i+j}` with the signal extended by
//! `mode="reflect"` (half-sample symmetric, `d c b a | a b c d | d c b a`, repeated with period
//! `2n` when the kernel is longer than the signal).
//!
//! Both sums run in order (`j = −r…r`); SciPy normalises with NumPy's pairwise sum and pairs
//! symmetric taps first, and NumPy's `exp` may differ from the C library's in the last bit, so
//! results agree with SciPy to rounding (≈ 1e-16 relative), not bit for bit. The order is that
//! of the neuLVM port's golden fits, which depend on these exact bits.
//!
//! ```
//! use spikelab_core::smooth::gaussian_filter1d;
//! let mut x = vec![0.0; 50];
//! x[25] = 1.0;
//! let y = gaussian_filter1d(&x, 3.0)?;
//! assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-12); // mass kept away from the edges
//! assert!(gaussian_filter1d(&x, 0.0).is_err());
//! # Ok::<(), spikelab_core::CoreError>(())
//! ```

use crate::error::{CoreError, Result};

/// `truncate` of `gaussian_filter1d`: the kernel reaches 4 standard deviations.
pub const TRUNCATE: f64 = 4.0;

/// The normalised Gaussian kernel of standard deviation `sigma` samples, `2r+1` taps with
/// `r = ⌊4σ + 0.5⌋` (SciPy's `_gaussian_kernel1d(sigma, 0, r)`). Errors: `sigma` not finite
/// and > 0.
///
/// ```
/// let w = spikelab_core::smooth::gaussian_kernel1d(1.0)?;
/// assert_eq!(w.len(), 9);
/// assert_eq!(w[0], w[8]);
/// # Ok::<(), spikelab_core::CoreError>(())
/// ```
pub fn gaussian_kernel1d(sigma: f64) -> Result<Vec<f64>> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(CoreError::InvalidParameter {
            name: "sigma",
            reason: format!(
                "the Gaussian's standard deviation must be finite and > 0, got {sigma}"
            ),
        });
    }
    let radius = (TRUNCATE * sigma + 0.5) as i64;
    let c = -0.5 / (sigma * sigma);
    let mut w: Vec<f64> = (-radius..=radius)
        .map(|j| (c * (j * j) as f64).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    Ok(w)
}

/// `scipy.ndimage.gaussian_filter1d(x, sigma)` (`truncate=4`, `mode="reflect"`), `sigma` in
/// samples. Errors: `sigma` not finite and > 0, empty `x`.
pub fn gaussian_filter1d(x: &[f64], sigma: f64) -> Result<Vec<f64>> {
    let w = gaussian_kernel1d(sigma)?;
    if x.is_empty() {
        return Err(CoreError::EmptyInput { name: "x" });
    }
    let n = x.len() as i64;
    let radius = (w.len() / 2) as i64;
    let period = 2 * n;
    let at = |i: i64| -> f64 {
        let j = i.rem_euclid(period);
        x[if j >= n { period - 1 - j } else { j } as usize]
    };
    Ok((0..n)
        .map(|i| {
            let mut acc = 0.0;
            for (o, wv) in w.iter().enumerate() {
                acc += wv * at(i + o as i64 - radius);
            }
            acc
        })
        .collect())
}
