//! Errors of `spikelab-decode`.

/// Errors of `spikelab-decode`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Why, and what is accepted.
        reason: String,
    },
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Input values that cannot be decoded (NaN/∞ targets, empty splits, ...).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A linear system that has no unique solution (e.g. ordinary least squares on collinear
    /// features); use a ridge penalty α > 0.
    #[error("singular system: {0}")]
    Singular(String),
    /// An iterative solver stopped at its iteration limit before reaching its tolerance; no
    /// result was returned.
    #[error(
        "{what} did not converge in {iterations} iterations (relative residual {rel_residual:.3e})"
    )]
    NotConverged {
        /// Which solver, at which parameter.
        what: String,
        /// Iterations run.
        iterations: usize,
        /// The worst relative residual reached.
        rel_residual: f64,
    },
    /// Training produced a non-finite loss; no weights were written.
    #[error("training diverged at epoch {epoch}, step {step}: loss is {loss}")]
    Diverged {
        /// Zero-based epoch.
        epoch: usize,
        /// Zero-based step within the epoch.
        step: usize,
        /// The offending loss value.
        loss: f64,
    },
    /// A model file whose contents do not match the model it is loaded into.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A unit or session id that the model's vocabulary does not hold (train or transfer
    /// with the new recordings first).
    #[error("unknown {kind} id {id:?}: not in the model's vocabulary")]
    UnknownId {
        /// `"unit"` or `"session"`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A window of a recording without any spike of the kept units.
    #[error("recording {recording}: no spikes in the window starting at {start_s} s")]
    EmptyWindow {
        /// Recording id.
        recording: String,
        /// Window start (s).
        start_s: f64,
    },
    /// File input/output.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An error of the tensor library.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// An error of `spikelab-data`.
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
    /// An error of `spikelab-lds` (the Kalman-filter decoder's model and filter).
    #[error(transparent)]
    Lds(#[from] spikelab_lds::LdsError),
    /// An error of `spikelab-core` (device parsing).
    #[error(transparent)]
    Core(#[from] spikelab_core::CoreError),
    /// Drawing a figure failed (feature `plot`).
    #[error("plot: {0}")]
    Plot(String),
}

impl DecodeError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// `Result` with [`DecodeError`].
pub type Result<T> = std::result::Result<T, DecodeError>;
