//! # spikelab-decode
//!
//! Decoding behaviour from neural populations, with honest baselines.
#![warn(missing_docs)]

pub mod brainbits;
pub mod data;
pub mod decoder;
pub mod eit;
pub mod error;
pub mod linear;
pub mod metrics;
pub mod nn;

pub use brainbits::{
    Audit, AuditMode, AuditParams, AuditPoint, AuditReport, GradientParams, LatentPopulation,
    LatentPopulationParams,
};
pub use data::{
    Lags, TimeSplit, check_target, count_windows, lagged_features, raster_counts, spike_counts,
};
pub use decoder::{DEFAULT_ALPHAS, LinearDecoder, LinearDecoderFit, LinearDecoderParams};
pub use error::{DecodeError, Result};
pub use linear::{LinearModel, RidgePath, choose_alpha, fit_ridge, fit_rrr, rrr_from_ridge};
pub use metrics::{accuracy, r2_per_output, r2_score};
