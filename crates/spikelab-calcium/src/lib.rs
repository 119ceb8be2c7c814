//! # spikelab-calcium
//!
//! Calcium imaging → spike rates with the **Spikefinder-Elephant** convolutional network of
//! Rupprecht & Gerhard (Spikefinder challenge 2017, 3rd of 37 entries; Berens et al. 2018,
//! *PLoS Comput Biol* 14(5):e1006157; code `PTRRupprecht/Spikefinder-Elephant`, MIT), ported
//! from Keras to Rust, plus its statistical embedding ([`embedding`]).
//!
//! **Method.** Each neuron's 100 Hz trace is z-scored, `(x − mean)/(std + 1e-7)`. A network sees
//! 128-frame windows (1.28 s; 32 frames of past, 95 of future) and predicts the spike train of
//! frame 32 of the window, smoothed with a Gaussian of SD √2 frames and z-scored per neuron:
//! `Conv1D(50, 41) → Conv1D(60, 21) → MaxPool(2) → Conv1D(70, 7) → MaxPool(2) → Dense(300)` per
//! time step `→ Flatten → Dense(1)`, ReLU everywhere but the output, 120 131 float32 weights
//! (f32 because the original network is f32; all statistics and metrics are f64). The bundled
//! `model1.h5` is the network the challenge entry used; `model2`–`model5` are further training
//! runs, `model_for_test_dataset1_retrained.h5` the embedding-weighted retraining for test 1.
//!
//! **Evaluation.** [`Evaluation::PerWindow`] runs the network window by window on candle, as
//! Keras' `predict` does (5.59 M multiply-adds per output). [`Evaluation::FullyConvolutional`]
//! (the default) evaluates the same maths over the whole trace at once: all layers are stride 1
//! before pooling, so the pooled layers become dilated convolutions and every window shares
//! its intermediate results (≈0.12 M multiply-adds per output, ≈47× fewer). On the CPU it runs
//! our [`fastconv`] kernel (gemm with overlapping rows as a free im2col; chunks in parallel with
//! rayon); on a GPU (`cuda`/`metal` features) candle's dilated `conv1d`. Both evaluations
//! reproduce the original Keras outputs to < 1e-5 (tests on Spikefinder test sets 1, 3, 4, 5).
//!
//! **Output alignment.** The output of the window starting at frame `j` belongs to frame
//! `j + 32`; frames `< 32` and `≥ n − 96` have no output and are NaN, as are frames whose input
//! was NaN. Outputs are in the network's z-score units; [`calibration`] maps them to rates in
//! Hz, [`ensemble`] averages `model1`–`model5`, [`preprocess`] brings other recordings to the
//! network's 100 Hz and computes the CASCADE noise level, [`metric`]/[`evaluate`] give the
//! Spikefinder score and [`train`] (re)trains with the original's Adagrad settings.
//!
//! ```
//! # #[cfg(feature = "keras-h5")] {
//! use spikelab_calcium::{ElephantCnn, evaluate::{evaluate, GroundTruthSet, Padding}};
//! let cnn = ElephantCnn::embedded(1)?;
//! let test5 = spikelab_datasets::calcium::spikefinder_test(5)?;
//! let rates_z = cnn.predict(&test5.calcium)?; // [time, neuron], NaN where undefined
//! assert_eq!(rates_z.dim(), test5.calcium.data().dim());
//! let score = evaluate(&cnn, &test5, Padding::ZeroFilled)?;
//! assert!((score.median_corr - 0.425).abs() < 0.005); // the reference value of the spec
//! # }
//! # Ok::<(), spikelab_calcium::CalciumError>(())
//! ```
//!
//! See `docs/calcium.md` for the quirks kept and fixed, and the measured scores and speeds.
#![warn(missing_docs)]

pub mod calibration;
pub mod cascade;
#[cfg(feature = "cudnn")]
mod cudnnconv;
pub mod deconvolve;
pub mod embedding;
pub mod ensemble;
pub mod error;
pub mod evaluate;
pub mod fastconv;
mod gpuconv;
pub mod metric;
pub mod network;
pub mod preprocess;
pub mod spikenet;
pub mod train;
pub mod weights;

pub use candle_core::Device;
pub use deconvolve::{Deconvolution, DeconvolutionReport, Deconvolver, DeconvolverParams};
pub use error::{CalciumError, Result};
pub use network::{ElephantCnn, Evaluation, Skipped};
pub use weights::ElephantWeights;
