//! Kalman filter (innovation log-likelihood, Cholesky of S, Joseph-form update) and the
//! Rauch–Tung–Striebel smoother with lag-one covariances.
//!
//! The covariance recursions (P, S, K, J and the smoothed covariances) do not depend on the data,
//! only on which outputs are observed at each step. They are computed once per observation
//! pattern (a [`Track`]) and the data-dependent means run over it with preallocated buffers, so
//! the batch E-steps share one track between all fully observed trajectories of a length.

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
    pub(crate) fn check(&self) -> Result<()> {
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

/// Observed output indices of every step of `y`.
pub(crate) fn pattern(y: &DMatrix<f64>) -> Vec<Vec<usize>> {
    (0..y.nrows())
        .map(|t| {
            let mut o = Vec::with_capacity(y.ncols());
            observed_rows(y, t, &mut o);
            o
        })
        .collect()
}

/// `true` when `y` has no missing entry.
pub(crate) fn fully_observed(y: &DMatrix<f64>) -> bool {
    !y.iter().any(|v| v.is_nan())
}

/// Data-independent part of the filter (and optionally the smoother) for one observation
/// pattern: covariances, gains and Cholesky factors of every step.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    /// Observed output rows of every step.
    pub obs: Vec<Vec<usize>>,
    /// P_{t|t−1}.
    pub pred_covs: Vec<DMatrix<f64>>,
    /// P_{t|t}.
    pub covs: Vec<DMatrix<f64>>,
    /// Kalman gains K_t (n × |O_t|; empty without observations).
    gains: Vec<DMatrix<f64>>,
    /// Lower Cholesky factors of S_t.
    chol: Vec<DMatrix<f64>>,
    /// log det S_t.
    logdet: Vec<f64>,
    /// Jitter-ladder rescues of the filter pass.
    pub rescues: usize,
    /// Smoother part, when asked for.
    pub smooth: Option<SmoothTrack>,
}

/// Data-independent part of the RTS smoother.
#[derive(Debug, Clone)]
pub(crate) struct SmoothTrack {
    /// Smoother gains J_t (T − 1 of them).
    gains: Vec<DMatrix<f64>>,
    /// Smoothed covariances.
    pub covs: Vec<DMatrix<f64>>,
    /// Lag-one covariances Cov(x_{t+1}, x_t | y).
    pub cross: Vec<DMatrix<f64>>,
    /// Jitter-ladder rescues of the smoother pass.
    pub rescues: usize,
}

impl Track {
    /// Runs the covariance recursions of the filter (and the smoother when `smoother`) for the
    /// observed rows `obs` (one list per step).
    pub(crate) fn new(
        lds: &Lds,
        obs: Vec<Vec<usize>>,
        opts: &FilterOptions,
        smoother: bool,
    ) -> Result<Self> {
        let t_len = obs.len();
        let n = lds.n_states();
        let mut tr = Track {
            pred_covs: Vec::with_capacity(t_len),
            covs: Vec::with_capacity(t_len),
            gains: Vec::with_capacity(t_len),
            chol: Vec::with_capacity(t_len),
            logdet: Vec::with_capacity(t_len),
            rescues: 0,
            smooth: None,
            obs,
        };
        let mut p = lds.sigma0.clone();
        let at = lds.a.transpose();
        let eye = DMatrix::<f64>::identity(n, n);
        for t in 0..t_len {
            if t > 0 {
                p = &lds.a * &p * &at + &lds.q;
                symmetrize(&mut p);
            }
            tr.pred_covs.push(p.clone());
            let obs = &tr.obs[t];
            if obs.is_empty() {
                tr.gains.push(DMatrix::zeros(n, 0));
                tr.chol.push(DMatrix::zeros(0, 0));
                tr.logdet.push(0.0);
            } else {
                let k_obs = obs.len();
                let (c_o, r_oo) = if k_obs == lds.n_outputs() {
                    (Cow::Borrowed(&lds.c), Cow::Borrowed(&lds.r))
                } else {
                    (
                        Cow::Owned(lds.c.select_rows(obs)),
                        Cow::Owned(lds.r.select_rows(obs).select_columns(obs)),
                    )
                };
                let (c_o, r_oo) = (c_o.as_ref(), r_oo.as_ref());
                let cp = c_o * &p; // k × n
                let mut s = &cp * c_o.transpose() + r_oo;
                for i in 0..k_obs {
                    s[(i, i)] += opts.jitter;
                }
                symmetrize(&mut s);
                let chol = chol_ladder(&s, "innovation covariance S", &mut tr.rescues)?;
                // K = P Cᵀ S⁻¹  ⇔  Kᵀ = S⁻¹ C P.
                let gain = chol.solve(&cp).transpose(); // n × k
                let l = chol.unpack();
                tr.logdet
                    .push(2.0 * l.diagonal().iter().map(|v| v.ln()).sum::<f64>());
                if opts.square_root {
                    p = sqrt_update(&p, c_o, r_oo, &gain);
                } else {
                    let ikc = &eye - &gain * c_o;
                    p = &ikc * &p * ikc.transpose() + &gain * r_oo * gain.transpose();
                }
                symmetrize(&mut p);
                tr.gains.push(gain);
                tr.chol.push(l);
            }
            tr.covs.push(p.clone());
        }
        if smoother {
            tr.smooth = Some(tr.smoother_track(lds, opts)?);
        }
        Ok(tr)
    }

