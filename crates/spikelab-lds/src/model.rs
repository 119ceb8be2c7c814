//! Parameters of a linear-Gaussian state-space model and the trajectories it is fitted to.
//!
//! ```text
//! x_0 ~ N(μ0, Σ0)
//! x_t = A x_{t−1} + B v_t + b + w_t,   w_t ~ N(0, Q)   (t ≥ 1)
//! y_t = C x_t + D u_t + d + ε_t,       ε_t ~ N(0, R)   (t ≥ 0)
//! ```
//!
//! `v` are the dynamics inputs (v_0 is never used), `u` the emission inputs. Arrays are
//! time-major: `y` is `T × m`, `v` is `T × p_dyn`, `u` is `T × p_emis`.

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{LdsError, Result, dim_err};
use crate::linalg::check_cov;

/// Parameters of one linear dynamical system (see the module docs for the equations).
///
/// Sizes: n states, m outputs, `p_dyn` dynamics inputs, `p_emis` emission inputs. A model
/// without inputs has `b_in` of size n × 0 and `d_in` of size m × 0; offsets that are not used
/// are zero vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lds {
    /// Dynamics matrix A (n × n).
    #[serde(with = "crate::serde_mat::mat")]
    pub a: DMatrix<f64>,
    /// Dynamics input weights B (n × p_dyn).
    #[serde(with = "crate::serde_mat::mat")]
    pub b_in: DMatrix<f64>,
    /// Dynamics offset b (n).
    #[serde(with = "crate::serde_mat::vec")]
    pub b_off: DVector<f64>,
    /// Process noise covariance Q (n × n).
    #[serde(with = "crate::serde_mat::mat")]
    pub q: DMatrix<f64>,
    /// Emission matrix C (m × n).
    #[serde(with = "crate::serde_mat::mat")]
    pub c: DMatrix<f64>,
    /// Emission input weights D (m × p_emis).
    #[serde(with = "crate::serde_mat::mat")]
    pub d_in: DMatrix<f64>,
    /// Emission offset d (m).
    #[serde(with = "crate::serde_mat::vec")]
    pub d_off: DVector<f64>,
    /// Observation noise covariance R (m × m).
    #[serde(with = "crate::serde_mat::mat")]
    pub r: DMatrix<f64>,
    /// Initial state mean μ0 (n).
    #[serde(with = "crate::serde_mat::vec")]
    pub mu0: DVector<f64>,
    /// Initial state covariance Σ0 (n × n).
    #[serde(with = "crate::serde_mat::mat")]
    pub sigma0: DMatrix<f64>,
}

impl Lds {
    /// A model without inputs and with zero offsets.
    ///
    /// ```
    /// use nalgebra::{DMatrix, DVector};
    /// let m = spikelab_lds::Lds::new(
    ///     DMatrix::identity(2, 2) * 0.9, DMatrix::identity(2, 2) * 0.1,
    ///     DMatrix::from_row_slice(1, 2, &[1.0, 0.5]), DMatrix::identity(1, 1),
    ///     DVector::zeros(2), DMatrix::identity(2, 2),
    /// )?;
    /// assert_eq!((m.n_states(), m.n_outputs()), (2, 1));
    /// # Ok::<(), spikelab_lds::LdsError>(())
    /// ```
    pub fn new(
        a: DMatrix<f64>,
        q: DMatrix<f64>,
        c: DMatrix<f64>,
        r: DMatrix<f64>,
        mu0: DVector<f64>,
        sigma0: DMatrix<f64>,
    ) -> Result<Self> {
        let n = a.nrows();
        let m = c.nrows();
        let lds = Self {
            a,
            b_in: DMatrix::zeros(n, 0),
            b_off: DVector::zeros(n),
            q,
            c,
            d_in: DMatrix::zeros(m, 0),
            d_off: DVector::zeros(m),
            r,
            mu0,
            sigma0,
        };
        lds.validate()?;
        Ok(lds)
    }

    /// Sets the input weights B (n × p_dyn) and D (m × p_emis).
    pub fn with_inputs(mut self, b_in: DMatrix<f64>, d_in: DMatrix<f64>) -> Result<Self> {
        self.b_in = b_in;
        self.d_in = d_in;
        self.validate()?;
        Ok(self)
    }

    /// Sets the offsets b (n) and d (m).
    pub fn with_offsets(mut self, b_off: DVector<f64>, d_off: DVector<f64>) -> Result<Self> {
        self.b_off = b_off;
        self.d_off = d_off;
        self.validate()?;
        Ok(self)
    }

    /// Number of latent states n.
    pub fn n_states(&self) -> usize {
        self.a.nrows()
    }
    /// Number of outputs m.
    pub fn n_outputs(&self) -> usize {
        self.c.nrows()
    }
    /// Number of dynamics inputs.
    pub fn n_dyn_inputs(&self) -> usize {
        self.b_in.ncols()
    }
    /// Number of emission inputs.
    pub fn n_emis_inputs(&self) -> usize {
        self.d_in.ncols()
    }

