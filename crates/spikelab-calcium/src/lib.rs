//! # spikelab-calcium
//!
//! (crate docs are being written)
#![warn(missing_docs)]

pub mod calibration;
pub mod embedding;
pub mod ensemble;
pub mod error;
pub mod evaluate;
mod fastconv;
pub mod metric;
pub mod network;
pub mod preprocess;
pub mod train;
pub mod weights;

pub use error::{CalciumError, Result};
pub use network::{ElephantCnn, Evaluation, Skipped};
pub use weights::ElephantWeights;
