//! The crate's error type.

/// Everything that can go wrong while validating generator parameters or generating data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// A parameter outside its valid range (`p_drop` outside `[0, 1]`, a non-positive rate or
    /// frame rate, a gap shorter than the sequence span, …).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name as in the API.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The background raster given to the convSeq parity generator has no neurons, no bins or
    /// no spikes.
    #[error("empty background raster: {reason}")]
    EmptyBackground {
        /// What is empty.
        reason: String,
    },
    /// The requested noise level cannot be reached because the noise-free trace alone is
    /// already noisier (CASCADE's ν of the clean trace exceeds the target).
    #[error(
        "neuron {neuron}: target noise level ν = {target} is below the noise-free trace's own ν = {clean}"
    )]
    NoiseLevelUnreachable {
        /// Neuron (column) index.
        neuron: usize,
        /// Requested ν (% Hz^-1/2).
        target: f64,
        /// ν of the noise-free trace.
        clean: f64,
    },
    /// An error from the spike-data types (building a raster, spike trains, traces).
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
}

/// `Result` with [`SynthError`].
pub type Result<T> = std::result::Result<T, SynthError>;

pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> SynthError {
    SynthError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// Checks that `x` is finite and > 0.
pub(crate) fn positive(name: &'static str, x: f64) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(param(name, format!("must be finite and > 0, got {x}")))
    }
}

/// Checks that `x` is finite and ≥ 0.
pub(crate) fn non_negative(name: &'static str, x: f64) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(param(name, format!("must be finite and ≥ 0, got {x}")))
    }
}

/// Checks that `p` is a probability.
pub(crate) fn probability(name: &'static str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(param(name, format!("must lie in [0, 1], got {p}")))
    }
}
