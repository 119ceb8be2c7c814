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
    /// A CASCADE model folder or `config.yaml` that cannot be used (missing file, noise level
    /// or ensemble member; unknown or malformed config key).
    #[error("model {source_name}: {reason}")]
    Model {
        /// Folder or file.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The recording's frame rate is more than 5 % away from the model's.
    #[error(
        "frame rate {rate_hz} Hz differs from the model's {model_rate_hz} Hz by more than 5 %: use a model for this rate (closest known: {}) or resample the traces",
        closest.join(", ")
    )]
    FrameRateMismatch {
        /// The recording's frame rate (Hz).
        rate_hz: f64,
        /// The model's frame rate (Hz).
        model_rate_hz: f64,
        /// Names of the known models with the closest frame rates.
        closest: Vec<String>,
    },
    /// An observer asked a long-running call to stop; nothing was computed to return.
    #[error("stopped by the observer during {stage}")]
    Stopped {
        /// The stage that was running.
        stage: &'static str,
    },
}

/// `Result` with [`CalciumError`].
pub type Result<T> = std::result::Result<T, CalciumError>;
