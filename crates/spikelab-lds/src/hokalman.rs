//! Ho–Kalman realisation of (A, B, C, D) from Markov parameters by a block-Hankel SVD.
//!
//! With G_0 = D and G_j = C A^{j−1} B, the Hankel matrix H (block (i, j) = G_{i+j+1},
//! i, j < r) factors as O·𝒞 (observability × controllability). Its rank-n SVD
//! H ≈ U_n S_n V_nᵀ gives O = U_n S_n^{1/2}, 𝒞 = S_n^{1/2} V_nᵀ; C is the first block row of O,
//! B the first block column of 𝒞, and A solves O_↑ A = O_↓ (shift invariance) in least squares.
//! The result is unique only up to a similarity transform: compare Markov parameters or
//! eigenvalues, never raw matrices.

use nalgebra::DMatrix;

use crate::error::{LdsError, Result, dim_err};

/// Model order of a realisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Exactly this many states.
    Fixed(usize),
    /// The order at the largest ratio σ_k/σ_{k+1} of consecutive Hankel singular values
    /// (values below 1e-13·σ_1 count as equal; ties go to the smaller order).
    Auto,
}

/// A realised system `x_{t+1} = A x_t + B u_t`, `y_t = C x_t + D u_t`.
#[derive(Debug, Clone, PartialEq)]
pub struct Realization {
    /// A (n × n).
    pub a: DMatrix<f64>,
    /// B (n × p).
    pub b: DMatrix<f64>,
    /// C (m × n).
    pub c: DMatrix<f64>,
    /// D (m × p).
    pub d: DMatrix<f64>,
    /// All singular values of the Hankel matrix, descending.
    pub singular_values: Vec<f64>,
}

impl Realization {
    /// Markov parameters G_0 … G_{len−1} of the realised system.
    pub fn markov_parameters(&self, len: usize) -> Vec<DMatrix<f64>> {
        markov(&self.a, &self.b, &self.c, &self.d, len)
    }
}

/// `G_0 = D, G_j = C A^{j−1} B`.
pub fn markov(
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
    c: &DMatrix<f64>,
    d: &DMatrix<f64>,
    len: usize,
) -> Vec<DMatrix<f64>> {
    let mut out = Vec::with_capacity(len);
    if len == 0 {
        return out;
    }
    out.push(d.clone());
    let mut ab = b.clone();
    for _ in 1..len {
        out.push(c * &ab);
        ab = a * ab;
    }
    out
}

