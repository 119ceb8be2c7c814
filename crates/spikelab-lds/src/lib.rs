//! Linear-Gaussian state-space models for neural data: Kalman filter, RTS smoother, LDS-EM,
//! Ho–Kalman realisation and mixtures of linear dynamical systems (MoLDS, Tensor-EM).
//!
//! # Model
//!
//! ```text
//! x_0 ~ N(μ0, Σ0)
//! x_t = A x_{t−1} + B v_t + b + w_t,   w_t ~ N(0, Q)      (t ≥ 1)
//! y_t = C x_t + D u_t + d + ε_t,       ε_t ~ N(0, R)      (t ≥ 0)
//! ```
//!
//! Arrays are time-major (`y` is T × m). NaN entries of `y` are missing: step t uses only its
//! observed rows O_t (C_O, R_OO); a step with none has no update. Inputs come in two
//! conventions ([`Trajectory::with_inputs`]: v_t = u_t as in dynamax;
//! [`Trajectory::with_control_inputs`]: v_t = u_{t−1}, i.e. `x_{t+1} = A x_t + B u_t`, used by
//! Ho–Kalman and MoLDS, with Markov parameters G_0 = D, G_j = C A^{j−1} B).
//!
//! * [`filter`]: innovation-form log-likelihood ℓ = −½ Σ_t [eᵀS⁻¹e + log det S + m_t log 2π]
//!   with a Cholesky of S (jitter ladder on failure, counted), gain by triangular solves,
//!   Joseph-form covariance update `(I − KC)P(I − KC)ᵀ + KRKᵀ` and explicit symmetrisation;
//!   [`FilterOptions::square_root`] propagates a QR factor instead.
//! * [`smooth`]: Rauch–Tung–Striebel with lag-one covariances Cov(x_{t+1}, x_t | y).
//! * [`fit_em`]: Shumway & Stoffer (1982) / Ghahramani & Hinton (1996) EM, closed-form joint
//!   regressions for [A B b] and [C D d], any subset of parameters frozen via [`Learn`],
//!   eigenvalue floors on Q, R, Σ0 after every M-step, many trajectories of any lengths.
//! * [`ho_kalman`]: realisation from Markov parameters by a block-Hankel SVD (Ho & Kalman 1966).
//! * [`fit_molds`]: MoLDS (Gong & Saxena, ICLR 2026, arXiv 2510.06091): a tensor stage
//!   ([`tensor_stage`]: multi-view input–output moments, whitening, Jacobi simultaneous
//!   diagonalisation — reconstructed, the paper publishes no code) gives weights and Markov
//!   parameters, Ho–Kalman the systems, then mixture EM with responsibilities
//!   γ_ik ∝ p_k p(y_i | θ_k) refines them. Random-init EM and tensor-only are options.
//! * [`pipeline`]: arrays or `.npy` files in, fits and their output files out (what the CLI runs).
//! * [`eval`]: Hungarian matching, Markov-parameter error, weight error, accuracy, ARI.
//!
//! Checked against pykalman 0.11.2 and dynamax 1.0.3 to ≤ 1e-13 (fixtures in
//! `datasets/lds/reference/`); details, measured tables and what was inferred: `docs/lds.md`.
//!
//! # Example
//!
//! ```
//! use nalgebra::{DMatrix, DVector};
//! use rand::SeedableRng;
//! use spikelab_core::Silent;
//! use spikelab_lds::{fit_em, init_from_data, smooth, EmOptions, FilterOptions, Lds, Trajectory};
//!
//! // A 2-state rotation observed through 3 noisy outputs, with 5% of the entries missing.
//! let truth = Lds::new(
//!     DMatrix::from_row_slice(2, 2, &[0.95, -0.2, 0.2, 0.95]), DMatrix::identity(2, 2) * 0.05,
//!     DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 0.7, 0.7]), DMatrix::identity(3, 3) * 0.1,
//!     DVector::zeros(2), DMatrix::identity(2, 2),
//! )?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut trajs = Vec::new();
//! for i in 0..5 {
//!     let (_, mut y) = truth.sample(150 + 10 * i, None, None, &mut rng)?; // different lengths
//!     for t in (i..y.nrows()).step_by(20) {
//!         y.row_mut(t).fill(f64::NAN); // whole missing steps
//!     }
//!     trajs.push(Trajectory::new(y)?);
//! }
//! let init = init_from_data(&trajs, 2, 0)?;
//! let fit = fit_em(&init, &trajs, &EmOptions { max_iter: 50, ..Default::default() }, &mut Silent)?;
//! assert!(fit.loglik.windows(2).all(|w| w[1] >= w[0] - 1e-9 * w[0].abs()));
//! // Eigenvalues of A are similarity invariant: compare them, not A itself.
//! let ev = fit.lds.a.complex_eigenvalues();
//! assert!(ev.iter().all(|z| (z.norm() - 0.97).abs() < 0.05), "{ev}");
//! let sm = smooth(&fit.lds, &trajs[0], &FilterOptions::default())?;
//! assert_eq!(sm.means.len(), 150);
//! # Ok::<(), spikelab_lds::LdsError>(())
//! ```
#![warn(missing_docs)]

mod em;
mod error;
pub mod eval;
mod filter;
mod generate;
mod hokalman;
pub mod linalg;
mod model;
mod molds;
pub mod pipeline;
mod serde_mat;
pub mod tensor;

pub use em::{EmFit, EmOptions, Learn, SuffStats, e_step, fit_em, init_from_data, m_step};
pub use error::{LdsError, Result};
pub use filter::{FilterOptions, Filtered, Smoothed, filter, smooth};
pub use generate::{MoldsData, MoldsSpec, random_stable};
pub use hokalman::{Order, Realization, ho_kalman, markov};
pub use model::{Lds, Trajectory};
pub use molds::{
    Molds, MoldsFit, MoldsInit, MoldsOptions, fit_molds, heldout_loglik_per_step, molds_em,
    random_init, responsibilities, tensor_init,
};
pub use tensor::{TensorEstimate, TensorOptions, tensor_stage};
