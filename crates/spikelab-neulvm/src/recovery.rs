//! Recovery measures against a known latent (synthetic data): the Pearson correlation of the
//! inferred Z with the true Z per population, over the modelled bins, as the paper and the
//! issue report it (`Z_gt_4ms.npy`, bins A..A+T).

use ndarray::ArrayView2;

use crate::error::{NeulvmError, Result};

/// Pearson r of `z[p, A..]` with `reference[p, A..]` for every population p
/// (`A = history_bins`; both arrays `[population, bin]`, same shape).
///
/// Errors ([`NeulvmError::Latent`]): different shapes, no modelled bin (A ≥ bins),
/// non-finite values, or a population whose values are constant over the window in either
/// array (r undefined).
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_neulvm::recovery::latent_correlation;
/// let truth = array![[9.0, 0.1, 0.2, 0.4, 0.3], [9.0, 0.5, 0.1, 0.3, 0.2]];
/// let fit   = array![[0.0, 0.2, 0.4, 0.8, 0.6], [0.0, 0.2, 0.5, 0.3, 0.4]];
/// let r = latent_correlation(fit.view(), truth.view(), 1)?; // bin 0 is history
/// assert!((r[0] - 1.0).abs() < 1e-12); // a scaled copy
/// assert!(r[1] < 0.0);
/// # Ok::<(), spikelab_neulvm::NeulvmError>(())
/// ```
pub fn latent_correlation(
    z: ArrayView2<'_, f64>,
    reference: ArrayView2<'_, f64>,
    history_bins: usize,
) -> Result<Vec<f64>> {
    if z.dim() != reference.dim() {
        return Err(NeulvmError::Latent(format!(
            "latent {:?} and reference {:?} differ in shape",
            z.dim(),
            reference.dim()
        )));
    }
    let (m, nb) = z.dim();
    if history_bins >= nb {
        return Err(NeulvmError::Latent(format!(
            "no modelled bin: history window {history_bins} ≥ {nb} bins"
        )));
    }
    (0..m)
        .map(|p| {
            let a = z.row(p);
            let b = reference.row(p);
            let (a, b) = (
                a.slice(ndarray::s![history_bins..]),
                b.slice(ndarray::s![history_bins..]),
            );
            if a.iter().chain(b.iter()).any(|v| !v.is_finite()) {
                return Err(NeulvmError::Latent(format!(
                    "population {p}: non-finite values"
                )));
            }
            let n = a.len() as f64;
            let (ma, mb) = (a.sum() / n, b.sum() / n);
            let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
            for (x, y) in a.iter().zip(b.iter()) {
                cov += (x - ma) * (y - mb);
                va += (x - ma) * (x - ma);
                vb += (y - mb) * (y - mb);
            }
            if va == 0.0 || vb == 0.0 {
                return Err(NeulvmError::Latent(format!(
                    "population {p}: constant over the modelled bins, r is undefined"
                )));
            }
            Ok(cov / (va * vb).sqrt())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bad_input_is_a_typed_error() {
        let a = array![[0.0, 1.0, 2.0]];
        let b = array![[0.0, 1.0]];
        assert!(latent_correlation(a.view(), b.view(), 0).is_err());
        assert!(latent_correlation(a.view(), a.view(), 3).is_err());
        let c = array![[0.0, 1.0, 1.0]];
        assert!(latent_correlation(c.view(), a.view(), 1).is_err());
        let d = array![[0.0, f64::NAN, 1.0]];
        assert!(latent_correlation(d.view(), a.view(), 0).is_err());
        let r = latent_correlation(a.view(), a.view(), 0).unwrap();
        assert!((r[0] - 1.0).abs() < 1e-15);
    }
}
