//! Linear-Gaussian state-space models for neural data: Kalman filter, RTS smoother, LDS-EM,
//! Ho–Kalman realisation and mixtures of linear dynamical systems (MoLDS, Tensor-EM).
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
