//! # spikelab-synth
//!
//! Seeded synthetic data with known ground truth, for validating and benchmarking the
//! methods of this workspace. Every generator takes a parameter struct (validated: bad input
//! is a typed [`SynthError`], never a panic or a silent NaN), and `generate(seed)` returns
//! the data as `spikelab-data` types **and** a serde-serialisable ground-truth struct.
//!
//! | generator | data | ground truth | reference |
//! | --- | --- | --- | --- |
//! | [`ParityParams`] | [`SparseRaster`](spikelab_data::SparseRaster) | [`SequenceTruth`] | convSeq's `make_dataset.py` recipe on a given background (Koshkin & Fukai, ICML 2024) |
//! | [`SequenceParams`] | [`SparseRaster`](spikelab_data::SparseRaster), streamed in chunks | [`SequenceTruth`] | clean mode: Poisson/gamma background, several types, overlaps, warping, lags |
//! | [`CalciumParams`] | [`CalciumTraces`](spikelab_data::CalciumTraces) (ΔF/F) | [`CalciumTruth`] | rise/decay or AR kernels, saturation, drift, CASCADE noise level ν (Rupprecht et al. 2021) |
//! | [`LifParams`] | [`PopulationActivity`](spikelab_data::PopulationActivity) + recorded [`SpikeTrains`](spikelab_data::SpikeTrains) | [`LifTruth`] | neuLVM's microscopic escape-noise LIF simulator (Wang et al., NeurIPS 2022; Schwalger et al. 2017) |
//! | [`TwoBodyParams`] | two gravitating pairs, positions `[trial, body, coord, step]` | masses, pairings, permutation classes | EIT's synthetic benchmark (Liu et al., NeurIPS 2022) |
//! | [`MultiSessionParams`] | sessions of [`SpikeTrains`](spikelab_data::SpikeTrains) with different units | 2-D OU velocity targets, tuning | POYO's multi-session decoding benchmark (Azabou et al., NeurIPS 2023) |
//! | [`GroundTruthParams`] | [`Recording`](spikelab_data::Recording) `[sample, channel]` f32 + ground-truth [`Sorting`](spikelab_data::Sorting) | [`RecordingTruth`] | spikeinterface's `generate_ground_truth_recording` (Buccino et al., eLife 2020): analytic templates, Poisson trains, white noise |
//! | [`PoissonParams`] | [`SpikeTrains`](spikelab_data::SpikeTrains) | [`PoissonTruth`] | Poisson/gamma renewal processes with dead time, constant or time-varying rates |
//!
//! [`recipes`] holds the ready-made datasets of `spikelab synth` (flat serde option structs with
//! the command's defaults) and their file writers.
//!
//! **Reproducibility.** All randomness comes from ChaCha8 (`rand_chacha`), seeded with
//! `seed_from_u64`, one stream per independent part ([`rng`]). For a given version of this
//! crate, a seed produces the same output on every platform.
//!
//! **Units and axes** are in the names (`bin_s`, `rate_hz`, `dt_s`, `_bins`); rasters are
//! `[neuron, bin]`, calcium traces `[time, neuron]`, population activity `[population, bin]`.
//! Everything is `f64`, as in the NumPy originals, except extracellular traces and templates
//! (`f32`, as recorded files and spikeinterface store them; `[sample, channel]`).
//!
//! # Example
//! ```
//! use spikelab_synth::{CalciumParams, Indicator, SequenceParams};
//! // The convSeq README-sized dataset, clean mode.
//! let (raster, truth) = SequenceParams::default().generate(0)?;
//! assert_eq!((raster.n_neurons(), raster.n_bins()), (452, 18_137));
//! assert_eq!(truth.centres(0).len(), 45);
//! // Calcium traces (GCaMP6s at 30 Hz, noise level ν = 3) of the first three members.
//! let members = &truth.types[0].members[..3];
//! let trains: Vec<Vec<f64>> = members
//!     .iter()
//!     .map(|&m| raster.rows()[m].iter().map(|&(b, _)| (b as f64 + 0.5) * 0.05).collect())
//!     .collect();
//! let spikes = spikelab_data::SpikeTrains::new(trains, 0.0, 18_137.0 * 0.05)?;
//! let (traces, ca_truth) = CalciumParams::new(30.0, Indicator::Gcamp6s)
//!     .with_noise_level(3.0)
//!     .generate(&spikes, 0)?;
//! assert_eq!(traces.n_neurons(), 3);
//! assert!((ca_truth.noise_level[0] - 3.0).abs() < 0.15);
//! # Ok::<(), spikelab_synth::SynthError>(())
//! ```
#![warn(missing_docs)]

pub mod calcium;
pub mod error;
pub mod lif;
pub mod multisession;
pub mod poisson;
pub mod recipes;
pub mod recording;
pub mod rng;
pub mod sequences;
pub mod twobody;

pub use calcium::{CalciumParams, CalciumTruth, Indicator, KernelModel, Kinetics};
pub use error::{Result, SynthError};
pub use lif::{ExternalInput, LifOutput, LifParams, LifTruth, Rebinned};
pub use multisession::{MultiSessionParams, Session};
pub use poisson::{PoissonParams, PoissonTruth, Rates};
pub use recording::{GroundTruthParams, GroundTruthRecording, RecordingTruth, tetrode_benchmark};
pub use sequences::{
    Background, Occurrence, Occurrences, ParityParams, RateModel, SequenceChunk, SequenceMode,
    SequenceParams, SequenceStream, SequenceTruth, SequenceType, TypeTruth,
};
pub use twobody::{TwoBodyClasses, TwoBodyData, TwoBodyLabel, TwoBodyParams, TwoBodyTruth};
