//! The crate's error type.

/// Errors of spikelab-calcium.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalciumError {
    /// Reading input data failed.
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
    /// A tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A parameter outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    // Add further variants below (both calcium engineers edit this enum; re-read before editing).
}

/// `Result` with [`CalciumError`].
pub type Result<T> = std::result::Result<T, CalciumError>;
