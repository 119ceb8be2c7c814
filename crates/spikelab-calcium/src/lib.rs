//! # spikelab-calcium
//!
//! (crate docs are being written)
#![warn(missing_docs)]

pub mod embedding;
pub mod error;

pub use error::{CalciumError, Result};
