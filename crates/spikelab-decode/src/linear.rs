//! Ridge regression (Wiener filter on causal lags) and reduced-rank regression.
//!
//! Ridge with an unpenalised intercept: centre X and Y on the training rows, then
//! W(α) = (XcᵀXc + αI)⁻¹ XcᵀYc and intercept ȳ − x̄W (scikit-learn `Ridge(alpha,
//! fit_intercept=True)`). [`RidgePath`] serves a whole α grid in one of two ways
//! ([`RidgeMethod`]):
//!
//! * **Eigen** (exact, any α ≥ 0): one dense eigendecomposition XcᵀXc = V Λ Vᵀ, then
//!   W(α) = V (Λ + αI)⁻¹ Vᵀ XcᵀYc. O(p³) time and O(p²) memory in the p features.
//! * **Conjugate gradients** (α > 0): Jacobi-preconditioned CG on (XcᵀXc + αI) W = XcᵀYc with
//!   X in compressed sparse rows; Xc v = X v − 1 (x̄ᵀv) is applied without forming Xc, so an
//!   iteration costs O(non-zeros of X). The grid is solved from the largest α down, each
//!   solution starting from the previous one. It stops when every output's residual is below
//!   `rel_tol`·‖XcᵀYc‖ (checked on the true residual, not only the recurrence), and returns
//!   [`DecodeError::NotConverged`] after `max_iter` iterations instead of a rough answer.
//!
//! [`RidgeMethod::Auto`] (the default) takes the eigen path up to [`EIGEN_MAX_FEATURES`]
//! features, and above that conjugate gradients when X is sparse enough for them to be the
//! cheaper ([`RidgeMethod::resolve`]). On the CA1 raster (452 units, 20 lags = 9 040 features,
//! 275 000 non-zeros in the 14 509 training rows) the eigen path would take about 20 minutes
//! and 2 GB on a 2-core machine (p³ scaling of the measured 3.4 s at 1 356 features); conjugate
//! gradients serve the whole α grid in about 1 s (~800 iterations).
//!
//! Reduced-rank regression of rank b (Izenman 1975): with B the ridge/OLS coefficients and
//! Ŷ = X B, let V_b be the top-b eigenvectors of ŶᵀŶ; B_b = B V_b V_bᵀ. For α = 0 this is the
//! exact least-squares optimum of a linear bottleneck of width b followed by a linear readout.
//! Column weights c_j (loss Σ_j c_j‖y_j − ŷ_j‖²) are handled by running RRR on Y·diag(√c).

use std::cell::Cell;

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{DecodeError, Result};
use crate::metrics::r2_score;
use crate::sparse::{Design, SparseRows};

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
    /// Predictions `[sample, output]` for features `[sample, feature]` (dense or sparse).
    pub fn predict(&self, x: impl Design) -> Result<Array2<f64>> {
        if x.size().1 != self.weights.nrows() {
            return Err(DecodeError::Shape(format!(
                "{} features given to a model of {}",
                x.size().1,
                self.weights.nrows()
            )));
        }
        Ok(x.times(self.weights.view())? + &self.intercept)
    }
}

