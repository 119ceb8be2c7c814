//! NWB 2.x files (HDF5): spike times in `/units` and calcium traces in
//! `/processing/ophys`, readable by pynwb and clean under `pynwb-validate`.
//!
//! [Neurodata Without Borders](https://nwb-schema.readthedocs.io) (Rübel et al., *eLife*
//! 11:e78362, 2022) stores a recording session as one HDF5 file whose groups and datasets
//! carry typed attributes (`neurodata_type`, `namespace`, `object_id`). This module writes the
//! subset spikelab needs by hand on top of `hdf5-metno`, following core schema
//! [`NWB_VERSION`] (the one bundled with pynwb 4.2 / hdmf 6.2):
//!
//! * [`write_units`] / [`read_units`]: [`SpikeTrains`](crate::SpikeTrains) ↔ the `Units` table. Spike times are
//!   seconds (float64, chunked and gzip-compressed), concatenated over units with a
//!   `spike_times_index` of **exclusive end offsets**; unit ids go to `id`. The recording
//!   interval `[t_start_s, t_stop_s]` is stored in the standard `obs_intervals` column (one
//!   interval per unit), so it survives a round trip. Optional electrodes
//!   ([`NwbElectrodes`]) add the `electrodes` table, one `ElectrodeGroup` and its `Device`.
//! * [`write_ophys`] / [`read_ophys`]: [`CalciumTraces`](crate::CalciumTraces) ↔ a `RoiResponseSeries` in
//!   `/processing/ophys/Fluorescence` (or `DfOverF`), data **time × ROIs** with
//!   `starting_time` + `rate`; a `PlaneSegmentation` with a `pixel_mask` column (one
//!   placeholder pixel per ROI unless given), `ImagingPlane`, `OpticalChannel` and `Device`.
//!   NaN padding is stored as NaN.
//! * [`write_population_activity`] / [`read_population_activity`]: [`PopulationActivity`](crate::PopulationActivity) ↔
//!   generic `TimeSeries` in a processing module (e.g. neuLVM's inferred latent activity),
//!   data **time × populations** with `starting_time` + `rate` = 1 / bin width.
//! * [`read_units_window`] / [`read_ophys_window`]: the spikes or frames of one time window
//!   `[t_start_s, t_stop_s)`, decoding only the chunks that hold it and those a search for
//!   its bounds lands on, so the time does not grow with the file's length ([`OphysWindow`]
//!   carries the first frame's time).
//! * [`ecephys::open`]: raw voltage of an `ElectricalSeries` as a lazy
//!   [`RecordingSource`](crate::RecordingSource) (also `io::raw::nwb`).
//! * [`inspect`]: an [`NwbSummary`] of what a file holds (units, every `RoiResponseSeries`,
//!   every generic `TimeSeries` of the processing modules).
//!
//! Writers refuse to replace an existing file unless `overwrite` is set, and they write to a
//! temporary file in the same folder that is renamed over the target only once it is
//! complete, so a failed write never destroys the previous file. Readers accept what pynwb
//! writes: any integer width for indices (pynwb picks `uint8` when it fits), int64 ids,
//! float32 or float64 data, `starting_time`+`rate` or `timestamps`, vlen or fixed strings.
//! `docs/formats.md` lists the exact layout and the pitfalls met on the way.
//!
//! # Example
//! ```
//! use spikelab_data::SpikeTrains;
//! use spikelab_data::io::nwb::{self, NwbWriteOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("session.nwb");
//! let st = SpikeTrains::with_ids(vec![vec![0.1, 0.25, 0.9], vec![], vec![0.5]], vec![3, 7, 9], 0.0, 2.0)?;
//! nwb::write_units(&path, &st, &NwbWriteOptions::new("three units"))?;
//! # spikelab_datasets::collect_nwb(&path);
//! let back = nwb::read_units(&path)?;
//! assert_eq!(back, st);
//! // A second write to the same path is refused unless `overwrite` is set.
//! assert!(nwb::write_units(&path, &st, &NwbWriteOptions::new("again")).is_err());
//! let summary = nwb::inspect(&path)?;
//! assert_eq!(summary.units.unwrap().n_spikes, 4);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

mod append;
pub mod ecephys;
mod h5;
mod inspect;
mod intervals;
mod metadata;
mod ophys;
mod session;
mod timeseries;
mod units;
mod window;

pub use append::{
    NwbAddOptions, RoiSeriesOptions, add_metadata, add_roi_response_series, add_time_intervals,
    default_copy_path, write_ophys_with_series,
};
pub use inspect::{NwbSummary, SeriesSummary, UnitsSummary, inspect};
pub use intervals::{read_time_intervals, write_time_intervals};
pub use metadata::{NwbImaging, NwbMetadata, NwbSubject};
pub use ophys::{
    OphysContainer, OphysDtype, OphysWriteOptions, PixelMask, read_ophys, read_ophys_series,
    write_ophys,
};
pub use session::NwbWriteOptions;
pub use timeseries::{ActivitySeries, read_population_activity, write_population_activity};
pub use units::{NwbElectrodes, read_units, write_units};
pub use window::{OphysWindow, read_ophys_window, read_units_window};

use std::path::Path;

use hdf5::File;

use crate::error::{DataError, Result};

/// The NWB core schema version whose layout this module writes (stored as `nwb_version`).
pub const NWB_VERSION: &str = "2.11.0";

/// Namespace of the NWB core types.
const CORE: &str = "core";
/// Namespace of the generic table types (`VectorData`, `DynamicTable`, …).
const HDMF: &str = "hdmf-common";
/// Elements per compressed chunk (about 512 KiB of f64).
const CHUNK_ELEMS: usize = 65_536;
/// gzip level for large datasets (pynwb/h5py use 4 as well).
const DEFLATE_LEVEL: u8 = 4;

// ---------------------------------------------------------------------------------------------
// Internal error plumbing: everything inside carries a message, the public functions attach
// the path.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Msg(String);

impl From<hdf5::Error> for Msg {
    fn from(e: hdf5::Error) -> Self {
        Msg(crate::io::hdf5_guard::error_text(&e))
    }
}
impl From<String> for Msg {
    fn from(s: String) -> Self {
        Msg(s)
    }
}
impl From<&str> for Msg {
    fn from(s: &str) -> Self {
        Msg(s.to_string())
    }
}

type R<T> = std::result::Result<T, Msg>;

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> R<T>;
}
impl<T, E: Into<Msg>> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> R<T> {
        self.map_err(|e| Msg(format!("{}: {}", what(), e.into().0)))
    }
}

fn nwb_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Nwb {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn check_name(what: &'static str, name: &str) -> Result<()> {
    crate::intervals::check_column_name(what, name)
}

fn open(path: &Path) -> Result<File> {
    if !path.exists() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    File::open(path).map_err(|e| nwb_err(path, format!("cannot open as HDF5 ({e})")))
}
