//! The tensor (method-of-moments) stage of MoLDS: impulse-response regression moments,
//! whitening, simultaneous diagonalisation by Jacobi rotations, recovery of the mixture weights
//! and Markov parameters.
//!
//! **Inferred** (docs/lds.md §7): the MoLDS paper publishes no code; this follows the
//! multi-view input–output moment construction of Rui & Dahleh (2025) and the SMD of
//! Kuleshov et al. (2015) / Cardoso & Souloumiac (1996). With i.i.d. N(0, I) inputs and lag
//! window L, `φ_t = [u_t; …; u_{t−L+1}]` and `Θ_k = [G_0 … G_{L−1}]`, the views
//! `a_b = y_{t_b} ⊗ φ_{t_b}` at disjoint windows of one trajectory are independent given its
//! component with mean `v_k = vec Θ_k`, so U-statistics over distinct views give
//! `M2 = Σ p_k v_k v_kᵀ` and `M3 = Σ p_k v_k^{⊗3}` without noise bias.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{LdsError, Result};
use crate::model::Trajectory;

/// Options of the tensor stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TensorOptions {
    /// Lag window L (Markov parameters G_0 … G_{L−1} are estimated; default 10).
    pub lag: usize,
    /// Number of random slices of the whitened tensor diagonalised jointly (default 10).
    pub n_slices: usize,
    /// Maximum Jacobi sweeps (default 100; a sweep with every |sin θ| ≤ 1e-12 stops earlier).
    pub max_sweeps: usize,
    /// Seed of the slice directions.
    pub seed: u64,
}

impl Default for TensorOptions {
    fn default() -> Self {
        Self {
            lag: 10,
            n_slices: 10,
            max_sweeps: 100,
            seed: 0,
        }
    }
}

/// Weights and mean view vectors recovered from the moments.
#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    /// Mixture weights p_k (sum 1).
    pub weights: Vec<f64>,
    /// Component means v_k.
    pub vectors: Vec<DVector<f64>>,
    /// Jacobi sweeps used.
    pub sweeps: usize,
}