fn check_xy(x: &impl Design, y: ArrayView2<'_, f64>) -> Result<()> {
    let (n, p) = x.size();
    if n != y.nrows() {
        return Err(DecodeError::Shape(format!(
            "{n} feature rows vs {} target rows",
            y.nrows()
        )));
    }
    if n < 2 || p == 0 || y.ncols() == 0 {
        return Err(DecodeError::InvalidData(format!(
            "cannot fit {n} rows × {p} features → {} outputs",
            y.ncols()
        )));
    }
    if !x.all_finite() || y.iter().any(|v| !v.is_finite()) {
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

/// Largest feature count that [`RidgeMethod::Auto`] always sends to the dense
/// eigendecomposition (exact, also α = 0).
///
/// Its cost grows as p³: on a loaded 2-core machine (nalgebra, release build) 1.2 s at 904
/// features, 3.4 s at 1 356 and 10.7 s at 1 808, where conjugate gradients on the sparse
/// lagged CA1 counts take 0.07–0.14 s for the same six-α grid.
pub const EIGEN_MAX_FEATURES: usize = 1024;

/// Conjugate gradients must look this many times cheaper in the rough cost model of
/// [`RidgeMethod::resolve`] to be chosen: (non-zeros + samples + features) · outputs per
/// iteration, ~1 000 iterations per grid and a few times the per-flop cost of the dense
/// eigendecomposition.
const CG_COST_FACTOR: f64 = 4_000.0;

/// How [`RidgePath`] solves (XcᵀXc + αI) W = XcᵀYc (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum RidgeMethod {
    /// Eigen up to [`EIGEN_MAX_FEATURES`] features or when X is dense, conjugate gradients
    /// (default tolerances) for wide sparse X; see [`RidgeMethod::resolve`].
    #[default]
    Auto,
    /// One dense eigendecomposition of XcᵀXc: exact, any α ≥ 0, O(p³).
    Eigen,
    /// Jacobi-preconditioned conjugate gradients on sparse X, α > 0 only.
    ConjugateGradient {
        /// Stop when each output's true residual ‖XcᵀYc − (XcᵀXc + αI) w‖ is at most
        /// `rel_tol`·‖XcᵀYc‖.
        rel_tol: f64,
        /// Iterations allowed per α before [`DecodeError::NotConverged`].
        max_iter: usize,
    },
}

impl RidgeMethod {
    /// Conjugate gradients with relative residual 1e-10 and at most 20 000 iterations per α.
    pub const CONJUGATE_GRADIENT: Self = Self::ConjugateGradient {
        rel_tol: 1e-10,
        max_iter: 20_000,
    };

    /// Checks the tolerances.
    pub fn check(self) -> Result<Self> {
        if let Self::ConjugateGradient { rel_tol, max_iter } = self {
            if !(rel_tol > 0.0 && rel_tol < 1.0) {
                return Err(DecodeError::param(
                    "rel_tol",
                    format!("{rel_tol} not in (0, 1)"),
                ));
            }
            if max_iter == 0 {
                return Err(DecodeError::param("max_iter", "must be ≥ 1"));
            }
        }
        Ok(self)
    }

    /// The concrete method for design `x` and `n_outputs` targets (resolves
    /// [`RidgeMethod::Auto`]): eigen when p ≤ [`EIGEN_MAX_FEATURES`]; otherwise conjugate
    /// gradients if 4 000·(nnz + n + p)·q < p³ (a rough cost model fitted on this crate's
    /// timings: 9 040 sparse lagged CA1 features go to conjugate gradients, 1 356 z-scored dense
    /// ones with 24 outputs stay on the eigen path, 3.6 s against 45 s).
    pub fn resolve(self, x: &impl Design, n_outputs: usize) -> Self {
        let (n, p) = x.size();
        let (pf, work) = (p as f64, (x.nnz() + n + p) as f64 * n_outputs as f64);
        match self {
            Self::Auto if p <= EIGEN_MAX_FEATURES || CG_COST_FACTOR * work >= pf * pf * pf => {
                Self::Eigen
            }
            Self::Auto => Self::CONJUGATE_GRADIENT,
            m => m,
        }
    }
}

/// Ridge solutions for many α of one training set (eigendecomposition or conjugate
/// gradients, see [`RidgeMethod`]).
#[derive(Debug, Clone)]
pub struct RidgePath {
    x_mean: Array1<f64>,
    y_mean: Array1<f64>,
    solver: Solver,
}

#[derive(Debug, Clone)]
enum Solver {
    Eigen {
        eigvals: Vec<f64>,
        eigvecs: Array2<f64>,
        /// Vᵀ XcᵀYc, `[feature, output]`.
        rotated: Array2<f64>,
    },
    Cg(Box<CgSystem>),
}

/// (XcᵀXc + αI) W = XcᵀYc with X sparse and the centring applied on the fly.
#[derive(Debug, Clone)]
struct CgSystem {
    x: SparseRows,
    x_mean: Array1<f64>,
    /// XcᵀYc, `[feature, output]`.
    rhs: Array2<f64>,
    /// Diagonal of XcᵀXc (the Jacobi preconditioner adds α).
    diag: Array1<f64>,
    rel_tol: f64,
    max_iter: usize,
    /// Iterations run so far (all α).
    iterations: Cell<usize>,
}

impl CgSystem {
    fn new(
        x: SparseRows,
        x_mean: Array1<f64>,
        yc: ArrayView2<'_, f64>,
        rel_tol: f64,
        max_iter: usize,
    ) -> Result<Self> {
        let n = x.nrows() as f64;
        // Xcᵀ Yc = Xᵀ Yc − x̄ (1ᵀ Yc).
        let rhs = x.t_dot(yc)? - outer(&x_mean, &yc.sum_axis(Axis(0)));
        // ‖x_j − x̄_j‖² = Σ x_j² − n x̄_j².
        let sq = x.col_sq_sums();
        let diag = Array1::from_iter(
            sq.iter()
                .zip(&x_mean)
                .map(|(s, m)| (s - n * m * m).max(0.0)),
        );
        Ok(Self {
            x,
            x_mean,
            rhs,
            diag,
            rel_tol,
            max_iter,
            iterations: Cell::new(0),
        })
    }

    /// (XcᵀXc + αI) V for `v` `[feature, k]`.
    fn apply(&self, v: &Array2<f64>, alpha: f64) -> Result<Array2<f64>> {
        // z = Xc v = X v − 1 (x̄ᵀ v); Xcᵀ z = Xᵀ z − x̄ (1ᵀ z).
        let z = self.x.times(v.view())? - &self.x_mean.dot(v);
        Ok(self.x.t_dot(z.view())? - outer(&self.x_mean, &z.sum_axis(Axis(0))) + alpha * v)
    }

    /// Solves at `alpha` > 0 starting from `w` `[feature, output]`.
    fn solve(&self, alpha: f64, mut w: Array2<f64>) -> Result<Array2<f64>> {
        let q = self.rhs.ncols();
        let target: Vec<f64> = self
            .rhs
            .columns()
            .into_iter()
            .map(|b| self.rel_tol * b.dot(&b).sqrt())
            .collect();
        // XcᵀYc = 0 (a constant target column): the solution is 0 whatever the start.
        for (k, &t) in target.iter().enumerate() {
            if t == 0.0 {
                w.column_mut(k).fill(0.0);
            }
        }
        let precond = self.diag.mapv(|d| 1.0 / (d + alpha));
        let mut done = 0;
        let residual_norms = |r: &Array2<f64>| -> Vec<f64> {
            r.columns().into_iter().map(|c| c.dot(&c).sqrt()).collect()
        };
        loop {
            // (Re)start from the true residual, so that rounding in the recurrence cannot
            // declare convergence early.
            let mut r = &self.rhs - &self.apply(&w, alpha)?;
            let norms = residual_norms(&r);
            let mut active: Vec<bool> = (0..q).map(|k| norms[k] > target[k]).collect();
            if !active.contains(&true) {
                self.iterations.set(self.iterations.get() + done);
                return Ok(w);
            }
            if done >= self.max_iter {
                self.iterations.set(self.iterations.get() + done);
                let worst = (0..q)
                    .map(|k| norms[k] * self.rel_tol / target[k].max(f64::MIN_POSITIVE))
                    .fold(0.0, f64::max);
                return Err(DecodeError::NotConverged {
                    what: format!("ridge conjugate gradients at α = {alpha}"),
                    iterations: done,
                    rel_residual: worst,
                });
            }
            let mut z = &r * &precond.view().insert_axis(Axis(1));
            let mut p = z.clone();
            let mut rz: Vec<f64> = (0..q).map(|k| r.column(k).dot(&z.column(k))).collect();
            while done < self.max_iter {
                done += 1;
                let ap = self.apply(&p, alpha)?;
                for k in 0..q {
                    if !active[k] {
                        continue;
                    }
                    let pap = p.column(k).dot(&ap.column(k));
                    if !(pap > 0.0 && pap.is_finite()) {
                        active[k] = false; // p = 0: nothing left to gain on this output
                        continue;
                    }
                    let step = rz[k] / pap;
                    w.column_mut(k).scaled_add(step, &p.column(k));
                    r.column_mut(k).scaled_add(-step, &ap.column(k));
                    let rn = r.column(k).dot(&r.column(k)).sqrt();
                    if !rn.is_finite() {
                        return Err(DecodeError::NotConverged {
                            what: format!(
                                "ridge conjugate gradients at α = {alpha} (non-finite residual)"
                            ),
                            iterations: done,
                            rel_residual: f64::INFINITY,
                        });
                    }
                    active[k] = rn > target[k];
                }
                if !active.contains(&true) {
                    break;
                }
                z = &r * &precond.view().insert_axis(Axis(1));
                for k in (0..q).filter(|&k| active[k]) {
                    let rz_new = r.column(k).dot(&z.column(k));
                    let beta = rz_new / rz[k];
                    rz[k] = rz_new;
                    let mut pk = p.column_mut(k);
                    pk *= beta;
                    pk += &z.column(k);
                }
            }
        }
    }
}

/// a bᵀ.
fn outer(a: &Array1<f64>, b: &Array1<f64>) -> Array2<f64> {
    Array2::from_shape_fn((a.len(), b.len()), |(i, j)| a[i] * b[j])
}

impl RidgePath {
    /// Centres `x` `[sample, feature]` and `y` `[sample, output]` and prepares the solver that
    /// [`RidgeMethod::Auto`] picks for the number of features.
    pub fn new(x: impl Design, y: ArrayView2<'_, f64>) -> Result<Self> {
        Self::with_method(x, y, RidgeMethod::Auto)
    }

    /// As [`RidgePath::new`] with the solver `method`: the eigen path decomposes XcᵀXc, the
    /// conjugate-gradient path keeps X in sparse rows.
    pub fn with_method(
        x: impl Design,
        y: ArrayView2<'_, f64>,
        method: RidgeMethod,
    ) -> Result<Self> {
        check_xy(&x, y)?;
        let method = method.check()?.resolve(&x, y.ncols());
        let x_mean = x.col_means();
        let y_mean = y.mean_axis(Axis(0)).expect("rows checked");
        let yc = &y - &y_mean;
        let solver = match method {
            RidgeMethod::ConjugateGradient { rel_tol, max_iter } => Solver::Cg(Box::new(
                CgSystem::new(x.to_sparse(), x_mean.clone(), yc.view(), rel_tol, max_iter)?,
            )),
            _ => {
                let xc = x.to_dense() - &x_mean;
                let gram = xc.t().dot(&xc);
                let eig = SymmetricEigen::new(to_na(&gram));
                let eigvecs = from_na(&eig.eigenvectors);
                let rotated = eigvecs.t().dot(&xc.t().dot(&yc));
                Solver::Eigen {
                    eigvals: eig.eigenvalues.iter().copied().collect(),
                    eigvecs,
                    rotated,
                }
            }
        };
        Ok(Self {
            x_mean,
            y_mean,
            solver,
        })
    }

    /// The solver in use ([`RidgeMethod::Eigen`] or [`RidgeMethod::ConjugateGradient`]).
    pub fn method(&self) -> RidgeMethod {
        match &self.solver {
            Solver::Eigen { .. } => RidgeMethod::Eigen,
            Solver::Cg(s) => RidgeMethod::ConjugateGradient {
                rel_tol: s.rel_tol,
                max_iter: s.max_iter,
            },
        }
    }

    /// Conjugate-gradient iterations run so far by this path (0 on the eigen path).
    pub fn iterations(&self) -> usize {
        match &self.solver {
            Solver::Eigen { .. } => 0,
            Solver::Cg(s) => s.iterations.get(),
        }
    }

    /// The ridge model at penalty `alpha` ≥ 0 (α = 0 is ordinary least squares: it needs the
    /// eigen path and linearly independent centred features).
    pub fn model(&self, alpha: f64) -> Result<LinearModel> {
        self.model_from(alpha, None)
    }

    /// The ridge models of every α in `alphas` (in that order). Conjugate gradients solve them
    /// from the largest α down, each starting from the previous solution.
    pub fn models(&self, alphas: &[f64]) -> Result<Vec<LinearModel>> {
        let mut order: Vec<usize> = (0..alphas.len()).collect();
        order.sort_by(|&a, &b| alphas[b].total_cmp(&alphas[a]));
        let mut out: Vec<Option<LinearModel>> = vec![None; alphas.len()];
        let mut prev: Option<Array2<f64>> = None;
        for i in order {
            let m = self.model_from(alphas[i], prev.as_ref())?;
            prev = Some(m.weights.clone());
            out[i] = Some(m);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The model at `alpha`; conjugate gradients start from `start` `[feature, output]` when
    /// given (a solution at a nearby α, or of nearby data).
    pub fn model_from(&self, alpha: f64, start: Option<&Array2<f64>>) -> Result<LinearModel> {
        if !(alpha >= 0.0 && alpha.is_finite()) {
            return Err(DecodeError::param("alpha", format!("{alpha} is not ≥ 0")));
        }
        let weights = match &self.solver {
            Solver::Eigen {
                eigvals,
                eigvecs,
                rotated,
            } => {
                let max = eigvals.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
                let tol = max * 1e-12 * eigvals.len() as f64;
                if alpha <= tol && eigvals.iter().any(|&l| l <= tol) {
                    return Err(DecodeError::Singular(
                        "XᵀX is rank-deficient and α = 0; use α > 0".into(),
                    ));
                }
                let mut scaled = rotated.clone();
                for (mut row, &l) in scaled.outer_iter_mut().zip(eigvals) {
                    row /= l.max(0.0) + alpha;
                }
                eigvecs.dot(&scaled)
            }
            Solver::Cg(s) => {
                if alpha == 0.0 {
                    return Err(DecodeError::param(
                        "alpha",
                        "α = 0 (least squares) needs RidgeMethod::Eigen; conjugate gradients need α > 0",
                    ));
                }
                let w0 = match start {
                    Some(w) if w.dim() == s.rhs.dim() => w.clone(),
                    Some(w) => {
                        return Err(DecodeError::Shape(format!(
                            "start {:?} for weights {:?}",
                            w.dim(),
                            s.rhs.dim()
                        )));
                    }
                    None => Array2::zeros(s.rhs.dim()),
                };
                s.solve(alpha, w0)?
            }
        };
        let intercept = &self.y_mean - &self.x_mean.dot(&weights);
        Ok(LinearModel {
            weights,
            intercept,
            alpha,
            rank: None,
        })
    }
}

/// Ridge regression with intercept at penalty `alpha` ([`RidgeMethod::Auto`]).
///
/// ```
/// use ndarray::array;
/// let x = array![[0.0], [1.0], [2.0], [3.0]];
/// let y = array![[1.0], [3.0], [5.0], [7.0]];
/// let m = spikelab_decode::fit_ridge(x.view(), y.view(), 0.0)?;
/// assert!((m.weights[[0, 0]] - 2.0).abs() < 1e-12 && (m.intercept[0] - 1.0).abs() < 1e-12);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn fit_ridge(x: impl Design, y: ArrayView2<'_, f64>, alpha: f64) -> Result<LinearModel> {
    RidgePath::new(x, y)?.model(alpha)
}

/// Chooses α from `alphas` by fitting on (`x_fit`, `y_fit`) with `method` and scoring R² on
/// (`x_val`, `y_val`). Returns the best α, the validation R² of every α (in grid order) and
/// the fitted models (in grid order; a warm start for the refit on more data).
pub fn choose_alpha(
    x_fit: impl Design,
    y_fit: ArrayView2<'_, f64>,
    x_val: impl Design,
    y_val: ArrayView2<'_, f64>,
    alphas: &[f64],
    method: RidgeMethod,
) -> Result<(f64, Vec<f64>, Vec<LinearModel>)> {
    if alphas.is_empty() {
        return Err(DecodeError::param("alphas", "empty α grid"));
    }
    let models = RidgePath::with_method(x_fit, y_fit, method)?.models(alphas)?;
    let mut scores = Vec::with_capacity(alphas.len());
    for m in &models {
        scores.push(r2_score(y_val, m.predict(&x_val)?.view())?);
    }
    let best = scores
        .iter()
        .enumerate()
        .fold(0, |b, (i, &s)| if s > scores[b] { i } else { b });
    Ok((alphas[best], scores, models))
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
    x: impl Design,
    y: ArrayView2<'_, f64>,
    rank: usize,
    alpha: f64,
    column_weights: Option<&[f64]>,
) -> Result<LinearModel> {
    rrr_from_ridge(&fit_ridge(&x, y, alpha)?, &x, rank, column_weights)
}

/// Reduced-rank projection of an already fitted ridge model (fitted on `x`).
pub fn rrr_from_ridge(
    ridge: &LinearModel,
    x: impl Design,
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
    if x.size().0 == 0 || x.size().1 != p {
        return Err(DecodeError::Shape(format!(
            "reduced-rank regression of a {p}-feature model on {:?} features",
            x.size()
        )));
    }
    let x_mean = x.col_means();
    let bw = &ridge.weights * &sqrt_c; // B diag(√c)
    let yhat = x.times(bw.view())? - &x_mean.dot(&bw); // Xc B diag(√c)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A sparse count design (~85 % zeros) with three outputs.
    fn problem(n: usize, p: usize) -> (Array2<f64>, Array2<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(16);
        let x = Array2::from_shape_fn((n, p), |_| {
            if rng.random::<f64>() < 0.15 {
                rng.random_range(1..4) as f64
            } else {
                0.0
            }
        });
        let w = Array2::from_shape_fn((p, 3), |_| rng.random::<f64>() - 0.5);
        let y = x.dot(&w) + Array2::from_shape_fn((n, 3), |_| rng.random::<f64>());
        (x, y)
    }

    fn max_rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        (a - b).iter().fold(0.0f64, |m, v| m.max(v.abs())) / scale
    }

    #[test]
    fn conjugate_gradients_match_the_eigen_path() {
        let (x, y) = problem(300, 60);
        let alphas = [1e3, 0.1, 10.0, 1.0];
        let eig = RidgePath::with_method(x.view(), y.view(), RidgeMethod::Eigen).unwrap();
        let sparse = SparseRows::from_dense(x.view());
        let cg =
            RidgePath::with_method(&sparse, y.view(), RidgeMethod::CONJUGATE_GRADIENT).unwrap();
        assert_eq!(cg.method(), RidgeMethod::CONJUGATE_GRADIENT);
        let (me, mc) = (eig.models(&alphas).unwrap(), cg.models(&alphas).unwrap());
        for (e, c) in me.iter().zip(&mc) {
            assert_eq!(e.alpha, c.alpha);
            assert!(max_rel(&c.weights, &e.weights) < 1e-8, "α {}", e.alpha);
            let di = (&c.intercept - &e.intercept)
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(di < 1e-8 * e.intercept.iter().fold(0.0f64, |m, v| m.max(v.abs())));
            // Reduced rank on top of either path.
            let (re, rc) = (
                rrr_from_ridge(e, x.view(), 1, None).unwrap(),
                rrr_from_ridge(c, &sparse, 1, None).unwrap(),
            );
            assert!(
                max_rel(&rc.weights, &re.weights) < 1e-8,
                "rrr α {}",
                e.alpha
            );
        }
        // A constant target column has zero weights, even from a non-zero start.
        let mut yk = y.clone();
        yk.column_mut(2).fill(4.0);
        let cgk =
            RidgePath::with_method(&sparse, yk.view(), RidgeMethod::CONJUGATE_GRADIENT).unwrap();
        let mk = cgk.model_from(1.0, Some(&me[0].weights)).unwrap();
        assert!(mk.weights.column(2).iter().all(|&v| v == 0.0) && mk.intercept[2] == 4.0);
        // A cold start reaches the same answer as the warm-started grid.
        let cold = cg.model(0.1).unwrap();
        assert!(max_rel(&cold.weights, &me[1].weights) < 1e-8);
        assert!(cg.iterations() > 0);
    }

    #[test]
    fn conjugate_gradients_refuse_instead_of_guessing() {
        let (x, y) = problem(100, 20);
        let one_step = RidgeMethod::ConjugateGradient {
            rel_tol: 1e-12,
            max_iter: 1,
        };
        let path = RidgePath::with_method(x.view(), y.view(), one_step).unwrap();
        assert!(matches!(
            path.model(0.1),
            Err(DecodeError::NotConverged { iterations: 1, .. })
        ));
        // α = 0 has no conjugate-gradient answer here; the eigen path takes it.
        assert!(matches!(
            path.model(0.0),
            Err(DecodeError::InvalidParameter { name: "alpha", .. })
        ));
        for bad in [
            RidgeMethod::ConjugateGradient {
                rel_tol: 0.0,
                max_iter: 10,
            },
            RidgeMethod::ConjugateGradient {
                rel_tol: 1e-10,
                max_iter: 0,
            },
        ] {
            assert!(RidgePath::with_method(x.view(), y.view(), bad).is_err());
        }
        // Auto: small → eigen; wide and sparse → CG; wide and dense → eigen.
        let sparse_wide = SparseRows::from_dense(
            Array2::from_shape_fn((100, EIGEN_MAX_FEATURES + 1), |(i, j)| {
                f64::from(u8::from(i == j % 100))
            })
            .view(),
        );
        assert_eq!(RidgeMethod::Auto.resolve(&x.view(), 3), RidgeMethod::Eigen);
        assert_eq!(
            RidgeMethod::Auto.resolve(&sparse_wide, 1),
            RidgeMethod::CONJUGATE_GRADIENT
        );
        let dense_wide = Array2::<f64>::ones((5_000, EIGEN_MAX_FEATURES + 1));
        assert_eq!(
            RidgeMethod::Auto.resolve(&dense_wide.view(), 24),
            RidgeMethod::Eigen
        );
        assert_eq!(
            RidgeMethod::Eigen.resolve(&sparse_wide, 1),
            RidgeMethod::Eigen
        );
    }
}
