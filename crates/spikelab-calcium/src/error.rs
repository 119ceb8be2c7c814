//! The crate's error type.

/// Errors of spikelab-calcium.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalciumError {
    /// Reading input data failed.
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
    /// A shared numerical routine rejected its input.
    #[error(transparent)]
    Core(#[from] spikelab_core::CoreError),
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
    /// A weight file that cannot be read, or that does not hold the Elephant architecture
    /// (missing layers, wrong shapes).
    #[error("weights {source_name}: {reason}")]
    Weights {
        /// File path or other source name.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Input data the method cannot use (trace shorter than the window, constant or all-NaN
    /// trace, wrong frame rate, mismatched shapes).
    #[error("invalid input {what}: {reason}")]
    InvalidInput {
        /// Which input (e.g. `neuron 3`).
        what: String,
        /// Why it is unusable.
        reason: String,
    },
}

/// `Result` with [`CalciumError`].
pub type Result<T> = std::result::Result<T, CalciumError>;
