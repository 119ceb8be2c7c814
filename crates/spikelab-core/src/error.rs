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
}

/// `Result` with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;