/// Decomposes `M2 = Σ p_k v_k v_kᵀ` and `M3 = Σ p_k v_k^{⊗3}` into K components.
///
/// `whitened_m3(W)` must return `M3(W, W, W)` as a K³ array (index `(i·K + j)·K + l`) for the
/// whitening matrix W (d × K) that this function computes from `m2`.
pub fn decompose(
    m2: &DMatrix<f64>,
    k: usize,
    whitened_m3: impl FnOnce(&DMatrix<f64>) -> Vec<f64>,
    opts: &TensorOptions,
) -> Result<Decomposition> {
    let d = m2.nrows();
    if k == 0 || k > d {
        return Err(LdsError::InvalidParameter {
            name: "components",
            reason: format!("{k} (must be in 1..={d}, the moment dimension)"),
        });
    }
    if m2.iter().any(|v| !v.is_finite()) {
        return Err(LdsError::NonFinite("second moment M2".into()));
    }
    let mut sym = m2.clone();
    crate::linalg::symmetrize(&mut sym);
    let eig = SymmetricEigen::new(sym);
    let mut idx: Vec<usize> = (0..d).collect();
    idx.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let lam: Vec<f64> = idx.iter().take(k).map(|&i| eig.eigenvalues[i]).collect();
    if lam[k - 1] <= 1e-12 * lam[0].abs().max(1e-300) {
        return Err(LdsError::InsufficientData(format!(
            "M2 has fewer than {k} positive eigenvalues ({:?}): too few trajectories or components",
            lam
        )));
    }
    let mut u = DMatrix::zeros(d, k);
    for (c, &i) in idx.iter().take(k).enumerate() {
        u.set_column(c, &eig.eigenvectors.column(i));
    }
    let w = DMatrix::from_fn(d, k, |r, c| u[(r, c)] / lam[c].sqrt());
    let t = whitened_m3(&w);
    if t.len() != k * k * k || t.iter().any(|v| !v.is_finite()) {
        return Err(LdsError::NonFinite("whitened third moment".into()));
    }
    let at = |i: usize, j: usize, l: usize| t[(i * k + j) * k + l];
    // Random slices T(I, I, η_s).
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut slices: Vec<DMatrix<f64>> = (0..opts.n_slices.max(1))
        .map(|_| {
            let eta: Vec<f64> = (0..k).map(|_| StandardNormal.sample(&mut rng)).collect();
            DMatrix::from_fn(k, k, |i, j| (0..k).map(|l| at(i, j, l) * eta[l]).sum())
        })
        .collect();
    let mut v = DMatrix::<f64>::identity(k, k);
    let mut sweeps = 0;
    for _ in 0..opts.max_sweeps {
        sweeps += 1;
        let mut max_s = 0.0f64;
        for i in 0..k {
            for j in (i + 1)..k {
                let mut g = nalgebra::Matrix2::<f64>::zeros();
                for m in &slices {
                    let gv = nalgebra::Vector2::new(m[(i, i)] - m[(j, j)], m[(i, j)] + m[(j, i)]);
                    g += gv * gv.transpose();
                }
                let e = nalgebra::SymmetricEigen::new(g);
                let top = if e.eigenvalues[0] >= e.eigenvalues[1] {
                    0
                } else {
                    1
                };
                let (mut x, mut y) = (e.eigenvectors[(0, top)], e.eigenvectors[(1, top)]);
                if x < 0.0 {
                    x = -x;
                    y = -y;
                }
                let r = (x * x + y * y).sqrt();
                if r == 0.0 {
                    continue;
                }
                let c = ((x + r) / (2.0 * r)).sqrt();
                let s = y / (2.0 * r * (x + r)).sqrt();
                max_s = max_s.max(s.abs());
                if s.abs() <= 1e-15 {
                    continue;
                }
                // M ← Rᵀ M R, V ← V R with R = [[c, −s], [s, c]] in the (i, j) plane.
                for m in slices.iter_mut() {
                    rotate_cols(m, i, j, c, s);
                    rotate_rows(m, i, j, c, s);
                }
                rotate_cols(&mut v, i, j, c, s);
            }
        }
        if max_s <= 1e-12 {
            break;
        }
    }
    // Recovery.
    let mut weights = Vec::with_capacity(k);
    let mut vectors = Vec::with_capacity(k);
    let ul = DMatrix::from_fn(d, k, |r, c| u[(r, c)] * lam[c].sqrt());
    for c in 0..k {
        let vt = v.column(c);
        let mut lam_c = 0.0;
        for i in 0..k {
            for j in 0..k {
                for l in 0..k {
                    lam_c += at(i, j, l) * vt[i] * vt[j] * vt[l];
                }
            }
        }
        let sign = if lam_c < 0.0 { -1.0 } else { 1.0 };
        lam_c *= sign;
        if lam_c <= 0.0 || !lam_c.is_finite() {
            return Err(LdsError::InsufficientData(
                "a recovered component has zero weight".into(),
            ));
        }
        weights.push(lam_c.powi(-2));
        vectors.push(&ul * (vt * (sign * lam_c)));
    }
    let total: f64 = weights.iter().sum();
    for p in weights.iter_mut() {
        *p /= total;
    }
    Ok(Decomposition {
        weights,
        vectors,
        sweeps,
    })
}

fn rotate_cols(m: &mut DMatrix<f64>, i: usize, j: usize, c: f64, s: f64) {
    for r in 0..m.nrows() {
        let (a, b) = (m[(r, i)], m[(r, j)]);
        m[(r, i)] = c * a + s * b;
        m[(r, j)] = -s * a + c * b;
    }
}

fn rotate_rows(m: &mut DMatrix<f64>, i: usize, j: usize, c: f64, s: f64) {
    for col in 0..m.ncols() {
        let (a, b) = (m[(i, col)], m[(j, col)]);
        m[(i, col)] = c * a + s * b;
        m[(j, col)] = -s * a + c * b;
    }
}

/// `Θ` (m × pL, `[G_0 … G_{L−1}]`) from its row-major vectorisation.
pub fn theta_from_vec(v: &DVector<f64>, m: usize) -> DMatrix<f64> {
    let cols = v.len() / m;
    DMatrix::from_fn(m, cols, |r, c| v[r * cols + c])
}