    /// Checks shapes, finiteness and that Q, R, Σ0 are symmetric PSD.
    ///
    /// An unstable or singular A is accepted: the filter, smoother and EM are well defined for
    /// any A (an explosive A only makes long simulations overflow; `sample` then reports it).
    pub fn validate(&self) -> Result<()> {
        let n = self.a.nrows();
        let m = self.c.nrows();
        let shape = |what: &str, mat: &DMatrix<f64>, r: usize, c: usize| -> Result<()> {
            if mat.shape() != (r, c) {
                return Err(dim_err(
                    what,
                    format!("{r}×{c}"),
                    format!("{}×{}", mat.nrows(), mat.ncols()),
                ));
            }
            if mat.iter().any(|v| !v.is_finite()) {
                return Err(LdsError::NonFinite(what.to_string()));
            }
            Ok(())
        };
        if n == 0 || m == 0 {
            return Err(LdsError::InvalidParameter {
                name: "n_states/n_outputs",
                reason: "need at least one state and one output".into(),
            });
        }
        shape("A", &self.a, n, n)?;
        shape("B", &self.b_in, n, self.b_in.ncols())?;
        shape("Q", &self.q, n, n)?;
        shape("C", &self.c, m, n)?;
        shape("D", &self.d_in, m, self.d_in.ncols())?;
        shape("R", &self.r, m, m)?;
        shape("Σ0", &self.sigma0, n, n)?;
        for (what, v, len) in [
            ("b", &self.b_off, n),
            ("d", &self.d_off, m),
            ("μ0", &self.mu0, n),
        ] {
            if v.len() != len {
                return Err(dim_err(what, len, v.len()));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(LdsError::NonFinite(what.to_string()));
            }
        }
        check_cov(&self.q, "Q", false)?;
        check_cov(&self.r, "R", false)?;
        check_cov(&self.sigma0, "Σ0", false)?;
        Ok(())
    }

    /// Markov parameters `G_0 = D, G_j = C A^{j−1} B` (j = 1 … len−1) of the control
    /// convention `x_{t+1} = A x_t + B u_t` (dynamics and emission inputs are the same array).
    pub fn markov_parameters(&self, len: usize) -> Vec<DMatrix<f64>> {
        let mut out = Vec::with_capacity(len);
        if len == 0 {
            return out;
        }
        out.push(self.d_in.clone());
        let mut ab = self.b_in.clone();
        for _ in 1..len {
            out.push(&self.c * &ab);
            ab = &self.a * ab;
        }
        out
    }

    /// Draws a trajectory of length `t_len` (latent states `T × n` and outputs `T × m`).
    /// `v`/`u` are the dynamics/emission inputs (`T × p`; `None` when the model has none).
    /// Fails with [`LdsError::NonFinite`] when an explosive A overflows.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        t_len: usize,
        v: Option<&DMatrix<f64>>,
        u: Option<&DMatrix<f64>>,
        rng: &mut R,
    ) -> Result<(DMatrix<f64>, DMatrix<f64>)> {
        let n = self.n_states();
        let m = self.n_outputs();
        let v = input_or_empty(v, t_len, self.n_dyn_inputs(), "dynamics inputs")?;
        let u = input_or_empty(u, t_len, self.n_emis_inputs(), "emission inputs")?;
        let lq = psd_sqrt(&self.q);
        let lr = psd_sqrt(&self.r);
        let l0 = psd_sqrt(&self.sigma0);
        let mut noise = |l: &DMatrix<f64>| -> DVector<f64> {
            let z = DVector::from_fn(l.ncols(), |_, _| rng.sample::<f64, _>(StandardNormal));
            l * z
        };
        let mut xs = DMatrix::zeros(t_len, n);
        let mut ys = DMatrix::zeros(t_len, m);
        let mut x = &self.mu0 + noise(&l0);
        for t in 0..t_len {
            if t > 0 {
                let vt = v.row(t).transpose();
                x = &self.a * &x + &self.b_in * vt + &self.b_off + noise(&lq);
            }
            let ut = u.row(t).transpose();
            let y = &self.c * &x + &self.d_in * ut + &self.d_off + noise(&lr);
            xs.set_row(t, &x.transpose());
            ys.set_row(t, &y.transpose());
        }
        if xs.iter().chain(ys.iter()).any(|v| !v.is_finite()) {
            return Err(LdsError::NonFinite(
                "sampled trajectory (explosive A?)".into(),
            ));
        }
        Ok((xs, ys))
    }
}

fn input_or_empty(
    x: Option<&DMatrix<f64>>,
    t_len: usize,
    p: usize,
    what: &str,
) -> Result<DMatrix<f64>> {
    match x {
        Some(x) => {
            if x.shape() != (t_len, p) {
                return Err(dim_err(
                    what,
                    format!("{t_len}×{p}"),
                    format!("{}×{}", x.nrows(), x.ncols()),
                ));
            }
            Ok(x.clone())
        }
        None if p == 0 => Ok(DMatrix::zeros(t_len, 0)),
        None => Err(dim_err(what, format!("{t_len}×{p}"), "none")),
    }
}

