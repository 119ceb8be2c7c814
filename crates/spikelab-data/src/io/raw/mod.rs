//! Raw extracellular recordings on disk, read lazily in chunks of samples.
//!
//! [`RecordingSource`] is what a spike sorter reads: sizes, rate, probe, per-channel gains
//! and [`RecordingSource::read_chunk`], which returns rows `[start, start + n)` as
//! `[sample, channel]` **in the stored unit** (ADC counts for integer files); µV are
//! `stored · gain_to_uv[c] + offset_to_uv[c]` ([`RecordingSource::read_chunk_uv`]).
//! [`RecordingSource::load`] reads everything into an in-memory [`Recording`], which is itself
//! a source.
//!
//! | format | reader | reference |
//! | --- | --- | --- |
//! | plain interleaved binary (Kilosort's `.dat`/`.bin`) | [`BinaryRecording`] | samples × channels, row-major, little-endian |
//! | SpikeGLX `.bin` + `.meta` | [`spikeglx::open`] | SpikeGLX "Metadata" help pages (billkarsh.github.io/SpikeGLX) |
//! | Open Ephys binary (`structure.oebin`) | [`openephys::open`] | Open Ephys GUI docs, "Binary format" |
//! | NWB `ElectricalSeries` (feature `hdf5`) | `nwb::open` | NWB core schema, `ecephys` |
//! | spikelab recording folder (`recording.json` + binary, optional ground truth) | [`folder::open`] | [`folder`] |
//!
//! [`open_recording`] picks the reader from the path: a folder holding `recording.json` (or that
//! file) → spikelab recording folder; a `.meta` or a `.bin` with a `.meta`
//! sibling → SpikeGLX; `structure.oebin` or a folder holding one → Open Ephys; `.nwb` → NWB;
//! anything else needs [`RawOptions::binary`]. The recording is not part of [`crate::io::open`]
//! (whose [`Loaded`](crate::io::Loaded) holds whole in-memory objects); open it here.
//!
//! Binary files are read with a seek and one read per chunk: only the requested rows are
//! touched, so a chunk of a 100-GB file costs its own size. A file whose size is not a whole
//! number of rows is an error ([`DataError::PartialSampleRow`]) unless
//! [`BinaryOptions::drop_partial_row`] is set. Floating-point files are checked for NaN and
//! infinities chunk by chunk ([`DataError::NonFiniteSample`] names the sample and channel).
//!
//! [`channel_health`] reports constant (e.g. all-zero) channels without failing;
//! [`ChannelHealth::require_not_flat`] turns them into an error where a step divides by a
//! channel's standard deviation. [`require_min_samples`] checks that a recording is long
//! enough for a window.
//!
//! # Example
//! ```
//! use spikelab_data::io::raw::{self, BinaryOptions, Dtype, RawOptions, RecordingSource};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("rec.dat");
//! // 5 samples × 2 channels, int16, interleaved: s0c0 s0c1 s1c0 s1c1 …
//! let values: Vec<i16> = vec![0, 10, 1, 11, 2, 12, 3, 13, 4, 14];
//! std::fs::write(&path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
//! let opts = BinaryOptions { gain_to_uv: Some(vec![0.195]), ..BinaryOptions::new(Dtype::I16, 2, 30_000.0) };
//! let rec = raw::open_recording(&path, &RawOptions { binary: Some(opts), ..Default::default() })?;
//! assert_eq!((rec.n_samples(), rec.n_channels()), (5, 2));
//! assert_eq!(rec.read_chunk(3, 2)?.row(0).to_vec(), vec![3.0, 13.0]);
//! assert!((rec.read_chunk_uv(1, 1)?[[0, 1]] - 11.0 * 0.195).abs() < 1e-5);
//! let whole = rec.load()?;
//! assert_eq!(whole.traces()[[4, 1]], 14.0);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::Array2;

use crate::error::{DataError, Result};
use crate::{Probe, Recording};

#[cfg(feature = "hdf5")]
pub use crate::io::nwb::ecephys as nwb;
pub mod folder;
pub mod openephys;
pub mod spikeglx;

