//! Errors of `spikelab-core`.

/// Errors of `spikelab-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A parameter is outside its valid range or malformed.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Why it is invalid, and what is accepted.
        reason: String,
    },
    /// An input that must hold values is empty (or holds only NaN where NaN is left out).
    #[error("`{name}` is empty")]
    EmptyInput {
        /// Which input.
        name: &'static str,
    },
    /// An input holds NaN where the NaN policy forbids it.
    #[error("`{name}` holds NaN")]
    NanInput {
        /// Which input.
        name: &'static str,
    },
    /// Two inputs that pair element by element have different lengths.
    #[error("paired inputs differ in length: {left} vs {right}")]
    LengthMismatch {
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// The requested device cannot be used by this build or machine.
    #[error("device {device} is unavailable: {reason}")]
    DeviceUnavailable {
        /// The device as written (`cuda:0`).
        device: String,
        /// Why: missing build feature, driver error, no such ordinal.
        reason: String,
    },
    /// A job of [`run_on_devices`](crate::workers::run_on_devices) panicked; the other jobs
    /// ran on.
    #[error("job {job} panicked on {device}: {message}")]
    JobPanicked {
        /// Index of the job.
        job: usize,
        /// The device its worker ran on.
        device: String,
        /// The panic message.
        message: String,
    },
    /// A job of [`run_on_devices`](crate::workers::run_on_devices) was not started because
    /// the observer asked to stop.
    #[error("job {job} was not started: the observer stopped the run")]
    JobCancelled {
        /// Index of the job.
        job: usize,
    },
}

/// `Result` with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;
