//! Small dense helpers: symmetrisation, Cholesky with a jitter ladder, eigenvalue floors.

use nalgebra::{Cholesky, DMatrix, Dyn, SymmetricEigen};

use crate::error::{LdsError, Result};

/// `(P + Pᵀ)/2` in place.
pub fn symmetrize(p: &mut DMatrix<f64>) {
    let n = p.nrows();
    for i in 0..n {
        for j in (i + 1)..n {
            let v = 0.5 * (p[(i, j)] + p[(j, i)]);
            p[(i, j)] = v;
            p[(j, i)] = v;
        }
    }
}

/// Cholesky of a symmetric matrix; on failure adds `δ_k = 10^{k−12}·tr(S)/dim · I`,
/// k = 0 … 6 (the jitter ladder), and counts the rescue in `rescues`.
pub fn chol_ladder(
    s: &DMatrix<f64>,
    what: &str,
    rescues: &mut usize,
) -> Result<Cholesky<f64, Dyn>> {
    if let Some(c) = Cholesky::new(s.clone()) {
        return Ok(c);
    }
    let dim = s.nrows().max(1) as f64;
    let scale = (s.trace().abs() / dim).max(1e-300);
    for k in 0..=6 {
        let delta = 10f64.powi(k - 12) * scale;
        let mut t = s.clone();
        for i in 0..t.nrows() {
            t[(i, i)] += delta;
        }
        if let Some(c) = Cholesky::new(t) {
            *rescues += 1;
            return Ok(c);
        }
    }
    Err(LdsError::Cholesky(what.to_string()))
}

/// Symmetrises `p` and raises its eigenvalues to at least
/// `max(rel·tr(P)/dim, abs_floor)` (the covariance floor applied after every M-step).
pub fn floor_psd(p: &mut DMatrix<f64>, rel: f64, abs_floor: f64) {
    symmetrize(p);
    let n = p.nrows();
    if n == 0 {
        return;
    }
    let floor = (rel * p.trace() / n as f64).max(abs_floor);
    let eig = SymmetricEigen::new(p.clone());
    if eig.eigenvalues.iter().all(|&l| l >= floor) {
        return;
    }
    let lam = eig.eigenvalues.map(|l| l.max(floor));
    let v = &eig.eigenvectors;
    *p = v * DMatrix::from_diagonal(&lam) * v.transpose();
    symmetrize(p);
}

/// Checks that `p` is square, finite, symmetric (to 1e-8 relative) and positive semi-definite
/// (smallest eigenvalue ≥ −1e-10·max|eigenvalue|); `definite` also asks for λ_min > 0.
pub fn check_cov(p: &DMatrix<f64>, what: &str, definite: bool) -> Result<()> {
    let bad = |reason: String| LdsError::NotCovariance {
        what: what.to_string(),
        reason,
    };
    if p.nrows() != p.ncols() {
        return Err(bad(format!("not square ({}×{})", p.nrows(), p.ncols())));
    }
    if p.iter().any(|v| !v.is_finite()) {
        return Err(LdsError::NonFinite(what.to_string()));
    }
    let scale = p.amax().max(1e-300);
    let asym = (p - p.transpose()).amax();
    if asym > 1e-8 * scale {
        return Err(bad(format!("asymmetric (max |P − Pᵀ| = {asym:.3e})")));
    }
    if p.nrows() == 0 {
        return Ok(());
    }
    let eig = SymmetricEigen::new(p.clone());
    let lmin = eig.eigenvalues.min();
    let lmax = eig.eigenvalues.amax();
    if lmin < -1e-10 * lmax.max(1e-300) || (definite && lmin <= 0.0) {
        return Err(bad(format!("smallest eigenvalue {lmin:.3e}")));
    }
    Ok(())
}

/// Spectral radius of a square matrix.
pub fn spectral_radius(a: &DMatrix<f64>) -> f64 {
    if a.nrows() == 0 {
        return 0.0;
    }
    a.complex_eigenvalues()
        .iter()
        .map(|z| z.norm())
        .fold(0.0, f64::max)
}

/// Solution of the discrete Lyapunov equation `P = A P Aᵀ + Q` for stable `A`
/// (doubling iteration; `None` when it does not converge, e.g. ρ(A) ≥ 1).
pub fn dlyap(a: &DMatrix<f64>, q: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let mut p = q.clone();
    let mut ak = a.clone();
    for _ in 0..64 {
        let next = &p + &ak * &p * ak.transpose();
        let change = (&next - &p).amax();
        p = next;
        ak = &ak * &ak;
        if change <= 1e-15 * p.amax().max(1e-300) {
            symmetrize(&mut p);
            return Some(p);
        }
        if !p.iter().all(|v| v.is_finite()) {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_rescues_singular_and_counts() {
        let s = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 1.0, 1.0]);
        let mut n = 0;
        let c = chol_ladder(&s, "S", &mut n).unwrap();
        assert_eq!(n, 1);
        assert!(c.l().iter().all(|v| v.is_finite()));
        let neg = DMatrix::from_row_slice(1, 1, &[-1.0]);
        assert!(chol_ladder(&neg, "S", &mut n).is_err());
    }

    #[test]
    fn floor_makes_indefinite_psd() {
        let mut p = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
        floor_psd(&mut p, 1e-9, 1e-12);
        let e = SymmetricEigen::new(p.clone()).eigenvalues;
        assert!(e.min() > 0.0);
        assert_eq!(p, p.transpose());
    }

    #[test]
    fn lyapunov_solves() {
        let a = DMatrix::from_row_slice(2, 2, &[0.5, 0.2, -0.1, 0.3]);
        let q = DMatrix::identity(2, 2);
        let p = dlyap(&a, &q).unwrap();
        let r = &a * &p * a.transpose() + &q - &p;
        assert!(r.amax() < 1e-13);
        assert!(dlyap(&DMatrix::identity(1, 1), &DMatrix::identity(1, 1)).is_none());
    }
}
