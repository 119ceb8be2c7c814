//! LDS-EM (Shumway–Stoffer 1982; Ghahramani & Hinton 1996) with inputs, offsets, missing data,
//! many trajectories and per-parameter freezing.
//!
//! E-step: RTS smoother per trajectory, expected sufficient statistics summed over all
//! trajectories (optionally weighted, which the mixture EM uses). M-step: the joint regressions
//! `[A B b] = Σ_xζ Σ_ζζ⁻¹` with ζ_t = [x_{t−1}; v_t; 1] and `[C D d] = Σ_yη Σ_ηη⁻¹` with
//! η_t = [x_t; u_t; 1]; a frozen block moves to the left-hand side and the rest is refitted.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};

use crate::error::{LdsError, Result};
use crate::filter::{FilterOptions, Smoothed, Track, fully_observed, pattern};
use crate::linalg::{floor_psd, symmetrize};
use crate::model::{Lds, Trajectory};

/// Which parameters EM learns (`true`) and which stay exactly as given (`false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learn {
    /// A.
    pub a: bool,
    /// B (dynamics input weights).
    pub b_in: bool,
    /// b (dynamics offset).
    pub b_off: bool,
    /// Q.
    pub q: bool,
    /// C.
    pub c: bool,
    /// D (emission input weights).
    pub d_in: bool,
    /// d (emission offset).
    pub d_off: bool,
    /// R.
    pub r: bool,
    /// μ0.
    pub mu0: bool,
    /// Σ0.
    pub sigma0: bool,
}

impl Learn {
    /// Everything learned, offsets included.
    pub const ALL: Learn = Learn {
        a: true,
        b_in: true,
        b_off: true,
        q: true,
        c: true,
        d_in: true,
        d_off: true,
        r: true,
        mu0: true,
        sigma0: true,
    };
    /// Everything but the offsets (they stay at their given values, usually zero).
    pub const NO_OFFSETS: Learn = Learn {
        b_off: false,
        d_off: false,
        ..Learn::ALL
    };
}

impl Default for Learn {
    fn default() -> Self {
        Learn::NO_OFFSETS
    }
}

/// Options of [`fit_em`], validated once by [`EmOptions::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmOptions {
    /// Maximum number of M-steps (default 100).
    pub max_iter: usize,
    /// Stop when |ℓ_k − ℓ_{k−1}| < tol·|ℓ_{k−1}| (default 1e-6; 0 runs all `max_iter`).
    pub tol: f64,
    /// Which parameters are learned.
    pub learn: Learn,
    /// R is diagonal (per-output regressions). Required when some steps are only partly
    /// observed; the learned R then has zero off-diagonals.
    pub diagonal_r: bool,
    /// Relative eigenvalue floor of Q, R, Σ0 after each M-step: λ ≥ cov_floor·tr/dim
    /// (default 1e-9), and never below 1e-12 absolute.
    pub cov_floor: f64,
    /// Filter/smoother options (jitter; square-root update). The jitter is also added to the
    /// M-step Gram matrices.
    pub filter: FilterOptions,
}

impl Default for EmOptions {
    fn default() -> Self {
        Self {
            max_iter: 100,
            tol: 1e-6,
            learn: Learn::default(),
            diagonal_r: false,
            cov_floor: 1e-9,
            filter: FilterOptions::default(),
        }
    }
}

/// Absolute eigenvalue floor of the learned covariances.
pub(crate) const ABS_COV_FLOOR: f64 = 1e-12;

impl EmOptions {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(LdsError::InvalidParameter {
                name: "tol",
                reason: format!("{} (must be finite and ≥ 0)", self.tol),
            });
        }
        if !(self.cov_floor >= 0.0 && self.cov_floor < 1.0) {
            return Err(LdsError::InvalidParameter {
                name: "cov_floor",
                reason: format!("{} (must be in [0, 1))", self.cov_floor),
            });
        }
        if !(self.filter.jitter >= 0.0 && self.filter.jitter.is_finite()) {
            return Err(LdsError::InvalidParameter {
                name: "jitter",
                reason: format!("{} (must be finite and ≥ 0)", self.filter.jitter),
            });
        }
        Ok(())
    }
}

