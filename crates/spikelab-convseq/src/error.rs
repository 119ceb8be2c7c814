//! The crate's error type.

/// Everything that can go wrong in convSeq: bad parameters, unusable rasters, devices that
/// were not compiled in, and errors from the data layer or from candle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvSeqError {
    /// A parameter outside its valid range (`K = 0`, `W < 2`, `lr ≤ 0`, padding ≠ W/2, …).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name as in the API.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The raster cannot be analysed (no neurons, fewer than 2 bins, no spikes, a malformed
    /// spike file, …).
    #[error("invalid raster: {0}")]
    InvalidRaster(String),
    /// Two arrays whose shapes do not fit together.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// Which array.
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A device was requested that this build does not support (e.g. `cuda` without the
    /// `cuda` feature).
    #[error("device {device} is not available: {reason}")]
    DeviceUnavailable {
        /// The requested device.
        device: String,
        /// Why (usually: the crate was built without the matching feature).
        reason: String,
    },
    /// Training produced a non-finite loss or gradient.
    #[error("non-finite value in {what} at epoch {epoch}")]
    NonFinite {
        /// Which quantity.
        what: &'static str,
        /// Epoch at which it happened.
        epoch: usize,
    },
    /// Reading or converting the input data failed.
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
    /// From `spikelab-core` (e.g. a session job that panicked or was cancelled).
    #[error(transparent)]
    Core(#[from] spikelab_core::CoreError),
    /// Drawing the figure failed (feature `plot`).
    #[error("plot: {0}")]
    Plot(String),
    /// A CUDA kernel of the sparse GPU path failed to compile, load, launch or copy.
    #[error("CUDA: {0}")]
    Cuda(String),
    /// An error inside candle (dense path).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`ConvSeqError`].
pub type Result<T> = std::result::Result<T, ConvSeqError>;

impl ConvSeqError {
    /// Shorthand for [`ConvSeqError::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        ConvSeqError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
