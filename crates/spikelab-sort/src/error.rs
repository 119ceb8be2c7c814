//! The crate's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in `spikelab-sort`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SortError {
    /// A parameter or option is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Why, and what is accepted.
        reason: String,
    },
    /// Two arrays that must agree in size do not.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    Dimension {
        /// Which array.
        what: String,
        /// The size it must have.
        expected: String,
        /// The size it has.
        got: String,
    },
    /// A signal is too short for the edge padding of zero-phase filtering.
    #[error(
        "the signal has {n_samples} samples but zero-phase filtering pads {padlen} at each end and \
         needs more than {padlen}; use a longer signal or a lower filter order"
    )]
    SignalTooShort {
        /// Samples in the signal.
        n_samples: usize,
        /// The padding length.
        padlen: usize,
    },
    /// An input holds NaN or ±inf.
    #[error("non-finite value in {0}")]
    NonFinite(String),
    /// A file that cannot be read or does not hold what is expected.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// Two sortings compared with each other have different sampling rates.
    #[error(
        "sampling rates differ: ground truth {gt_hz} Hz, tested {tested_hz} Hz (they must agree \
         within 0.1 %; resample the frames of one sorting to the other's rate)"
    )]
    SamplingRateMismatch {
        /// Rate of the ground truth, Hz.
        gt_hz: f64,
        /// Rate of the tested sorting, Hz.
        tested_hz: f64,
    },
    /// Training produced a non-finite loss; the parameters were not updated with it.
    #[error("training diverged at step {step}: loss is {loss}")]
    Diverged {
        /// Zero-based optimiser step.
        step: usize,
        /// The offending loss value.
        loss: f64,
    },
    /// An error of the tensor library (device, shapes inside a model, safetensors files).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error of the shared network blocks (`spikelab_decode::nn`).
    #[error(transparent)]
    Decode(#[from] spikelab_decode::DecodeError),
    /// An error of the data layer (readers, writers).
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
}

/// `Result` with [`SortError`].
pub type Result<T, E = SortError> = std::result::Result<T, E>;
