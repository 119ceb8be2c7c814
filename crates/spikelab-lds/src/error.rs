//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `spikelab-lds`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LdsError {
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
    /// An input holds ±inf (or NaN where NaN does not mean "missing").
    #[error("non-finite value in {0}")]
    NonFinite(String),
    /// A covariance is not symmetric positive semi-definite (or definite where required).
    #[error("{what} is not a valid covariance: {reason}")]
    NotCovariance {
        /// Which matrix.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter or option is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Why, and what is accepted.
        reason: String,
    },
    /// The data cannot support the requested fit (no trajectories, all missing, too few for K).
    #[error("insufficient data: {0}")]
    InsufficientData(String),
    /// A Cholesky factorisation failed even after the jitter ladder.
    #[error("Cholesky factorisation of {0} failed after the jitter ladder")]
    Cholesky(String),
    /// The requested combination is not supported (e.g. full R with partially observed steps).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file that cannot be read or does not hold what is expected.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Reading or writing an array file (`spikelab-data`).
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, LdsError>;

pub(crate) fn dim_err(
    what: impl Into<String>,
    expected: impl ToString,
    got: impl ToString,
) -> LdsError {
    LdsError::Dimension {
        what: what.into(),
        expected: expected.to_string(),
        got: got.to_string(),
    }
}