/// A multichannel recording that can be read in chunks of samples.
///
/// Axis order is `[sample, channel]`; channel `c` is the probe's contact `c`. Chunks are in
/// the stored unit; `value_uv = stored · gain_to_uv()[c] + offset_to_uv()[c]`.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use spikelab_data::{Probe, Recording, RecordingSource};
/// let t = Array2::from_shape_fn((100, 4), |(s, c)| (s * 4 + c) as f32);
/// let rec = Recording::new(t, 1_000.0, Probe::tetrode(20.0))?;
/// let chunk = rec.read_chunk(10, 3)?;
/// assert_eq!(chunk.dim(), (3, 4));
/// assert_eq!(chunk[[0, 1]], 41.0);
/// assert!(rec.read_chunk(99, 2).is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub trait RecordingSource {
    /// Number of samples (rows).
    fn n_samples(&self) -> usize;
    /// Number of channels (columns), equal to the probe's contacts.
    fn n_channels(&self) -> usize;
    /// Sampling rate in Hz.
    fn sampling_rate_hz(&self) -> f64;
    /// The probe, one contact per channel in channel order.
    fn probe(&self) -> &Probe;
    /// Per-channel gain from the stored unit to µV.
    fn gain_to_uv(&self) -> &[f32];
    /// Per-channel offset in µV.
    fn offset_to_uv(&self) -> &[f32];

    /// Samples `[start_sample, start_sample + n_samples)`, `[sample, channel]`, in the stored
    /// unit.
    ///
    /// Errors: [`DataError::InvalidParameter`] if the range is not inside the recording;
    /// [`DataError::Io`] if the file cannot be read; [`DataError::NonFiniteSample`] for NaN or
    /// infinite values.
    fn read_chunk(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>>;

    /// [`RecordingSource::read_chunk`] scaled to µV.
    fn read_chunk_uv(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>> {
        let mut chunk = self.read_chunk(start_sample, n_samples)?;
        scale_to_uv(&mut chunk, self.gain_to_uv(), self.offset_to_uv());
        Ok(chunk)
    }

    /// Duration in seconds.
    fn duration_s(&self) -> f64 {
        self.n_samples() as f64 / self.sampling_rate_hz()
    }

    /// The whole recording in memory (stored unit, with its gains and offsets).
    fn load(&self) -> Result<Recording> {
        let traces = self.read_chunk(0, self.n_samples())?;
        Recording::with_gains(
            traces,
            self.sampling_rate_hz(),
            self.probe().clone(),
            self.gain_to_uv().to_vec(),
            self.offset_to_uv().to_vec(),
        )
    }
}

impl RecordingSource for Recording {
    fn n_samples(&self) -> usize {
        Recording::n_samples(self)
    }
    fn n_channels(&self) -> usize {
        Recording::n_channels(self)
    }
    fn sampling_rate_hz(&self) -> f64 {
        Recording::sampling_rate_hz(self)
    }
    fn probe(&self) -> &Probe {
        Recording::probe(self)
    }
    fn gain_to_uv(&self) -> &[f32] {
        Recording::gain_to_uv(self)
    }
    fn offset_to_uv(&self) -> &[f32] {
        Recording::offset_to_uv(self)
    }
    fn read_chunk(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>> {
        check_range(start_sample, n_samples, Recording::n_samples(self))?;
        Ok(self
            .traces()
            .slice(ndarray::s![start_sample..start_sample + n_samples, ..])
            .to_owned())
    }
    fn load(&self) -> Result<Recording> {
        Ok(self.clone())
    }
}

impl<T: RecordingSource + ?Sized> RecordingSource for Box<T> {
    fn n_samples(&self) -> usize {
        (**self).n_samples()
    }
    fn n_channels(&self) -> usize {
        (**self).n_channels()
    }
    fn sampling_rate_hz(&self) -> f64 {
        (**self).sampling_rate_hz()
    }
    fn probe(&self) -> &Probe {
        (**self).probe()
    }
    fn gain_to_uv(&self) -> &[f32] {
        (**self).gain_to_uv()
    }
    fn offset_to_uv(&self) -> &[f32] {
        (**self).offset_to_uv()
    }
    fn read_chunk(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>> {
        (**self).read_chunk(start_sample, n_samples)
    }
    fn load(&self) -> Result<Recording> {
        (**self).load()
    }
}

pub(crate) fn scale_to_uv(chunk: &mut Array2<f32>, gain: &[f32], offset: &[f32]) {
    for (mut col, (&g, &o)) in chunk.columns_mut().into_iter().zip(gain.iter().zip(offset)) {
        if g != 1.0 || o != 0.0 {
            col.mapv_inplace(|v| v * g + o);
        }
    }
}

/// Checks that `[start, start + n)` lies inside `[0, total)`.
pub(crate) fn check_range(start: usize, n: usize, total: usize) -> Result<()> {
    match start.checked_add(n) {
        Some(end) if end <= total => Ok(()),
        _ => Err(DataError::param(
            "start_sample",
            format!(
                "samples {start}..{} are outside the recording's {total} samples",
                start.saturating_add(n)
            ),
        )),
    }
}

/// Checks that a recording has at least `required` samples for `what` (e.g. a filter's
/// padding or a template window).
///
/// Errors: [`DataError::RecordingTooShort`] naming `what`, the length and the requirement.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use spikelab_data::{Probe, Recording, io::raw::require_min_samples};
/// let rec = Recording::new(Array2::zeros((60, 4)), 30_000.0, Probe::tetrode(20.0))?;
/// assert!(require_min_samples(&rec, 61, "template window").is_err());
/// require_min_samples(&rec, 60, "template window")?;
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn require_min_samples<S: RecordingSource + ?Sized>(
    source: &S,
    required: usize,
    what: &str,
) -> Result<()> {
    if source.n_samples() < required {
        return Err(DataError::RecordingTooShort {
            what: what.into(),
            n_samples: source.n_samples(),
            required,
        });
    }
    Ok(())
}

/// Per-channel summary from [`channel_health`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelHealth {
    /// Standard deviation of each channel in µV (population, `1/n`).
    pub std_uv: Vec<f64>,
    /// Channels whose values are all equal (all zero included): disconnected contacts,
    /// the reference, or a channel the acquisition did not fill.
    pub flat_channels: Vec<usize>,
    /// Channels whose values are all exactly zero in the stored unit (a subset of
    /// `flat_channels`).
    pub zero_channels: Vec<usize>,
}

impl ChannelHealth {
    /// Ok when no channel is flat; [`DataError::FlatChannels`] otherwise. Call it before a
    /// step that divides by a channel's standard deviation (z-scoring, whitening).
    pub fn require_not_flat(&self) -> Result<()> {
        if self.flat_channels.is_empty() {
            Ok(())
        } else {
            Err(DataError::FlatChannels {
                channels: self.flat_channels.clone(),
            })
        }
    }
}

/// Reads the recording in chunks of `chunk_samples` and reports each channel's standard
/// deviation (µV) and which channels are constant or all zero. Constant channels are not an
/// error here (a recording may carry a dead contact); see [`ChannelHealth::require_not_flat`].
///
/// Errors: [`DataError::InvalidParameter`] for `chunk_samples == 0`; read errors of the
/// source.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use spikelab_data::{Probe, Recording, io::raw::channel_health};
/// let t = Array2::from_shape_fn((50, 4), |(s, c)| if c == 2 { 0.0 } else { (s % 7) as f32 });
/// let h = channel_health(&Recording::new(t, 1e3, Probe::tetrode(20.0))?, 16)?;
/// assert_eq!(h.zero_channels, vec![2]);
/// assert!(h.require_not_flat().is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn channel_health<S: RecordingSource + ?Sized>(
    source: &S,
    chunk_samples: usize,
) -> Result<ChannelHealth> {
    if chunk_samples == 0 {
        return Err(DataError::param("chunk_samples", "must be at least 1"));
    }
    let c = source.n_channels();
    let n = source.n_samples();
    // Welford-free two-moment sums in f64 around the first value of each channel (shift
    // keeps the sums small for offset-heavy channels).
    let mut first = vec![f64::NAN; c];
    let mut sum = vec![0.0f64; c];
    let mut sum2 = vec![0.0f64; c];
    let mut min = vec![f32::INFINITY; c];
    let mut max = vec![f32::NEG_INFINITY; c];
    let mut all_zero = vec![true; c];
    let mut start = 0;
    while start < n {
        let len = chunk_samples.min(n - start);
        let chunk = source.read_chunk(start, len)?;
        for row in chunk.rows() {
            for (ch, &v) in row.iter().enumerate() {
                if first[ch].is_nan() {
                    first[ch] = v as f64;
                }
                let d = v as f64 - first[ch];
                sum[ch] += d;
                sum2[ch] += d * d;
                min[ch] = min[ch].min(v);
                max[ch] = max[ch].max(v);
                all_zero[ch] &= v == 0.0;
            }
        }
        start += len;
    }
    let gains = source.gain_to_uv();
    let std_uv = (0..c)
        .map(|ch| {
            if n == 0 {
                return 0.0;
            }
            let m = sum[ch] / n as f64;
            ((sum2[ch] / n as f64 - m * m).max(0.0)).sqrt() * (gains[ch] as f64).abs()
        })
        .collect();
    Ok(ChannelHealth {
        std_uv,
        flat_channels: (0..c).filter(|&ch| n == 0 || min[ch] == max[ch]).collect(),
        zero_channels: (0..c).filter(|&ch| all_zero[ch]).collect(),
    })
}

/// Storage type of one value of a binary recording (little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `int16` (`<i2`), SpikeGLX, Open Ephys, Kilosort.
    I16,
    /// `uint16` (`<u2`), e.g. Intan RHD.
    U16,
    /// `int32` (`<i4`).
    I32,
    /// `float32` (`<f4`).
    F32,
    /// `float64` (`<f8`).
    F64,
}