    fn smoother_track(&self, lds: &Lds, opts: &FilterOptions) -> Result<SmoothTrack> {
        let t_len = self.covs.len();
        let mut covs = self.covs.clone();
        let mut gains = vec![DMatrix::zeros(0, 0); t_len.saturating_sub(1)];
        let mut cross = vec![DMatrix::zeros(0, 0); t_len.saturating_sub(1)];
        let mut rescues = 0;
        for t in (0..t_len.saturating_sub(1)).rev() {
            let mut pp = self.pred_covs[t + 1].clone();
            for i in 0..pp.nrows() {
                pp[(i, i)] += opts.jitter;
            }
            // J_t = P_{t|t} Aᵀ P_{t+1|t}⁻¹  ⇔  J_tᵀ = P_{t+1|t}⁻¹ A P_{t|t}.
            let ap = &lds.a * &self.covs[t];
            let jt = chol_ladder(&pp, "predicted covariance P_{t+1|t}", &mut rescues)?
                .solve(&ap)
                .transpose();
            let dp = &covs[t + 1] - &self.pred_covs[t + 1];
            let mut ps = &self.covs[t] + &jt * dp * jt.transpose();
            symmetrize(&mut ps);
            cross[t] = &covs[t + 1] * jt.transpose();
            covs[t] = ps;
            gains[t] = jt;
        }
        Ok(SmoothTrack {
            gains,
            covs,
            cross,
            rescues,
        })
    }

