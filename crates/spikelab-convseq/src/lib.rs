//! # spikelab-convseq
//!
//! **convSeq** (Koshkin & Fukai, *ICML 2024*, arXiv:2402.01130): unsupervised detection of
//! repeating spike sequences by learning soft-latency filters with backpropagation.
//!
//! ## The method
//! A filter k is an `N × W` array of logits; each neuron's row is softmaxed over the W taps,
//! so it is a probability distribution over that neuron's lag inside the sequence. The
//! filter is cross-correlated with the binary raster `X` (`[neuron, bin]`), summing over
//! neurons, with time padding `P = W/2`:
//!
//! `x̂_k[t] = Σ_n Σ_w S[k,n,w] · X[n, t + w − P]`, `t = 0 … T + 2P − W` (index = window centre).
//!
//! Every spike adds total weight 1 to `x̂_k`, so training cannot change its mean, only move
//! mass into peaks: the loss is `Σ_k (−var(x̂_k) + TV_l·TV(x̂_k) + filt_TV_l·fTV(S_k))` plus
//! optional K > 1 decorrelation terms, minimised by full-batch Adam (lr 0.1, PyTorch
//! semantics). Occurrences are the peaks of `x̂_k` above a threshold α = mean + 5σ of the
//! projections of random softmax filters on the same data (SciPy `find_peaks` semantics,
//! minimum distance W); the sequence order is the neurons sorted by their argmax lag.
//! Defaults are the original's `configs/config_demo.yaml` (K 1, W 200, TV_l 200, 4000
//! epochs in its README).
//!
//! ## Two compute paths, one result
//! * [`Backend::Sparse`] (default): event-driven CPU path in f64. For each spike the
//!   reversed filter row is added to the projection at an offset (a contiguous W-long
//!   vector add), and the gradient gathers `∂L/∂x̂` over the same windows; then the softmax
//!   Jacobian per neuron. Work ∝ spikes × W (≈ 500× less than dense at 0.2 % density),
//!   memory ∝ spikes.
//! * [`Backend::Dense`]: candle tensors on CPU/CUDA/Metal (f32 as the original, or f64),
//!   with autograd. The cross-correlation is one GEMM `[K·W, N]·[N, T+2P]` plus a diagonal
//!   sum done with views, which avoids candle's slow CUDA conv1d.
//! * `Backend::SparseCuda` (feature `cuda`): the sparse path's f64 maths as five CUDA
//!   kernels per epoch (`cuda_sparse`), for long sparse recordings on a GPU.
//!
//! Both give the same loss and gradients (tested on the bundled demo data, ≤ 1e-5 relative
//! in f32 and ~1e-12 in f64). Beyond the original: a seed, event lists, per-filter loss
//! logging, α from running sums (no 1 GB of stored projections; on a GPU one GEMM per batch of
//! random filters against the once-unfolded raster, 0.45 s for 15 000 filters on an H100), an empirical-quantile
//! rule and a circular-shift surrogate null, per-neuron participation scores (which
//! neurons form the sequence), event matching with precision/recall/F1, and typed errors
//! for bad input.
//!
//! ## Fit on one recording, detect on another
//! [`ConvSeq::fit`] learns the filters on a [`SparseRaster`]
//! (a bin holding several spikes of a neuron counts once) and reads them out on that
//! recording; [`ConvSeqFit::detect`] applies them to another recording of the same neurons
//! (α re-estimated there); [`metrics::score`] compares a detection with ground truth;
//! [`Detection::write_events_csv`] writes the events; `plot::plot` (feature `plot`) draws
//! the figure. For long recordings [`ConvSeqFit::detect_bounded`] finds the same events,
//! α and members in memory that does not grow with the length (projections, null and peaks
//! streamed over windows of the output; the projections are not kept).
//! ```
//! use spikelab_convseq::{AlphaOptions, ConvSeq, ConvSeqParams, metrics::{Truth, score}};
//! use spikelab_core::{Flow, Progress};
//! use spikelab_data::SparseRaster;
//! // 8 neurons fire in order, 3 bins apart, every 100 bins; 4 more fire at random.
//! let mut ev = Vec::new();
//! for onset in (20..3900u64).step_by(100) {
//!     for n in 0..8 { ev.push((n, onset + 3 * n as u64)); }
//! }
//! for i in 0..400u64 { ev.push((8 + (i % 4) as usize, (i * 7919) % 4000)); }
//! let recording = SparseRaster::from_events(12, 4000, 0.01, &ev)?;
//! let (train, test) = (recording.slice_bins(0, 2000)?, recording.slice_bins(2000, 4000)?);
//! let params = ConvSeqParams {
//!     width_bins: 40, tv_l: 1.0, epochs: 200, seed: 1,
//!     alpha: AlphaOptions { n_samples: 100, ..Default::default() },
//!     ..Default::default()
//! };
//! let fit = ConvSeq::new(params)?.fit_with(&train, &mut |p: &Progress| {
//!     if p.step.is_multiple_of(100) { println!("epoch {}: loss {:?}", p.step, p.metric("loss")); }
//!     Flow::Continue
//! })?;
//! let detection = fit.detect(&test)?;
//! let truth = Truth {
//!     centres_bins: (20..1900).step_by(100).map(|o| o as f64 + 10.5).collect(),
//!     members: (0..8).collect(),
//! };
//! let s = score(&detection, 0, &truth, 20.0)?;
//! println!("α = {:.3}, {} events, F1 {:.2}, order ρ {:.2}, order {:?}", detection.alpha[0],
//!          detection.events.len(), s.events.f1, s.order_spearman, fit.orders[0]);
//! assert!(s.events.f1 > 0.8 && s.order_spearman > 0.8);
//! # Ok::<(), spikelab_convseq::ConvSeqError>(())
//! ```
//!
//! Reference: R. Koshkin, T. Fukai, *convSeq: Fast and Scalable Method for Detecting
//! Patterns in Spike Data*, ICML 2024 (PMLR 235); code `RomanKoshkin/conv-seq` (MIT).
#![warn(missing_docs)]

pub mod chunked;
#[cfg(feature = "cuda")]
pub mod cuda_sparse;
pub mod dense;
pub mod engine;
pub mod error;
pub mod fit;
pub mod input;
pub mod loss;
pub mod members;
pub mod metrics;
pub mod null;
pub mod params;
pub mod peaks;
#[cfg(feature = "plot")]
pub mod plot;
pub mod robust;
mod sparse;

pub use engine::{DenseEngine, Engine, SparseEngine, init_logits, make_engine};
pub use error::{ConvSeqError, Result};
pub use fit::{ConvSeq, ConvSeqFit, Detection, Event};
pub use loss::LossTerms;
pub use members::{Member, argmax_lags};
pub use metrics::{Score, Truth, score};
pub use null::NullStats;
pub use params::{
    AlphaOptions, Backend, ConvSeqParams, DenseDType, MemberOptions, Mode, NullKind, ThresholdRule,
};
pub use peaks::find_peaks;
pub use robust::{FilterSignificance, LagShape, RobustOptions, RobustReport};
pub use spikelab_core::Device;
pub use spikelab_data::SparseRaster;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
