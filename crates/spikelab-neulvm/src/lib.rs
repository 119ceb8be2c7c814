//! # spikelab-neulvm
//!
//! neuLVM (Wang, Schmutz, Bellec & Gerstner, NeurIPS 2022, "Mesoscopic modeling of hidden
//! spiking neurons"): a latent-variable model in which a few recorded neurons are embedded in
//! M large populations of leaky integrate-and-fire neurons with escape noise. The latent
//! variable is the fraction Z_α(t) of population α that fires in bin t.
//!
//! The model lives in [`model`]; see `docs/neulvm.md` for the equations, the quirks of the
//! original code that are kept (and the fixes offered by [`Quirks`]), and measured numbers.
#![warn(missing_docs)]

pub mod error;
pub(crate) mod fastmath;
pub mod fit;
pub mod model;
pub mod params;
pub mod simulate;

pub use error::{NeulvmError, Result};
pub use fit::{FitOptions, FitResult, Progress};
pub use model::{Gradient, Losses, NeuLvm, Recording, Step};
pub use params::{Bounds, ModelConfig, Params, Quirks};
pub use simulate::{SimOptions, Simulation};