/// A symmetric square root factor L with L Lᵀ = P for PSD P (eigen-decomposition, so singular
/// P is fine).
pub(crate) fn psd_sqrt(p: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = nalgebra::SymmetricEigen::new(p.clone());
    let s = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&s)
}

/// One observed trajectory: outputs with missing entries, and its inputs.
///
/// Missing outputs are NaN entries of `y` ([`Trajectory::with_mask`] sets them from a mask);
/// ±inf anywhere is an error. Inputs must be complete and finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Outputs, `T × m`; NaN = missing.
    pub y: DMatrix<f64>,
    /// Dynamics inputs v, `T × p_dyn` (row 0 unused).
    pub v: DMatrix<f64>,
    /// Emission inputs u, `T × p_emis`.
    pub u: DMatrix<f64>,
}

impl Trajectory {
    /// A trajectory without inputs. Fails on ±inf or an empty `y`.
    pub fn new(y: DMatrix<f64>) -> Result<Self> {
        let t = y.nrows();
        let tr = Self {
            y,
            v: DMatrix::zeros(t, 0),
            u: DMatrix::zeros(t, 0),
        };
        tr.check()?;
        Ok(tr)
    }

    /// Sets the inputs in dynamax's convention: the same array drives the transition into step
    /// t (v_t = u_t) and the emission at step t.
    pub fn with_inputs(mut self, u: DMatrix<f64>) -> Result<Self> {
        self.v = u.clone();
        self.u = u;
        self.check()?;
        Ok(self)
    }

    /// Sets the inputs in the control convention `x_{t+1} = A x_t + B u_t`, `y_t = C x_t + D u_t`
    /// (v_t = u_{t−1}, v_0 = 0); MoLDS and Ho–Kalman use this one.
    pub fn with_control_inputs(mut self, u: DMatrix<f64>) -> Result<Self> {
        let (t, p) = u.shape();
        let mut v = DMatrix::zeros(t, p);
        if t > 1 {
            v.rows_mut(1, t - 1).copy_from(&u.rows(0, t - 1));
        }
        self.v = v;
        self.u = u;
        self.check()?;
        Ok(self)
    }

    /// Sets dynamics and emission inputs separately.
    pub fn with_separate_inputs(mut self, v: DMatrix<f64>, u: DMatrix<f64>) -> Result<Self> {
        self.v = v;
        self.u = u;
        self.check()?;
        Ok(self)
    }

    /// Marks `mask[(t, j)] == false` entries as missing (sets them to NaN).
    pub fn with_mask(mut self, observed: &DMatrix<bool>) -> Result<Self> {
        if observed.shape() != self.y.shape() {
            return Err(dim_err(
                "mask",
                format!("{:?}", self.y.shape()),
                format!("{:?}", observed.shape()),
            ));
        }
        for (y, &o) in self.y.iter_mut().zip(observed.iter()) {
            if !o {
                *y = f64::NAN;
            }
        }
        Ok(self)
    }

    /// Number of steps T.
    pub fn len(&self) -> usize {
        self.y.nrows()
    }
    /// `true` when T = 0 (never for a constructed trajectory).
    pub fn is_empty(&self) -> bool {
        self.y.nrows() == 0
    }
    /// Number of observed output entries.
    pub fn n_observed(&self) -> usize {
        self.y.iter().filter(|v| !v.is_nan()).count()
    }

    fn check(&self) -> Result<()> {
        let t = self.y.nrows();
        if t == 0 || self.y.ncols() == 0 {
            return Err(LdsError::InsufficientData("empty trajectory".into()));
        }
        if self.y.iter().any(|v| v.is_infinite()) {
            return Err(LdsError::NonFinite("outputs y (±inf)".into()));
        }
        for (what, x) in [("dynamics inputs", &self.v), ("emission inputs", &self.u)] {
            if x.nrows() != t {
                return Err(dim_err(format!("{what} length"), t, x.nrows()));
            }
            if x.iter().any(|v| !v.is_finite()) {
                return Err(LdsError::NonFinite(what.to_string()));
            }
        }
        Ok(())
    }

    /// Checks the trajectory against a model's sizes.
    pub fn check_against(&self, lds: &Lds) -> Result<()> {
        self.check()?;
        if self.y.ncols() != lds.n_outputs() {
            return Err(dim_err(
                "outputs y (columns)",
                lds.n_outputs(),
                self.y.ncols(),
            ));
        }
        if self.v.ncols() != lds.n_dyn_inputs() {
            return Err(dim_err(
                "dynamics inputs (columns)",
                lds.n_dyn_inputs(),
                self.v.ncols(),
            ));
        }
        if self.u.ncols() != lds.n_emis_inputs() {
            return Err(dim_err(
                "emission inputs (columns)",
                lds.n_emis_inputs(),
                self.u.ncols(),
            ));
        }
        Ok(())
    }
}
