//! Shared conventions of the spikelab method crates.
//!
//! This crate has no heavy dependencies (no HDF5, no candle): it holds what two or more method
//! crates share.
//!
//! * [`Device`]: where a computation runs (`cpu`, `cuda[:N]`, `metal[:N]`). Method crates that use
//!   candle convert it to a `candle_core::Device` themselves.
//! * [`Observer`] and [`Progress`]: the one way a long-running call (a fit, a training run, a
//!   sweep) reports progress and can be asked to stop early.
//! * [`stats`]: NumPy-exact sums, percentiles and medians with an explicit NaN policy;
//!   Pearson and Spearman (average ranks for ties) correlations as SciPy.
//! * [`pca`]: principal component analysis as scikit-learn's full-SVD `PCA` (calcium's
//!   statistical embedding, spike-sorting features).
//! * [`smooth`]: Gaussian smoothing with `scipy.ndimage.gaussian_filter1d` semantics.
//! * [`simd`]: the one runtime CPU dispatch (AVX-512, AVX2+FMA or portable) of the vectorised
//!   loops, with the `SPIKELAB_SIMD` override; [`fastexp`]: the fast `e^x` kernels those loops
//!   call, with what is bit-identical across levels and what is not.
//!
//! ```
//! use spikelab_core::{Device, Flow, Observer, Progress};
//!
//! let device: Device = "cuda:1".parse()?;
//! assert_eq!(device, Device::Cuda(1));
//!
//! // Any `FnMut(&Progress) -> Flow` is an observer.
//! let mut seen = Vec::new();
//! let mut observer = |p: &Progress<'_>| {
//!     seen.push(p.step);
//!     if p.step >= 2 { Flow::Stop } else { Flow::Continue }
//! };
//! for step in 0..10 {
//!     let p = Progress::new("fit", step).with_total(10).with_metric("loss", 1.0 / (step as f64 + 1.0));
//!     if observer.observe(&p) == Flow::Stop {
//!         break;
//!     }
//! }
//! assert_eq!(seen, [0, 1, 2]);
//! # Ok::<(), spikelab_core::CoreError>(())
//! ```
#![warn(missing_docs)]

mod device;
mod error;
pub mod fastexp;
mod observer;
pub mod pca;
#[cfg(feature = "plot")]
mod plot;
pub mod simd;
pub mod smooth;
pub mod stats;
pub mod workers;

pub use device::Device;
#[cfg(feature = "candle")]
pub use device::Tf32Guard;
#[cfg(feature = "cuda")]
pub use device::nvrtc_ptx;
pub use error::{CoreError, Result};
pub use observer::{Flow, Observer, Progress, Silent};
#[cfg(feature = "plot")]
pub use plot::register_plot_font;