    /// Filter means over this track: predicted and filtered means (n × T, column t = step t)
    /// and the log-likelihood. `traj` must match the track's pattern and the model's sizes.
    pub(crate) fn filter_means(
        &self,
        lds: &Lds,
        traj: &Trajectory,
    ) -> Result<(DMatrix<f64>, DMatrix<f64>, f64)> {
        let t_len = traj.len();
        let n = lds.n_states();
        let (pd, pe) = (lds.n_dyn_inputs(), lds.n_emis_inputs());
        let mut pred = DMatrix::zeros(n, t_len);
        let mut filt = DMatrix::zeros(n, t_len);
        let mut m = lds.mu0.as_slice().to_vec();
        let mut next = vec![0.0; n];
        let mut e = vec![0.0; lds.n_outputs()];
        let mut z = vec![0.0; lds.n_outputs()];
        let mut ll = 0.0;
        for t in 0..t_len {
            if t > 0 {
                // m ← A m + b + B v_t
                next.copy_from_slice(lds.b_off.as_slice());
                gemv_acc(&mut next, &lds.a, &m);
                for c in 0..pd {
                    let vc = traj.v[(t, c)];
                    for (x, bc) in next.iter_mut().zip(lds.b_in.column(c).iter()) {
                        *x += bc * vc;
                    }
                }
                std::mem::swap(&mut m, &mut next);
            }
            pred.as_mut_slice()[t * n..(t + 1) * n].copy_from_slice(&m);
            let obs = &self.obs[t];
            if !obs.is_empty() {
                let k = obs.len();
                // e = y_O − (C_O m + D_O u_t + d_O)
                for (ei, &j) in e.iter_mut().zip(obs) {
                    let mut v = traj.y[(t, j)] - lds.d_off[j];
                    for (c, mc) in m.iter().enumerate() {
                        v -= lds.c[(j, c)] * mc;
                    }
                    for c in 0..pe {
                        v -= lds.d_in[(j, c)] * traj.u[(t, c)];
                    }
                    *ei = v;
                }
                // z = L⁻¹ e, ‖z‖² = eᵀ S⁻¹ e.
                let l = &self.chol[t];
                let mut zz = 0.0;
                for i in 0..k {
                    let mut v = e[i];
                    for j in 0..i {
                        v -= l[(i, j)] * z[j];
                    }
                    z[i] = v / l[(i, i)];
                    zz += z[i] * z[i];
                }
                ll -= 0.5 * (zz + self.logdet[t] + k as f64 * LN_2PI);
                gemv_acc(&mut m, &self.gains[t], &e[..k]);
            }
            filt.as_mut_slice()[t * n..(t + 1) * n].copy_from_slice(&m);
        }
        if !ll.is_finite() {
            return Err(LdsError::NonFinite("filter log-likelihood".into()));
        }
        Ok((pred, filt, ll))
    }

    /// RTS smoother means (n × T) from the filter means; needs the smoother part.
    pub(crate) fn smooth_means(&self, pred: &DMatrix<f64>, filt: &DMatrix<f64>) -> DMatrix<f64> {
        let sm = self.smooth.as_ref().expect("track built with the smoother");
        let (n, t_len) = filt.shape();
        let mut out = filt.clone();
        let mut d = vec![0.0; n];
        for t in (0..t_len.saturating_sub(1)).rev() {
            for (i, di) in d.iter_mut().enumerate() {
                *di = out[(i, t + 1)] - pred[(i, t + 1)];
            }
            gemv_acc(
                &mut out.as_mut_slice()[t * n..(t + 1) * n],
                &sm.gains[t],
                &d,
            );
        }
        out
    }
}

/// `out += M x` for a column-major `M`.
fn gemv_acc(out: &mut [f64], mat: &DMatrix<f64>, x: &[f64]) {
    let r = mat.nrows();
    for (col, xj) in mat.as_slice().chunks_exact(r.max(1)).zip(x) {
        for (o, mij) in out.iter_mut().zip(col) {
            *o += mij * xj;
        }
    }
}

fn columns(m: &DMatrix<f64>) -> Vec<DVector<f64>> {
    m.column_iter().map(|c| c.into_owned()).collect()
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
    let track = Track::new(lds, pattern(&traj.y), opts, false)?;
    let (pred, filt, loglik) = track.filter_means(lds, traj)?;
    Ok(Filtered {
        loglik,
        means: columns(&filt),
        covs: track.covs,
        pred_means: columns(&pred),
        pred_covs: track.pred_covs,
        rescues: track.rescues,
    })
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
    opts.check()?;
    traj.check_against(lds)?;
    let track = Track::new(lds, pattern(&traj.y), opts, true)?;
    let (pred, filt, loglik) = track.filter_means(lds, traj)?;
    let means = track.smooth_means(&pred, &filt);
    let sm = track.smooth.expect("track built with the smoother");
    Ok(Smoothed {
        filtered: Filtered {
            loglik,
            means: columns(&filt),
            covs: track.covs,
            pred_means: columns(&pred),
            pred_covs: track.pred_covs,
            rescues: track.rescues + sm.rescues,
        },
        means: columns(&means),
        covs: sm.covs,
        cross: sm.cross,
    })
}
