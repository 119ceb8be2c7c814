//! # spikelab-decode
//!
//! Decoding behaviour from neural populations, with honest baselines and an audit of how much
//! of the neural signal a decoder uses.
//!
//! | part | what | reference |
//! | --- | --- | --- |
//! | [`data`] | lagged count features from rasters / spike trains, time-ordered train/validation/test splits, count windows | — |
//! | [`linear`], [`decoder`] | ridge with unpenalised intercept (Wiener filter on causal lags), α chosen on a validation split, reduced-rank regression | Izenman 1975; scikit-learn `Ridge` |
//! | [`kalman`] | the Kalman-filter decoder: supervised linear-Gaussian state (target and its velocity) observed through the population's principal components, filtered by `spikelab-lds` | Wu et al., Neural Computation 2006 |
//! | [`sparse`] | design matrices: dense views or compressed sparse rows (products in O(non-zeros)) | — |
//! | [`metrics`] | R² per output and averaged (scikit-learn semantics), accuracy | — |
//! | [`brainbits`] | bottleneck sweep (closed form and the paper's AdamW path), random-input baseline, ceiling, normalised fidelity, smallest b at 90 %, block bootstrap | Mayo et al., NeurIPS 2024 |
//! | [`nn`] | transformer blocks on candle with gradients that are actually computed (checked by finite differences) | — |
//! | [`poyo`] | POYO: spike tokens, PerceiverIO with rotary time embeddings, SparseLamb/OneCycle, unit identification on new recordings | Azabou et al., NeurIPS 2023; torch-brain 0.2.1 |
//! | [`pipeline`] | files in, fits / audits and their output files out (what the CLI runs) | — |
//! | [`train`] | the one mini-batch loop (schedule, shuffles, divergence check, best-epoch selection, observer) of the gradient paths | — |
//! | [`eit_windows`] | EIT on a recording: classes of an integer target from short raster windows, beside a linear probe on the same windows | — |
//! | [`eit`] | EIT: per-unit temporal transformer + population transformer, transfer across unit counts; the NDT peer of its repository | Liu et al., NeurIPS 2022 |
//!
//! **The maths.** Ridge solves min_W ‖Y_c − X_c W‖² + α‖W‖² on centred training rows,
//! W = (X_cᵀX_c + αI)⁻¹X_cᵀY_c, intercept ȳ − x̄W; one eigendecomposition of X_cᵀX_c gives
//! every α of the grid, or, for wide sparse designs (20 lags of a spike raster), conjugate
//! gradients on sparse rows with the centring applied on the fly. Reduced-rank regression of
//! rank b projects the fitted values on their top-b principal directions V_b: B_b = B V_b V_bᵀ,
//! the exact least-squares optimum of a linear bottleneck of width b followed by a linear
//! readout (BrainBits' model), so the closed-form audit needs no training.
//! R²_j = 1 − Σ(y − ŷ)²/Σ(y − ȳ)² per output, averaged uniformly. BrainBits' normalised
//! fidelity is f(b) = (m(b) − m_rand)/(m_ceil − m_rand) with m_rand the score of the same
//! pipeline on uniform [0, 1) inputs and m_ceil the score without bottleneck.
//!
//! The Kalman-filter decoder fits s_t = A s_{t−1} + w_t, f_t = C s_t + d + ε_t by least squares
//! on training frames (s_t the target and its first difference, f_t the population features)
//! and decodes with the Kalman filter's means m_{t|t}.
//!
//! # Example
//! ```
//! use ndarray::s;
//! use spikelab_core::Silent;
//! use spikelab_decode::{AuditParams, LatentPopulationParams};
//!
//! // 300 Poisson neurons driven by 8 latent factors; a 64-dimensional target.
//! let pop = LatentPopulationParams { n_samples: 1500, ..Default::default() }.generate(1)?;
//! let (x, y) = (&pop.counts, &pop.target);
//! let audit = AuditParams { bottlenecks: vec![2, 8, 32], bootstrap: 0, ..Default::default() }
//!     .check()?;
//! let rep = audit.run(
//!     x.slice(s![..1200, ..]), y.slice(s![..1200, ..]),
//!     x.slice(s![1200.., ..]), y.slice(s![1200.., ..]),
//!     &mut Silent,
//! )?;
//! assert!(rep.random < 0.05 && rep.ceiling > 0.5);
//! assert_eq!(rep.b90, Some(8)); // the 8 latent factors carry the signal
//! # Ok::<(), spikelab_decode::DecodeError>(())
//! ```
#![warn(missing_docs)]

pub mod brainbits;
pub mod data;
pub mod decoder;
pub mod eit;
pub mod eit_windows;
pub mod error;
pub mod fused;
pub mod kalman;
pub mod linear;
pub mod metrics;
pub mod nn;
pub mod pipeline;
#[cfg(feature = "plot")]
mod plot;
pub mod poyo;
pub mod sparse;
pub mod train;

pub use brainbits::{
    Audit, AuditMode, AuditParams, AuditPoint, AuditReport, GradientParams, LatentPopulation,
    LatentPopulationParams,
};
pub use data::{
    Lags, TimeSplit, check_target, count_windows, lagged_features, lagged_features_sparse,
    raster_counts, spike_counts, window_sums,
};
pub use decoder::{DEFAULT_ALPHAS, LinearDecoder, LinearDecoderFit, LinearDecoderParams};
pub use error::{DecodeError, Result};
pub use kalman::{KalmanDecoder, KalmanDecoderFit, KalmanDecoderParams, KalmanModel};
pub use linear::{
    EIGEN_MAX_FEATURES, LinearModel, RidgeMethod, RidgePath, choose_alpha, fit_ridge, fit_rrr,
    rrr_from_ridge,
};
pub use metrics::{accuracy, r2_per_output, r2_score};
pub use pipeline::{DecodeInputs, UnitSelection, one_hot, read_counts, read_inputs};
pub use sparse::{Design, SparseRows};
