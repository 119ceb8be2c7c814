//! Ridge regression (Wiener filter on causal lags) and reduced-rank regression.
//!
//! Ridge with an unpenalised intercept: centre X and Y on the training rows, then
//! W(α) = (XᵀX + αI)⁻¹ XᵀY and intercept ȳ − x̄W (scikit-learn `Ridge(alpha,
//! fit_intercept=True)`). One eigendecomposition XᵀX = V Λ Vᵀ serves every α:
//! W(α) = V (Λ + αI)⁻¹ Vᵀ XᵀY.
//!
//! Reduced-rank regression of rank b (Izenman 1975): with B the ridge/OLS coefficients and
//! Ŷ = X B, let V_b be the top-b eigenvectors of ŶᵀŶ; B_b = B V_b V_bᵀ. For α = 0 this is the
//! exact least-squares optimum of a linear bottleneck of width b followed by a linear readout.
//! Column weights c_j (loss Σ_j c_j‖y_j − ŷ_j‖²) are handled by running RRR on Y·diag(√c).

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{DecodeError, Result};
use crate::metrics::r2_score;

/// A fitted linear decoder ŷ = x W + b.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearModel {
    /// Weights `[feature, output]`.
    pub weights: Array2<f64>,
    /// Intercept `[output]`.
    pub intercept: Array1<f64>,
    /// Ridge penalty used.
    pub alpha: f64,
    /// Rank of `weights` when fitted by reduced-rank regression.
    pub rank: Option<usize>,
}

impl LinearModel {
    /// Predictions `[sample, output]` for features `[sample, feature]`.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.weights.nrows() {
            return Err(DecodeError::Shape(format!(
                "{} features given to a model of {}",
                x.ncols(),
                self.weights.nrows()
            )));
        }
        Ok(x.dot(&self.weights) + &self.intercept)
    }
}

