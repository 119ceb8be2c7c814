//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building spike-data types or reading and writing files.
///
/// File errors always carry the path so that the message alone tells the user which file is
/// bad and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The operating system refused a read or write.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists and the writer was not allowed to overwrite it.
    #[error(
        "{path}: file exists; refusing to overwrite it (pass overwrite = true / --force to replace it)"
    )]
    AlreadyExists {
        /// The file that exists.
        path: PathBuf,
    },
    /// A `.gz` file that is not gzip or is truncated.
    #[error("{path}: not a valid gzip stream: {reason}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A malformed CSV file (ragged rows, text in numeric cells, …).
    #[error("{path}:{line}: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A malformed or unexpected NumPy `.npy` file (wrong dtype, wrong rank, bad header).
    #[error("{path}: npy: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A malformed or unexpected MATLAB v5 file (bad header, missing variable or field).
    #[error("{path}: mat: {reason}")]
    Mat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Kilosort/phy output folder that lacks a file or holds inconsistent arrays.
    #[error("{path}: kilosort: {reason}")]
    Kilosort {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An HDF5/NWB file that cannot be read or written, or lacks a required object.
    #[error("{path}: nwb: {reason}")]
    Nwb {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Suite2p plane folder that lacks a file, holds arrays of mismatched shapes or an
    /// `ops.npy`/`settings.npy` that cannot be read.
    #[error("{path}: suite2p: {reason}")]
    Suite2p {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A CaImAn HDF5 file without the `estimates` it needs.
    #[error("{path}: caiman: {reason}")]
    Caiman {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A SpikeInterface sorting folder that lacks a file or holds inconsistent unit ids.
    #[error("{path}: spikeinterface: {reason}")]
    SpikeInterface {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A probe geometry file (probeinterface JSON) that cannot be read as a 2D probe: not
    /// JSON, a missing or mistyped field, a 3D probe, unknown units or a wiring that does not
    /// give one contact per device channel `0..n`.
    #[error("{path}: probe: {reason}")]
    ProbeFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A probe whose contact count differs from the recording's channel count.
    #[error(
        "the probe has {probe_contacts} wired contacts but the recording has {recording_channels} channels; use a probe file with one wired contact per recording channel (device_channel_indices 0 to {last}, −1 for unused contacts)",
        last = .recording_channels.saturating_sub(1)
    )]
    ProbeChannelMismatch {
        /// Contacts of the probe.
        probe_contacts: usize,
        /// Channels of the recording.
        recording_channels: usize,
    },
    /// The file stores no frame rate and none was given.
    #[error("{path}: the file stores no frame rate; pass it with {option}")]
    MissingFrameRate {
        /// The file.
        path: PathBuf,
        /// The option to set (library field and CLI flag).
        option: &'static str,
    },
    /// A given frame rate that disagrees with the one the file stores.
    #[error(
        "{path}: the file says {file_hz} Hz but {given_hz} Hz was given; drop the given rate, or set force_frame_rate (--force-fps) to use it anyway"
    )]
    FrameRateMismatch {
        /// The file.
        path: PathBuf,
        /// The rate stored in the file.
        file_hz: f64,
        /// The rate the caller gave.
        given_hz: f64,
    },
    /// DANDI-ready NWB output was asked for, but required metadata is missing.
    #[error(
        "DANDI needs {} in the NWB metadata; give them in the metadata TOML (--nwb-meta) or drop --dandi",
        missing.join(", ")
    )]
    DandiMetadata {
        /// The missing fields, e.g. `subject.species`.
        missing: Vec<String>,
    },
    /// The file's format could not be recognised from its name or content.
    #[error("{path}: unknown format ({reason})")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What was tried.
        reason: String,
    },
    /// Spike times that are not finite, negative where not allowed, unsorted or outside the
    /// recording interval.
    #[error("unit {unit}: invalid spike times: {reason}")]
    InvalidSpikeTimes {
        /// Index of the unit (0-based, in file order).
        unit: usize,
        /// What is wrong.
        reason: String,
    },
    /// An array whose shape does not match what the type requires.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// Which array.
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A command of a batch run ([`crate::batch::run`]) exited with an error.
    #[error("{stem} failed on {device} ({status}); log {log}")]
    CommandFailed {
        /// The recording's name without its extension.
        stem: String,
        /// The device of the worker that ran it.
        device: String,
        /// The exit status, in words.
        status: String,
        /// The command's output.
        log: PathBuf,
    },
    /// From `spikelab-core` (a batch job that panicked or was cancelled, no device).
    #[error(transparent)]
    Core(#[from] spikelab_core::CoreError),
    /// A parameter outside its valid range (bin width ≤ 0, frame rate ≤ 0, …).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name as in the API.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The file holds something else than what was asked for (e.g. spike trains where calcium
    /// traces were wanted).
    #[error("{path}: expected {wanted}, the file holds {found}")]
    WrongContent {
        /// The file.
        path: PathBuf,
        /// What the caller asked for.
        wanted: String,
        /// What the file holds.
        found: String,
    },
    /// A raw recording (SpikeGLX, Open Ephys, plain binary, NWB `ElectricalSeries`) whose
    /// file or metadata cannot be read as asked: a missing key, a channel count that does not
    /// match the probe, a file shorter than its metadata says. The reason says how to fix it.
    #[error("{path}: {reason}")]
    RawRecording {
        /// The data or metadata file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A binary recording whose size is not a whole number of sample rows.
    #[error(
        "{path}: {extra_bytes} bytes after the last whole sample row; the size must be a multiple of {row_bytes} bytes (channels × bytes per value) after the {header_bytes}-byte header. Check the channel count and dtype, or set drop_partial_row to read the whole rows only"
    )]
    PartialSampleRow {
        /// The binary file.
        path: PathBuf,
        /// Bytes past the last whole row.
        extra_bytes: u64,
        /// Bytes per sample row.
        row_bytes: u64,
        /// Bytes skipped at the start of the file.
        header_bytes: u64,
    },
    /// A NaN or infinite value in a floating-point recording.
    #[error(
        "{path}: value {value} at sample {sample}, channel {channel}; interpolate or zero the bad samples before sorting"
    )]
    NonFiniteSample {
        /// The file.
        path: PathBuf,
        /// Sample (row) index from the start of the recording.
        sample: usize,
        /// Channel (column) index.
        channel: usize,
        /// The value found.
        value: f64,
    },
    /// A recording shorter than a window an algorithm needs.
    #[error(
        "recording has {n_samples} samples but {what} needs at least {required}; use a longer recording or a shorter window"
    )]
    RecordingTooShort {
        /// What needs the samples (e.g. `"noise estimation window"`).
        what: String,
        /// Samples in the recording.
        n_samples: usize,
        /// Samples required.
        required: usize,
    },
    /// Channels that are constant (e.g. all zero: disconnected or the reference), asked to be
    /// divided by their standard deviation.
    #[error(
        "channels {channels:?} are constant (standard deviation 0) and cannot be z-scored; remove them from the recording (and probe) first"
    )]
    FlatChannels {
        /// Indices of the constant channels.
        channels: Vec<usize>,
    },
    /// A bundled dataset could not be located.
    #[error("bundled dataset {name} not found: {reason}")]
    DatasetNotFound {
        /// Path relative to the `datasets/` folder.
        name: String,
        /// Where we looked.
        reason: String,
    },
}

/// `Result` with [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// Wraps an [`std::io::Error`] with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`DataError::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        DataError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
