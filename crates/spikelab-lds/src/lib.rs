//! Linear-Gaussian state-space models for neural data: Kalman filter, RTS smoother, LDS-EM,
//! Ho–Kalman realisation and mixtures of linear dynamical systems (MoLDS, Tensor-EM).
#![warn(missing_docs)]

mod em;
mod error;
mod filter;
pub mod linalg;
mod model;
mod serde_mat;

pub use em::{EmFit, EmOptions, Learn, SuffStats, e_step, fit_em, m_step};
pub use error::{LdsError, Result};
pub use filter::{FilterOptions, Filtered, Smoothed, filter, smooth};
pub use model::{Lds, Trajectory};