impl Dtype {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::I32 | Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    /// Parses NumPy-style names: `int16`/`i2`/`<i2`, `uint16`/`u2`, `int32`/`i4`,
    /// `float32`/`f4`, `float64`/`f8` (a leading `<` is allowed; `>` is refused).
    ///
    /// ```
    /// use spikelab_data::io::raw::Dtype;
    /// assert_eq!(Dtype::parse("<i2")?, Dtype::I16);
    /// assert!(Dtype::parse(">f4").is_err());
    /// # Ok::<(), spikelab_data::DataError>(())
    /// ```
    pub fn parse(name: &str) -> Result<Self> {
        let n = name.trim().strip_prefix('<').unwrap_or(name.trim());
        Ok(match n.to_ascii_lowercase().as_str() {
            "int16" | "i2" | "short" => Dtype::I16,
            "uint16" | "u2" => Dtype::U16,
            "int32" | "i4" => Dtype::I32,
            "float32" | "f4" | "single" => Dtype::F32,
            "float64" | "f8" | "double" => Dtype::F64,
            _ => {
                return Err(DataError::param(
                    "dtype",
                    format!(
                        "{name:?} is not a supported little-endian dtype; use int16, uint16, int32, float32 or float64"
                    ),
                ));
            }
        })
    }

    fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64)
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Dtype::I16 => i16::from_le_bytes([b[0], b[1]]) as f32,
            Dtype::U16 => u16::from_le_bytes([b[0], b[1]]) as f32,
            Dtype::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            Dtype::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Dtype::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
        }
    }
}