/// Splits `Θ = [G_0 … G_{L−1}]` into its Markov parameters (p columns each).
pub fn split_markov(theta: &DMatrix<f64>, p: usize) -> Vec<DMatrix<f64>> {
    (0..theta.ncols() / p)
        .map(|j| theta.columns(j * p, p).into_owned())
        .collect()
}

/// The lag vector `φ_t = [u_t; u_{t−1}; …; u_{t−L+1}]` (needs t ≥ L − 1).
pub(crate) fn lag_vector(u: &DMatrix<f64>, t: usize, lag: usize) -> DVector<f64> {
    let p = u.ncols();
    let mut phi = DVector::zeros(p * lag);
    for j in 0..lag {
        for c in 0..p {
            phi[j * p + c] = u[(t - j, c)];
        }
    }
    phi
}

/// Estimates from trajectories (emission inputs `u` i.i.d. N(0, I), control convention).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEstimate {
    /// Mixture weights.
    pub weights: Vec<f64>,
    /// Per component, `Θ_k = [G_0 … G_{L−1}]` (m × pL).
    pub theta: Vec<DMatrix<f64>>,
    /// Jacobi sweeps used.
    pub sweeps: usize,
}

/// The tensor stage on data: views at disjoint lag windows, U-statistic moments, [`decompose`].
/// Views whose output has a missing entry are skipped; trajectories with fewer than three
/// views add nothing to M3 (fewer than two: nothing at all).
pub fn tensor_stage(
    trajs: &[Trajectory],
    k: usize,
    opts: &TensorOptions,
) -> Result<TensorEstimate> {
    let first = trajs
        .first()
        .ok_or_else(|| LdsError::InsufficientData("no trajectories".into()))?;
    let m = first.y.ncols();
    let p = first.u.ncols();
    let lag = opts.lag;
    if p == 0 {
        return Err(LdsError::InvalidParameter {
            name: "inputs",
            reason: "the tensor stage needs observed inputs u".into(),
        });
    }
    if lag < 4 {
        return Err(LdsError::InvalidParameter {
            name: "lag",
            reason: format!("{lag} (need L ≥ 4 for a Hankel matrix with 2 block rows)"),
        });
    }
    let d = m * p * lag;
    // Views per trajectory.
    let views: Vec<Vec<DVector<f64>>> = trajs
        .iter()
        .map(|tr| {
            let mut out = Vec::new();
            let mut t = lag - 1;
            while t < tr.len() {
                if (0..m).all(|c| !tr.y[(t, c)].is_nan()) {
                    let phi = lag_vector(&tr.u, t, lag);
                    let mut a = DVector::zeros(d);
                    for c in 0..m {
                        for j in 0..p * lag {
                            a[c * p * lag + j] = tr.y[(t, c)] * phi[j];
                        }
                    }
                    out.push(a);
                }
                t += lag;
            }
            out
        })
        .collect();
    let mut m2 = DMatrix::zeros(d, d);
    let mut n2 = 0.0;
    for vs in &views {
        let b = vs.len() as f64;
        if vs.len() < 2 {
            continue;
        }
        let s1: DVector<f64> = vs.iter().fold(DVector::zeros(d), |acc, a| acc + a);
        let mut s2 = DMatrix::zeros(d, d);
        for a in vs {
            s2.ger(1.0, a, a, 1.0);
        }
        m2 += &s1 * s1.transpose() - s2;
        n2 += b * (b - 1.0);
    }
    if n2 == 0.0 {
        return Err(LdsError::InsufficientData(format!(
            "no trajectory has two lag windows of {lag} steps"
        )));
    }
    m2 /= n2;
    let whitened = |w: &DMatrix<f64>| -> Vec<f64> {
        let kk = w.ncols();
        let mut t = vec![0.0; kk * kk * kk];
        let mut n3 = 0.0;
        for vs in &views {
            if vs.len() < 3 {
                continue;
            }
            let b = vs.len() as f64;
            let ws: Vec<DVector<f64>> = vs.iter().map(|a| w.tr_mul(a)).collect();
            let s1: DVector<f64> = ws.iter().fold(DVector::zeros(kk), |acc, x| acc + x);
            let mut s2 = DMatrix::zeros(kk, kk);
            for x in &ws {
                s2.ger(1.0, x, x, 1.0);
            }
            for i in 0..kk {
                for j in 0..kk {
                    for l in 0..kk {
                        let s3: f64 = ws.iter().map(|x| x[i] * x[j] * x[l]).sum();
                        t[(i * kk + j) * kk + l] += s1[i] * s1[j] * s1[l]
                            - (s2[(i, j)] * s1[l] + s2[(i, l)] * s1[j] + s2[(j, l)] * s1[i])
                            + 2.0 * s3;
                    }
                }
            }
            n3 += b * (b - 1.0) * (b - 2.0);
        }
        if n3 > 0.0 {
            t.iter_mut().for_each(|v| *v /= n3);
        } else {
            t.iter_mut().for_each(|v| *v = f64::NAN);
        }
        t
    };
    let dec = decompose(&m2, k, whitened, opts)?;
    Ok(TensorEstimate {
        weights: dec.weights,
        theta: dec.vectors.iter().map(|v| theta_from_vec(v, m)).collect(),
        sweeps: dec.sweeps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hokalman::markov;

    fn randn(r: usize, c: usize, rng: &mut rand_chacha::ChaCha8Rng) -> DMatrix<f64> {
        DMatrix::from_fn(r, c, |_, _| StandardNormal.sample(rng))
    }

    /// L9: exact population moments of K = 3 random systems give back weights and Markov
    /// parameters to ≤ 1e-8.
    #[test]
    fn exact_moments_recover_weights_and_markov_parameters() {
        let (k, n, m, p, lag) = (3, 3, 2, 2, 8);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let weights = [0.5, 0.3, 0.2];
        let mut vs = Vec::new();
        let mut thetas = Vec::new();
        for _ in 0..k {
            let q = randn(n, n, &mut rng).qr().q();
            let lam = DVector::from_fn(n, |_, _| {
                let s: f64 = StandardNormal.sample(&mut rng);
                (0.2 + 0.6 * rand::Rng::random::<f64>(&mut rng)) * s.signum()
            });
            let a = &q * DMatrix::from_diagonal(&lam) * q.transpose();
            let g = markov(
                &a,
                &randn(n, p, &mut rng),
                &randn(m, n, &mut rng),
                &randn(m, p, &mut rng),
                lag,
            );
            let mut theta = DMatrix::zeros(m, p * lag);
            for (j, gj) in g.iter().enumerate() {
                theta.columns_mut(j * p, p).copy_from(gj);
            }
            vs.push(DVector::from_fn(m * p * lag, |i, _| {
                theta[(i / (p * lag), i % (p * lag))]
            }));
            thetas.push(theta);
        }
        let d = m * p * lag;
        let mut m2 = DMatrix::zeros(d, d);
        for (w, v) in weights.iter().zip(&vs) {
            m2 += v * v.transpose() * *w;
        }
        let m3 = |w: &DMatrix<f64>| {
            let mut t = vec![0.0; k * k * k];
            for (pk, v) in weights.iter().zip(&vs) {
                let x = w.tr_mul(v);
                for i in 0..k {
                    for j in 0..k {
                        for l in 0..k {
                            t[(i * k + j) * k + l] += pk * x[i] * x[j] * x[l];
                        }
                    }
                }
            }
            t
        };
        let dec = decompose(&m2, k, m3, &TensorOptions::default()).unwrap();
        // Match by weight order (the weights are distinct).
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| dec.weights[b].total_cmp(&dec.weights[a]));
        for (truth, &est) in order.iter().enumerate() {
            assert!(
                (dec.weights[est] - weights[truth]).abs() < 1e-8,
                "{:?}",
                dec.weights
            );
            let th = theta_from_vec(&dec.vectors[est], m);
            let err = (&th - &thetas[truth]).amax() / thetas[truth].amax();
            assert!(err < 1e-8, "Θ error {err:.3e}");
            assert_eq!(split_markov(&th, p).len(), lag);
        }
        assert!(dec.sweeps <= 10, "{} sweeps", dec.sweeps);
    }
}