/// Expected sufficient statistics of one or many trajectories (weighted sums).
#[derive(Debug, Clone, PartialEq)]
pub struct SuffStats {
    /// Σ E\[ζ ζᵀ\], ζ_t = [x_{t−1}; v_t; 1].
    pub zz: DMatrix<f64>,
    /// Σ E\[ζ x_tᵀ\].
    pub zx: DMatrix<f64>,
    /// Σ E\[x_t x_tᵀ\] over t ≥ 1.
    pub xx: DMatrix<f64>,
    /// Weighted number of transitions.
    pub n_dyn: f64,
    /// Fully observed steps: Σ E\[η ηᵀ\], η_t = [x_t; u_t; 1].
    pub ee: DMatrix<f64>,
    /// Fully observed steps: Σ E\[η\] y_tᵀ.
    pub ey: DMatrix<f64>,
    /// Fully observed steps: Σ y_t y_tᵀ.
    pub yy: DMatrix<f64>,
    /// Weighted number of fully observed steps.
    pub n_emis: f64,
    /// Per output j, over the steps where y_j is observed: Σ E\[η ηᵀ\].
    pub ee_row: Vec<DMatrix<f64>>,
    /// Per output j: Σ E\[η\] y_j.
    pub ey_row: Vec<DVector<f64>>,
    /// Per output j: Σ y_j².
    pub yy_row: Vec<f64>,
    /// Per output j: weighted count.
    pub n_row: Vec<f64>,
    /// Weighted number of steps observed only in part.
    pub n_partial: f64,
    /// Σ w E\[x_0\].
    pub x0: DVector<f64>,
    /// Σ w E\[x_0 x_0ᵀ\].
    pub x0x0: DMatrix<f64>,
    /// Σ w (number of trajectories).
    pub n_traj: f64,
}

impl SuffStats {
    /// Zero statistics for a model of these sizes.
    pub fn zeros(n: usize, m: usize, p_dyn: usize, p_emis: usize) -> Self {
        let dz = n + p_dyn + 1;
        let de = n + p_emis + 1;
        Self {
            zz: DMatrix::zeros(dz, dz),
            zx: DMatrix::zeros(dz, n),
            xx: DMatrix::zeros(n, n),
            n_dyn: 0.0,
            ee: DMatrix::zeros(de, de),
            ey: DMatrix::zeros(de, m),
            yy: DMatrix::zeros(m, m),
            n_emis: 0.0,
            ee_row: vec![DMatrix::zeros(de, de); m],
            ey_row: vec![DVector::zeros(de); m],
            yy_row: vec![0.0; m],
            n_row: vec![0.0; m],
            n_partial: 0.0,
            x0: DVector::zeros(n),
            x0x0: DMatrix::zeros(n, n),
            n_traj: 0.0,
        }
    }

    /// Statistics of one smoothed trajectory.
    ///
    /// Uses E\[ζζᵀ\] = ζ̄ζ̄ᵀ + blockdiag(P^s_{t−1}, 0) and E\[ζ x_tᵀ\] = ζ̄ m_tᵀ + \[cross_{t−1}ᵀ; 0\]
    /// (only the state block of ζ is random).
    pub fn from_smoothed(lds: &Lds, traj: &Trajectory, sm: &Smoothed) -> Self {
        let obs = pattern(&traj.y);
        let sums = CovSums::new(&sm.covs, &sm.cross, &obs, lds.n_outputs());
        let n = lds.n_states();
        let mut means = DMatrix::zeros(n, sm.means.len());
        for (mut col, m) in means.column_iter_mut().zip(&sm.means) {
            col.copy_from(m);
        }
        Self::from_parts(lds, traj, &means, &obs, &sums)
    }

