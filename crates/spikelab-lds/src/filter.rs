//! Kalman filter (innovation log-likelihood, Cholesky of S, Joseph-form update) and the
//! Rauch–Tung–Striebel smoother with lag-one covariances.

use std::borrow::Cow;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{LdsError, Result};
use crate::linalg::{chol_ladder, symmetrize};
use crate::model::{Lds, Trajectory};

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Options of the filter and smoother.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FilterOptions {
    /// `jitter·I` added to the innovation covariance S and to the smoother's predicted
    /// covariance before their Cholesky factorisations (default 0; dynamax uses 1e-9).
    pub jitter: f64,
    /// Square-root (array/QR) covariance update instead of the Joseph form. Same posterior;
    /// the covariance is propagated as a factor, so it stays PSD by construction.
    pub square_root: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        Self {
            jitter: 0.0,
            square_root: false,
        }
    }
}

impl FilterOptions {
    fn check(&self) -> Result<()> {
        if !(self.jitter >= 0.0 && self.jitter.is_finite()) {
            return Err(LdsError::InvalidParameter {
                name: "jitter",
                reason: format!("{} (must be finite and ≥ 0)", self.jitter),
            });
        }
        Ok(())
    }
}

/// Output of [`filter`].
#[derive(Debug, Clone)]
pub struct Filtered {
    /// log p(y_{0:T−1} | inputs) (missing entries marginalised).
    pub loglik: f64,
    /// Filtered means m_{t|t}.
    pub means: Vec<DVector<f64>>,
    /// Filtered covariances P_{t|t}.
    pub covs: Vec<DMatrix<f64>>,
    /// Predicted means m_{t|t−1} (m_{0|−1} = μ0).
    pub pred_means: Vec<DVector<f64>>,
    /// Predicted covariances P_{t|t−1}.
    pub pred_covs: Vec<DMatrix<f64>>,
    /// How many Cholesky factorisations needed the jitter ladder.
    pub rescues: usize,
}

/// Output of [`smooth`].
#[derive(Debug, Clone)]
pub struct Smoothed {
    /// The filter pass it was computed from.
    pub filtered: Filtered,
    /// Smoothed means E\[x_t | y\].
    pub means: Vec<DVector<f64>>,
    /// Smoothed covariances Cov(x_t | y).
    pub covs: Vec<DMatrix<f64>>,
    /// Lag-one covariances `cross[t] = Cov(x_{t+1}, x_t | y)` (T − 1 of them).
    ///
    /// pykalman's `pairwise_covariances[t+1]` is the same matrix; dynamax's
    /// `smoothed_cross_covariances[t]` is the second moment `E\[x_t x_{t+1}ᵀ\] = cross[t]ᵀ +
    /// m_t m_{t+1}ᵀ`.
    pub cross: Vec<DMatrix<f64>>,
}

/// Observed output indices of row `t` of `y`.
pub(crate) fn observed_rows(y: &DMatrix<f64>, t: usize, out: &mut Vec<usize>) {
    out.clear();
    out.extend((0..y.ncols()).filter(|&j| !y[(t, j)].is_nan()));
}