/// Realises a system from `g[0] … g[L−1]` with `r` block rows/columns (2r ≤ L).
///
/// ```
/// use nalgebra::DMatrix;
/// use spikelab_lds::{ho_kalman, markov, Order};
/// let a = DMatrix::from_row_slice(2, 2, &[0.5, 0.3, -0.2, 0.4]);
/// let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.5]);
/// let c = DMatrix::from_row_slice(1, 2, &[1.0, -1.0]);
/// let d = DMatrix::from_row_slice(1, 1, &[0.2]);
/// let g = markov(&a, &b, &c, &d, 8);
/// let real = ho_kalman(&g, Order::Auto, 4)?;
/// assert_eq!(real.a.nrows(), 2);
/// let g2 = real.markov_parameters(12);
/// let want = markov(&a, &b, &c, &d, 12);
/// assert!(g2.iter().zip(&want).all(|(x, y)| (x - y).amax() < 1e-12));
/// # Ok::<(), spikelab_lds::LdsError>(())
/// ```
pub fn ho_kalman(g: &[DMatrix<f64>], order: Order, r: usize) -> Result<Realization> {
    if g.is_empty() {
        return Err(LdsError::InsufficientData("no Markov parameters".into()));
    }
    let (m, p) = g[0].shape();
    for (j, gj) in g.iter().enumerate() {
        if gj.shape() != (m, p) {
            return Err(dim_err(
                format!("Markov parameter {j}"),
                format!("{m}×{p}"),
                format!("{}×{}", gj.nrows(), gj.ncols()),
            ));
        }
        if gj.iter().any(|v| !v.is_finite()) {
            return Err(LdsError::NonFinite(format!("Markov parameter {j}")));
        }
    }
    if r < 2 || 2 * r > g.len() {
        return Err(LdsError::InvalidParameter {
            name: "r",
            reason: format!("{r} block rows need 2 ≤ r and 2r ≤ L = {}", g.len()),
        });
    }
    let mut h = DMatrix::zeros(m * r, p * r);
    for i in 0..r {
        for j in 0..r {
            h.view_mut((i * m, j * p), (m, p)).copy_from(&g[i + j + 1]);
        }
    }
    let svd = h.svd(true, true);
    // nalgebra's SVD is not sorted: order the triplets by singular value.
    let mut idx: Vec<usize> = (0..svd.singular_values.len()).collect();
    idx.sort_by(|&x, &y| svd.singular_values[y].total_cmp(&svd.singular_values[x]));
    let sv: Vec<f64> = idx.iter().map(|&i| svd.singular_values[i]).collect();
    let max_n = sv.len().min(m * (r - 1));
    let n = match order {
        Order::Fixed(n) => n,
        Order::Auto => (1..max_n)
            .max_by(|&x, &y| {
                // Singular values below 1e-13·σ_1 count as zero (rounding level).
                let floor = 1e-13 * sv[0];
                let rx = sv[x - 1].max(floor) / sv[x].max(floor);
                let ry = sv[y - 1].max(floor) / sv[y].max(floor);
                rx.total_cmp(&ry).then(y.cmp(&x))
            })
            .unwrap_or(1),
    };
    if n == 0 || n > max_n {
        return Err(LdsError::InvalidParameter {
            name: "order",
            reason: format!("{n} (must be in 1..={max_n} for m = {m}, r = {r})"),
        });
    }
    let u = svd.u.as_ref().expect("requested U");
    let vt = svd.v_t.as_ref().expect("requested Vᵀ");
    let mut obs = DMatrix::zeros(m * r, n);
    let mut ctr = DMatrix::zeros(n, p * r);
    for (k, &i) in idx.iter().take(n).enumerate() {
        let s = sv[k].sqrt();
        obs.set_column(k, &(u.column(i) * s));
        ctr.set_row(k, &(vt.row(i) * s));
    }
    let c = obs.rows(0, m).into_owned();
    let b = ctr.columns(0, p).into_owned();
    let up = obs.rows(0, m * (r - 1)).into_owned();
    let down = obs.rows(m, m * (r - 1)).into_owned();
    let a = up
        .svd(true, true)
        .solve(&down, 1e-14 * sv[0])
        .map_err(|e| LdsError::Unsupported(format!("shift-invariance least squares: {e}")))?;
    Ok(Realization {
        a,
        b,
        c,
        d: g[0].clone(),
        singular_values: sv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn randn(r: usize, c: usize, rng: &mut rand_chacha::ChaCha8Rng) -> DMatrix<f64> {
        DMatrix::from_fn(r, c, |_, _| StandardNormal.sample(rng))
    }

    /// L8: exact Markov parameters of random systems are reproduced to lag 2L.
    #[test]
    fn recovers_markov_parameters_beyond_fitted_lags() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..3 {
            let q = randn(3, 3, &mut rng).qr().q();
            let lam = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![0.7, -0.5, 0.3]));
            let a = &q * lam * q.transpose();
            let (b, c, d) = (
                randn(3, 2, &mut rng),
                randn(2, 3, &mut rng),
                randn(2, 2, &mut rng),
            );
            let g = markov(&a, &b, &c, &d, 8);
            let real = ho_kalman(&g, Order::Fixed(3), 4).unwrap();
            let want = markov(&a, &b, &c, &d, 16);
            let got = real.markov_parameters(16);
            let scale = want.iter().map(|x| x.amax()).fold(0.0, f64::max);
            let err = want
                .iter()
                .zip(&got)
                .map(|(x, y)| (x - y).amax())
                .fold(0.0, f64::max)
                / scale;
            assert!(err < 1e-10, "Markov error {err:.3e}");
            assert_eq!(ho_kalman(&g, Order::Auto, 4).unwrap().a.nrows(), 3);
            let mut ev: Vec<f64> = real.a.complex_eigenvalues().iter().map(|z| z.re).collect();
            ev.sort_by(f64::total_cmp);
            assert!((ev[0] + 0.5).abs() < 1e-10 && (ev[2] - 0.7).abs() < 1e-10);
        }
    }

    #[test]
    fn rejects_bad_block_count_and_order() {
        let g = vec![DMatrix::zeros(1, 1); 6];
        assert!(ho_kalman(&g, Order::Fixed(1), 4).is_err());
        assert!(ho_kalman(&g, Order::Fixed(5), 3).is_err());
        assert!(ho_kalman(&[], Order::Auto, 2).is_err());
    }
}
