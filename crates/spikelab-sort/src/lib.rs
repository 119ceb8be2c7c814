//! Spike sorting for spikelab.
//!
//! Modules (each documents its maths and reference):
//! - [`compare`]: the ground-truth comparison of SpikeForest / spikeinterface (match counts
//!   within ±Δ, agreement, Hungarian assignment, per-unit accuracy), SimSort's own variant and a
//!   detection-level score; [`assignment`]: rectangular linear sum assignment with SciPy's ties;
//! - the signal chain (zero-phase Butterworth band-pass equal to SciPy's `butter` + `filtfilt`,
//!   common-median reference, z-scoring, ZCA whitening) and the threshold detector;
//! - clustering and the sorting pipeline;
//! - SimSort's detection transformer ([`detector`]) and its training ([`detector_train`]);
//! - SimSort's GRU embedder with its triplet training ([`embedder`]).
//!
//! Reference: Zhang, Han, Wang, Lv, Gu, Li, "SimSort: A Data-Driven Framework for Spike Sorting by
//! Large-Scale Electrophysiology Simulation", NeurIPS 2025 (arXiv 2502.03198); Magland et al.,
//! "SpikeForest, reproducible web-facing ground-truth validation of automated neural spike
//! sorters", eLife 2020; Buccino et al., "SpikeInterface", eLife 2020.
#![warn(missing_docs)]

pub mod assignment;
pub mod cluster;
pub mod compare;
pub mod detect;
pub mod detector;
pub mod detector_train;
pub mod embedder;
pub mod error;
pub mod features;
pub mod filter;
pub mod pipeline;
#[cfg(feature = "plot")]
pub mod plot;
pub mod preprocess;
pub mod snippets;

pub use error::{Result, SortError};