    /// Statistics from the smoothed means (n × T) and the covariance sums of the trajectory's
    /// observation pattern `obs`.
    pub(crate) fn from_parts(
        lds: &Lds,
        traj: &Trajectory,
        means: &DMatrix<f64>,
        obs: &[Vec<usize>],
        sums: &CovSums,
    ) -> Self {
        let n = lds.n_states();
        let m = lds.n_outputs();
        let pd = lds.n_dyn_inputs();
        let pe = lds.n_emis_inputs();
        let mut s = Self::zeros(n, m, pd, pe);
        let t_len = traj.len();
        let ms = means.as_slice();
        let col = |t: usize| &ms[t * n..(t + 1) * n];
        // Dynamics.
        let dz = n + pd + 1;
        let mut zeta = vec![0.0; dz];
        zeta[dz - 1] = 1.0;
        for t in 1..t_len {
            zeta[..n].copy_from_slice(col(t - 1));
            for c in 0..pd {
                zeta[n + c] = traj.v[(t, c)];
            }
            outer_acc(&mut s.zz, &zeta, &zeta);
            outer_acc(&mut s.zx, &zeta, col(t));
            outer_acc(&mut s.xx, col(t), col(t));
        }
        let mut zz = s.zz.view_mut((0, 0), (n, n));
        zz += &sums.prev;
        let mut zx = s.zx.view_mut((0, 0), (n, n));
        zx += &sums.cross;
        s.xx += &sums.next;
        s.n_dyn = t_len.saturating_sub(1) as f64;
        // Emissions: fully observed steps in ee/ey/yy, partly observed ones per output.
        let de = n + pe + 1;
        let mut eta = vec![0.0; de];
        eta[de - 1] = 1.0;
        let mut y = vec![0.0; m];
        for (t, o) in obs.iter().enumerate() {
            if o.is_empty() {
                continue;
            }
            eta[..n].copy_from_slice(col(t));
            for c in 0..pe {
                eta[n + c] = traj.u[(t, c)];
            }
            if o.len() == m {
                for (j, yj) in y.iter_mut().enumerate() {
                    *yj = traj.y[(t, j)];
                }
                outer_acc(&mut s.ee, &eta, &eta);
                outer_acc(&mut s.ey, &eta, &y);
                outer_acc(&mut s.yy, &y, &y);
                s.n_emis += 1.0;
            } else {
                s.n_partial += 1.0;
                for &j in o {
                    let yj = traj.y[(t, j)];
                    outer_acc(&mut s.ee_row[j], &eta, &eta);
                    for (a, e) in s.ey_row[j].iter_mut().zip(&eta) {
                        *a += yj * e;
                    }
                    s.yy_row[j] += yj * yj;
                    s.n_row[j] += 1.0;
                }
            }
        }
        let mut ee = s.ee.view_mut((0, 0), (n, n));
        ee += &sums.full;
        // Per output j: the fully observed steps plus the partly observed ones where j is.
        for j in 0..m {
            let mut er = s.ee_row[j].view_mut((0, 0), (n, n));
            er += &sums.partial[j];
            s.ee_row[j] += &s.ee;
            s.ey_row[j] += s.ey.column(j);
            s.yy_row[j] += s.yy[(j, j)];
            s.n_row[j] += s.n_emis;
        }
        s.x0 = DVector::from_column_slice(col(0));
        s.x0x0 = &sums.first + &s.x0 * s.x0.transpose();
        symmetrize(&mut s.x0x0);
        s.n_traj = 1.0;
        s
    }

    /// `self += w · other`.
    pub fn add_scaled(&mut self, other: &SuffStats, w: f64) {
        add_scaled_slice(self.zz.as_mut_slice(), other.zz.as_slice(), w);
        add_scaled_slice(self.zx.as_mut_slice(), other.zx.as_slice(), w);
        add_scaled_slice(self.xx.as_mut_slice(), other.xx.as_slice(), w);
        self.n_dyn += other.n_dyn * w;
        add_scaled_slice(self.ee.as_mut_slice(), other.ee.as_slice(), w);
        add_scaled_slice(self.ey.as_mut_slice(), other.ey.as_slice(), w);
        add_scaled_slice(self.yy.as_mut_slice(), other.yy.as_slice(), w);
        self.n_emis += other.n_emis * w;
        for j in 0..self.ee_row.len() {
            add_scaled_slice(self.ee_row[j].as_mut_slice(), other.ee_row[j].as_slice(), w);
            add_scaled_slice(self.ey_row[j].as_mut_slice(), other.ey_row[j].as_slice(), w);
            self.yy_row[j] += other.yy_row[j] * w;
            self.n_row[j] += other.n_row[j] * w;
        }
        self.n_partial += other.n_partial * w;
        add_scaled_slice(self.x0.as_mut_slice(), other.x0.as_slice(), w);
        add_scaled_slice(self.x0x0.as_mut_slice(), other.x0x0.as_slice(), w);
        self.n_traj += other.n_traj * w;
    }
}

/// `acc += w · x` elementwise.
fn add_scaled_slice(acc: &mut [f64], x: &[f64], w: f64) {
    for (a, v) in acc.iter_mut().zip(x) {
        *a += v * w;
    }
}

/// `acc += x yᵀ` for a column-major `acc` (|x| rows, |y| columns).
fn outer_acc(acc: &mut DMatrix<f64>, x: &[f64], y: &[f64]) {
    for (col, yj) in acc.as_mut_slice().chunks_exact_mut(x.len()).zip(y) {
        for (a, xi) in col.iter_mut().zip(x) {
            *a += xi * yj;
        }
    }
}