/// Runs the Kalman filter over one trajectory.
///
/// ```
/// use nalgebra::{DMatrix, DVector};
/// use spikelab_lds::{filter, FilterOptions, Lds, Trajectory};
/// let lds = Lds::new(DMatrix::identity(1, 1) * 0.9, DMatrix::identity(1, 1),
///     DMatrix::identity(1, 1), DMatrix::identity(1, 1), DVector::zeros(1), DMatrix::identity(1, 1))?;
/// let y = DMatrix::from_column_slice(3, 1, &[0.5, f64::NAN, -0.2]); // step 1 missing
/// let f = filter(&lds, &Trajectory::new(y)?, &FilterOptions::default())?;
/// assert!(f.loglik.is_finite() && f.means.len() == 3);
/// # Ok::<(), spikelab_lds::LdsError>(())
/// ```
pub fn filter(lds: &Lds, traj: &Trajectory, opts: &FilterOptions) -> Result<Filtered> {
    opts.check()?;
    traj.check_against(lds)?;
    let t_len = traj.len();
    let n = lds.n_states();
    let mut out = Filtered {
        loglik: 0.0,
        means: Vec::with_capacity(t_len),
        covs: Vec::with_capacity(t_len),
        pred_means: Vec::with_capacity(t_len),
        pred_covs: Vec::with_capacity(t_len),
        rescues: 0,
    };
    let mut obs = Vec::with_capacity(lds.n_outputs());
    let mut m = lds.mu0.clone();
    let mut p = lds.sigma0.clone();
    let at = lds.a.transpose();
    let eye = DMatrix::<f64>::identity(n, n);
    for t in 0..t_len {
        if t > 0 {
            m = &lds.a * &m + &lds.b_off;
            if lds.n_dyn_inputs() > 0 {
                m += &lds.b_in * traj.v.row(t).transpose();
            }
            p = &lds.a * &p * &at + &lds.q;
            symmetrize(&mut p);
        }
        out.pred_means.push(m.clone());
        out.pred_covs.push(p.clone());
        observed_rows(&traj.y, t, &mut obs);
        if !obs.is_empty() {
            let k_obs = obs.len();
            let full = k_obs == lds.n_outputs();
            let (c_o, r_oo) = if full {
                (Cow::Borrowed(&lds.c), Cow::Borrowed(&lds.r))
            } else {
                (
                    Cow::Owned(lds.c.select_rows(&obs)),
                    Cow::Owned(lds.r.select_rows(&obs).select_columns(&obs)),
                )
            };
            let (c_o, r_oo) = (c_o.as_ref(), r_oo.as_ref());
            let mut e = DVector::from_iterator(k_obs, obs.iter().map(|&j| traj.y[(t, j)]));
            e.gemv(-1.0, c_o, &m, 1.0);
            for (i, &j) in obs.iter().enumerate() {
                e[i] -= lds.d_off[j];
                for c in 0..lds.n_emis_inputs() {
                    e[i] -= lds.d_in[(j, c)] * traj.u[(t, c)];
                }
            }
            let cp = c_o * &p; // k × n
            let mut s = &cp * c_o.transpose() + r_oo;
            for i in 0..k_obs {
                s[(i, i)] += opts.jitter;
            }
            symmetrize(&mut s);
            let chol = chol_ladder(&s, "innovation covariance S", &mut out.rescues)?;
            // K = P Cᵀ S⁻¹  ⇔  Kᵀ = S⁻¹ C P.
            let gain = chol.solve(&cp).transpose(); // n × k
            let z = chol
                .l()
                .solve_lower_triangular(&e)
                .expect("triangular factor is non-singular");
            let logdet: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
            out.loglik -= 0.5 * (z.norm_squared() + logdet + k_obs as f64 * LN_2PI);
            m += &gain * &e;
            if opts.square_root {
                p = sqrt_update(&p, c_o, r_oo, &gain);
            } else {
                let ikc = &eye - &gain * c_o;
                p = &ikc * &p * ikc.transpose() + &gain * r_oo * gain.transpose();
            }
            symmetrize(&mut p);
        }
        out.means.push(m.clone());
        out.covs.push(p.clone());
    }
    if !out.loglik.is_finite() {
        return Err(LdsError::NonFinite("filter log-likelihood".into()));
    }
    Ok(out)
}

/// Square-root measurement update: with P = L Lᵀ and R = M Mᵀ, the posterior factor is the
/// triangular factor of the QR decomposition of `[(I − K C) L, K M]ᵀ` (the Joseph form written as
/// a product, so the result is PSD by construction).
fn sqrt_update(
    p: &DMatrix<f64>,
    c: &DMatrix<f64>,
    r: &DMatrix<f64>,
    gain: &DMatrix<f64>,
) -> DMatrix<f64> {
    let n = p.nrows();
    let l = crate::model::psd_sqrt(p);
    let mr = crate::model::psd_sqrt(r);
    let ikc = DMatrix::<f64>::identity(n, n) - gain * c;
    let mut pre = DMatrix::zeros(n, l.ncols() + mr.ncols());
    pre.columns_mut(0, l.ncols()).copy_from(&(&ikc * &l));
    pre.columns_mut(l.ncols(), mr.ncols())
        .copy_from(&(gain * mr));
    let qr = pre.transpose().qr();
    let rt = qr.r(); // min(rows, n) × n
    rt.transpose() * rt
}

/// Runs the filter, then the RTS smoother backwards, with lag-one covariances.
pub fn smooth(lds: &Lds, traj: &Trajectory, opts: &FilterOptions) -> Result<Smoothed> {
    let filtered = filter(lds, traj, opts)?;
    let t_len = traj.len();
    let mut means = filtered.means.clone();
    let mut covs = filtered.covs.clone();
    let mut cross = vec![DMatrix::zeros(0, 0); t_len.saturating_sub(1)];
    let mut rescues = 0;
    for t in (0..t_len.saturating_sub(1)).rev() {
        let mut pp = filtered.pred_covs[t + 1].clone();
        for i in 0..pp.nrows() {
            pp[(i, i)] += opts.jitter;
        }
        // J_t = P_{t|t} Aᵀ P_{t+1|t}⁻¹  ⇔  J_tᵀ = P_{t+1|t}⁻¹ A P_{t|t}.
        let ap = &lds.a * &filtered.covs[t];
        let jt = chol_ladder(&pp, "predicted covariance P_{t+1|t}", &mut rescues)?
            .solve(&ap)
            .transpose();
        let dm = &means[t + 1] - &filtered.pred_means[t + 1];
        means[t] = &filtered.means[t] + &jt * dm;
        let dp = &covs[t + 1] - &filtered.pred_covs[t + 1];
        let mut ps = &filtered.covs[t] + &jt * dp * jt.transpose();
        symmetrize(&mut ps);
        cross[t] = &covs[t + 1] * jt.transpose();
        covs[t] = ps;
    }
    let mut filtered = filtered;
    filtered.rescues += rescues;
    Ok(Smoothed {
        filtered,
        means,
        covs,
        cross,
    })
}