/// How to read a plain interleaved binary file (Kilosort's layout: little-endian values,
/// sample by sample, each sample holding `n_channels` values).
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryOptions {
    /// Value type.
    pub dtype: Dtype,
    /// Channels stored per sample row in the file.
    pub n_channels: usize,
    /// Sampling rate in Hz.
    pub sampling_rate_hz: f64,
    /// Bytes to skip at the start of the file.
    pub header_bytes: u64,
    /// The file columns to expose, in this order; `None` is all of them.
    pub channels: Option<Vec<usize>>,
    /// Gain to µV: one value for all exposed channels or one per exposed channel; `None` is 1
    /// (the file is in µV).
    pub gain_to_uv: Option<Vec<f32>>,
    /// Offset in µV, one value or one per exposed channel; `None` is 0.
    pub offset_to_uv: Option<Vec<f32>>,
    /// The probe (one contact per exposed channel); `None` is [`default_linear_probe`].
    pub probe: Option<Probe>,
    /// Ignore bytes after the last whole sample row instead of failing with
    /// [`DataError::PartialSampleRow`].
    pub drop_partial_row: bool,
}

impl BinaryOptions {
    /// All channels, no header, gain 1, offset 0, default probe, strict size check.
    pub fn new(dtype: Dtype, n_channels: usize, sampling_rate_hz: f64) -> Self {
        Self {
            dtype,
            n_channels,
            sampling_rate_hz,
            header_bytes: 0,
            channels: None,
            gain_to_uv: None,
            offset_to_uv: None,
            probe: None,
            drop_partial_row: false,
        }
    }
}

/// Default layout for files without geometry: one column of contacts 20 µm apart
/// (`x = 0`, `y = 20·c`), point contacts. Sorters that use geometry need the real probe.
pub fn default_linear_probe(n_channels: usize) -> Result<Probe> {
    Probe::new(
        (0..n_channels).map(|c| [0.0, 20.0 * c as f64]).collect(),
        0.0,
    )
}

fn per_channel(
    path: &Path,
    name: &str,
    v: Option<&Vec<f32>>,
    default: f32,
    n: usize,
) -> Result<Vec<f32>> {
    let v = match v {
        None => vec![default; n],
        Some(v) if v.len() == 1 => vec![v[0]; n],
        Some(v) if v.len() == n => v.clone(),
        Some(v) => {
            return Err(raw_err(
                path,
                format!(
                    "{name} has {} values for {n} channels; give one value or one per channel",
                    v.len()
                ),
            ));
        }
    };
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(raw_err(path, format!("{name} holds {x}; must be finite")));
    }
    Ok(v)
}