/// Sums of the smoothed covariances that enter one trajectory's statistics. They depend only
/// on the observation pattern, so trajectories that share a [`Track`] share them.
#[derive(Debug, Clone)]
pub(crate) struct CovSums {
    /// Σ_{t=1}^{T−1} P^s_{t−1}.
    prev: DMatrix<f64>,
    /// Σ_{t=1}^{T−1} cross\[t−1\]ᵀ.
    cross: DMatrix<f64>,
    /// Σ_{t=1}^{T−1} P^s_t.
    next: DMatrix<f64>,
    /// Σ of P^s_t over the fully observed steps.
    full: DMatrix<f64>,
    /// Per output j: Σ of P^s_t over the partly observed steps where j is observed.
    partial: Vec<DMatrix<f64>>,
    /// P^s_0.
    first: DMatrix<f64>,
}

impl CovSums {
    fn new(covs: &[DMatrix<f64>], cross: &[DMatrix<f64>], obs: &[Vec<usize>], m: usize) -> Self {
        let n = covs[0].nrows();
        let zero = DMatrix::zeros(n, n);
        let mut s = Self {
            prev: zero.clone(),
            cross: zero.clone(),
            next: zero.clone(),
            full: zero.clone(),
            partial: vec![zero; m],
            first: covs[0].clone(),
        };
        for t in 1..covs.len() {
            s.prev += &covs[t - 1];
            s.cross += cross[t - 1].transpose();
            s.next += &covs[t];
        }
        for (p, o) in covs.iter().zip(obs) {
            if o.len() == m {
                s.full += p;
            } else {
                for &j in o {
                    s.partial[j] += p;
                }
            }
        }
        s
    }

    fn of(track: &Track, m: usize) -> Self {
        let sm = track
            .smooth
            .as_ref()
            .expect("track built with the smoother");
        Self::new(&sm.covs, &sm.cross, &track.obs, m)
    }
}

/// Filter (and smoother) tracks of one model, shared by all fully observed trajectories of a
/// length that occurs more than once; any other trajectory gets its own track. The results are
/// those of [`crate::smooth`] on each trajectory, bit for bit.
pub(crate) struct Shared<'a> {
    lds: &'a Lds,
    opts: FilterOptions,
    smoother: bool,
    by_len: Vec<(usize, Track, Option<CovSums>)>,
}

impl<'a> Shared<'a> {
    /// `full[i]`: trajectory i has no missing entry. The trajectories must have been checked
    /// against the model.
    pub(crate) fn new(
        lds: &'a Lds,
        trajs: &[Trajectory],
        full: &[bool],
        opts: &FilterOptions,
        smoother: bool,
    ) -> Result<Self> {
        let mut lens: Vec<usize> = trajs
            .iter()
            .zip(full)
            .filter(|&(_, &f)| f)
            .map(|(t, _)| t.len())
            .collect();
        lens.sort_unstable();
        let mut repeated: Vec<usize> = lens
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        repeated.dedup();
        let mut sh = Self {
            lds,
            opts: *opts,
            smoother,
            by_len: Vec::with_capacity(repeated.len()),
        };
        for t_len in repeated {
            let (track, sums) = sh.track(all_rows(lds.n_outputs(), t_len))?;
            sh.by_len.push((t_len, track, sums));
        }
        Ok(sh)
    }

    fn track(&self, obs: Vec<Vec<usize>>) -> Result<(Track, Option<CovSums>)> {
        let track = Track::new(self.lds, obs, &self.opts, self.smoother)?;
        let sums = self
            .smoother
            .then(|| CovSums::of(&track, self.lds.n_outputs()));
        Ok((track, sums))
    }

    fn run<R>(
        &self,
        traj: &Trajectory,
        full: bool,
        f: impl FnOnce(&Track, Option<&CovSums>) -> Result<R>,
    ) -> Result<R> {
        if full && let Some((_, track, sums)) = self.by_len.iter().find(|e| e.0 == traj.len()) {
            return f(track, sums.as_ref());
        }
        let obs = if full {
            all_rows(self.lds.n_outputs(), traj.len())
        } else {
            pattern(&traj.y)
        };
        let (track, sums) = self.track(obs)?;
        f(&track, sums.as_ref())
    }

    /// log p(y | θ) of one trajectory.
    pub(crate) fn loglik(&self, traj: &Trajectory, full: bool) -> Result<f64> {
        self.run(traj, full, |track, _| {
            Ok(track.filter_means(self.lds, traj)?.2)
        })
    }

    /// Statistics and log-likelihood of one trajectory (needs `smoother`).
    pub(crate) fn stats(&self, traj: &Trajectory, full: bool) -> Result<(SuffStats, f64)> {
        self.run(traj, full, |track, sums| {
            let (pred, filt, ll) = track.filter_means(self.lds, traj)?;
            let means = track.smooth_means(&pred, &filt);
            let sums = sums.expect("shared tracks built with the smoother");
            Ok((
                SuffStats::from_parts(self.lds, traj, &means, &track.obs, sums),
                ll,
            ))
        })
    }
}

