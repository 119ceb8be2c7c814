//! One runtime CPU dispatch for the vectorised inner loops of the method crates.
//!
//! Hot loops are compiled several times (a portable build and, on x86-64, builds with
//! `#[target_feature]` AVX2+FMA and AVX-512F+FMA) and the crate picks one at run time with
//! [`active`]. The level is detected once per process and cached.
//!
//! The environment variable `SPIKELAB_SIMD` (`scalar`, `avx2` or `avx512`, read once, like
//! polars' `POLARS_DISABLE_AVX512`) lowers the level, for example to test or time the portable
//! path that an ARM machine runs. Asking for a level this CPU lacks **falls back** to the best
//! level it has below the request, and an unknown value is ignored; both print one warning on
//! standard error (the run goes on: an override is a tuning knob, not an input).
//!
//! What the levels compute is documented by each kernel; see [`crate::fastexp`] for which
//! paths are bit-identical and which use fused multiply-adds.
//!
//! ```
//! use spikelab_core::simd::{self, SimdLevel};
//!
//! let level = simd::active();
//! assert!(level <= simd::detected());
//! assert!(SimdLevel::Scalar.is_supported()); // every CPU runs the portable build
//! assert_eq!("avx2".parse::<SimdLevel>()?, SimdLevel::Avx2);
//! // A request above what the CPU has falls back, with a warning.
//! let (got, warning) = simd::resolve(Some("avx512"), SimdLevel::Avx2);
//! assert_eq!(got, SimdLevel::Avx2);
//! assert!(warning.is_some());
//! # Ok::<(), spikelab_core::CoreError>(())
//! ```

use std::sync::OnceLock;

use crate::error::CoreError;

/// Name of the override variable.
pub const ENV_VAR: &str = "SPIKELAB_SIMD";

/// An instruction-set level of the dispatched loops, ordered from the portable build up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// The portable build (no `target_feature`); the only level off x86-64.
    Scalar,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// x86-64 with AVX-512F, AVX2 and FMA.
    Avx512,
}

impl SimdLevel {
    /// Every level, lowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The value of `SPIKELAB_SIMD` that asks for this level.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the level.
    pub fn is_supported(self) -> bool {
        self <= detected()
    }

    /// The levels this CPU can run, lowest first (for tests that run every path).
    pub fn supported() -> Vec<SimdLevel> {
        Self::ALL.into_iter().filter(|l| l.is_supported()).collect()
    }
}

impl std::fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SimdLevel {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        let t = s.trim().to_ascii_lowercase();
        SimdLevel::ALL
            .into_iter()
            .find(|l| l.name() == t)
            .ok_or_else(|| CoreError::InvalidParameter {
                name: "SPIKELAB_SIMD",
                reason: format!("unknown level {s:?}; use scalar, avx2 or avx512"),
            })
    }
}

/// The best level this CPU supports (detected once).
pub fn detected() -> SimdLevel {
    static DETECTED: OnceLock<SimdLevel> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

fn detect() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("fma") && has!("avx2") {
            if has!("avx512f") {
                return SimdLevel::Avx512;
            }
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Scalar
}

/// The level the dispatched loops use: [`detected`], lowered by `SPIKELAB_SIMD` when set
/// (resolved once per process by [`resolve`]; a warning, if any, goes to standard error).
pub fn active() -> SimdLevel {
    static ACTIVE: OnceLock<SimdLevel> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let value = std::env::var(ENV_VAR).ok();
        let (level, warning) = resolve(value.as_deref(), detected());
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        level
    })
}

/// The level for an override `requested` (the value of `SPIKELAB_SIMD`, `None` when unset) on
/// a CPU whose best level is `best`, with a warning when the request cannot be honoured: an
/// unknown value gives `best`, a level above `best` gives `best`.
pub fn resolve(requested: Option<&str>, best: SimdLevel) -> (SimdLevel, Option<String>) {
    let Some(value) = requested.filter(|v| !v.trim().is_empty()) else {
        return (best, None);
    };
    match value.parse::<SimdLevel>() {
        Err(e) => (best, Some(format!("{e}; using {best}"))),
        Ok(want) if want > best => (
            best,
            Some(format!(
                "{ENV_VAR}={want} asks for more than this CPU has; using {best}"
            )),
        ),
        Ok(want) => (want, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_lower_the_level_and_never_raise_it() {
        assert_eq!(resolve(None, SimdLevel::Avx512), (SimdLevel::Avx512, None));
        assert_eq!(resolve(Some(""), SimdLevel::Avx2), (SimdLevel::Avx2, None));
        assert_eq!(
            resolve(Some("scalar"), SimdLevel::Avx512),
            (SimdLevel::Scalar, None)
        );
        assert_eq!(
            resolve(Some(" AVX2 "), SimdLevel::Avx512),
            (SimdLevel::Avx2, None)
        );
        let (l, w) = resolve(Some("avx512"), SimdLevel::Scalar);
        assert_eq!(l, SimdLevel::Scalar);
        assert!(w.unwrap().contains("using scalar"));
        let (l, w) = resolve(Some("sse9"), SimdLevel::Avx2);
        assert_eq!(l, SimdLevel::Avx2);
        assert!(w.unwrap().contains("unknown level"));
    }

    #[test]
    fn active_is_supported_and_matches_the_environment() {
        assert!(active().is_supported());
        assert!(SimdLevel::supported().contains(&SimdLevel::Scalar));
        let expected = resolve(std::env::var(ENV_VAR).ok().as_deref(), detected()).0;
        assert_eq!(active(), expected);
    }
}