pub(crate) fn raw_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::RawRecording {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A recording in an interleaved little-endian binary file, read lazily (a seek and one read
/// per chunk). Used directly for plain files and by the SpikeGLX and Open Ephys readers.
#[derive(Debug)]
pub struct BinaryRecording {
    path: PathBuf,
    file: Mutex<File>,
    dtype: Dtype,
    n_file_channels: usize,
    channels: Vec<usize>,
    header_bytes: u64,
    n_samples: usize,
    sampling_rate_hz: f64,
    probe: Probe,
    gain_to_uv: Vec<f32>,
    offset_to_uv: Vec<f32>,
}

impl BinaryRecording {
    /// Opens `path` as described by `opts`.
    ///
    /// Errors: [`DataError::Io`] if the file cannot be opened;
    /// [`DataError::InvalidParameter`] for zero channels or a bad rate;
    /// [`DataError::RawRecording`] for a channel index past `n_channels`, gains or offsets of
    /// the wrong length, a probe whose contact count differs from the exposed channels or a
    /// file shorter than its header; [`DataError::PartialSampleRow`] if the size after the
    /// header is not a whole number of rows (unless `drop_partial_row`).
    pub fn open(path: &Path, opts: &BinaryOptions) -> Result<Self> {
        if opts.n_channels == 0 {
            return Err(DataError::param("n_channels", "must be at least 1"));
        }
        if !(opts.sampling_rate_hz.is_finite() && opts.sampling_rate_hz > 0.0) {
            return Err(DataError::param(
                "sampling_rate_hz",
                format!("must be positive and finite, got {}", opts.sampling_rate_hz),
            ));
        }
        let channels = opts
            .channels
            .clone()
            .unwrap_or_else(|| (0..opts.n_channels).collect());
        if channels.is_empty() {
            return Err(raw_err(path, "no channels selected; select at least one"));
        }
        if let Some(&c) = channels.iter().find(|&&c| c >= opts.n_channels) {
            return Err(raw_err(
                path,
                format!(
                    "channel {c} selected but the file has {} channels per sample",
                    opts.n_channels
                ),
            ));
        }
        let n = channels.len();
        let probe = match &opts.probe {
            Some(p) if p.n_channels() != n => {
                return Err(raw_err(
                    path,
                    format!(
                        "the probe has {} contacts but {n} channels are read; give a probe with one contact per channel, or select the probe's channels",
                        p.n_channels()
                    ),
                ));
            }
            Some(p) => p.clone(),
            None => default_linear_probe(n)?,
        };
        let gain_to_uv = per_channel(path, "gain_to_uv", opts.gain_to_uv.as_ref(), 1.0, n)?;
        let offset_to_uv = per_channel(path, "offset_to_uv", opts.offset_to_uv.as_ref(), 0.0, n)?;
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let size = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        if size < opts.header_bytes {
            return Err(raw_err(
                path,
                format!(
                    "the file has {size} bytes, less than the {}-byte header; check header_bytes",
                    opts.header_bytes
                ),
            ));
        }
        let row_bytes = (opts.n_channels * opts.dtype.size()) as u64;
        let body = size - opts.header_bytes;
        let extra = body % row_bytes;
        if extra != 0 && !opts.drop_partial_row {
            return Err(DataError::PartialSampleRow {
                path: path.to_path_buf(),
                extra_bytes: extra,
                row_bytes,
                header_bytes: opts.header_bytes,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            dtype: opts.dtype,
            n_file_channels: opts.n_channels,
            channels,
            header_bytes: opts.header_bytes,
            n_samples: (body / row_bytes) as usize,
            sampling_rate_hz: opts.sampling_rate_hz,
            probe,
            gain_to_uv,
            offset_to_uv,
        })
    }

    /// The binary file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The file columns exposed as channels, in channel order.
    pub fn file_channels(&self) -> &[usize] {
        &self.channels
    }

    /// Reads columns `file_channels` (file column indices, any of the file's) for samples
    /// `[start, start + n)`, in the stored unit. Used for channels that are not part of the
    /// recording, e.g. a SpikeGLX sync word.
    pub fn read_file_columns(
        &self,
        file_channels: &[usize],
        start_sample: usize,
        n_samples: usize,
    ) -> Result<Array2<f32>> {
        check_range(start_sample, n_samples, self.n_samples)?;
        if let Some(&c) = file_channels.iter().find(|&&c| c >= self.n_file_channels) {
            return Err(DataError::param(
                "file_channels",
                format!(
                    "column {c} is past the file's {} columns",
                    self.n_file_channels
                ),
            ));
        }
        let size = self.dtype.size();
        let row_bytes = self.n_file_channels * size;
        let mut buf = vec![0u8; row_bytes * n_samples];
        {
            let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
            f.seek(SeekFrom::Start(
                self.header_bytes + (start_sample as u64) * row_bytes as u64,
            ))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| DataError::io(&self.path, e))?;
        }
        let mut out = Array2::<f32>::zeros((n_samples, file_channels.len()));
        for (s, mut row) in out.rows_mut().into_iter().enumerate() {
            let r = &buf[s * row_bytes..(s + 1) * row_bytes];
            for (o, &c) in row.iter_mut().zip(file_channels) {
                *o = self.dtype.decode(&r[c * size..(c + 1) * size]);
            }
        }
        if self.dtype.is_float()
            && let Some(((s, ch), &v)) = out.indexed_iter().find(|(_, v)| !v.is_finite())
        {
            return Err(DataError::NonFiniteSample {
                path: self.path.clone(),
                sample: start_sample + s,
                channel: ch,
                value: v as f64,
            });
        }
        Ok(out)
    }
}

impl RecordingSource for BinaryRecording {
    fn n_samples(&self) -> usize {
        self.n_samples
    }
    fn n_channels(&self) -> usize {
        self.channels.len()
    }
    fn sampling_rate_hz(&self) -> f64 {
        self.sampling_rate_hz
    }
    fn probe(&self) -> &Probe {
        &self.probe
    }
    fn gain_to_uv(&self) -> &[f32] {
        &self.gain_to_uv
    }
    fn offset_to_uv(&self) -> &[f32] {
        &self.offset_to_uv
    }
    fn read_chunk(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>> {
        self.read_file_columns(&self.channels, start_sample, n_samples)
    }
}

/// How [`open_recording`] reads a path. `Default`: detect the format, no plain-binary layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawOptions {
    /// Layout of a plain binary file (needed for paths that are not SpikeGLX, Open Ephys or
    /// NWB; when set, the path is read as plain binary whatever its name).
    pub binary: Option<BinaryOptions>,
    /// SpikeGLX options.
    pub spikeglx: spikeglx::SpikeGlxOptions,
    /// Open Ephys options.
    pub openephys: openephys::OpenEphysOptions,
    /// HDF5 path of the `ElectricalSeries` in an NWB file; `None` is the only one in
    /// `/acquisition`.
    pub nwb_series: Option<String>,
}

/// Opens a recording, detecting the format from the path (module docs). The result is a
/// lazy [`RecordingSource`] that threads may share (each chunk read locks the file briefly).
///
/// Errors: [`DataError::UnknownFormat`] for a path that is none of the known formats and
/// no [`RawOptions::binary`]; the readers' errors.
pub fn open_recording(
    path: &Path,
    options: &RawOptions,
) -> Result<Box<dyn RecordingSource + Send + Sync>> {
    if let Some(b) = &options.binary {
        return Ok(Box::new(BinaryRecording::open(path, b)?));
    }
    if folder::sidecar_path(path).is_some() {
        return Ok(Box::new(folder::open(path)?));
    }
    if spikeglx::meta_path(path).is_some_and(|m| m.is_file()) {
        return Ok(Box::new(spikeglx::open(path, &options.spikeglx)?));
    }
    if openephys::oebin_path(path).is_some_and(|p| p.is_file()) {
        return Ok(Box::new(openephys::open(path, &options.openephys)?));
    }
    let is_nwb = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nwb"));
    if is_nwb {
        #[cfg(feature = "hdf5")]
        return Ok(Box::new(nwb::open(path, options.nwb_series.as_deref())?));
        #[cfg(not(feature = "hdf5"))]
        return Err(DataError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "NWB needs spikelab-data's feature hdf5".into(),
        });
    }
    Err(DataError::UnknownFormat {
        path: path.to_path_buf(),
        reason: "not a SpikeGLX .bin/.meta pair, an Open Ephys structure.oebin (or its folder) or an .nwb file; for a plain binary file give its dtype, channel count and rate (RawOptions::binary)".into(),
    })
}