fn all_rows(m: usize, t_len: usize) -> Vec<Vec<usize>> {
    vec![(0..m).collect(); t_len]
}

/// `full[i]`: trajectory i has no missing output entry.
pub(crate) fn full_flags(trajs: &[Trajectory]) -> Vec<bool> {
    trajs.iter().map(|t| fully_observed(&t.y)).collect()
}

/// E-step over many trajectories: summed statistics and the total log-likelihood.
///
/// Trajectories are processed in parallel and summed in their order, so the result does not
/// depend on the number of threads.
pub fn e_step(lds: &Lds, trajs: &[Trajectory], opts: &FilterOptions) -> Result<(SuffStats, f64)> {
    opts.check()?;
    for tr in trajs {
        tr.check_against(lds)?;
    }
    let full = full_flags(trajs);
    let shared = Shared::new(lds, trajs, &full, opts, true)?;
    let parts: Vec<(SuffStats, f64)> = (0..trajs.len())
        .into_par_iter()
        .map(|i| shared.stats(&trajs[i], full[i]))
        .collect::<Result<_>>()?;
    let mut total = SuffStats::zeros(
        lds.n_states(),
        lds.n_outputs(),
        lds.n_dyn_inputs(),
        lds.n_emis_inputs(),
    );
    let mut ll = 0.0;
    for (s, l) in &parts {
        total.add_scaled(s, 1.0);
        ll += l;
    }
    Ok((total, ll))
}

/// Solves the regression `W Σ_ff = rhs` for the free columns of W (rows = outputs).
/// `gram` is the full Gram matrix Σ E\[r rᵀ\], `cross` the full Σ E\[r\] targetᵀ (rows =
/// regressor), `w` holds the current weights (its fixed columns are kept).
fn regress(
    gram: &DMatrix<f64>,
    cross: &DMatrix<f64>,
    w: &mut DMatrix<f64>,
    free: &[bool],
    jitter: f64,
) -> Result<()> {
    let fi: Vec<usize> = (0..free.len()).filter(|&i| free[i]).collect();
    if fi.is_empty() {
        return Ok(());
    }
    let gi: Vec<usize> = (0..free.len()).filter(|&i| !free[i]).collect();
    let mut gff = gram.select_rows(&fi).select_columns(&fi);
    for i in 0..gff.nrows() {
        gff[(i, i)] += jitter;
    }
    // rhsᵀ = Σ_f,target − Σ_f,g W_gᵀ   (free rows × outputs)
    let mut rhs = cross.select_rows(&fi);
    if !gi.is_empty() {
        let wg = w.select_columns(&gi);
        rhs -= gram.select_rows(&fi).select_columns(&gi) * wg.transpose();
    }
    let sol = match gff.clone().cholesky() {
        Some(ch) => ch.solve(&rhs),
        None => gff
            .svd(true, true)
            .solve(&rhs, 1e-14)
            .map_err(|e| LdsError::Unsupported(format!("singular M-step Gram matrix: {e}")))?,
    };
    for (k, &i) in fi.iter().enumerate() {
        w.set_column(i, &sol.row(k).transpose());
    }
    Ok(())
}

/// Residual second moment `(Σ_tt − W Σ_rt − Σ_rtᵀ Wᵀ + W Σ_rr Wᵀ)`.
fn residual(
    tt: &DMatrix<f64>,
    cross: &DMatrix<f64>,
    gram: &DMatrix<f64>,
    w: &DMatrix<f64>,
) -> DMatrix<f64> {
    let wc = w * cross;
    let mut r = tt - &wc - wc.transpose() + w * gram * w.transpose();
    symmetrize(&mut r);
    r
}

/// The weights `[M P o]` of one regression (state block, input block, offset column) and which
/// of its columns EM learns (`learn` for the three blocks).
fn pack(
    mat: &DMatrix<f64>,
    inputs: &DMatrix<f64>,
    off: &DVector<f64>,
    learn: [bool; 3],
) -> (DMatrix<f64>, Vec<bool>) {
    let (n, p) = (mat.ncols(), inputs.ncols());
    let mut w = DMatrix::zeros(mat.nrows(), n + p + 1);
    w.columns_mut(0, n).copy_from(mat);
    w.columns_mut(n, p).copy_from(inputs);
    w.set_column(n + p, off);
    let mut free = vec![learn[0]; n];
    free.extend(std::iter::repeat_n(learn[1], p));
    free.push(learn[2]);
    (w, free)
}

