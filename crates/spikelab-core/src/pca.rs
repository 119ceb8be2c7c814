//! Principal component analysis with scikit-learn's classic sign rule.

use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{CoreError, Result};

/// A fitted PCA: centring plus projection on the leading right singular vectors.
///
/// Matches `sklearn.decomposition.PCA(n_components)` with the full SVD solver (no whitening)
/// and the **u-based** `svd_flip` of scikit-learn < 1.5: each component is signed so that the
/// entry of largest magnitude in the corresponding column of `U` (i.e. the training sample with
/// the largest |score|) is positive. The stored `embedding_2D_stats` of Spikefinder-Elephant
/// depend on this rule; the v-based rule of newer scikit-learn flips PC1.
///
/// ```
/// use ndarray::array;
/// use spikelab_core::pca::Pca;
/// let x = array![[2.0, 0.0], [0.0, 1.0], [-2.0, 0.0], [0.0, -1.0], [4.0, 0.1]];
/// let pca = Pca::fit(x.view(), 1)?;
/// let scores = pca.transform(x.view())?;
/// // The sample with the largest |score| (the last) scores positive.
/// assert!(scores[[4, 0]] > 0.0);
/// assert!(pca.explained_variance_ratio()[0] > 0.9);
/// # Ok::<(), spikelab_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Array1<f64>,
    /// `[component, feature]`.
    components: Array2<f64>,
    explained_variance: Array1<f64>,
    explained_variance_ratio: Array1<f64>,
}

impl Pca {
    /// Fits `n_components` components to `x` (`[sample, feature]`).
    ///
    /// Errors if `x` has fewer than 2 samples, a non-finite value, or `n_components` exceeds
    /// `min(samples, features)` or is 0.
    pub fn fit(x: ArrayView2<'_, f64>, n_components: usize) -> Result<Self> {
        let (n, p) = x.dim();
        if n < 2 || p == 0 {
            return Err(CoreError::InvalidParameter {
                name: "x",
                reason: format!("PCA needs ≥ 2 samples and ≥ 1 feature, got {n}×{p}"),
            });
        }
        if n_components == 0 || n_components > n.min(p) {
            return Err(CoreError::InvalidParameter {
                name: "n_components",
                reason: format!("must be in 1..={}, got {n_components}", n.min(p)),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::InvalidParameter {
                name: "x",
                reason: "PCA input contains a non-finite value".into(),
            });
        }
        // Column means: NumPy's axis-0 mean of a C-ordered array adds rows in sequence.
        let mut mean = Array1::<f64>::zeros(p);
        for row in x.rows() {
            mean += &row;
        }
        mean /= n as f64;
        let centred = &x - &mean.view().insert_axis(Axis(0));
        let m = DMatrix::from_fn(n, p, |i, j| centred[[i, j]]);
        let svd = m.svd(true, true);
        let (u, vt) = (svd.u.expect("requested U"), svd.v_t.expect("requested V^T"));
        // Sort singular values descending (nalgebra does not guarantee order).
        let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
        order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
        let total_var: f64 =
            svd.singular_values.iter().map(|s| s * s).sum::<f64>() / (n - 1) as f64;
        let mut components = Array2::zeros((n_components, p));
        let mut explained_variance = Array1::zeros(n_components);
        for (c, &k) in order.iter().take(n_components).enumerate() {
            // u-based svd_flip: the largest |U[:, k]| entry becomes positive.
            let col = u.column(k);
            let imax = (0..n)
                .max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs()).then(b.cmp(&a)))
                .expect("n ≥ 2");
            let sign = if col[imax] < 0.0 { -1.0 } else { 1.0 };
            for j in 0..p {
                components[[c, j]] = sign * vt[(k, j)];
            }
            let s = svd.singular_values[k];
            explained_variance[c] = s * s / (n - 1) as f64;
        }
        let explained_variance_ratio = &explained_variance / total_var;
        Ok(Pca {
            mean,
            components,
            explained_variance,
            explained_variance_ratio,
        })
    }

    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.components.nrows()
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Training mean per feature.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// Principal axes, `[component, feature]`.
    pub fn components(&self) -> ArrayView2<'_, f64> {
        self.components.view()
    }

    /// Variance of the training scores per component (ddof 1, as scikit-learn).
    pub fn explained_variance(&self) -> ArrayView1<'_, f64> {
        self.explained_variance.view()
    }

    /// Fraction of the total variance per component.
    pub fn explained_variance_ratio(&self) -> ArrayView1<'_, f64> {
        self.explained_variance_ratio.view()
    }

    /// Scores of `x` (`[sample, feature]`) → `[sample, component]`: `(x − mean) · componentsᵀ`.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.n_features() {
            return Err(CoreError::InvalidParameter {
                name: "x",
                reason: format!(
                    "PCA transform expects {} features (columns), got {}",
                    self.n_features(),
                    x.ncols()
                ),
            });
        }
        let centred = &x - &self.mean.view().insert_axis(Axis(0));
        Ok(centred.dot(&self.components.t()))
    }
}
