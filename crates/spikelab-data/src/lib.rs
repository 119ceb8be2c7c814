//! # spikelab-data
//!
//! Spike-data types and file formats for the spikelab workspace.
//!
//! ## Types (axis order and units are part of each type's contract)
//!
//! | type | axes | units |
//! | --- | --- | --- |
//! | [`SpikeTrains`] | per unit: sorted spike times | seconds, `[t_start_s, t_stop_s]` |
//! | [`BinnedRaster`] | `[neuron, bin]` counts (dense) | bin width `bin_s` seconds |
//! | [`SparseRaster`] | `[neuron, bin]` counts (per-neuron sorted lists) | bin width `bin_s` seconds |
//! | [`CalciumTraces`] | `[time, neuron]` fluorescence, NaN-padded | `frame_rate_hz` |
//! | [`PopulationActivity`] | `[population, bin]` | bin width `bin_s` seconds |
//! | [`Recording`] | `[sample, channel]` voltage (f32) with its [`Probe`] | `sampling_rate_hz`, µV via gain/offset |
//! | [`Sorting`] | per unit: sorted sample frames | `sampling_rate_hz`, `[0, n_samples)` |
//!
//! Constructors check their invariants (finite, sorted, inside the interval, positive bin
//! widths and rates) and return [`DataError`]; no function in this crate panics on bad input.
//!
//! ## Formats
//!
//! See [`io`]: Spikefinder CSV, NumPy `.npy`, MATLAB v5 `.mat` (structs and cells included),
//! Kilosort/phy, Suite2p plane and SpikeInterface sorting folders and, behind the default
//! feature `hdf5`, NWB 2.x and CaImAn files. Algorithm crates depend on this crate with
//! `default-features = false`, so they do not need libhdf5.
//!
//! The real fixtures shipped in the repository are found by the workspace's dev-only
//! `spikelab-datasets` crate; this crate never looks for the repository.
//!
//! # Example
//! ```
//! use spikelab_data::{SpikeTrains, io};
//! use spikelab_datasets::{self as datasets, Split};
//! // Spike trains → raster.
//! let st = SpikeTrains::new(vec![vec![0.01, 0.02, 0.5], vec![0.7]], 0.0, 1.0)?;
//! let raster = st.bin(0.1)?;
//! assert_eq!(raster.counts().dim(), (2, 10));
//! // A bundled Spikefinder dataset.
//! let calcium = io::csv::read_calcium(&datasets::spikefinder_calcium(5, Split::Test)?, 100.0)?;
//! assert_eq!(calcium.n_neurons(), 8);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```
#![warn(missing_docs)]

pub mod batch;
pub mod calcium;
pub mod error;
pub mod intervals;
pub mod io;
pub mod population;
pub mod raster;
pub mod recording;
pub mod spikes;

pub use calcium::CalciumTraces;
pub use error::{DataError, Result};
pub use intervals::{ColumnValues, IntervalColumn, TimeIntervals};
pub use io::raw::RecordingSource;
pub use population::PopulationActivity;
pub use raster::{BinnedRaster, DenseWindow, SparseRaster};
pub use recording::{Probe, Recording, Sorting};
pub use spikes::SpikeTrains;