/// The three blocks of [`pack`]ed weights with n states and p inputs.
fn unpack(w: &DMatrix<f64>, n: usize, p: usize) -> (DMatrix<f64>, DMatrix<f64>, DVector<f64>) {
    (
        w.columns(0, n).into_owned(),
        w.columns(n, p).into_owned(),
        w.column(n + p).into_owned(),
    )
}

/// One M-step: returns the updated model. Frozen parameters are copied unchanged.
pub fn m_step(lds: &Lds, s: &SuffStats, opts: &EmOptions) -> Result<Lds> {
    let n = lds.n_states();
    let m = lds.n_outputs();
    let pd = lds.n_dyn_inputs();
    let pe = lds.n_emis_inputs();
    let l = &opts.learn;
    let mut out = lds.clone();
    let floor = |p: &mut DMatrix<f64>| floor_psd(p, opts.cov_floor, ABS_COV_FLOOR);
    // Dynamics.
    if s.n_dyn > 0.0 && (l.a || l.b_in || l.b_off || l.q) {
        let (mut w, free) = pack(&lds.a, &lds.b_in, &lds.b_off, [l.a, l.b_in, l.b_off]);
        regress(&s.zz, &s.zx, &mut w, &free, opts.filter.jitter)?;
        (out.a, out.b_in, out.b_off) = unpack(&w, n, pd);
        if l.q {
            let mut q = residual(&s.xx, &s.zx, &s.zz, &w) / s.n_dyn;
            floor(&mut q);
            out.q = q;
        }
    }
    // Emissions.
    if l.c || l.d_in || l.d_off || l.r {
        let (mut w, free) = pack(&lds.c, &lds.d_in, &lds.d_off, [l.c, l.d_in, l.d_off]);
        if opts.diagonal_r {
            let mut r = DMatrix::zeros(m, m);
            for j in 0..m {
                if s.n_row[j] <= 0.0 {
                    return Err(LdsError::InsufficientData(format!(
                        "output {j} is never observed"
                    )));
                }
                let mut wj = DMatrix::from_row_slice(1, w.ncols(), w.row(j).transpose().as_slice());
                let cross =
                    DMatrix::from_column_slice(s.ey_row[j].len(), 1, s.ey_row[j].as_slice());
                regress(&s.ee_row[j], &cross, &mut wj, &free, opts.filter.jitter)?;
                w.set_row(j, &wj.row(0));
                let tt = DMatrix::from_element(1, 1, s.yy_row[j]);
                r[(j, j)] = residual(&tt, &cross, &s.ee_row[j], &wj)[(0, 0)] / s.n_row[j];
            }
            if l.r {
                floor(&mut r);
                out.r = r;
            }
        } else {
            if s.n_partial > 0.0 {
                return Err(LdsError::Unsupported(
                    "full R with partially observed steps: set diagonal_r (per-output regressions)"
                        .into(),
                ));
            }
            if s.n_emis <= 0.0 {
                return Err(LdsError::InsufficientData("no observed steps".into()));
            }
            regress(&s.ee, &s.ey, &mut w, &free, opts.filter.jitter)?;
            if l.r {
                let mut r = residual(&s.yy, &s.ey, &s.ee, &w) / s.n_emis;
                floor(&mut r);
                out.r = r;
            }
        }
        (out.c, out.d_in, out.d_off) = unpack(&w, n, pe);
    }
    // Initial state.
    if s.n_traj > 0.0 {
        if l.mu0 {
            out.mu0 = &s.x0 / s.n_traj;
        }
        if l.sigma0 {
            // (1/N) Σ E[(x0 − μ0)(x0 − μ0)ᵀ] with the (new) μ0.
            let mu = &out.mu0;
            let mut p = &s.x0x0 / s.n_traj
                - (&s.x0 / s.n_traj) * mu.transpose()
                - mu * (&s.x0 / s.n_traj).transpose()
                + mu * mu.transpose();
            floor(&mut p);
            out.sigma0 = p;
        }
    }
    if out.a.iter().chain(out.c.iter()).any(|v| !v.is_finite()) {
        return Err(LdsError::NonFinite("M-step parameters".into()));
    }
    Ok(out)
}

/// Result of [`fit_em`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmFit {
    /// The fitted model (after the last M-step).
    pub lds: Lds,
    /// `loglik[k]` = total log-likelihood under the parameters after k M-steps; the last entry
    /// is that of `lds`.
    pub loglik: Vec<f64>,
    /// Whether the tolerance was met (not stopped by `max_iter` or the observer).
    pub converged: bool,
}

