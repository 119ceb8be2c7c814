//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `spikelab-neulvm`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NeulvmError {
    /// A fixed model setting (sizes, rates, time step, coupling pattern) is invalid.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// A fitted parameter is non-finite, outside its bounds, or the vector has the wrong length.
    #[error("invalid parameters: {0}")]
    Params(String),
    /// Recorded spikes have the wrong shape or values other than 0/1.
    #[error("invalid spikes: {0}")]
    Spikes(String),
    /// The latent Z has the wrong shape, is non-finite or lies outside [0, 1].
    #[error("invalid latent Z: {0}")]
    Latent(String),
    /// An option of a fitting or simulation routine is invalid.
    #[error("invalid option: {0}")]
    Options(String),
    /// The loss or its gradient became non-finite (e.g. exp overflow for absurd parameters).
    #[error("non-finite loss or gradient: {0}")]
    NonFinite(String),
    /// The optimiser (argmin) failed.
    #[error("optimiser failed: {0}")]
    Optimizer(String),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
    /// (De)serialising a fit failed.
    #[error("serialisation: {0}")]
    Serde(String),
    /// A candle operation of the [`autograd`](crate::autograd) objective failed.
    #[cfg(feature = "candle")]
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, NeulvmError>;
