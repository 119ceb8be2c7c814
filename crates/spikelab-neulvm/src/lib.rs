//! # spikelab-neulvm
//!
//! neuLVM: a latent-variable model of hidden spiking populations. Reference: S. Wang,
//! V. Schmutz, G. Bellec & W. Gerstner, "Mesoscopic modeling of hidden spiking neurons",
//! NeurIPS 2022 (arXiv 2205.13493); original code `realwsq/neuLVM`.
//!
//! A few recorded neurons are embedded in M large populations of leaky integrate-and-fire
//! neurons with escape noise. The latent variable Z_α(t) is the fraction of population α that
//! fires in bin t. Each population is described mesoscopically (Schwalger, Deger & Gerstner
//! 2017): cohorts indexed by the age since their last spike carry a membrane potential and a
//! survival probability; their hazards give the expected activity Z̄(t) and a Gaussian
//! finite-size transition density for Z(t). The recorded neurons are single LIF neurons driven
//! by the same synaptic input, computed from the latent.
//!
//! The model is fitted by EM: the M-step minimises L_y + L_Z over the 4·M parameters
//! (membrane rate, coupling, resting potential, threshold) at fixed Z with L-BFGS (argmin, exact
//! gradient, bounds by a sigmoid reparametrisation); the E-step minimises the same objective over
//! Z with Adam, with the original's checkpoint and stopping rules; several restarts from a
//! seeded prior, the lowest loss wins. Losses and gradients are f64 (the original M-step is
//! float64); gradients come from a hand-written reverse sweep ([`NeuLvm::gradient`]), 2× the
//! cost of a loss and 60–90× faster than the same objective differentiated by candle's
//! autograd (which the tests keep as an independent oracle). [`recovery::latent_correlation`]
//! gives the paper's recovery measure on synthetic data.
//! Every quirk of the original is kept by default and switchable in [`Quirks`]; the bundled
//! golden losses are matched to 1e-12. See `docs/neulvm.md` for equations, quirks and
//! measured recovery and speed.
//!
//! ```
//! use spikelab_datasets as datasets;
//! use spikelab_neulvm::{LambdaFallback, ModelConfig, NeuLvm, Params, Recording, Wrt};
//! // Spikes [population, bin, neuron] of 9 recorded neurons, 4-ms bins, 1 s history + 10 s.
//! let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?;
//! let model = NeuLvm::new(ModelConfig::winner_take_all(), rec)?;
//! let z = model.initial_latent(0.4)?; // data-driven Z, [population, bin]
//! let theta = Params::winner_take_all_ground_truth();
//! let g = model.gradient(&theta, z.view(), LambdaFallback::MStep, Wrt::Both)?;
//! assert!((g.losses.total() - (-2.291718086192824)).abs() < 1e-9);
//! assert_eq!(g.params.unwrap().len(), 12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "candle")]
pub mod autograd;
pub mod error;
pub mod fit;
pub(crate) mod kernels;
pub mod model;
mod output;
pub mod params;
pub mod recovery;
pub mod simulate;
pub mod spec;

pub use error::{NeulvmError, Result};
pub use fit::{FitOptions, FitResult};
pub use model::{Gradient, LambdaFallback, Losses, NeuLvm, Recording, Wrt};
pub use params::{Bounds, ModelConfig, Params, Quirks};
pub use simulate::{SimOptions, Simulation};
pub use spec::{ModelSpec, ParamBox};