/// Checks a trajectory set against a model: sizes, at least one observed entry each.
pub(crate) fn check_data(lds: &Lds, trajs: &[Trajectory]) -> Result<()> {
    if trajs.is_empty() {
        return Err(LdsError::InsufficientData("no trajectories".into()));
    }
    for (i, tr) in trajs.iter().enumerate() {
        tr.check_against(lds)?;
        if tr.n_observed() == 0 {
            return Err(LdsError::InsufficientData(format!(
                "trajectory {i} has no observed output"
            )));
        }
    }
    Ok(())
}

/// Fits an LDS by EM from the starting model `init`.
///
/// Reports `Progress::new("em", k)` with metric `loglik` after every E-step; an observer's
/// [`Flow::Stop`] returns the current model and its log-likelihood.
///
/// ```
/// use nalgebra::{DMatrix, DVector};
/// use rand::SeedableRng;
/// use spikelab_core::Silent;
/// use spikelab_lds::{fit_em, EmOptions, Lds, Trajectory};
///
/// let truth = Lds::new(DMatrix::from_row_slice(2, 2, &[0.9, 0.2, -0.2, 0.8]), DMatrix::identity(2, 2) * 0.1,
///     DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.5, 1.0]), DMatrix::identity(2, 2) * 0.2,
///     DVector::zeros(2), DMatrix::identity(2, 2))?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let trajs: Vec<Trajectory> = (0..4)
///     .map(|_| Trajectory::new(truth.sample(100, None, None, &mut rng)?.1))
///     .collect::<Result<_, _>>()?;
/// let init = Lds::new(DMatrix::identity(2, 2) * 0.5, DMatrix::identity(2, 2),
///     DMatrix::identity(2, 2), DMatrix::identity(2, 2), DVector::zeros(2), DMatrix::identity(2, 2))?;
/// let fit = fit_em(&init, &trajs, &EmOptions { max_iter: 30, ..Default::default() }, &mut Silent)?;
/// assert!(fit.loglik.windows(2).all(|w| w[1] >= w[0] - 1e-9 * w[0].abs()));
/// # Ok::<(), spikelab_lds::LdsError>(())
/// ```
pub fn fit_em(
    init: &Lds,
    trajs: &[Trajectory],
    opts: &EmOptions,
    observer: &mut dyn Observer,
) -> Result<EmFit> {
    opts.validate()?;
    init.validate()?;
    check_data(init, trajs)?;
    let mut lds = init.clone();
    let mut trace = Vec::with_capacity(opts.max_iter + 1);
    let mut converged = false;
    for k in 0..=opts.max_iter {
        let (stats, ll) = e_step(&lds, trajs, &opts.filter)?;
        trace.push(ll);
        if k > 0 {
            let prev = trace[k - 1];
            if (ll - prev).abs() < opts.tol * prev.abs() {
                converged = true;
            }
        }
        let flow = observer.observe(
            &Progress::new("em", k)
                .with_total(opts.max_iter)
                .with_metric("loglik", ll),
        );
        if converged || k == opts.max_iter || flow == Flow::Stop {
            break;
        }
        lds = m_step(&lds, &stats, opts)?;
    }
    Ok(EmFit {
        lds,
        loglik: trace,
        converged,
    })
}