fn check_xy(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<()> {
    if x.nrows() != y.nrows() {
        return Err(DecodeError::Shape(format!(
            "{} feature rows vs {} target rows",
            x.nrows(),
            y.nrows()
        )));
    }
    if x.nrows() < 2 || x.ncols() == 0 || y.ncols() == 0 {
        return Err(DecodeError::InvalidData(format!(
            "cannot fit {} rows × {} features → {} outputs",
            x.nrows(),
            x.ncols(),
            y.ncols()
        )));
    }
    if x.iter().chain(y.iter()).any(|v| !v.is_finite()) {
        return Err(DecodeError::InvalidData(
            "features or targets contain NaN or ∞".into(),
        ));
    }
    Ok(())
}

fn to_na(a: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_na(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Ridge solutions for many α from one eigendecomposition of the centred Gram matrix.
#[derive(Debug, Clone)]
pub struct RidgePath {
    x_mean: Array1<f64>,
    y_mean: Array1<f64>,
    eigvals: Vec<f64>,
    eigvecs: Array2<f64>,
    /// Vᵀ Xcᵀ Yc, `[feature, output]`.
    rotated: Array2<f64>,
}

impl RidgePath {
    /// Centres `x` `[sample, feature]` and `y` `[sample, output]` and decomposes XᵀX.
    pub fn new(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Self> {
        check_xy(x, y)?;
        let x_mean = x.mean_axis(Axis(0)).expect("rows checked");
        let y_mean = y.mean_axis(Axis(0)).expect("rows checked");
        let xc = &x - &x_mean;
        let yc = &y - &y_mean;
        let gram = xc.t().dot(&xc);
        let eig = SymmetricEigen::new(to_na(&gram));
        let eigvecs = from_na(&eig.eigenvectors);
        let rotated = eigvecs.t().dot(&xc.t().dot(&yc));
        Ok(Self {
            x_mean,
            y_mean,
            eigvals: eig.eigenvalues.iter().copied().collect(),
            eigvecs,
            rotated,
        })
    }

    /// The ridge model at penalty `alpha` ≥ 0 (α = 0 is ordinary least squares and needs
    /// linearly independent centred features).
    pub fn model(&self, alpha: f64) -> Result<LinearModel> {
        if !(alpha >= 0.0 && alpha.is_finite()) {
            return Err(DecodeError::param("alpha", format!("{alpha} is not ≥ 0")));
        }
        let max = self.eigvals.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
        let tol = max * 1e-12 * self.eigvals.len() as f64;
        if alpha <= tol && self.eigvals.iter().any(|&l| l <= tol) {
            return Err(DecodeError::Singular(
                "XᵀX is rank-deficient and α = 0; use α > 0".into(),
            ));
        }
        let mut scaled = self.rotated.clone();
        for (mut row, &l) in scaled.outer_iter_mut().zip(&self.eigvals) {
            row /= l.max(0.0) + alpha;
        }
        let weights = self.eigvecs.dot(&scaled);
        let intercept = &self.y_mean - &self.x_mean.dot(&weights);
        Ok(LinearModel {
            weights,
            intercept,
            alpha,
            rank: None,
        })
    }
}

/// Ridge regression with intercept at penalty `alpha`.
///
/// ```
/// use ndarray::array;
/// let x = array![[0.0], [1.0], [2.0], [3.0]];
/// let y = array![[1.0], [3.0], [5.0], [7.0]];
/// let m = spikelab_decode::fit_ridge(x.view(), y.view(), 0.0)?;
/// assert!((m.weights[[0, 0]] - 2.0).abs() < 1e-12 && (m.intercept[0] - 1.0).abs() < 1e-12);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn fit_ridge(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    alpha: f64,
) -> Result<LinearModel> {
    RidgePath::new(x, y)?.model(alpha)
}

/// Chooses α from `alphas` by fitting on (`x_fit`, `y_fit`) and scoring R² on (`x_val`,
/// `y_val`). Returns the best α and the validation R² of every α (in grid order).
pub fn choose_alpha(
    x_fit: ArrayView2<'_, f64>,
    y_fit: ArrayView2<'_, f64>,
    x_val: ArrayView2<'_, f64>,
    y_val: ArrayView2<'_, f64>,
    alphas: &[f64],
) -> Result<(f64, Vec<f64>)> {
    if alphas.is_empty() {
        return Err(DecodeError::param("alphas", "empty α grid"));
    }
    let path = RidgePath::new(x_fit, y_fit)?;
    let mut scores = Vec::with_capacity(alphas.len());
    for &a in alphas {
        let m = path.model(a)?;
        scores.push(r2_score(y_val, m.predict(x_val)?.view())?);
    }
    let best = scores
        .iter()
        .enumerate()
        .fold(0, |b, (i, &s)| if s > scores[b] { i } else { b });
    Ok((alphas[best], scores))
}

/// Reduced-rank regression of rank `rank` on top of ridge at `alpha`, with optional
/// non-negative output weights `column_weights` (default: all 1).
///
/// ```
/// use ndarray::Array2;
/// // y has rank-1 structure: the rank-1 fit is as good as the full one.
/// let x = Array2::from_shape_fn((50, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
/// let y = Array2::from_shape_fn((50, 2), |(i, j)| (j as f64 + 1.0) * (x[[i, 0]] - x[[i, 2]]));
/// let full = spikelab_decode::fit_ridge(x.view(), y.view(), 0.0)?;
/// let r1 = spikelab_decode::fit_rrr(x.view(), y.view(), 1, 0.0, None)?;
/// assert!((&full.weights - &r1.weights).iter().all(|d| d.abs() < 1e-9));
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn fit_rrr(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    rank: usize,
    alpha: f64,
    column_weights: Option<&[f64]>,
) -> Result<LinearModel> {
    rrr_from_ridge(&fit_ridge(x, y, alpha)?, x, rank, column_weights)
}

/// Reduced-rank projection of an already fitted ridge model (fitted on `x`).
pub fn rrr_from_ridge(
    ridge: &LinearModel,
    x: ArrayView2<'_, f64>,
    rank: usize,
    column_weights: Option<&[f64]>,
) -> Result<LinearModel> {
    let (p, q) = ridge.weights.dim();
    if rank == 0 || rank > p {
        return Err(DecodeError::param(
            "bottleneck",
            format!("rank {rank} is not in 1 … {p} (input dimension)"),
        ));
    }
    let c: Vec<f64> = match column_weights {
        Some(c) if c.len() != q => {
            return Err(DecodeError::Shape(format!(
                "{} column weights for {q} outputs",
                c.len()
            )));
        }
        Some(c) if c.iter().any(|&v| !(v > 0.0 && v.is_finite())) => {
            return Err(DecodeError::param(
                "column_weights",
                "must be > 0 and finite",
            ));
        }
        Some(c) => c.to_vec(),
        None => vec![1.0; q],
    };
    if rank >= q {
        // The bottleneck is at least as wide as the output: no restriction.
        let mut m = ridge.clone();
        m.rank = Some(rank);
        return Ok(m);
    }
    let sqrt_c = Array1::from_iter(c.iter().map(|v| v.sqrt()));
    let x_mean = x
        .mean_axis(Axis(0))
        .ok_or_else(|| DecodeError::InvalidData("reduced-rank regression on zero rows".into()))?;
    let xc = &x - &x_mean;
    let bw = &ridge.weights * &sqrt_c; // B diag(√c)
    let yhat = xc.dot(&bw);
    let eig = SymmetricEigen::new(to_na(&yhat.t().dot(&yhat)));
    let mut order: Vec<usize> = (0..q).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let vb = Array2::from_shape_fn((q, rank), |(i, k)| eig.eigenvectors[(i, order[k])]);
    let proj = vb.dot(&vb.t());
    let weights = bw.dot(&proj) / &sqrt_c;
    // Intercept: ȳ − x̄ B_b, with ȳ = intercept + x̄ B of the full model.
    let y_mean = &ridge.intercept + &x_mean.dot(&ridge.weights);
    let intercept = &y_mean - &x_mean.dot(&weights);
    Ok(LinearModel {
        weights,
        intercept,
        alpha: ridge.alpha,
        rank: Some(rank),
    })
}