/// A data-driven starting model for [`fit_em`]: C from the top principal directions of the
/// fully observed outputs (extra states beyond m get small seeded random columns), states
/// x̂ = C⁺(y − ȳ), A by least squares on consecutive x̂ (scaled to spectral radius ≤ 0.99),
/// Q its residual covariance, R the diagonal residual variance of y (at least 10% of each
/// output's variance), d = ȳ, b = 0, B = D = 0, μ0 = 0, Σ0 the covariance of x̂. Input sizes
/// are taken from the first trajectory.
pub fn init_from_data(trajs: &[Trajectory], n_states: usize, seed: u64) -> Result<Lds> {
    use rand::SeedableRng;
    let first = trajs
        .first()
        .ok_or_else(|| LdsError::InsufficientData("no trajectories".into()))?;
    let m = first.y.ncols();
    let n = n_states;
    if n == 0 {
        return Err(LdsError::InvalidParameter {
            name: "n_states",
            reason: "0 (need ≥ 1)".into(),
        });
    }
    for (i, tr) in trajs.iter().enumerate() {
        let sizes = (tr.y.ncols(), tr.v.ncols(), tr.u.ncols());
        let want = (m, first.v.ncols(), first.u.ncols());
        if sizes != want {
            return Err(crate::error::dim_err(
                format!("trajectory {i} (outputs, dynamics inputs, emission inputs)"),
                format!("{want:?} as trajectory 0"),
                format!("{sizes:?}"),
            ));
        }
    }
    let rows: Vec<(usize, usize)> = trajs
        .iter()
        .enumerate()
        .flat_map(|(i, tr)| {
            (0..tr.len())
                .filter(move |&t| (0..m).all(|j| !tr.y[(t, j)].is_nan()))
                .map(move |t| (i, t))
        })
        .collect();
    if rows.len() < 2 {
        return Err(LdsError::InsufficientData(
            "fewer than two fully observed steps".into(),
        ));
    }
    let nr = rows.len() as f64;
    let mut mean = DVector::zeros(m);
    for &(i, t) in &rows {
        mean += trajs[i].y.row(t).transpose();
    }
    mean /= nr;
    let mut cov = DMatrix::zeros(m, m);
    for &(i, t) in &rows {
        let e = trajs[i].y.row(t).transpose() - &mean;
        cov += &e * e.transpose();
    }
    cov /= nr;
    symmetrize(&mut cov);
    let eig = nalgebra::SymmetricEigen::new(cov.clone());
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let scale = (cov.trace() / m as f64).sqrt().max(1e-12);
    let c = DMatrix::from_fn(m, n, |r, k| {
        if k < m {
            eig.eigenvectors[(r, idx[k])]
                * eig.eigenvalues[idx[k]].max(0.0).sqrt().max(1e-6 * scale)
        } else {
            0.1 * scale
                * rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng)
        }
    });
    let pinv = c
        .clone()
        .pseudo_inverse(1e-12)
        .map_err(|e| LdsError::Unsupported(e.to_string()))?;
    let states: Vec<Vec<Option<DVector<f64>>>> = trajs
        .iter()
        .map(|tr| {
            (0..tr.len())
                .map(|t| {
                    (0..m)
                        .all(|j| !tr.y[(t, j)].is_nan())
                        .then(|| &pinv * (tr.y.row(t).transpose() - &mean))
                })
                .collect()
        })
        .collect();
    let (mut sxx, mut sxy) = (DMatrix::zeros(n, n), DMatrix::zeros(n, n));
    let mut pairs = 0.0;
    for s in &states {
        for t in 1..s.len() {
            if let (Some(a), Some(b)) = (&s[t - 1], &s[t]) {
                sxx += a * a.transpose();
                sxy += b * a.transpose();
                pairs += 1.0;
            }
        }
    }
    let mut a = if pairs > n as f64 {
        let mut g = sxx.clone();
        for i in 0..n {
            g[(i, i)] += 1e-9 * sxx.trace().max(1e-300);
        }
        g.cholesky()
            .map(|ch| ch.solve(&sxy.transpose()).transpose())
            .unwrap_or_else(|| DMatrix::identity(n, n) * 0.5)
    } else {
        DMatrix::identity(n, n) * 0.5
    };
    let rho = crate::linalg::spectral_radius(&a);
    if rho > 0.99 {
        a *= 0.99 / rho;
    }
    let mut q = DMatrix::zeros(n, n);
    let mut sx = DMatrix::zeros(n, n);
    let mut nx = 0.0f64;
    for s in &states {
        for t in 0..s.len() {
            if let Some(b) = &s[t] {
                sx += b * b.transpose();
                nx += 1.0;
                if t > 0
                    && let Some(prev) = &s[t - 1]
                {
                    let e = b - &a * prev;
                    q += &e * e.transpose();
                }
            }
        }
    }
    let floor_rel = 1e-3;
    q /= pairs.max(1.0);
    floor_psd(&mut q, floor_rel, 1e-6 * scale * scale);
    let mut sigma0 = sx / nx.max(1.0);
    floor_psd(&mut sigma0, floor_rel, 1e-6 * scale * scale);
    let mut r = DMatrix::zeros(m, m);
    for j in 0..m {
        let mut res = 0.0;
        for &(i, t) in &rows {
            let x = states[i][t].as_ref().expect("fully observed step");
            let e = trajs[i].y[(t, j)] - mean[j] - (c.row(j) * x)[0];
            res += e * e;
        }
        r[(j, j)] = (res / nr).max(0.1 * cov[(j, j)]).max(1e-12);
    }
    let lds = Lds::new(a, q, c, r, DVector::zeros(n), sigma0)?
        .with_inputs(
            DMatrix::zeros(n, first.v.ncols()),
            DMatrix::zeros(m, first.u.ncols()),
        )?
        .with_offsets(DVector::zeros(n), mean)?;
    Ok(lds)
}
